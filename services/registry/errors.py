"""What the registry's rules refuse (raised by services/registry/domain.py).

``InvalidRecord`` is a record that does not have the shape of its kind: it carries one message
per field (``errors``: ``[{"field", "msg"}]``), answered 422 with each field's location by the
application. The others are refusals of the state (409, shared/errors.py)."""

from __future__ import annotations

from typing import Any

from shared.errors import NotAllowedInState


class InvalidRecord(ValueError):
    """A record refused field by field (422)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{e['field']}: {e['msg']}" for e in self.errors))


class RecordRefused(NotAllowedInState):
    """The record's state does not allow the change (409): a term opened before the current
    one, a record of another kind under this key..."""


__all__ = ["InvalidRecord", "RecordRefused"]
