"""Journey (e), issue 18 point 6: the statistics page draws its charts (server-drawn SVG or a vendored chart
library's canvas): each chart has a size, drawn marks, a text alternative, and the page passes axe-core."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext

from .axe import assert_accessible
from .conftest import World
from .shots import Shots

STATS = "/portal/stats"

# The charts: figures' SVG or canvas, and any SVG drawn as an image (not an icon nested in another SVG).
_CHARTS = """() => [...new Set(document.querySelectorAll(
    "main figure svg, main figure canvas, main svg[role=img], main canvas"))]
  .filter(el => el.tagName.toLowerCase() === "canvas" || !el.parentElement.closest("svg"))
  .map(el => {
    const box = el.getBoundingClientRect();
    let marks = 0;
    if (el.tagName.toLowerCase() === "svg") {
      marks = el.querySelectorAll("rect, path, circle, line, polyline, polygon").length;
    } else {
      const data = el.getContext("2d").getImageData(0, 0, el.width, el.height).data;
      for (let i = 3; i < data.length; i += 4) { if (data[i] !== 0) { marks++; if (marks > 50) break; } }
    }
    const named = !!(el.getAttribute("aria-label") || el.getAttribute("aria-labelledby")
      || el.querySelector("title") || el.closest("figure")?.querySelector("figcaption"));
    return {width: box.width, height: box.height, marks, named};
  })"""


def test_the_statistics_page_draws_its_charts(world: World, context: BrowserContext, shots: Shots) -> None:
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    resp = page.goto(world.url + STATS)
    assert resp is not None
    if resp.status == 404:
        pytest.skip(f"{STATS} is not on this branch yet (issue 18 point 1: the statistics page)")
    assert resp.status == 200
    page.wait_for_load_state("networkidle")
    shots(page, "statistics")
    charts = page.evaluate(_CHARTS)
    assert charts, "the statistics page has no chart (no svg or canvas in main)"
    for i, chart in enumerate(charts):
        assert chart["width"] > 50 and chart["height"] > 50, f"chart {i} is not drawn at a size: {chart}"
        assert chart["marks"] > 0, f"chart {i} draws nothing: {chart}"
        assert chart["named"], f"chart {i} has no text alternative (title, aria-label or figcaption)"
    assert_accessible(page, "the statistics page")
    page.goto(world.url + STATS + "?lang=en")
    shots(page, "statistics-english")
    assert page.get_attribute("html", "lang") == "en"
    assert_accessible(page, "the statistics page in English")
    assert errors == []
