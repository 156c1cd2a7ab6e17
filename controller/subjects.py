"""The names reconcilers share: their kinds, and the log subjects of their locks and leases.

Keys and subjects are built here and nowhere else, so that one reconciler can wake another's key
and the API can kill a run without spelling their strings again.
"""

from winslow.controller.reconciler import Key

PROJECT = "project"
STAGERUN = "stagerun"
NOTIFY = "notify"


def lock_subject(project: str) -> str:
    return f"{PROJECT}/{project}"


def lease_subject(run: str) -> str:
    return f"{STAGERUN}/{run}"


def project_key(project: str) -> Key:
    return Key(PROJECT, project)


def stagerun_key(run: str) -> Key:
    return Key(STAGERUN, run)


def subject_parts(subject: str) -> tuple[str, str]:
    """(kind, name) of a subject of the log."""
    kind, _, name = subject.partition("/")
    return kind, name


def notify_subject(entry: str) -> str:
    """The lease a node takes on one outbox entry while it sends it: one node sends, once."""
    return f"{NOTIFY}/{entry}"
