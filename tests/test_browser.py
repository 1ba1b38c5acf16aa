"""The web pages in a real browser (headless Debian Chromium, never a downloaded one) against the real app on a port.

A pharmacist logs in, finds a misspelt allergen in the queue, claims it, picks the candidate and approves it —
by keyboard — and the next translation answers from that decision. An auditor sees the coverage charts drawn
as inline SVG. Hostile allergy text stays text: it is shown verbatim and never runs.
"""
from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from api.app import create_app
from mappings.usage import day_number, write_counts
from tests.conftest import DEMO_LOCAL_SYSTEM, api_key

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--no-first-run"]
SNOMED = "http://snomed.info/sct"
IBUF = {"source": {"system": DEMO_LOCAL_SYSTEM, "code": "IBUF"}, "text": "Ibuprofin", "target_system": SNOMED,
        "context": "allergy", "sender": "ed-feed"}
HOSTILE = "<script>window.__pwned=1</script>' OR 1=1 --"
TIMEOUT_MS = 10_000


@dataclass
class Live:
    url: str
    app: object
    engine: object
    admin: httpx.Client  # the JSON API as an interface engine with an admin key

    def key(self, role: str, name: str) -> str:
        return api_key(self.engine, role, name)


@pytest.fixture
def live(demo_sqlite) -> Iterator[Live]:
    """The app served by uvicorn on a free 127.0.0.1 port (a thread of this process) over a copy of the demo store."""
    app = create_app(engine=demo_sqlite)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-ui-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {api_key(demo_sqlite, 'admin')}"},
                         timeout=10)
    try:
        yield Live(url, app, demo_sqlite, admin)
    finally:
        admin.close()
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium); the tests never download one")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Tab:
    page: object
    csp_violations: list[str]


@pytest.fixture
def new_tab(browser) -> Iterator:
    """Opens pages in fresh browser contexts (own cookies); records Content-Security-Policy violations."""
    contexts = []

    def open_tab() -> Tab:
        context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        violations: list[str] = []
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        return Tab(page, violations)

    yield open_tab
    for context in contexts:
        context.close()


def log_in(tab: Tab, live: Live, key: str, start: str = "/ui/queue") -> None:
    page = tab.page
    page.goto(live.url + start)
    assert "/ui/login" in page.url  # no session yet: the page sends the browser to log in
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{start}")


def queued(live: Live, body: dict) -> dict:
    answer = live.admin.post("/v1/translate", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "unmapped"
    return answer.json()


def earlier_traffic(live: Live, days: int = 14) -> None:
    """A fortnight of translation counts before today, so the coverage chart has a trend to draw."""
    today = day_number()
    counts = {}
    for back in range(1, days + 1):
        day = today - back
        share = 60 + (days - back) * 2  # mapped share rising from ~60 % as curation catches up
        for system, sender, scale in ((DEMO_LOCAL_SYSTEM, "ed-feed", 3), (SNOMED, "pharmacy-feed", 2)):
            counts[(day, system, sender, "allergy", "mapped", "exact")] = share * scale
            counts[(day, system, sender, "allergy", "unvalidated", "fuzzy")] = 10 * scale
            counts[(day, system, sender, "allergy", "unmapped", "none")] = (100 - share - 10) * scale
    with live.engine.begin() as connection:
        write_counts(connection, counts)


OTHERS = [  # more of a morning's queue, so the page is seen as it is used
    {"source": {"system": DEMO_LOCAL_SYSTEM, "code": "SULFA"}, "text": "sulpha drugs", "target_system": SNOMED,
     "context": "allergy", "sender": "pharmacy-feed"},
    {"text": "Amoxicilin 500mg caps", "target_system": "rxnorm", "context": "medication", "sender": "pharmacy-feed"},
    {"source": {"system": DEMO_LOCAL_SYSTEM, "code": "LATX"}, "text": "latex gloves (rash)", "target_system": SNOMED,
     "context": "allergy", "sender": "ed-feed"},
]


def test_a_pharmacist_approves_a_candidate_by_keyboard_and_the_next_translation_is_curated(live, new_tab, tmp_path):
    before = queued(live, IBUF)
    queued(live, IBUF | {"sender": "pharmacy-feed"})  # seen twice: first in priority
    for body in OTHERS:
        live.admin.post("/v1/translate", json=body)
    earlier_traffic(live)
    tab = new_tab()
    page = tab.page
    log_in(tab, live, live.key("pharmacist", "alice"))
    assert "Ibuprofin" in page.locator("tr[data-row]").first.inner_text()  # most occurrences first
    page.screenshot(path=tmp_path / "queue.png", full_page=True)

    # The queue: filter with "/", move with "j", open with Enter.
    page.keyboard.press("/")
    page.keyboard.type("IBUF")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/ui/queue\?.*text=IBUF"))
    row = page.locator("tr[data-row]").filter(has_text="Ibuprofin")
    assert row.count() == 1 and "open" in row.inner_text()
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/ui/entry/{before['review']['id']}")

    # The entry: the original verbatim, then claim (c), choose the candidate by its number, comment (e), approve (a).
    assert page.locator('[data-verbatim="text"]').text_content() == "Ibuprofin"
    page.keyboard.press("c")
    page.wait_for_load_state()
    page.get_by_text("Claimed until").wait_for()
    candidate = page.locator('input[name="code"][value="387207008"]')
    rank = candidate.get_attribute("data-shortcut")
    page.keyboard.press(rank)
    assert candidate.is_checked()
    assert page.get_by_label("Relationship (source to target)").input_value() == "equivalent"
    page.keyboard.press("e")
    page.keyboard.type("Misspelt ibuprofen; confirmed with the ED team.")
    page.keyboard.press("Escape")
    page.screenshot(path=tmp_path / "entry-claimed.png", full_page=True)
    page.keyboard.press("a")
    page.get_by_text("Approved: mapped to 387207008 Ibuprofen (equivalent)").wait_for()
    assert "Decided: mapped by alice" in page.locator(".status-panel").inner_text()
    assert "Misspelt ibuprofen; confirmed with the ED team." in page.locator(".status-panel").inner_text()
    page.screenshot(path=tmp_path / "entry.png", full_page=True)
    print(f"\nscreenshots: {tmp_path / 'queue.png'} {tmp_path / 'entry-claimed.png'} {tmp_path / 'entry.png'}")

    after = live.admin.post("/v1/translate", json=IBUF).json()
    assert after["status"] == "mapped" and after["validated"] is True
    [match] = after["matches"]
    assert (match["code"], match["rule"]) == ("387207008", "curated")

    # The mapping's history page, reached from the entry.
    page.get_by_role("link", name="Every version of this mapping").click()
    page.get_by_role("heading", name="Mapping history").wait_for()
    assert "alice" in page.locator("table.versions").inner_text()

    # An auditor's reports: both charts drawn server-side as SVG, with their numbers beside them.
    live.app.state.metrics.usage.flush_to(live.engine)  # what the app's flusher does every 2 s
    auditor = new_tab()
    log_in(auditor, live, live.key("auditor", "audrey"), start="/ui/reports")
    reports = auditor.page
    trend = reports.locator("svg.line-chart")
    assert trend.count() == 1 and len(trend.locator("path.line").get_attribute("d")) > 20
    assert trend.locator("circle.point").count() == 15  # 14 earlier days and today
    bars = reports.locator("#by-systems svg.bar-chart")
    assert bars.count() == 1 and bars.locator("rect.seg").count() >= 4
    assert bars.locator("rect.seg-mapped").count() >= 1 and bars.locator("rect.seg-unmapped").count() >= 1
    assert "Ibuprofin" in reports.locator("table[data-rows]").inner_text()
    with reports.expect_download() as download:
        reports.get_by_role("link", name="CSV").last.click()
    assert download.value.suggested_filename.startswith("termmap-unmapped-")
    reports.screenshot(path=tmp_path / "reports.png", full_page=True)
    print(f"reports page screenshot: {tmp_path / 'reports.png'}")
    assert tab.csp_violations == [] and auditor.csp_violations == []


def test_hostile_allergy_text_is_shown_verbatim_and_never_runs(live, new_tab, tmp_path):
    entry_id = queued(live, {"source": {"system": DEMO_LOCAL_SYSTEM}, "text": HOSTILE, "target_system": SNOMED,
                             "context": "allergy", "sender": "ed-feed"})["review"]["id"]
    tab = new_tab()
    page = tab.page
    log_in(tab, live, live.key("pharmacist", "mallory-watcher"))
    assert page.locator("tr[data-row] .verbatim").first.text_content() == HOSTILE
    page.goto(f"{live.url}/ui/entry/{entry_id}")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator('[data-verbatim="text"]').text_content() == HOSTILE
    assert page.get_by_text(HOSTILE, exact=True).first.is_visible()
    assert page.locator("script:not([src])").count() == 0  # the text did not become an element
    assert page.locator("script").count() == 1  # only /ui/static/app.js
    page.screenshot(path=tmp_path / "hostile-entry.png", full_page=True)
    print(f"\nhostile entry screenshot: {tmp_path / 'hostile-entry.png'}")

    auditor = new_tab()
    log_in(auditor, live, live.key("auditor", "audrey"), start="/ui/reports")
    assert auditor.page.evaluate("typeof window.__pwned") == "undefined"
    assert auditor.page.get_by_text(HOSTILE, exact=True).first.is_visible()
    assert tab.csp_violations == [] and auditor.csp_violations == []


def test_a_browser_without_a_session_is_sent_to_log_in_and_back(live, new_tab, tmp_path):
    tab = new_tab()
    page = tab.page
    page.goto(f"{live.url}/ui/reports?context=allergy")
    assert "/ui/login" in page.url
    page.get_by_label("API key").fill("tm_not-a-key")
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("That key is unknown or revoked.").wait_for()
    page.get_by_label("API key").fill(live.key("auditor", "audrey"))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/ui/reports?context=allergy")
    page.keyboard.press("?")
    assert page.locator("dialog#shortcuts").is_visible()
    page.screenshot(path=tmp_path / "shortcuts.png")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/ui/login?expired=out")
    page.goto(f"{live.url}/ui/reports")
    assert "/ui/login" in page.url
