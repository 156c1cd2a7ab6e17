"""The names the log and the reconcilers share: the reconcilers' kinds, and the log subjects of
locks and leases.

Keys and subjects are built here and nowhere else, so that one reconciler can wake another's key,
the log's rules can check who holds what, and the API can lock a manifest or kill a run without
spelling their strings again.
"""

from winslow.controller.reconciler import Key

PROJECT = "project"
STAGERUN = "stagerun"
NOTIFY = "notify"


def manifest_subject(kind: str, name: str) -> str:
    """The lock a writer of a user's manifest (`Project`, `Pipeline`) holds while it writes."""
    return f"{kind.lower()}/{name}"


def lock_subject(project: str) -> str:
    return manifest_subject(PROJECT, project)


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


def quota_subject(quota: str) -> str:
    """The lock a node holds while it counts a quota's use and creates a run under it (not the
    Quota manifest's own lock, which its writers hold)."""
    return f"quota-use/{quota}"
