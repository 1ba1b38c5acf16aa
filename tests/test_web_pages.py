"""The /ui pages: who may open what, sessions and CSRF, hostile text shown as text, security headers, charts."""
from __future__ import annotations

import re
from datetime import date, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Route

from api.auth import ROLE_PERMISSIONS, Permission, Principal, Role, key_sha256, revoke_key
from api.web import charts, pages
from api.web.pages import SECURITY_HEADERS
from api.web.session import SESSION_COOKIE, SessionStore, sessions_of
from mappings import review_workflow as workflow
from mappings.usage import day_number, write_counts
from tests.conftest import DEMO_LOCAL_SYSTEM, api_key
from tests.test_access import _flatten

SNOMED = "http://snomed.info/sct"
IBUF = {"source": {"system": DEMO_LOCAL_SYSTEM, "code": "IBUF"}, "text": "Ibuprofin", "target_system": SNOMED,
        "context": "allergy", "sender": "ed-feed"}
HOSTILE = "<script>window.__pwned=1</script>' OR 1=1 --"
HOSTILE_SENDER = '<img src=x onerror="alert(1)">'
UI_ROLES = ("pharmacist", "auditor", "admin")


# --- helpers ------------------------------------------------------------------------------------------------


class Browser:
    """A TestClient with its own cookie jar, logged in with a key of `role` (None: not logged in)."""

    def __init__(self, client, role: str | None = None, name: str | None = None) -> None:
        self.engine = client.engine
        self.http = TestClient(client.app)  # not entered: shares the running app's state, has its own cookies
        self.key = self.name = None
        if role is not None:
            self.name = name or f"{role}-ui"
            self.key = api_key(client.engine, role, self.name)
            answer = self.log_in(self.key)
            assert answer.status_code == 303, answer.text

    def log_in(self, key: str, next_: str = ""):
        form = self.http.get("/ui/login")
        return self.http.post("/ui/login", data={"login_token": _field(form.text, "login_token"), "key": key,
                                                 "next": next_}, follow_redirects=False)

    def get(self, url: str, **kwargs):
        return self.http.get(url, follow_redirects=False, **kwargs)

    def csrf(self, url: str = "/ui/queue") -> str:
        return _field(self.get(url).text, "csrf_token")

    def post(self, url: str, data: dict | None = None, *, csrf: bool | str = True, **kwargs):
        data = dict(data or {})
        if csrf is True:
            data["csrf_token"] = self.csrf()
        elif csrf:
            data["csrf_token"] = csrf
        return self.http.post(url, data=data, follow_redirects=False, **kwargs)


def _field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} field"
    return unescape(found.group(1))


def _text(html: str) -> str:
    """The page's visible text (tags dropped, entities decoded) with whitespace collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _flashes(html: str) -> list[str]:
    return [_text(m) for m in re.findall(r'<div class="flash[^"]*"[^>]*>(.*?)</div>', html, re.S)]


def _queued(client, body: dict | None = None) -> str:
    answer = client.post("/v1/translate", json=body or IBUF).json()
    assert answer["status"] == "unmapped"
    return answer["review"]["id"]


def _ui_routes(app) -> list[tuple[str, str, Permission | None]]:
    """(method, path, permission) for every /ui route (pages declare theirs on the endpoint)."""
    found = []
    for route in _flatten(app.routes):
        if isinstance(route, Route) and route.path.startswith("/ui"):
            for method in sorted(route.methods - {"HEAD"}):
                found.append((method, route.path, route.endpoint.permission))
    return found


@pytest.fixture
def pharmacist(client) -> Browser:
    return Browser(client, "pharmacist", "alice")


@pytest.fixture
def auditor(client) -> Browser:
    return Browser(client, "auditor", "audrey")


# --- who may open what ----------------------------------------------------------------------------------------


def test_every_ui_route_declares_a_permission_or_is_the_way_to_log_in(client):
    routes = _ui_routes(client.app)
    assert len(routes) >= 14
    open_ = {(m, p) for m, p, needs in routes if needs is None}
    assert open_ == {("GET", "/ui/login"), ("POST", "/ui/login"), ("GET", "/ui/logout"), ("POST", "/ui/logout")}
    assert all(needs is Permission.CURATE for m, p, needs in routes if m == "POST" and needs is not None)


def test_a_page_without_a_session_sends_the_browser_to_log_in_and_back(client):
    anonymous = Browser(client)
    for method, path, needs in _ui_routes(client.app):
        if needs is None:
            continue
        url = path.replace("{entry_id}", "e1").replace("{mapping_id}", "m1").replace("{report}.{fmt}", "unmapped.csv")
        answer = anonymous.http.request(method, url, follow_redirects=False)
        assert answer.status_code == 303, (method, path)
        location = urlsplit(answer.headers["location"])
        assert location.path == "/ui/login", (method, path)
        if method == "GET":
            assert parse_qs(location.query)["next"] == [url]


def test_a_bearer_key_alone_opens_no_page(client):
    assert "authorization" in client.headers  # the fixture's admin key
    answer = client.get("/ui/queue", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login")


def test_the_whole_ui_route_by_role_matrix(client):
    decided = _queued(client)
    browsers = {role: Browser(client, role) for role in UI_ROLES}
    pharmacist = browsers["pharmacist"]
    assert pharmacist.post(f"/ui/entry/{decided}/claim").status_code == 303
    assert pharmacist.post(f"/ui/entry/{decided}/decide", {"decision": "no-map"}).status_code == 303
    with client.engine.connect() as connection:
        mapping_id = workflow.get_item(connection, decided).mapping_id
    checked = 0
    for method, path, needs in _ui_routes(client.app):
        if needs is None:
            continue
        for role, browser in browsers.items():
            entry = _queued(client, IBUF | {"source": {"system": DEMO_LOCAL_SYSTEM, "code": f"X{checked}"}})
            url = (path.replace("{entry_id}", entry).replace("{mapping_id}", mapping_id)
                   .replace("{report}.{fmt}", "unmapped.csv"))
            answer = browser.post(url) if method == "POST" else browser.get(url)
            if needs in ROLE_PERMISSIONS[Role(role)]:
                refused = answer.status_code in (401, 403) or answer.status_code >= 500
                assert not refused, (method, path, role, answer.status_code)
                assert not answer.headers.get("location", "").startswith("/ui/login"), (method, path, role)
            else:
                assert answer.status_code == 403, (method, path, role, answer.status_code)
                assert "Not permitted" in answer.text and f"The {role} role may not" in answer.text
            checked += 1
    assert checked == 3 * len([r for r in _ui_routes(client.app) if r[2] is not None]) >= 3 * 11


def test_an_auditor_reads_the_queue_and_an_entry_but_gets_no_form_that_changes_anything(client, auditor):
    entry_id = _queued(client)
    queue = auditor.get("/ui/queue")
    assert queue.status_code == 200 and "Ibuprofin" in queue.text and "Claim next" not in queue.text
    entry = auditor.get(f"/ui/entry/{entry_id}")
    assert entry.status_code == 200 and "Read-only" in entry.text
    assert 'method="post" action="/ui/entry/' not in entry.text
    assert auditor.post(f"/ui/entry/{entry_id}/claim", csrf=auditor.csrf()).status_code == 403


def test_a_pharmacist_gets_a_403_page_for_the_reports(pharmacist):
    answer = pharmacist.get("/ui/reports")
    assert answer.status_code == 403 and "auditor, admin" in answer.text
    assert pharmacist.get("/ui/reports/unmapped.csv").status_code == 403


# --- login, sessions and logout ------------------------------------------------------------------------------------


def test_logging_in_sets_an_httponly_samesite_strict_session_cookie_that_holds_no_trace_of_the_key(client):
    browser = Browser(client)
    key = api_key(client.engine, "pharmacist", "alice")
    answer = browser.log_in(key)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/queue"
    [cookie] = [c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}=")]
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert {"httponly", "samesite=strict", "path=/ui"} <= set(attributes)
    session_id = cookie.split(";")[0].split("=", 1)[1]
    assert len(session_id) >= 43 and key not in cookie and key[3:20] not in cookie
    assert key_sha256(key) not in cookie
    assert sessions_of(client.app).get(session_id).principal.name == "alice"


@pytest.mark.parametrize(("kind", "status", "message"), [
    ("unknown", 401, "That key is unknown or revoked."),
    ("translator", 403, "The translator role has no pages here"),
    ("empty", 422, "Paste your API key."),
    ("no-token", 403, "The login form had expired or did not come from this site."),
])
def test_login_refuses_unknown_keys_roles_without_pages_and_forms_without_their_token(client, kind, status, message):
    browser = Browser(client)
    form = browser.http.get("/ui/login")
    data = {"login_token": _field(form.text, "login_token"), "key": "tm_unknown"}
    if kind == "translator":
        data["key"] = api_key(client.engine, "translator")
    elif kind == "empty":
        data["key"] = "  "
    elif kind == "no-token":
        data["key"] = api_key(client.engine, "pharmacist")
        data["login_token"] = "forged"
    answer = browser.http.post("/ui/login", data=data, follow_redirects=False)
    assert answer.status_code == status and message in answer.text
    assert not [c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}=")]
    assert len(sessions_of(client.app)) == 0


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/ui/queue", "/v1/reports/unmapped",
                                    "/ui\\..\\evil", "javascript:alert(1)"])
def test_login_goes_on_only_to_a_page_of_the_ui(client, target):
    browser = Browser(client)
    answer = browser.log_in(api_key(client.engine, "auditor"), next_=target)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/reports"  # an auditor's start page
    assert Browser(client).log_in(api_key(client.engine, "auditor"), next_="/ui/reports?context=allergy") \
        .headers["location"] == "/ui/reports?context=allergy"


def test_logging_out_ends_the_session_on_the_server_and_needs_the_token(client, pharmacist):
    session_id = pharmacist.http.cookies[SESSION_COOKIE]
    refused = pharmacist.post("/ui/logout", csrf=False)
    assert refused.status_code == 403 and pharmacist.get("/ui/queue").status_code == 200
    assert "Log out" in pharmacist.get("/ui/logout").text
    assert pharmacist.post("/ui/logout").headers["location"] == "/ui/login?expired=out"
    assert sessions_of(client.app).get(session_id) is None
    replayed = Browser(client)
    replayed.http.cookies.set(SESSION_COOKIE, session_id)
    assert replayed.get("/ui/queue").headers["location"].startswith("/ui/login")


def test_a_revoked_key_ends_its_sessions_at_the_next_check(client, pharmacist):
    sessions_of(client.app).key_recheck = 0
    assert pharmacist.get("/ui/queue").status_code == 200
    key_id = sessions_of(client.app).get(pharmacist.http.cookies[SESSION_COOKIE]).principal.key_id
    with client.engine.begin() as connection:
        assert revoke_key(connection, key_id)
    answer = pharmacist.get("/ui/queue")
    assert answer.status_code == 303 and "expired=revoked" in answer.headers["location"]
    assert "was revoked" in pharmacist.http.get(answer.headers["location"]).text


def test_a_session_ends_after_its_idle_time_and_at_its_absolute_limit(store):
    now = [1_000_000.0]
    store = SessionStore(store, idle=60, absolute=300, clock=lambda: now[0])
    who = Principal("k1", "alice", Role.PHARMACIST)
    idle = store.create(who)
    busy = store.create(who)
    for _ in range(4):
        now[0] += 50
        assert store.get(busy.id).principal == who
    assert store.get(idle.id) is None  # 200 s without a request
    now[0] += 101
    assert store.get(busy.id) is None  # 301 s after login, however busy
    assert len(store) == 0


def test_sessions_are_capped_dropping_the_least_recently_used_and_have_fresh_ids_and_tokens(store):
    now = [1_000_000.0]
    store = SessionStore(store, max_sessions=3, clock=lambda: now[0])
    made = []
    for index in range(4):
        now[0] += 1
        made.append(store.create(Principal(f"k{index}", "x", Role.AUDITOR)))
    assert len(store) == 3 and store.get(made[0].id) is None and store.get(made[3].id).csrf == made[3].csrf
    assert len({s.id for s in made} | {s.csrf for s in made}) == 8
    assert store.drop_key("k3") == 1 and store.get(made[3].id) is None


def test_a_session_made_on_one_worker_is_known_to_every_other_worker_and_ended_on_all_at_logout(any_store_client):
    """Two apps on one store stand for two workers (or hosts) behind a proxy that routes each request anywhere:
    the login, a one-shot message and the logout hold on both, so no sticky routing is needed."""
    from api.app import create_app

    first = any_store_client
    with TestClient(create_app(engine=first.engine)) as second:
        second.engine = first.engine
        alice = Browser(first, "pharmacist", "alice")
        elsewhere = TestClient(second.app)
        elsewhere.cookies.set(SESSION_COOKIE, alice.http.cookies[SESSION_COOKIE], path="/ui")
        assert elsewhere.get("/ui/queue", follow_redirects=False).status_code == 200

        nothing = alice.post("/ui/queue/claim", {"context": "medication"})
        assert nothing.status_code == 303  # the message is stored with the session ...
        shown = elsewhere.get(nothing.headers["location"], follow_redirects=False).text
        assert any("Nothing to claim" in f for f in _flashes(shown))  # ... and shown once, by the other worker
        assert not _flashes(alice.get(nothing.headers["location"]).text)

        csrf = _field(elsewhere.get("/ui/logout").text, "csrf_token")
        assert elsewhere.post("/ui/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
        assert alice.get("/ui/queue").headers["location"].startswith("/ui/login")


# --- CSRF ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["missing", "wrong", "another session's", "sent as JSON"])
def test_a_post_without_this_sessions_csrf_token_is_refused_and_changes_nothing(client, pharmacist, how):
    entry_id = _queued(client)
    url = f"/ui/entry/{entry_id}/claim"
    if how == "missing":
        answer = pharmacist.post(url, csrf=False)
    elif how == "wrong":
        answer = pharmacist.post(url, csrf="x" * 43)
    elif how == "another session's":
        answer = pharmacist.post(url, csrf=Browser(client, "pharmacist", "bob").csrf())
    else:
        answer = pharmacist.http.post(url, json={"csrf_token": pharmacist.csrf()}, follow_redirects=False)
    assert answer.status_code == 403 and "security token" in answer.text
    with client.engine.connect() as connection:
        assert workflow.get_item(connection, entry_id).status is workflow.ReviewState.OPEN
    assert pharmacist.post(url).status_code == 303  # with the token it works
    with client.engine.connect() as connection:
        assert workflow.get_item(connection, entry_id).claimed_by == "alice"


# --- the review workflow through the pages ------------------------------------------------------------------------


def test_a_pharmacist_claims_approves_a_candidate_and_the_next_translation_answers_curated(client, pharmacist):
    client.app.state.cache.check_every = 3600  # only the page's own invalidation can make this worker see it
    entry_id = _queued(client)
    client.post("/v1/translate", json=IBUF)  # cached as unmapped now
    page = pharmacist.get(f"/ui/entry/{entry_id}").text
    assert "387207008" in page and "suggestion 88.9" in page and "105590001" in page  # candidate, its parent
    assert pharmacist.post(f"/ui/entry/{entry_id}/claim").status_code == 303
    answer = pharmacist.post(f"/ui/entry/{entry_id}/decide", {
        "decision": "mapped", "code": "387207008", "relationship": "source-is-narrower-than-target",
        "comment": "misspelt ibuprofen", "based_on": ""})
    assert answer.status_code == 303 and answer.headers["location"] == f"/ui/entry/{entry_id}"
    shown = pharmacist.get(answer.headers["location"]).text
    assert "Approved: mapped to 387207008 Ibuprofen (source-is-narrower-than-target); mapping version 1." in \
        _flashes(shown)

    after = client.post("/v1/translate", json=IBUF).json()
    assert after["status"] == "mapped" and after["validated"] is True
    [match] = after["matches"]
    assert (match["code"], match["rule"]) == ("387207008", "curated")

    mapping_id = re.search(r'href="/ui/mappings/([^"]+)"', shown).group(1)
    history = _text(pharmacist.get(f"/ui/mappings/{mapping_id}").text)
    for expected in ("Mapping history", "387207008 Ibuprofen", "source-is-narrower-than-target", "alice",
                     "misspelt ibuprofen", "review entry"):
        assert expected in history


def test_no_map_defer_release_and_reopen_through_the_pages(client, pharmacist):
    first, second = _queued(client), _queued(client, IBUF | {"source": {"system": DEMO_LOCAL_SYSTEM, "code": "Z"}})
    for entry_id in (first, second):
        assert pharmacist.post(f"/ui/entry/{entry_id}/claim").status_code == 303
    assert pharmacist.post(f"/ui/entry/{second}/release").status_code == 303
    assert pharmacist.post(f"/ui/entry/{first}/decide", {"decision": "no-map", "comment": "not a drug"}) \
        .status_code == 303
    with client.engine.connect() as connection:
        assert workflow.get_item(connection, first).decision is workflow.ReviewDecision.NO_MAP
        assert workflow.get_item(connection, second).status is workflow.ReviewState.OPEN
    assert pharmacist.post(f"/ui/entry/{first}/reopen", {"comment": "pharmacy says it is"}).status_code == 303
    assert pharmacist.post(f"/ui/entry/{first}/claim").status_code == 303
    assert pharmacist.post(f"/ui/entry/{first}/decide", {"decision": "deferred"}).status_code == 303
    history = _text(pharmacist.get(f"/ui/entry/{first}").text)
    for event in ("decided by alice", "reopened by alice", "reason pharmacy says it is", "decision no-map",
                  "comment not a drug", "decision deferred", "first received"):
        assert event in history


def test_approving_without_a_candidate_is_refused_naming_the_problem_and_keeping_the_comment(client, pharmacist):
    entry_id = _queued(client)
    pharmacist.post(f"/ui/entry/{entry_id}/claim")
    answer = pharmacist.post(f"/ui/entry/{entry_id}/decide", {"decision": "mapped", "comment": "kept <b>text</b>"})
    assert answer.status_code == 422
    assert "choose a candidate (keys 1–9) or enter a code" in _text(answer.text)
    assert "kept &lt;b&gt;text&lt;/b&gt;</textarea>" in answer.text
    other = pharmacist.post(f"/ui/entry/{entry_id}/decide", {"decision": "mapped", "other_code": "999999999"})
    assert other.status_code == 422 and "999999999: not in the active release" in other.text


def test_deciding_an_entry_someone_else_holds_is_409_naming_the_holder(client, pharmacist):
    entry_id = _queued(client)
    pharmacist.post(f"/ui/entry/{entry_id}/claim")
    bob = Browser(client, "pharmacist", "bob")
    page = bob.get(f"/ui/entry/{entry_id}").text
    assert "Claimed by <strong>alice</strong>" in page and "Approve" not in page
    answer = bob.post(f"/ui/entry/{entry_id}/decide", {"decision": "deferred"})
    assert answer.status_code == 409 and "bob does not hold review entry" in answer.text
    assert bob.post(f"/ui/entry/{entry_id}/decide", {"decision": "deferred", "override": "1"}).status_code == 403
    admin = Browser(client, "admin", "head-pharmacist")
    assert "(override)" in admin.get(f"/ui/entry/{entry_id}").text
    assert admin.post(f"/ui/entry/{entry_id}/decide", {"decision": "deferred", "override": "1"}).status_code == 303


def test_a_decision_based_on_a_mapping_version_someone_has_replaced_is_412(client, pharmacist):
    entry_id = _queued(client)
    pharmacist.post(f"/ui/entry/{entry_id}/claim")
    pharmacist.post(f"/ui/entry/{entry_id}/decide", {"decision": "no-map"})
    pharmacist.post(f"/ui/entry/{entry_id}/reopen")
    pharmacist.post(f"/ui/entry/{entry_id}/claim")
    seen = _field(pharmacist.get(f"/ui/entry/{entry_id}").text, "based_on")
    assert seen == "1"
    with client.engine.connect() as connection:
        mapping_id = workflow.get_item(connection, entry_id).mapping_id
    edited = client.put(f"/v1/mappings/{mapping_id}", headers={"If-Match": '"1"'},
                        json={"decision": "mapped", "targets": [{"code": "387207008"}], "reason": "meanwhile"})
    assert edited.status_code == 200
    answer = pharmacist.post(f"/ui/entry/{entry_id}/decide", {"decision": "no-map", "based_on": seen})
    assert answer.status_code == 412 and "version" in answer.text


def test_the_queue_filters_counts_pages_and_claims_the_next_matching_entry(client, pharmacist):
    _queued(client)
    _queued(client, IBUF)  # twice: it comes first
    medication = _queued(client, {"text": "Amoxicilin caps", "target_system": "rxnorm", "context": "medication",
                                  "sender": "pharmacy-feed"})
    queue = pharmacist.get("/ui/queue").text
    assert queue.index("Ibuprofin") < queue.index("Amoxicilin caps")
    assert re.search(r'Open <span class="count">2</span>', queue)
    filtered = pharmacist.get("/ui/queue", params={"sender": "pharmacy-feed"}).text
    assert "Amoxicilin caps" in filtered and "Ibuprofin" not in filtered
    assert "Ibuprofin" in pharmacist.get("/ui/queue", params={"text": "IBUF"}).text
    assert pharmacist.get("/ui/queue", params={"state": "bogus"}).status_code == 422

    claimed = pharmacist.post("/ui/queue/claim", {"context": "medication"})
    assert claimed.headers["location"] == f"/ui/entry/{medication}"
    nothing = pharmacist.post("/ui/queue/claim", {"context": "medication"})
    assert nothing.headers["location"].startswith("/ui/queue")
    assert any("Nothing to claim" in f for f in _flashes(pharmacist.get(nothing.headers["location"]).text))
    mine = pharmacist.get("/ui/queue", params={"mine": "1"}).text
    assert "Amoxicilin caps" in mine and "Ibuprofin" not in mine and "alice" in mine


def test_an_unknown_entry_or_mapping_is_a_404_page(pharmacist):
    assert pharmacist.get("/ui/entry/no-such-entry").status_code == 404
    assert pharmacist.get("/ui/mappings/no-such-mapping").status_code == 404


# --- hostile text ----------------------------------------------------------------------------------------------


def test_hostile_text_and_sender_names_are_escaped_on_every_page(client, pharmacist, auditor):
    body = {"source": {"system": DEMO_LOCAL_SYSTEM, "code": "<b>X</b>"}, "text": HOSTILE, "target_system": SNOMED,
            "context": "allergy", "sender": HOSTILE_SENDER}
    entry_id = _queued(client, body)
    client.app.state.metrics.usage.flush_to(client.engine)
    pharmacist.post(f"/ui/entry/{entry_id}/claim")
    pharmacist.post(f"/ui/entry/{entry_id}/decide", {"decision": "no-map", "comment": HOSTILE})
    with client.engine.connect() as connection:
        mapping_id = workflow.get_item(connection, entry_id).mapping_id
    shown = {
        "queue": pharmacist.get("/ui/queue").text,
        "entry": pharmacist.get(f"/ui/entry/{entry_id}").text,
        "mapping": pharmacist.get(f"/ui/mappings/{mapping_id}").text,
        "reports": auditor.get("/ui/reports").text,
        "filtered queue": pharmacist.get("/ui/queue", params={"text": HOSTILE, "sender": HOSTILE_SENDER}).text,
    }
    for where, html in shown.items():
        assert "<script>window" not in html and "<img src=x" not in html and "<b>X</b>" not in html, where
        assert re.findall(r"<script\b[^>]*>", html) == [re.search(r"<script\b[^>]*>", html).group(0)], where
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;&#39; OR 1=1 --" in shown["entry"]
    assert HOSTILE in _text(shown["entry"]) and HOSTILE in _text(shown["queue"])  # verbatim once decoded
    assert HOSTILE in _text(shown["mapping"])  # the comment, as the version's reason
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in shown["reports"]  # in the sender chart's SVG, too
    assert re.search(r'<text class="bar-label"[^>]*>&lt;img src=x', shown["reports"])


def test_pages_carry_no_inline_script_style_or_event_handler(client, pharmacist, auditor):
    entry_id = _queued(client)
    for html in (pharmacist.get("/ui/queue").text, pharmacist.get(f"/ui/entry/{entry_id}").text,
                 auditor.get("/ui/reports").text, Browser(client).http.get("/ui/login").text):
        assert re.findall(r"<script\b[^>]*>", html) == [f'<script src="{pages.static_url("app.js")}" defer>']
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", html)


# --- headers ------------------------------------------------------------------------------------------------------


def test_every_ui_response_carries_the_security_headers(client, pharmacist, auditor):
    entry_id = _queued(client)
    responses = [
        Browser(client).http.get("/ui/login"),
        Browser(client).get("/ui/queue"),  # the redirect to log in
        pharmacist.get("/ui/queue"),
        pharmacist.get(f"/ui/entry/{entry_id}"),
        pharmacist.get("/ui/reports"),  # a 403 page
        pharmacist.post(f"/ui/entry/{entry_id}/claim", csrf=False),  # a refused form
        auditor.get("/ui/reports"),
        auditor.get("/ui/reports/unmapped.xlsx"),
        client.get(pages.static_url("app.js")),
        client.get(pages.static_url("app.css")),
    ]
    for answer in responses:
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, (answer.request.url, name)
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert csp.startswith("default-src 'self'") and "unsafe-inline" not in csp
    assert all(r.headers["cache-control"] == "no-store" for r in responses[:8])
    assert responses[8].headers["content-type"].startswith(("text/javascript", "application/javascript"))


# --- reports ------------------------------------------------------------------------------------------------------


def _traffic(client, days: int = 5) -> None:
    today = day_number()
    counts = {}
    for back in range(days):
        counts[(today - back, DEMO_LOCAL_SYSTEM, "ed-feed", "allergy", "mapped", "exact")] = 80 - back * 5
        counts[(today - back, DEMO_LOCAL_SYSTEM, "ed-feed", "allergy", "unmapped", "none")] = 20 + back * 5
        counts[(today - back, SNOMED, "pharmacy-feed", "allergy", "unvalidated", "fuzzy")] = 10
    with client.engine.begin() as connection:
        write_counts(connection, counts)


def test_the_reports_page_draws_both_charts_as_inline_svg_beside_their_numbers(client, auditor):
    _traffic(client)
    html = auditor.get("/ui/reports").text
    trend = re.search(r'<svg class="chart line-chart".*?</svg>', html, re.S).group(0)
    assert re.search(r'<path class="line" d="M[\d.]+,[\d.]+( L[\d.]+,[\d.]+){4}"', trend)
    assert len(re.findall(r'<circle class="point"', trend)) == 5
    bars = re.search(r'<div class="chart-row">\s*<figure class="chart-figure" id="by-systems">.*?</svg>', html, re.S)
    segments = re.findall(r'<rect class="seg seg-(\w+)"', bars.group(0))
    assert sorted(segments) == ["mapped", "unmapped", "unvalidated"]
    text = _text(html)
    assert "Per source system" in text and "SNOMED CT 0 50 0 50 0.0%" in text
    assert "demo-hospital.example.org … allergens 350 0 150 500 70.0%" in text


def test_report_downloads_go_through_the_session_with_the_pages_filters(client, auditor):
    _queued(client)
    _queued(client, IBUF | {"context": "medication", "sender": "pharmacy-feed"})
    page = auditor.get("/ui/reports", params={"context": "medication"}).text
    link = unescape(re.search(r'href="(/ui/reports/unmapped\.csv[^"]*)"', page).group(1))
    assert "context=medication" in link
    answer = auditor.get(link)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert 'filename="termmap-unmapped-' in answer.headers["content-disposition"]
    lines = answer.content.decode("utf-8-sig").strip().splitlines()
    assert len(lines) == 2 and ",medication," in lines[1]
    xlsx = auditor.get("/ui/reports/coverage.xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert auditor.get("/ui/reports/audit.csv").status_code == 404


def test_report_filters_that_cannot_be_read_are_422_naming_the_problem(auditor):
    answer = auditor.get("/ui/reports", params={"since": "last tuesday"})
    assert answer.status_code == 422 and "since must be YYYY-MM-DD" in answer.text
    assert auditor.get("/ui/reports", params={"context": "dental"}).status_code == 422


# --- chart geometry ------------------------------------------------------------------------------------------------


def test_the_trend_line_maps_0_to_the_bottom_and_100_percent_to_the_top_and_breaks_at_gaps():
    day = date(2026, 11, 1)
    chart = charts.share_trend([(day, 0.0, 10), (day + timedelta(days=1), 1.0, 10), (day + timedelta(days=5), 0.5, 4)])
    first, second, third = chart.points
    assert (first.y, second.y) == (chart.bottom, chart.top) and third.y == (chart.top + chart.bottom) / 2
    assert (first.x, third.x) == (chart.left, chart.right)
    assert chart.line.count("M") == 2  # days 3-5 had no traffic: the line does not pretend they did
    assert "50% mapped of 4" in third.label
    assert charts.share_trend([]) is None
    assert charts.share_trend([(day, 0.25, 1)]).points[0].x == (chart.left + chart.right) / 2


def test_stacked_bars_are_as_long_as_their_totals_and_split_by_status():
    chart = charts.stacked_bars([("a", {"mapped": 60, "unvalidated": 20, "unmapped": 20}), ("b", {"mapped": 50})])
    a, b = chart.bars
    widths = [s.width for s in a.segments]
    assert [s.status for s in a.segments] == ["mapped", "unvalidated", "unmapped"]
    assert widths[0] == pytest.approx(3 * widths[1]) and sum(widths) == pytest.approx(2 * b.segments[0].width)
    assert a.segments[1].x == pytest.approx(a.segments[0].x + widths[0], abs=0.1)
    assert [t.label for t in chart.x_ticks] == ["0", "25", "50", "75", "100"]


@pytest.mark.parametrize(("label", "short"), [
    ("http://snomed.info/sct", "SNOMED CT"),
    ("http://www.nlm.nih.gov/research/umls/rxnorm", "RxNorm"),
    (DEMO_LOCAL_SYSTEM, "demo-hospital.example.org … allergens"),
    ("", "(none named)"),
    ("x" * 60, "x" * 47 + "…"),
])
def test_chart_labels_name_known_systems_and_shorten_long_uris(label, short):
    assert charts.short_label(label) == short
