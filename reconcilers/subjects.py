"""Names of the coordination log's subjects, shared by the reconcilers (and `winsctl kill`)."""


def lock_subject(project: str) -> str:
    return f"project/{project}"


def lease_subject(run: str) -> str:
    return f"stagerun/{run}"
