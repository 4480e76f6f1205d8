"""axe-core in a Playwright page: no WCAG 2.1 A or AA violation, or the test fails naming each one.

The vendored ``vendor/axe.min.js`` is evaluated through the DevTools protocol (``page.evaluate``), which the
page's Content-Security-Policy does not apply to, so the portal's CSP stays as it is served.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

__all__ = ["WCAG_TAGS", "assert_accessible", "violations"]

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")

_RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + " :: " + (n.failureSummary || "").replace(/\\n/g, " ")),
  }));
}"""


@cache
def _source() -> str:
    return AXE.read_text(encoding="utf-8")


def violations(page: Page) -> list[dict[str, Any]]:
    """The page's WCAG 2.1 A/AA violations as axe-core reports them (empty: none)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_source() + "\n;undefined")
    found: list[dict[str, Any]] = page.evaluate(_RUN, list(WCAG_TAGS))
    return found


def assert_accessible(page: Page, where: str = "") -> None:
    found = violations(page)
    if found:
        lines = [f"{where or page.url}: {len(found)} WCAG 2.1 A/AA violation(s)"]
        for v in found:
            lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
            lines.extend(f"    {n}" for n in v["nodes"])
        raise AssertionError("\n".join(lines))
