"""The web portal: server-rendered pages (Jinja2 + htmx) next to the API; see docs/portal.md."""

from __future__ import annotations

__all__: list[str] = []
