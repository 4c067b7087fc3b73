"""Domain errors are answered in one place (shared.runtime.refusal_reply): the reply's shape
and status are the ones the domain's ``Conflict`` gave before the domain had its own errors."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from services.assignment.errors import AssignmentRefusal, ReturnWindowClosed
from services.intake.errors import AlreadyDone, HeldByAnother
from services.points.errors import NotPending, SelfReviewRefused
from services.supervision.errors import RuleViolation
from shared.errors import DomainError
from shared.runtime import refusal_reply

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("error, status, title", [
    (AlreadyDone("suggestion is already registered", status_now="registered"), 409, "Conflict"),
    (HeldByAnother("another deputy holds this message", status_now="claimed"), 409, "Conflict"),
    (ReturnWindowClosed("the return window has closed", window_end="2026-03-09"), 409, "Conflict"),
    (RuleViolation("the case is closed; ratings are final"), 409, "Conflict"),
    (NotPending("the activity was already approved"), 409, "Conflict"),
    (SelfReviewRefused("a deputy can never review their own activity"), 403, "Forbidden"),
])
def test_a_refusal_is_answered_with_its_status_message_and_context(error, status, title):
    reply = refusal_reply(error).to_reply()
    assert reply == {"ok": False, "status": status, "title": title, "detail": error.detail,
                     "errors": [], **error.context}


def test_every_service_error_is_a_domain_error():
    for cls in (AssignmentRefusal, AlreadyDone, RuleViolation, NotPending, SelfReviewRefused):
        assert issubclass(cls, DomainError)


@pytest.mark.parametrize("service", ["intake", "assignment", "supervision", "points",
                                     "notifications"])
def test_a_domain_does_not_import_the_request_layer(service):
    tree = ast.parse((ROOT / "services" / service / "domain.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for a in node.names}
    assert not {m for m in imported if m and m.startswith(("shared.rpc", "shared.runtime",
                                                           "fastapi", "faststream"))}
