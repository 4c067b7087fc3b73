"""What assignment's rules refuse (raised by services/assignment/domain.py; answered as set
out in shared/errors.py)."""

from __future__ import annotations

from typing import Any

from shared.errors import AlreadyDone as _AlreadyDone
from shared.errors import DomainError
from shared.errors import NotAllowedInState as _NotAllowedInState


class AssignmentRefusal(DomainError):
    """A change to a case or a task that assignment's rules refuse."""


class NotAllowedInState(AssignmentRefusal, _NotAllowedInState):
    """The case's or task's state does not allow this change."""


class AlreadyDone(AssignmentRefusal, _AlreadyDone):
    """Already made: assigned, withdrawn, with that unit, paused, requested..."""


class RegistrationReversed(NotAllowedInState):
    """The suggestion's registration was reversed: it is assigned again only after a new one."""


class ReturnWindowClosed(NotAllowedInState):
    """A task is returned only within its return window (working days after assignment)."""


class InvalidRule(ValueError):
    """A routing rule (services/assignment/routing_rules.py) refused field by field (422):
    ``errors`` is ``[{"field", "msg"}]``."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{e['field']}: {e['msg']}" for e in self.errors))


class NoSuchRule(LookupError):
    """No routing rule of this id (404)."""
