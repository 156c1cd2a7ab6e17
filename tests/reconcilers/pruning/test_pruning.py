from tests.reconcilers.purity import pure
from winslow.controller.docker_runtime import _timestamp
from winslow.controller.runtime import ContainerInfo, ContainerState
from winslow.reconcilers.pruning.decide import Observation, Remove, decide

expired = pure(decide)


def box(cid, state=ContainerState.EXITED, finished=0.0, run="p.1.a"):
    return ContainerInfo(cid, cid, {"winslow.stagerun": run}, state, 0, finished_at=finished)


def test_only_old_exited_containers_of_recorded_runs_go():
    containers = [
        box("old", finished=100.0),
        box("young", finished=950.0),
        box("running", ContainerState.RUNNING, finished=None),
        box("unrecorded", finished=100.0, run="p.2.b"),
    ]
    obs = Observation(tuple(containers), frozenset({"p.1.a"}), now=1000.0, keep_seconds=500.0)
    assert expired(obs) == [Remove("old")]


def test_docker_times_parse_with_nanoseconds():
    assert _timestamp("2026-11-28T04:39:48.245328123Z") == _timestamp("2026-11-28T04:39:48.245328Z")
    assert _timestamp("0001-01-01T00:00:00Z") is None
    assert _timestamp("2026-11-28T04:39:48Z") is not None
