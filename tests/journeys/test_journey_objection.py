"""Journey (c), issue 18 point 6: the subject signs in with its key, objects to its record with evidence, the
registrar upholds the objection in the console (revoking the record), the measure lifts (a checkpoint check is
now allowed), and the subject's file shows the history: the objection, its evidence and its decision."""

from __future__ import annotations

import hashlib
from pathlib import Path

from playwright.sync_api import BrowserContext

from .axe import assert_accessible
from .conftest import LISTED, PASSWORD, World
from .shots import Shots

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def _check(context: BrowserContext, world: World, shots: Shots, step: str) -> str:
    page = context.new_page()
    page.goto(world.url + "/portal/check")
    page.fill("#token", world.tokens["checkpoint"])
    page.fill("#purpose", "boarding check, flight CA1234")
    page.fill("#subject", LISTED)
    page.fill("#action", "transport.air.ticket")
    page.click("main form button[type=submit]")
    page.wait_for_selector("#decision .decision")
    shots(page, step)
    verdict = page.locator("#decision .decision").get_attribute("class") or ""
    page.close()
    return "allowed" if "allowed" in verdict else "denied"


def test_an_upheld_objection_lifts_the_measure_and_the_file_shows_it(
    world: World, context: BrowserContext, shots: Shots, tmp_path: Path
) -> None:
    url = world.url.replace("127.0.0.1", "localhost")  # the portal's session cookie is Secure: localhost only
    assert _check(context, world, shots, "check-denied-before") == "denied"

    me = context.new_page()
    me.goto(url + "/portal/me")
    me.fill("#token", world.tokens["subject"])
    shots(me, "subject-sign-in")
    me.click("form[action='/portal/me'] button[type=submit]")
    assert "王芳" in me.inner_text("main")
    assert world.tokens["subject"] not in me.content()
    shots(me, "subject-file")
    evidence = tmp_path / "receipt.pdf"
    evidence.write_bytes(PDF)
    me.click("details.act summary")
    me.fill("details.act textarea[name=grounds]", "判决已全部履行完毕，附法院出具的结案证明。")
    me.set_input_files("details.act input[name=file]", str(evidence))
    shots(me, "objection-form")
    me.click("details.act form[action='/portal/me/objection'] button[type=submit]")
    text = me.inner_text("main")
    assert hashlib.sha256(PDF).hexdigest() in text and "receipt.pdf" in text
    step = me.locator("li[data-step^=objection-]").first
    objection_id = (step.get_attribute("data-step") or "").split("-", 1)[1]
    assert objection_id.isdigit()
    shots(me, "objection-filed")
    assert_accessible(me, "the subject's file with a pending objection")

    officer = context.browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[union-attr]
    try:
        page = officer.new_page()
        page.goto(world.url + "/console/login")
        page.fill("#name", "alice")
        page.fill("#password", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url(world.url + "/console")
        page.goto(world.url + "/console/queues")
        assert objection_id in page.inner_text("main table")
        shots(page, "officer-queue")
        page.fill("#d-objection_id", objection_id)
        page.select_option("#d-outcome", "upheld")
        page.check("input[name=revoke]")
        page.fill("#d-reason", "经核实，被执行人已履行全部义务，异议成立，撤销记录。")
        shots(page, "officer-decides")
        page.click("form[action='/console/objections/decide'] button[type=submit]")
        assert "objection" in page.inner_text("[role=status]")
        shots(page, "objection-upheld")
        assert_accessible(page, "the queue after deciding")
    finally:
        officer.close()

    assert _check(context, world, shots, "check-allowed-after") == "allowed"

    me.goto(url + "/portal/me")
    history = me.inner_text(f"li[data-step=objection-{objection_id}]")
    assert "已支持" in history and "upheld" in history
    assert "已撤销记录" in history and "record revoked" in history
    assert hashlib.sha256(PDF).hexdigest() in history
    assert "已撤销" in me.inner_text("main")  # the record's status badge: revoked
    shots(me, "file-shows-history")
    assert_accessible(me, "the subject's file after the decision")
