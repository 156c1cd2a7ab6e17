from pathlib import Path

from winslow.controller import doctor
from winslow.controller.doctor import Level, Visibility


def levels(findings):
    return [f.level for f in findings]


def test_link_and_rename_on_a_local_folder_are_fine(tmp_path):
    assert doctor.check_link(tmp_path).level is Level.OK
    assert doctor.check_rename(tmp_path).level is Level.OK


NFS = "fs:/export /srv/winslow nfs4 {} 0 0\n/dev/sda1 / ext4 rw 0 0\n"


def test_nfs_mount_options_that_make_nodes_see_files_late_are_named():
    findings = doctor.check_mount(Path("/srv/winslow/sub"), NFS.format("rw,soft,acregmax=60,acdirmax=60"))
    problems = [f.detail for f in findings if f.level is Level.PROBLEM]
    assert (
        len(problems) == 3
        and any("soft" in p for p in problems)
        and any("lookupcache" in p for p in problems)
    )
    good = doctor.check_mount(Path("/srv/winslow"), NFS.format("rw,hard,lookupcache=positive,actimeo=1"))
    assert levels(good) == [Level.OK]


def test_a_local_file_system_needs_nothing():
    assert levels(doctor.check_mount(Path("/home/x"), NFS.format("rw"))) == [Level.OK]


def test_capacity_overrides_beyond_the_machine_are_problems():
    findings = doctor.check_capacity(64, 1 << 40, 2, 8, 16 << 30, ["NVIDIA A100"])
    assert [f.check for f in findings if f.level is Level.PROBLEM] == ["cpus", "memory", "gpus"]
    fine = doctor.check_capacity(None, None, 1, 8, 16 << 30, ["NVIDIA A100"])
    assert levels(fine) == [Level.OK] and "NVIDIA A100" in fine[0].detail


def test_docker_that_cannot_run_a_container_says_how_to_fix_it():
    def broken() -> str:
        raise ConnectionError("no socket")

    finding = doctor.check_docker(broken)
    assert finding.level is Level.PROBLEM and "systemctl start docker" in finding.fix


def test_slow_or_silent_nodes_are_problems_and_fast_ones_are_not():
    results = [
        Visibility("a", 0.01, 0.02, 0.0),
        Visibility("b", 9.8, 0.1, 0.0),
        Visibility("c", None, 0.1, 0.1),
    ]
    findings = doctor.judge_visibility(results, {"a", "b", "c", "d"}, 15)
    by_node = {f.detail.split()[1].rstrip(":"): f.level for f in findings}
    assert by_node == {"a": Level.OK, "b": Level.PROBLEM, "c": Level.PROBLEM, "d": Level.PROBLEM}
    assert levels(doctor.judge_visibility([], set(), 15)) == [Level.NOTE]


def test_clocks_more_than_a_second_off_are_problems():
    findings = doctor.judge_clocks({"a": 0.2, "b": -3.0})
    assert levels(findings) == [Level.OK, Level.PROBLEM] and "behind" in findings[1].detail
