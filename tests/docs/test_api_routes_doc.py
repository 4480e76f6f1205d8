"""Every route of /openapi.json has a row in docs/api.md's "All routes" table, and the table has no route the
app lacks (issue 16 section 1: the endpoints table had drifted from the app; the feed, subscription,
watchlist and due-process routes had no row)."""

from __future__ import annotations

import re
from pathlib import Path

from socialcredit.api import create_app
from socialcredit.catalogue import Catalogue
from socialcredit.settings import Settings
from socialcredit.store import Database, upgrade

from .examples import ROOT

API_MD = ROOT / "docs" / "api.md"
SECTION = "## All routes"


def _documented() -> set[str]:
    text = API_MD.read_text(encoding="utf-8")
    assert SECTION in text, f"docs/api.md has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z]+ /\S*)` \|", section, re.MULTILINE))


def test_every_route_is_in_api_md(tmp_path: Path, catalogue: Catalogue) -> None:
    # The routes do not depend on the store: one SQLite file is enough.
    url = f"sqlite:///{tmp_path / 'routes.db'}"
    db = Database.open(url)
    upgrade(db.engine)
    app = create_app(db, catalogue, Settings(database_url=url))
    schema = app.openapi()
    routes = {
        f"{method.upper()} {path}": op for path, ops in schema["paths"].items() for method, op in ops.items()
    }
    missing = sorted(set(routes) - _documented())
    rows = "\n".join(f"| `{r}` | {routes[r].get('summary', '').lower()} | ... |" for r in missing)
    assert not missing, f'routes with no row in docs/api.md "{SECTION}"; add:\n{rows}'
    db.engine.dispose()
    gone = sorted(_documented() - set(routes))
    assert not gone, f'rows of docs/api.md "{SECTION}" that are no route of the app: {gone}'
