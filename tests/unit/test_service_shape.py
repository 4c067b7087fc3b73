"""One shape for every service (issue 25): the same modules in each, the domain pure, the
wiring in bootstrap.py. Read from the source (no service is imported or started), so a new
service, or a module moved back where it was, fails here by name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"
SHAPE = ("domain.py", "errors.py", "application.py", "read_models.py", "views.py",
         "bootstrap.py", "bus.py", "__main__.py")
NOT_A_SERVICE = {"gateway"}  # the HTTP edge: routes and pages, no event store

# What a domain may not know about: the bus and its runtime, requests and replies, stores and
# read models, settings, and its own service's outer layers.
IMPURE = ("faststream", "nats", "shared.runtime", "shared.rpc", "shared.outbox",
          "shared.read_store", "shared.projection", "shared.eventstore", "shared.settings",
          "shared.streams", "shared.bus_auth", "eventsourcing.application",
          "eventsourcing.persistence", "eventsourcing.system")
OUTER = ("application", "bootstrap", "bus", "read_models", "views", "__main__")

SERVICES = sorted(d.name for d in SERVICES_DIR.iterdir()
                  if d.is_dir() and (d / "__init__.py").exists() and d.name not in NOT_A_SERVICE)


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def defined_functions(path: Path) -> set[str]:
    return {node.name for node in ast.parse(path.read_text(encoding="utf-8")).body
            if isinstance(node, ast.FunctionDef)}


def test_the_services_are_found() -> None:
    assert {"intake", "assignment", "supervision", "points", "notifications"} <= set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_same_modules(service: str) -> None:
    missing = [name for name in SHAPE if not (SERVICES_DIR / service / name).is_file()]
    assert not missing, f"services/{service} lacks {missing} (the one shape: {SHAPE})"


@pytest.mark.parametrize("service", SERVICES)
def test_the_domain_is_pure(service: str) -> None:
    """domain.py knows neither the bus, the runtime, requests, stores nor settings, nor its
    service's outer layers, nor another service; it raises its own errors.py's errors."""
    imports = imported_modules(SERVICES_DIR / service / "domain.py")
    impure = sorted(m for m in imports if any(m == p or m.startswith(p + ".") for p in IMPURE))
    assert not impure, f"services/{service}/domain.py imports {impure}"
    outer = sorted(m for m in imports
                   if m.startswith("services.") and (
                       m.split(".")[1] != service
                       or (len(m.split(".")) > 2 and m.split(".")[2] in OUTER)))
    assert not outer, f"services/{service}/domain.py imports {outer}"
    assert f"services.{service}.errors" in imports, \
        f"services/{service}/domain.py raises nothing from its errors.py"


@pytest.mark.parametrize("service", SERVICES)
def test_the_wiring_is_in_bootstrap_and_bus_only_registers(service: str) -> None:
    folder = SERVICES_DIR / service
    assert "build_runtime" in defined_functions(folder / "bootstrap.py")
    assert "build_runtime" not in defined_functions(folder / "bus.py"), \
        f"services/{service}/bus.py still wires the runtime (bootstrap.py does)"
    assert f"services.{service}.bootstrap" in imported_modules(folder / "__main__.py")


def test_the_checks_find_what_they_look_for(tmp_path: Path) -> None:
    """The purity check is not vacuous: a domain importing the runtime is found."""
    impure = tmp_path / "domain.py"
    impure.write_text("from shared.runtime import ServiceRuntime\n"
                      "def f():\n    from services.x.bus import translate\n", encoding="utf-8")
    assert {"shared.runtime", "services.x.bus"} <= imported_modules(impure)
