"""axe-core in the browser tests: the copy of axe.min.js that the axe-playwright-python
package ships (a test dependency), injected into the page by Playwright — nothing is
fetched from the internet. A page passes with no serious or critical violation."""

from __future__ import annotations

from typing import Any


def serious_violations(page) -> list[dict[str, Any]]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [v for v in results.response["violations"]
            if v.get("impact") in ("serious", "critical")]


def describe(violations: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + ", ".join(n["target"][0] if n["target"] else "?" for n in v["nodes"][:3])
        for v in violations)


def no_serious_violations(page, name: str) -> None:
    serious = serious_violations(page)
    assert not serious, f"{name}: {describe(serious)}"
