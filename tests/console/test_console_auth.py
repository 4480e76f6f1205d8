"""Sign-in, sessions, CSRF, lockout and sign-out of the officer console (issue 18 point 4).

Each test pins an attack on today's main, which has no console at all: guessing passwords without limit, a
cross-site form post without the session's token, a copied session cookie used after its owner signed out.
"""

from __future__ import annotations

from socialcredit.console.session import COOKIE

from .conftest import LOCKOUT, PASSWORD, Console


def test_sign_in_sets_a_strict_secure_httponly_cookie_and_is_audited(console: Console) -> None:
    form = console.client.get("/console/login")
    assert form.status_code == 200 and "登录" in form.text and "Sign in" in form.text
    assert console.sign_in("alice") == 303
    cookie = next(c for c in console.client.cookies.jar if c.name == COOKIE)
    assert cookie.secure and len(cookie.value) == 43  # 256 bits, urlsafe base64
    page = console.client.get("/console")
    assert page.status_code == 200 and "alice" in page.text and "court" in page.text
    assert page.headers["cache-control"] == "no-store"
    login = [c for c in console.client.get("/console/login").headers.get_list("set-cookie")]
    assert all("HttpOnly" in c and "SameSite=strict" in c and "Secure" in c for c in login)
    assert console.audit("console.sign_in") == [("user:alice", "user:alice", "ok")]


def test_stored_session_is_a_hash_not_the_cookie(console: Console) -> None:
    from sqlalchemy import select

    from socialcredit.store.tables import console_sessions, console_users

    console.sign_in("alice")
    value = console.client.cookies[COOKIE]
    with console.db.engine.connect() as conn:
        ids = [r[0] for r in conn.execute(select(console_sessions.c.id_hash))]
        hashes = [r[0] for r in conn.execute(select(console_users.c.password_hash))]
    assert value not in ids and len(ids) == 1
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)


def test_wrong_password_and_unknown_user_get_the_same_answer(console: Console) -> None:
    assert console.sign_in("alice", "not the password at all") == 401
    assert console.sign_in("nobody", "not the password at all") == 401
    assert COOKIE not in console.client.cookies
    assert console.client.get("/console", follow_redirects=False).status_code == 401
    outcomes = console.audit("console.sign_in")
    assert outcomes[0] == ("user:alice", "user:alice", "refused: wrong password")
    assert outcomes[1] == ("user:nobody", "user:nobody", "refused: unknown user")


def test_lockout_after_repeated_failures_refuses_even_the_right_password(console: Console) -> None:
    for _ in range(LOCKOUT):
        assert console.sign_in("alice", "guess guess guess") == 401
    assert console.sign_in("alice") == 401  # locked: the right password does not open it
    assert console.audit("console.sign_in")[-2][2].endswith("locked for 15 min")
    assert console.audit("console.sign_in")[-1][2].startswith("refused: locked until")
    assert console.sign_in("audrey") == 303  # another account is not affected


def test_post_without_or_with_a_forged_csrf_token_is_refused(console: Console) -> None:
    console.sign_in("alice")
    token = console.csrf()
    for data in ({}, {"csrf": "x" * 43}, {"csrf": token[:-1] + ("A" if token[-1] != "A" else "B")}):
        resp = console.client.post("/console/logout", data=data, follow_redirects=False)
        assert resp.status_code == 403, data
        assert "CSRF" in resp.text
    assert console.client.get("/console").status_code == 200  # still signed in: nothing happened
    assert [o for *_, o in console.audit("console.csrf")] == [
        "refused: 403 (missing token)",
        "refused: 403 (forged token)",
        "refused: 403 (forged token)",
    ]


def test_sign_in_form_needs_its_own_csrf_token(console: Console) -> None:
    console.client.get("/console/login")
    resp = console.client.post("/console/login", data={"name": "alice", "password": PASSWORD})
    assert resp.status_code == 403 and COOKIE not in console.client.cookies


def test_a_cookie_replayed_after_sign_out_opens_nothing(console: Console) -> None:
    console.sign_in("alice")
    stolen = console.client.cookies[COOKIE]
    console.client.cookies.clear()
    console.client.cookies.set(COOKIE, stolen)
    assert console.client.get("/console").status_code == 200  # the copy works while the session lives
    resp = console.client.post("/console/logout", data={"csrf": console.csrf()}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/console/login"
    console.client.cookies.clear()
    console.client.cookies.set(COOKIE, stolen)
    assert console.client.cookies[COOKIE] == stolen
    replay = console.client.get("/console", follow_redirects=False)
    assert replay.status_code == 401 and 'action="/console/login"' in replay.text
    assert "alice" not in replay.text.replace('value=""', "")
    assert console.audit("console.sign_out") == [("user:alice", "user:alice", "ok")]


def test_a_disabled_user_loses_their_session(console: Console) -> None:
    import datetime as dt

    from socialcredit.console.auth import disable_user

    console.sign_in("alice")
    with console.db.engine.begin() as conn:
        disable_user(conn, "alice", dt.datetime.now(dt.UTC))
    assert console.client.get("/console", follow_redirects=False).status_code == 401
    assert console.sign_in("alice") == 401
