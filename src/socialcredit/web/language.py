"""The language a page is shown in: Chinese, English, or both side by side (decision 0620).

``?lang=zh|en|both`` on any page chooses, and the choice is kept in a ``lang`` cookie (SameSite=Lax, a year);
without either a page shows both languages, Chinese first, as it always did. The choice travels to the
templates through a context variable that :class:`LanguageMiddleware` sets for each request, so the shared
macros (``bi``, ``bn``) pick the language without every template importing them with context.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

from jinja2 import Environment
from markupsafe import Markup, escape

__all__ = [
    "COOKIE",
    "LANGS",
    "LanguageMiddleware",
    "bi",
    "bn",
    "current",
    "datum",
    "html_lang",
    "install",
    "pick",
    "switch_links",
    "using",
]

Lang = Literal["zh", "en", "both"]
LANGS: tuple[Lang, ...] = ("zh", "en", "both")
COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
_current: contextvars.ContextVar[Lang] = contextvars.ContextVar("socialcredit_lang", default="both")
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
# "核查 Checkpoint check": a page title written as Chinese, a space, English (the routes' page_title).
# Query parameters a link never carries on: a secret put in a URL by mistake is not echoed into the page.
_SECRET = re.compile(r"token|password|csrf|secret|key", re.IGNORECASE)
_PAIR = re.compile(r"^([^A-Za-z]*[^\sA-Za-z])\s+([A-Za-z].*)$")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def current() -> Lang:
    """The language of the page being rendered."""
    return _current.get()


def using(lang: Lang) -> contextvars.Token[Lang]:
    """Render in ``lang`` until ``_current.reset(token)`` (tests and the middleware)."""
    return _current.set(lang)


def _valid(value: str | None) -> Lang | None:
    value = (value or "").strip().lower()
    return value if value in LANGS else None


def chosen(query: str, cookie_header: str) -> tuple[Lang, Lang | None]:
    """The page's language and the one to store in the cookie (None: leave the cookie alone).

    A ``lang`` parameter that is not one of the three is ignored (the page shows as before), not an error:
    it is a display preference, and a refusal would lock a person out of a page for a typo in a link."""
    asked = _valid(dict(parse_qsl(query, keep_blank_values=True)).get(COOKIE))
    if asked is not None:
        return asked, asked
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:  # a malformed Cookie header: as if there were none
        return "both", None
    morsel = jar.get(COOKIE)
    return (_valid(morsel.value if morsel else None) or "both"), None


class LanguageMiddleware:
    """Sets the request's language (query, then cookie) and stores an asked-for one in the cookie."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        lang, store = chosen(
            bytes(scope.get("query_string", b"")).decode("latin-1"),
            bytes(headers.get(b"cookie", b"")).decode("latin-1"),
        )
        secure = scope.get("scheme") == "https"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"vary", b"Cookie")]
                if store is not None:
                    cookie = f"{COOKIE}={store}; Path=/; Max-Age={COOKIE_MAX_AGE}; SameSite=Lax; HttpOnly"
                    extra.append((b"set-cookie", (cookie + ("; Secure" if secure else "")).encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        token = _current.set(lang)
        try:
            await self.app(scope, receive, send_with_cookie)
        finally:
            _current.reset(token)


def _tagged(text: Any, lang: str) -> Markup:
    return Markup('<span lang="{}">{}</span>').format(lang, text)


def _span_for(text: Any, page: Lang) -> Markup:
    """A datum in the page's language, tagged ``lang`` when it is in the other one (a Chinese name on an
    English page: the catalogue has no English for it)."""
    if page == "en" and _CJK.search(str(text)):
        return _tagged(text, "zh-Hans")
    return Markup(escape(text))


def datum(text: Any) -> Markup:
    """A name or text from the data, in whatever language it is: tagged ``lang="zh-Hans"`` when Chinese on an
    English page (a person's name, a decision number)."""
    return _span_for(text, _current.get())


def bi(zh: Any, en: Any) -> Markup:
    """A label in the chosen language; both (Chinese first, each tagged) when none is chosen."""
    lang = _current.get()
    if lang == "zh":
        return Markup(escape(zh))
    if lang == "en":
        return Markup(escape(en))
    return Markup('<span lang="zh-Hans">{}</span> <span class="en" lang="en">{}</span>').format(zh, en)


def bn(pair: Any) -> Markup:
    """A datum as a (Chinese, English) pair: in the chosen language, once when both are the same."""
    zh, en = pair[0], pair[1]
    lang = _current.get()
    if lang == "zh":
        return Markup(escape(zh))
    if lang == "en":
        return _span_for(en, "en")
    return Markup(escape(zh)) if zh == en else bi(zh, en)


def pick(zh: Any, en: Any = None) -> str:
    """Plain text for an attribute or a title (no markup): the chosen language, or "Chinese English".

    With one argument it splits a "中文 English" string (the routes' page titles) or takes a pair."""
    if en is None:
        if isinstance(zh, (tuple, list)):
            zh, en = zh[0], zh[1]
        elif m := _PAIR.match(str(zh)):
            zh, en = m[1], m[2]
        else:
            return str(zh)
    lang = _current.get()
    return str(zh) if lang == "zh" else str(en) if lang == "en" else f"{zh} {en}"


def html_lang() -> str:
    """The page's ``<html lang>``: English only when English is chosen (a bilingual page is Chinese first)."""
    return "en" if _current.get() == "en" else "zh-Hans"


def switch_links(path: str, query: str) -> list[dict[str, str]]:
    """The links to the other languages of this page (its query kept, its ``lang`` replaced)."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=20)
    except ValueError:  # more than 20 fields: no page of the portal takes that many; the link keeps none
        pairs = []
    params = [(k, v) for k, v in pairs if k != COOKIE and not _SECRET.search(k)]
    names = {"zh": ("中文", "zh-Hans"), "en": ("English", "en"), "both": ("中文 / English", "zh-Hans")}
    out = []
    for lang in LANGS:
        if lang == _current.get():
            continue
        label, tag = names[lang]
        out.append(
            {
                "href": f"{path}?{urlencode([*params, (COOKIE, lang)])}",
                "label": label,
                "lang": tag,
                "code": lang,
            }
        )
    return out


def install(env: Environment) -> None:
    """Give a template environment the language's functions."""
    env.globals.update(
        _bi=bi,
        _bn=bn,
        datum=datum,
        pick=pick,
        html_lang=html_lang,
        switch_links=switch_links,
        ui_lang=current,
    )
