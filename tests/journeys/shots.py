"""Screenshots of each step of a journey: ``$SOCIALCREDIT_JOURNEY_SCREENSHOTS/<test>/NN-step.png``.

.ci/run sets the variable to ``${CI_ARTIFACTS:-$PWD/artifacts}/journeys`` so CI keeps them; without it they go
under the test's temporary directory (taken all the same: a step that cannot be drawn fails there too).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Page

__all__ = ["ENV", "Shots"]

ENV = "SOCIALCREDIT_JOURNEY_SCREENSHOTS"


class Shots:
    """Numbered full-page screenshots of one test."""

    def __init__(self, test: str, fallback: Path) -> None:
        root = Path(os.environ[ENV]) if os.environ.get(ENV) else fallback
        self.dir = root / re.sub(r"[^A-Za-z0-9_.-]+", "-", test).strip("-")
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.png"):  # a rerun replaces the last run's pictures
            old.unlink()
        self.taken: list[Path] = []

    def __call__(self, page: Page, step: str) -> Path:
        path = self.dir / f"{len(self.taken) + 1:02d}-{re.sub(r'[^a-z0-9-]+', '-', step.lower())}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0, path
        self.taken.append(path)
        return path
