"""Hostile allergy names in a real browser (headless Debian Chromium): shown as text, never run, stored verbatim.

An interface engine sends an allergy named like an SQL injection and one named like an HTML/script injection.
A pharmacist opens the review queue and each entry page: the names are there as visible text, character for
character; no script ran (`window.__pwned` stays undefined), no element was made of them (no extra <script>, no
<img>, no request for its `src`), and the Content-Security-Policy was never even tested. The store holds both
names exactly as sent, and its tables are all there. Same setup as tests/test_browser.py (its fixtures).
"""
from __future__ import annotations

import pytest

pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install playwright); "
                                                  "the tests use Debian's Chromium, never a downloaded one")

from sqlalchemy import inspect, select  # noqa: E402

from mappings.tables import review_entries  # noqa: E402
from tests import test_browser as shared  # noqa: E402
from tests.conftest import DEMO_LOCAL_SYSTEM  # noqa: E402
from tests.test_browser import SNOMED, log_in, queued  # noqa: E402

browser, live, new_tab = shared.browser, shared.live, shared.new_tab  # its fixtures, served the same way

pytestmark = pytest.mark.slow

SQL_LIKE = "'; DROP TABLE review_entries; --"
SCRIPT = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
HOSTILE = (SQL_LIKE, SCRIPT)


def test_sql_like_and_script_allergy_names_are_shown_as_text_in_the_queue_and_entry_pages_and_nothing_runs(
        live, new_tab, tmp_path):
    tables = sorted(inspect(live.engine).get_table_names())
    entries = {}
    for name in HOSTILE:
        answer = queued(live, {"source": {"system": DEMO_LOCAL_SYSTEM}, "text": name, "target_system": SNOMED,
                               "context": "allergy", "sender": "ed-feed"})
        assert answer["original"]["text"] == name
        entries[name] = answer["review"]["id"]

    tab = new_tab()
    page = tab.page
    requested, errors, dialogs = [], [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    def nothing_ran() -> None:
        page.wait_for_load_state("networkidle")  # an <img src=x> would have failed, and its onerror run, by now
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.locator("img").count() == 0  # the pages hold no images; one here came from the text
        assert page.locator("script:not([src])").count() == 0 and page.locator("script").count() == 1  # app.js only
        assert not [url for url in requested if url.rstrip("/").endswith("/x")]
        assert errors == [] and dialogs == []

    log_in(tab, live, live.key("pharmacist", "hostile-text-reader"))
    shown = page.locator("tr[data-row] .verbatim").all_text_contents()
    for name in HOSTILE:
        assert name in shown  # each name is one cell's text, exactly
        assert page.get_by_text(name, exact=True).first.is_visible()
    nothing_ran()
    page.screenshot(path=tmp_path / "hostile-queue.png", full_page=True)

    for name, entry_id in entries.items():
        page.goto(f"{live.url}/ui/entry/{entry_id}")
        verbatim = page.locator('[data-verbatim="text"]')
        assert verbatim.text_content() == name and verbatim.inner_text() == name  # visible text equals the name
        assert verbatim.locator("*").count() == 0  # text, not markup: no element inside it
        assert page.get_by_text(name, exact=True).first.is_visible()
        nothing_ran()
        page.screenshot(path=tmp_path / f"hostile-entry-{entry_id}.png", full_page=True)
    print(f"\nscreenshots in {tmp_path}")

    with live.engine.connect() as connection:
        stored = dict(connection.execute(select(review_entries.c.id, review_entries.c.original)
                                         .where(review_entries.c.id.in_(list(entries.values())))).all())
    assert {stored[entry_id]["text"] for entry_id in entries.values()} == set(HOSTILE)
    assert sorted(inspect(live.engine).get_table_names()) == tables  # no table dropped
    assert tab.csp_violations == []  # nothing even tried to run
