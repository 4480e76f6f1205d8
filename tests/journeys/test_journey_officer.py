"""Journey (b), issue 18 point 6: a registrar signs in to the console, files a record through its form, and a
checkpoint's check of that subject on the portal's check page is denied, with the record's measure as reason."""

from __future__ import annotations

from playwright.sync_api import BrowserContext

from socialcredit.identifiers import mask

from .axe import assert_accessible
from .conftest import NEW_SUBJECT, PASSWORD, World
from .shots import Shots


def test_an_officer_files_a_record_and_a_checkpoint_check_is_denied(
    world: World, context: BrowserContext, shots: Shots
) -> None:
    page = context.new_page()
    page.goto(world.url + "/console")
    assert page.locator("#password").count() == 1  # not signed in: the sign-in form
    shots(page, "sign-in")
    page.fill("#name", "alice")
    page.fill("#password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(world.url + "/console")
    shots(page, "signed-in")

    page.click("nav a[href='/console/records/new']")
    page.wait_for_url(world.url + "/console/records/new")
    fields = {
        "external_id": "(2026)京0105执900号",
        "subject_id": NEW_SUBJECT,
        "subject_name": "赵敏",
        "decision_no": "(2026)京0105民初900号",
        "decided_on": "2026-01-15",
    }
    for name, value in fields.items():
        page.fill(f"#f-{name}", value)
    page.select_option("#f-category", "court.judgment_defaulter")
    shots(page, "record-form")
    page.click("form[action='/console/records'] button[type=submit]")
    status = page.inner_text("[role=status]")
    assert "filed" in status, status
    shots(page, "record-filed")
    assert_accessible(page, "the console after filing")

    # The checkpoint, in another browser context (its own cookies), checks the subject for a flight.
    checkpoint = context.browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[union-attr]
    try:
        gate = checkpoint.new_page()
        gate.goto(world.url + "/portal/check")
        gate.fill("#token", world.tokens["checkpoint"])
        gate.fill("#purpose", "boarding check, flight CA1234")
        gate.fill("#subject", NEW_SUBJECT)
        gate.fill("#action", "transport.air.ticket")
        shots(gate, "check-form")
        gate.click("main form button[type=submit]")
        gate.wait_for_selector("#decision .decision")
        decision = gate.locator("#decision .decision")
        assert "denied" in (decision.get_attribute("class") or "")
        text = decision.inner_text()
        assert "不予办理" in text and "Denied" in text
        assert world.tokens["checkpoint"] not in gate.content()  # the key is never echoed
        assert gate.url == world.url + "/portal/check"
        shots(gate, "check-denied")
        assert_accessible(gate, "the denied check")
    finally:
        checkpoint.close()

    # The new record is public at once: the public search finds the subject, masked.
    page.goto(world.url + "/portal/search?q=%E8%B5%B5%E6%95%8F")
    assert mask(NEW_SUBJECT) in page.inner_text("#results") and NEW_SUBJECT not in page.content()
    shots(page, "public-search")
