"""The one roles table: every role, what it may do, and the checks the rest of the code base asks.

Code never lists role names: it asks `can(user, CAPABILITY)` or `roles_with(CAPABILITY)`. Admins hold
every capability. `manager` is a read-only role: it reads reports and the library and receives digests
(with the coordinators' sections), and decides nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitor.errors import PermissionDenied, UsageError

# Capabilities.
QUEUE_VIEW = "queue.view"  # the queue, search, item pages, evidence
QUEUE_ACT = "queue.act"  # link, dismiss, escalate
REQUESTS = "requests.handle"  # requests for a new rebuttal (escalations)
LIBRARY_READ = "library.read"
LIBRARY_EDIT = "library.edit"  # write drafts
LIBRARY_APPROVE = "library.approve"  # approve, retire
ASSIGN = "assignments.manage"  # create assignments, change their details, cancel, see everyone's
ASSIGNMENTS_WORK = "assignments.work"  # receive assignments and move them on
REPORTS = "reports.view"
DIGEST_RECEIVE = "digest.receive"  # may be a digest recipient
DIGEST_COORDINATION = "digest.coordination"  # digests carry the coordinators' sections (assignments, sources)
DIGEST_PREVIEW = "digest.preview"
DIGEST_UNANSWERED = "digest.unanswered"  # digests list the top unanswered-claim groups (they can act on them)
SURGE_ALERTS = "alerts.surge"  # receives surge alerts
AUDIT = "audit.view"
ADMIN = "users.admin"

CAPABILITIES = (
    QUEUE_VIEW,
    QUEUE_ACT,
    REQUESTS,
    LIBRARY_READ,
    LIBRARY_EDIT,
    LIBRARY_APPROVE,
    ASSIGN,
    ASSIGNMENTS_WORK,
    REPORTS,
    DIGEST_RECEIVE,
    DIGEST_COORDINATION,
    DIGEST_PREVIEW,
    DIGEST_UNANSWERED,
    SURGE_ALERTS,
    AUDIT,
    ADMIN,
)


@dataclass(frozen=True)
class Role:
    """A role and the capabilities it holds."""

    name: str
    description: str
    capabilities: frozenset[str]


ROLES: Mapping[str, Role] = {
    r.name: r
    for r in (
        Role(
            "analyst",
            "Reviews the queue: links, dismisses, escalates; works on assignments given to them.",
            frozenset({QUEUE_VIEW, QUEUE_ACT, LIBRARY_READ, ASSIGNMENTS_WORK, DIGEST_RECEIVE}),
        ),
        Role(
            "coordinator",
            "Runs the response: decides on items, writes drafts, handles requests, assigns work, reads reports.",
            frozenset(
                {
                    QUEUE_VIEW,
                    QUEUE_ACT,
                    REQUESTS,
                    LIBRARY_READ,
                    LIBRARY_EDIT,
                    ASSIGN,
                    ASSIGNMENTS_WORK,
                    REPORTS,
                    DIGEST_RECEIVE,
                    DIGEST_COORDINATION,
                    DIGEST_PREVIEW,
                    DIGEST_UNANSWERED,
                    SURGE_ALERTS,
                }
            ),
        ),
        Role(
            "approver",
            "Approves and retires rebuttals; reads the queue and handles requests.",
            frozenset(
                {
                    QUEUE_VIEW,
                    REQUESTS,
                    LIBRARY_READ,
                    LIBRARY_EDIT,
                    LIBRARY_APPROVE,
                    ASSIGNMENTS_WORK,
                    DIGEST_RECEIVE,
                    DIGEST_UNANSWERED,
                }
            ),
        ),
        Role("admin", "Everything, plus users and the audit log.", frozenset(CAPABILITIES)),
        Role(
            "manager",
            "Read-only: reads reports and the library, receives digests; decides nothing.",
            frozenset({LIBRARY_READ, REPORTS, DIGEST_RECEIVE, DIGEST_COORDINATION}),
        ),
    )
}
ROLE_NAMES: tuple[str, ...] = tuple(ROLES)


def _role_of(who: Mapping[str, Any] | str | None) -> str:
    if who is None:
        return ""
    if isinstance(who, str):
        return who
    return str(who.get("role") or "")


def can(who: Mapping[str, Any] | str | None, capability: str) -> bool:
    """Whether a user (row or role name) holds `capability`; unknown roles hold nothing."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}")
    role = ROLES.get(_role_of(who))
    return role is not None and capability in role.capabilities


def roles_with(capability: str) -> tuple[str, ...]:
    """The role names holding `capability`, in table order."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}")
    return tuple(name for name, role in ROLES.items() if capability in role.capabilities)


def check_role(name: str) -> str:
    """`name` when it is a role; UsageError naming the roles otherwise."""
    if name not in ROLES:
        raise UsageError(f"role '{name}' does not exist — use one of {', '.join(ROLE_NAMES)}")
    return name


def require(user: Mapping[str, Any], capability: str, message: str) -> None:
    """PermissionDenied(message) unless the user holds `capability`."""
    if not can(user, capability):
        raise PermissionDenied(message)
