"""The published contract documents match the code (a changed contract must regenerate them)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from shared.contracts import MalformedEvent, decode_event, registered_contracts
from tests.harness import ROOT


def run_module(module: str) -> str:
    return subprocess.run([sys.executable, "-m", module], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout


def test_event_catalogue_is_up_to_date():
    assert run_module("shared.contracts.catalogue") == (ROOT / "docs" / "events.md").read_text()


def test_asyncapi_document_is_up_to_date_and_lists_every_subject():
    generated = run_module("shared.contracts.asyncapi")
    assert generated == (ROOT / "docs" / "asyncapi.json").read_text()
    text = json.dumps(json.loads(generated))
    for subject in registered_contracts():
        assert subject in text


def test_subjects_are_versioned_and_unique():
    for subject, contract in registered_contracts().items():
        assert subject == f"duty.{contract.producer}.{contract.name}.v{contract.version}"


def test_a_malformed_event_names_the_bad_fields():
    with pytest.raises(MalformedEvent, match="case_id"):
        decode_event("duty.intake.suggestion_registered.v1", b'{"event_id": "intake:1"}')
    with pytest.raises(MalformedEvent, match="no contract"):
        decode_event("duty.intake.unknown.v1", b"{}")


def test_declared_consumers_are_the_services_that_subscribe(tmp_path):
    """Each contract's `consumers` (shown in the catalogue and AsyncAPI) names exactly the
    services whose runtime handles it."""
    from shared.settings import ServiceSettings
    from shared.bus_auth import SERVICES  # every service, started by the harness or not
    from tests.harness import build

    handled: dict[str, set[str]] = {}
    for service in SERVICES:
        runtime = build(service, ServiceSettings(var_dir=tmp_path / service))
        try:
            for consumer in runtime.consumers.values():
                for contract in consumer.handlers:
                    handled.setdefault(contract.subject(), set()).add(service)
        finally:
            runtime.app.close()
    declared = {subject: set(c.consumers) for subject, c in registered_contracts().items()
                if c.consumers}
    assert declared == handled
