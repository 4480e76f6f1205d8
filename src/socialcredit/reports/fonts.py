"""The CJK font embedded in every report (decision 0605).

PDF viewers show Chinese reliably only from a font embedded in the file, so each report embeds a subset of one
static TrueType font. The default comes from a PyPI package (justmytype-intl-cjk ships Google's Noto Sans SC,
OFL), so a fresh machine needs no system fonts. That file is a *variable* font whose default instance is Thin
(wght 100), and PDF viewers draw only the default outlines: it is made static at Regular (wght 400) once, about
40 s, into the user's cache, under a lock so concurrent workers build it once. ``SOCIALCREDIT_REPORT_FONT_FILE``
names any static TrueType font instead (for example Debian's fonts-wqy-microhei).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

from ..settings import Settings, get_settings

__all__ = ["FONT_NAME", "FontMissing", "ensure_font", "font_path"]

FONT_NAME = "ReportSans"
_CACHE_NAME = "NotoSansSC-Regular-static-3.ttf"  # bump the suffix when the build changes
_registered: str | None = None
_lock = threading.Lock()


class FontMissing(RuntimeError):
    """No usable CJK font: the package is not installed, or the configured file does not load."""


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "socialcredit" / "fonts"


def _variable_source() -> Path:
    try:
        root = files("justmytype_intl_cjk")
    except ModuleNotFoundError:
        raise FontMissing(
            "no CJK font for reports: install the justmytype-intl-cjk package (pip install -e .) or set "
            "SOCIALCREDIT_REPORT_FONT_FILE to a static TrueType font with Chinese glyphs"
        ) from None
    path = Path(str(root / "fonts" / "ofl" / "notosanssc" / "NotoSansSC[wght].ttf"))
    if not path.is_file():
        raise FontMissing(f"{path}: the Noto Sans SC font is missing from justmytype-intl-cjk")
    return path


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_static(source: Path, target: Path) -> None:
    from fontTools.ttLib import TTFont
    from fontTools.varLib import instancer

    font = TTFont(str(source))
    instancer.instantiateVariableFont(font, {"wght": 400}, inplace=True, optimize=False)
    # The instancer keeps the default instance's names ("Thin"): name the font for what it now is.
    for rec in font["name"].names:
        if rec.nameID in (1, 16):  # family: "Noto Sans SC Thin" -> "Noto Sans SC"
            rec.string = str(rec).replace(" Thin", "")
        elif rec.nameID in (2, 3, 4, 6, 17):
            rec.string = str(rec).replace("Thin", "Regular")
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    font.save(str(tmp))
    os.replace(tmp, target)  # readers see the whole file or none


def font_path(settings: Settings | None = None) -> Path:
    """The static font file, building the default one into the cache on first use."""
    settings = settings or get_settings()
    if settings.report_font_file:
        path = Path(settings.report_font_file)
        if not path.is_file():
            raise FontMissing(f"{path}: SOCIALCREDIT_REPORT_FONT_FILE names no file")
        return path
    target = _cache_dir() / _CACHE_NAME
    if target.is_file():
        return target
    source = _variable_source()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError:  # no writable home (a service account): a cache in the temporary directory
        target = Path(tempfile.gettempdir()) / f"socialcredit-fonts-{os.getuid()}" / _CACHE_NAME
        if target.is_file():
            return target
    with _locked(target):
        if not target.is_file():  # another process may have built it while this one waited
            _build_static(source, target)
    return target


def ensure_font(settings: Settings | None = None) -> str:
    """Register the font with reportlab once per process; its name for ``setFont``."""
    global _registered
    with _lock:
        if _registered is not None:
            return _registered
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFError, TTFont

        path = font_path(settings)
        try:
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(path)))
        except (TTFError, OSError) as exc:
            raise FontMissing(f"{path}: not a usable TrueType font ({exc})") from None
        _registered = FONT_NAME
        return FONT_NAME
