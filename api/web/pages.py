"""The pages under `/ui/`: review queue, entry, mapping history and reports, server-rendered (Jinja2).

    GET  /ui/login, POST /ui/login          paste an API key; a session cookie comes back (see `session`)
    GET  /ui/logout, POST /ui/logout        end the session
    GET  /ui/                               to the queue (pharmacists, admins) or the reports (auditors)
    GET  /ui/queue                          entries, filters, counts by state        read-curation
    POST /ui/queue/claim                    claim the next entry matching the filters curate
    GET  /ui/entry/{id}                     as received, senders, history, candidates read-curation
    POST /ui/entry/{id}/claim|release|decide|reopen                                  curate
    GET  /ui/mappings/{id}                  every version of a curated mapping        read-curation
    GET  /ui/reports                        unmapped codes, coverage charts           reports
    GET  /ui/reports/unmapped.{csv|xlsx}, /ui/reports/coverage.{csv|xlsx}             reports

Pages call `mappings.review_workflow` and `mappings.reports` directly, in one transaction per
action, as `api.curation_routes` does; the author of every change is the session key's name.

**Why plain Starlette routes, not FastAPI `APIRoute`s.** The JSON API's access rules (401 without
a bearer key, 403 with the wrong role) are checked route by route in `tests/test_access.py`.
Pages answer a browser instead: no session → a redirect to the login page, wrong role → a 403
page. Each page still declares its permission (`endpoint.permission`, as the API's dependencies
do) and `tests/test_web_pages.py` walks every `/ui` route by role.

**Security.** Templates autoescape everything (`autoescape=True`, no `|safe` anywhere); every
response carries `SECURITY_HEADERS` — a Content-Security-Policy of `default-src 'self'` that
allows no inline script or style (the JavaScript is `static/app.js`) — and pages are not cached.
Every POST needs the session's CSRF token.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mappings import reports
from mappings import review_workflow as workflow
from mappings.curated import Relationship, history
from mappings.review_workflow import ReviewDecision, ReviewItem, ReviewState, UnknownEntry
from terminology.errors import InvalidRequest, NotPermitted, TermmapError, UnknownMapping

from ..auth import ROLE_PERMISSIONS, Permission, Principal, Role
from ..curation_routes import STATUS_FOR as CURATION_STATUS
from ..report_routes import Exported, coverage_export, parse_when, unmapped_export
from . import charts
from .session import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    WebSession,
    key_still_valid,
    new_token,
    sessions_of,
    tokens_match,
)

__all__ = ["router", "SECURITY_HEADERS", "TEMPLATES", "STATIC", "static_url", "secured"]

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

#: On every /ui response (pages, files and static assets).
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
                                "object-src 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
QUEUE_PAGE = 50
REPORT_PAGE = 50
CANDIDATES = 9  # keys 1..9
MAX_FORM_BYTES = 64 * 1024
MAX_TEXT = 10_000
COVERAGE_DAYS = 30  # the coverage charts' default range, when no `since` is given

router = APIRouter()  # holds Starlette routes (see the module docstring)


# --- templates --------------------------------------------------------------------------------------


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _when(value: datetime | date | None) -> str:
    """`2026-11-26 09:05 UTC` (dates as `2026-11-26`); an empty string for none."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _utc(value).strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def _iso(value: datetime | date | None) -> str:
    if value is None:
        return ""
    return _utc(value).isoformat() if isinstance(value, datetime) else value.isoformat()


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


_static_versions: dict[str, str] = {}


def static_url(name: str) -> str:
    """`/ui/static/<name>?v=<content hash>`: browsers refetch an asset when it changes."""
    version = _static_versions.get(name)
    if version is None:
        version = _static_versions[name] = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
    return f"/ui/static/{name}?v={version}"


templates = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,  # every template, whatever its name: names of allergies are hostile input
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(when=_when, iso=_iso, percent=_percent, short=charts.short_label)
templates.globals.update(static=static_url)


def secured(response: Response, *, cache: bool = False) -> Response:
    """`response` with `SECURITY_HEADERS` (and `Cache-Control: no-store` unless `cache`)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    if not cache:
        response.headers["Cache-Control"] = "no-store"
    return response


# --- keyboard shortcuts (documented on each page from the same list the buttons carry) ----------


@dataclass(frozen=True, slots=True)
class Shortcut:
    keys: str
    does: str


GLOBAL_SHORTCUTS = (Shortcut("?", "show or hide these shortcuts"), Shortcut("/", "jump to the first filter or search"),
                    Shortcut("Esc", "leave a field, close this panel"))
QUEUE_SHORTCUTS = (Shortcut("j / k", "next / previous entry"), Shortcut("Enter or o", "open the selected entry"),
                   Shortcut("c", "claim the next entry matching the filters"))
ENTRY_SHORTCUTS = (Shortcut("c", "claim this entry"), Shortcut("u", "release your claim"),
                   Shortcut("1 … 9", "choose candidate 1 … 9"), Shortcut("e", "write a comment"),
                   Shortcut("a", "approve the chosen candidate"), Shortcut("n", "no map: nothing fits"),
                   Shortcut("d", "defer: decide later"), Shortcut("r", "reopen a decided entry"),
                   Shortcut("b", "back to the queue"))
REPORT_SHORTCUTS = (Shortcut("j / k", "next / previous row of the unmapped report"),)


# --- requests and responses -----------------------------------------------------------------------


class FormRefused(Exception):
    """A POST body that is not a small URL-encoded form."""


async def _form(request: Request) -> dict[str, str]:
    """The POSTed form's fields (first value of each); `FormRefused` when it is not a small urlencoded form."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise FormRefused(f"the form is larger than {MAX_FORM_BYTES // 1024} KiB")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=64, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormRefused(f"the form could not be read ({type(exc).__name__})") from None
    return {name: values[0] for name, values in fields.items()}


def _url(path: str, **params: Any) -> str:
    """`path` with the non-empty `params` as its query string."""
    query = {k: v for k, v in params.items() if v not in (None, "", False)}
    return f"{path}?{urlencode(query)}" if query else path


def _safe_next(value: str | None) -> str | None:
    """A place inside the UI to return to after login; None for anything else (no open redirects)."""
    if not value or not (value == "/ui" or value.startswith("/ui/")) or "\\" in value:
        return None
    if any(ord(ch) < 0x21 for ch in value):
        return None
    return value


def _home_for(principal: Principal) -> str:
    if principal.may(Permission.CURATE) or not principal.may(Permission.REPORTS):
        return "/ui/queue"
    return "/ui/reports"


def _redirect(location: str) -> Response:
    return secured(RedirectResponse(location, status_code=303))


def _to_login(request: Request, message: str | None = None) -> Response:
    path = request.url.path
    if request.method == "GET":
        back = path + (f"?{request.url.query}" if request.url.query else "")
    elif path.startswith("/ui/entry/"):
        back = "/ui/entry/" + path.split("/")[3]
    else:
        back = "/ui/queue"
    return _redirect(_url("/ui/login", next=_safe_next(back), expired=message))


def _ui_roles(permission: Permission) -> str:
    return ", ".join(r.value for r, p in ROLE_PERMISSIONS.items() if permission in p)


@dataclass
class Visit:
    """One request by a logged-in user: their session, the POSTed form, and helpers to read, write and render."""

    request: Request
    session: WebSession
    form: dict[str, str] = field(default_factory=dict)
    shortcuts: tuple[Shortcut, ...] = ()

    @property
    def principal(self) -> Principal:
        return self.session.principal

    @property
    def engine(self):
        return self.request.app.state.engine

    def may(self, permission: Permission) -> bool:
        return self.principal.may(permission)

    async def read(self, work: Callable) -> Any:
        def run():
            with self.engine.connect() as connection:
                return work(connection)
        return await run_in_threadpool(run)

    async def write(self, work: Callable) -> Any:
        def run():
            with self.engine.begin() as connection:
                return work(connection)
        return await run_in_threadpool(run)

    def render(self, name: str, *, status: int = 200, title: str, **context: Any) -> Response:
        nav = [("/ui/queue", "Review queue", Permission.READ_CURATION), ("/ui/reports", "Reports", Permission.REPORTS)]
        here = self.request.url.path
        page = templates.get_template(name).render(
            title=title,
            principal=self.principal,
            csrf_token=self.session.csrf,
            csrf_field=CSRF_FIELD,
            flashes=self.session.take_flashes(),
            nav=[(href, label, here.startswith(href)) for href, label, needs in nav if self.may(needs)],
            shortcuts=GLOBAL_SHORTCUTS + self.shortcuts,
            may_curate=self.may(Permission.CURATE),
            may_reports=self.may(Permission.REPORTS),
            **context,
        )
        return HTMLResponse(page, status_code=status)

    def refuse(self, status: int, title: str, message: str) -> Response:
        return self.render("error.html", status=status, title=title, message=message)


Handler = Callable[[Visit], Awaitable[Response]]


def page(path: str, permission: Permission, *, methods: tuple[str, ...] = ("GET",),
         shortcuts: tuple[Shortcut, ...] = ()) -> Callable[[Handler], Handler]:
    """Route `path` to a handler that runs only for a live session whose role has `permission`.

    No session: a redirect to the login page. The wrong role: a 403 page. A POST: its form must
    carry the session's CSRF token, else a 403 page and nothing is done.
    """
    def register(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            return secured(await _guarded(request, handler, permission, shortcuts))

        endpoint.permission = permission
        endpoint.__name__ = endpoint.__qualname__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        router.add_route(path, endpoint, methods=list(methods), name=f"ui.{handler.__name__}",
                         include_in_schema=False)
        return handler

    return register


async def _guarded(request: Request, handler: Handler, permission: Permission,
                   shortcuts: tuple[Shortcut, ...]) -> Response:
    store = sessions_of(request.app)
    session = await run_in_threadpool(store.get, request.cookies.get(SESSION_COOKIE))
    if session is None:
        return _to_login(request, "expired" if request.cookies.get(SESSION_COOKIE) else None)
    if store.due_for_key_check(session):
        principal = await run_in_threadpool(key_still_valid, request.app.state.engine, session.principal.key_id)
        if principal is None:
            await run_in_threadpool(store.drop_key, session.principal.key_id)
            logger.info("ui session ended: key %s was revoked", session.principal.key_id)
            return _to_login(request, "revoked")
        session.principal = principal
        await run_in_threadpool(store.key_checked, session)
    visit = Visit(request, session, shortcuts=shortcuts)
    try:
        return await _visit(visit, request, handler, permission)
    finally:
        if session.changed:  # a one-shot message added, or shown
            await run_in_threadpool(store.save, session)


async def _visit(visit: Visit, request: Request, handler: Handler, permission: Permission) -> Response:
    session = visit.session
    if not visit.may(permission):
        return visit.refuse(403, "Not permitted",
                            f"The {visit.principal.role.value} role may not open this page (it needs "
                            f"“{permission.value}”, which {_ui_roles(permission)} have).")
    if request.method == "POST":
        try:
            visit.form = await _form(request)
        except FormRefused as exc:
            return visit.refuse(400, "Form refused", str(exc))
        if not tokens_match(session.csrf, visit.form.get(CSRF_FIELD)):
            logger.info("ui form refused: no valid CSRF token (key %s, %s)", session.principal.key_id,
                        request.url.path)
            return visit.refuse(403, "Form refused",
                                "This form did not carry this session's security token, so nothing was done. "
                                "Reload the page and try again.")
    return await handler(visit)


# --- login and logout -------------------------------------------------------------------------------

_LOGIN_NOTES = {"expired": "Your session has ended. Log in again to continue.",
                "revoked": "The key of your session was revoked. Log in with a current key.",
                "out": "You are logged out."}


def _render_open(name: str, *, status: int = 200, **context: Any) -> Response:
    """A page for someone not logged in (login, logout)."""
    html = templates.get_template(name).render(principal=None, nav=[], flashes=[], shortcuts=GLOBAL_SHORTCUTS,
                                               csrf_field=CSRF_FIELD, may_curate=False, may_reports=False, **context)
    return secured(HTMLResponse(html, status_code=status))


def _secure_cookie(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_form(request: Request, *, status: int = 200, error: str | None = None, next_: str | None = None,
                note: str | None = None) -> Response:
    token = new_token()
    response = _render_open("login.html", status=status, title="Log in", login_token=token, error=error,
                            next=next_ or "", note=note)
    response.set_cookie(LOGIN_COOKIE, token, max_age=600, path="/ui/login", httponly=True, samesite="strict",
                        secure=_secure_cookie(request))
    return response


async def login_page(request: Request) -> Response:
    """The login form (or straight on, for a browser that already has a session)."""
    session = await run_in_threadpool(sessions_of(request.app).get, request.cookies.get(SESSION_COOKIE))
    next_ = _safe_next(request.query_params.get("next"))
    if session is not None:
        return _redirect(next_ or _home_for(session.principal))
    return _login_form(request, next_=next_, note=_LOGIN_NOTES.get(request.query_params.get("expired", "")))


async def login(request: Request) -> Response:
    """Check the pasted key; on success a new session and its cookie, then on to `next` or the role's home."""
    try:
        form = await _form(request)
    except FormRefused as exc:
        return _login_form(request, status=400, error=str(exc))
    next_ = _safe_next(form.get("next"))
    if not tokens_match(request.cookies.get(LOGIN_COOKIE), form.get("login_token")):
        return _login_form(request, status=403, next_=next_,
                           error="The login form had expired or did not come from this site. Try again.")
    key = (form.get("key") or "").strip()
    if not key:
        return _login_form(request, status=422, next_=next_, error="Paste your API key.")
    principal = await run_in_threadpool(request.app.state.keys.principal, key)
    if principal is None:
        return _login_form(request, status=401, next_=next_, error="That key is unknown or revoked.")
    if not (principal.may(Permission.READ_CURATION) or principal.may(Permission.REPORTS)):
        return _login_form(request, status=403, next_=next_,
                           error=f"The {principal.role.value} role has no pages here: the review queue is for "
                                 f"{_ui_roles(Permission.READ_CURATION)}, the reports for "
                                 f"{_ui_roles(Permission.REPORTS)}.")
    store = sessions_of(request.app)
    await run_in_threadpool(store.drop, request.cookies.get(SESSION_COOKIE))  # never carry an old id over a login
    session = await run_in_threadpool(store.create, principal)
    logger.info("ui login: key %s (%s)", principal.key_id, principal.role.value)
    response = _redirect(next_ or _home_for(principal))
    response.set_cookie(SESSION_COOKIE, session.id, path="/ui", httponly=True, samesite="strict",
                        secure=_secure_cookie(request))
    response.delete_cookie(LOGIN_COOKIE, path="/ui/login", httponly=True, samesite="strict")
    return response


async def logout_page(request: Request) -> Response:
    """A button to log out (logging out is a POST, so no other page can do it by a link)."""
    session = await run_in_threadpool(sessions_of(request.app).get, request.cookies.get(SESSION_COOKIE))
    if session is None:
        return _redirect("/ui/login?expired=out")
    return _render_open("logout.html", title="Log out", csrf_token=session.csrf, who=session.principal)


async def logout(request: Request) -> Response:
    """End the session (server-side: its id is forgotten) and clear the cookie."""
    store = sessions_of(request.app)
    session = await run_in_threadpool(store.get, request.cookies.get(SESSION_COOKIE))
    if session is not None:
        try:
            form = await _form(request)
        except FormRefused:
            form = {}
        if not tokens_match(session.csrf, form.get(CSRF_FIELD)):
            return _render_open("error.html", status=403, title="Form refused",
                                message="The logout form did not carry this session's security token. "
                                        "Use the Log out button.")
        await run_in_threadpool(store.drop, session.id)
        logger.info("ui logout: key %s", session.principal.key_id)
    response = _redirect("/ui/login?expired=out")
    response.delete_cookie(SESSION_COOKIE, path="/ui", httponly=True, samesite="strict")
    return response


for _path, _endpoint, _methods in (("/ui/login", login_page, ["GET"]), ("/ui/login", login, ["POST"]),
                                   ("/ui/logout", logout_page, ["GET"]), ("/ui/logout", logout, ["POST"])):
    _endpoint.permission = None  # open: these are how one gets a session
    router.add_route(_path, _endpoint, methods=_methods, name=f"ui.{_endpoint.__name__}", include_in_schema=False)


@page("/ui/", Permission.READ_CURATION)
async def home(visit: Visit) -> Response:
    """To the role's first page."""
    return _redirect(_home_for(visit.principal))


# --- the review queue -------------------------------------------------------------------------------

STATES = tuple(s.value for s in ReviewState)
CONTEXTS = ("allergy", "medication")


@dataclass(frozen=True, slots=True)
class Received:
    """What a sender sent for an entry, exactly: code, display, text and system as received (None when absent)."""

    code: Any
    display: Any
    text: Any
    system: Any

    @classmethod
    def of(cls, original: Mapping[str, Any]) -> Received:
        original = original if isinstance(original, Mapping) else {}
        source = original.get("source") if isinstance(original.get("source"), Mapping) else {}
        return cls(source.get("code"), source.get("display"), original.get("text"), source.get("system"))


@dataclass(frozen=True, slots=True)
class QueueFilters:
    state: str = ""
    sender: str = ""
    context: str = ""
    text: str = ""
    mine: bool = False
    offset: int = 0

    @classmethod
    def of(cls, query: Mapping[str, str]) -> tuple[QueueFilters, list[str]]:
        problems = []
        state = (query.get("state") or "").strip()
        if state and state not in STATES:
            problems.append(f"state must be one of {', '.join(STATES)}")
            state = ""
        context = (query.get("context") or "").strip()
        if context and context not in CONTEXTS:
            problems.append(f"context must be one of {', '.join(CONTEXTS)}")
            context = ""
        offset = query.get("offset") or "0"
        offset = int(offset) if offset.isdigit() else 0
        return cls(state, (query.get("sender") or "").strip()[:255], context, (query.get("text") or "")[:200],
                   query.get("mine") == "1", offset), problems

    def params(self, **changes: Any) -> dict[str, Any]:
        values = {"state": self.state, "sender": self.sender, "context": self.context, "text": self.text,
                  "mine": "1" if self.mine else "", "offset": self.offset or ""}
        return values | changes


def _lease(visit: Visit) -> timedelta:
    return getattr(visit.request.app.state, "review_lease", None) or workflow.DEFAULT_LEASE


@page("/ui/queue", Permission.READ_CURATION, shortcuts=QUEUE_SHORTCUTS)
async def queue(visit: Visit) -> Response:
    """Review entries, highest priority first, with filters and counts by state."""
    filters, problems = QueueFilters.of(visit.request.query_params)

    def work(connection):
        return workflow.list_entries(connection, status=filters.state or None, sender=filters.sender or None,
                                     context=filters.context or None, text=filters.text or None,
                                     claimed_by=visit.principal.name if filters.mine else None,
                                     limit=QUEUE_PAGE, offset=filters.offset)

    found = await visit.read(work)
    rows = [(item, Received.of(item.original)) for item in found.entries]
    tabs = [("", "All", sum(found.counts_by_status.values()))] + [(s, s.capitalize(), found.counts_by_status[s])
                                                                 for s in STATES]
    pages = _pager("/ui/queue", filters.params(), filters.offset, QUEUE_PAGE, found.total)
    return visit.render("queue.html", status=422 if problems else 200, title="Review queue", filters=filters,
                        rows=rows, tabs=tabs, total=found.total, problems=problems, pages=pages, url=_url,
                        contexts=CONTEXTS)


def _pager(path: str, params: dict[str, Any], offset: int, size: int, total: int) -> dict[str, Any]:
    return {
        "first": offset + 1 if total else 0,
        "last": min(offset + size, total),
        "total": total,
        "previous": _url(path, **(params | {"offset": max(offset - size, 0) or ""})) if offset > 0 else None,
        "next": _url(path, **(params | {"offset": offset + size})) if offset + size < total else None,
    }


@page("/ui/queue/claim", Permission.CURATE, methods=("POST",))
async def claim_next(visit: Visit) -> Response:
    """Claim the highest-priority claimable entry matching the queue's filters, and open it."""
    filters, _ = QueueFilters.of(visit.form)
    claimed = await visit.write(lambda c: workflow.claim_next(
        c, visit.principal.name, sender=filters.sender or None, context=filters.context or None,
        text=filters.text or None, lease=_lease(visit)))
    if claimed is None:
        visit.session.flash("Nothing to claim with these filters: every matching entry is decided or claimed.")
        return _redirect(_url("/ui/queue", **filters.params(offset="")))
    visit.session.flash(f"Claimed until {_when(claimed.claim_expires)}.", "success")
    return _redirect(f"/ui/entry/{claimed.id}")


# --- one entry ---------------------------------------------------------------------------------------

_EVENT_NAMES = {"review.claimed": "claimed", "review.released": "released", "review.decided": "decided",
                "review.reopened": "reopened"}


@dataclass(frozen=True, slots=True)
class EntryEvent:
    at: datetime
    actor: str
    what: str
    details: tuple[tuple[str, str], ...]


def _when_text(value: Any) -> str:
    """An ISO 8601 time as the audit trail stores it, shown like every other time here."""
    try:
        return _when(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def _event(row: reports.AuditRow) -> EntryEvent:
    after = row.after if isinstance(row.after, Mapping) else {}
    details: list[tuple[str, str]] = []
    if row.action == "review.claimed" and after.get("claim_expires"):
        details.append(("until", _when_text(after["claim_expires"])))
    if row.action == "review.decided":
        details.append(("decision", str(after.get("decision"))))
        for target in after.get("targets") or ():
            _, code, relationship = (str(target).split("|") + ["", ""])[:3]
            details.append(("target", f"{code} ({relationship})"))
        if after.get("mapping_version"):
            details.append(("mapping version", str(after["mapping_version"])))
        if after.get("override"):
            details.append(("override", "decided for another reviewer"))
        if after.get("comment"):
            details.append(("comment", str(after["comment"])))
    if row.action == "review.reopened" and after.get("reason"):
        details.append(("reason", str(after["reason"])))
    return EntryEvent(row.at, row.actor, _EVENT_NAMES.get(row.action, row.action), tuple(details))


def _entry_view(connection, entry_id: str) -> dict[str, Any]:
    item = workflow.get_item(connection, entry_id)
    mapping = workflow.mapping_for(connection, item)
    found = workflow.candidates_for(connection, item, limit=CANDIDATES)
    events = reports.audit_query(connection, subject=entry_id, limit=200).events
    return {"item": item, "mapping": mapping, "candidates": found, "events": [_event(e) for e in events]}


async def _render_entry(visit: Visit, entry_id: str, *, status: int = 200, error: str | None = None,
                        kept: Mapping[str, str] | None = None) -> Response:
    try:
        view = await visit.read(lambda c: _entry_view(c, entry_id))
    except UnknownEntry:
        return visit.refuse(404, "No such entry", "There is no review entry with that id.")
    item: ReviewItem = view["item"]
    me = visit.principal.name
    admin = visit.principal.role is Role.ADMIN
    held_by_me = item.status is ReviewState.CLAIMED and item.claimed_by == me
    can = visit.may(Permission.CURATE)
    received = Received.of(item.original)
    return visit.render(
        "entry.html", status=status, title=f"Entry {received.code or received.text or item.text_norm}", **view,
        received=received, original_json=json.dumps(item.original, indent=2, ensure_ascii=False, sort_keys=False),
        error=error, kept=dict(kept or {}), relationships=[r.value for r in Relationship],
        can_claim=can and item.status is ReviewState.OPEN,
        held_by_me=held_by_me,
        can_release=can and item.status is ReviewState.CLAIMED and (held_by_me or admin),
        can_decide=can and item.status is not ReviewState.DECIDED and (held_by_me or admin),
        override=can and admin and not held_by_me,
        can_reopen=can and item.status is ReviewState.DECIDED,
    )


@page("/ui/entry/{entry_id}", Permission.READ_CURATION, shortcuts=ENTRY_SHORTCUTS)
async def entry(visit: Visit) -> Response:
    """One entry: exactly as received, senders, history, ranked candidates and the actions its state allows."""
    return await _render_entry(visit, visit.request.path_params["entry_id"])


def _status_of(exc: TermmapError) -> int:
    for kind, status in CURATION_STATUS.items():
        if isinstance(exc, kind):
            return status
    if isinstance(exc, NotPermitted):
        return 403
    return 422 if isinstance(exc, InvalidRequest) else 400


async def _act(visit: Visit, work: Callable, done: Callable[[Any], str], *, invalidate: bool = False) -> Response:
    """Run one change in a transaction; then back to the entry with a message, or the entry again with the error."""
    entry_id = visit.request.path_params["entry_id"]
    try:
        result = await visit.write(work)
    except UnknownEntry:
        return visit.refuse(404, "No such entry", "There is no review entry with that id.")
    except TermmapError as exc:
        return await _render_entry(visit, entry_id, status=_status_of(exc), error=str(exc), kept=visit.form)
    if invalidate:
        cache = getattr(visit.request.app.state, "cache", None)
        if cache is not None:
            cache.invalidate()  # this worker answers from the decision at once; others within seconds
    visit.session.flash(done(result), "success")
    return _redirect(f"/ui/entry/{entry_id}")


def _comment(visit: Visit) -> str | None:
    text = (visit.form.get("comment") or "").strip()
    if len(text) > MAX_TEXT:
        raise InvalidRequest(f"a comment is at most {MAX_TEXT} characters")
    return text or None


def _override(visit: Visit) -> bool:
    if visit.form.get("override") != "1":
        return False
    if visit.principal.role is not Role.ADMIN:
        raise NotPermitted(f"only an admin may override another reviewer's claim; {visit.principal.name} is "
                           f"{visit.principal.role.value}")
    return True


@page("/ui/entry/{entry_id}/claim", Permission.CURATE, methods=("POST",))
async def claim(visit: Visit) -> Response:
    """Claim this entry (renews your own claim)."""
    entry_id = visit.request.path_params["entry_id"]
    return await _act(visit, lambda c: workflow.claim(c, entry_id, visit.principal.name, lease=_lease(visit)),
                      lambda item: f"Claimed until {_when(item.claim_expires)}.")


@page("/ui/entry/{entry_id}/release", Permission.CURATE, methods=("POST",))
async def release(visit: Visit) -> Response:
    """Give up the claim: the entry is open again."""
    entry_id = visit.request.path_params["entry_id"]

    def work(connection):
        return workflow.release(connection, entry_id, visit.principal.name, override=_override(visit))

    return await _act(visit, work, lambda item: "Released: the entry is open again.")


@page("/ui/entry/{entry_id}/decide", Permission.CURATE, methods=("POST",))
async def decide(visit: Visit) -> Response:
    """Approve a candidate (or another code) with a relationship, or decide no-map or deferred; with a comment."""
    entry_id = visit.request.path_params["entry_id"]
    form = visit.form

    def work(connection):
        decision = form.get("decision") or ""
        if decision not in {d.value for d in ReviewDecision}:
            raise workflow.InvalidDecision(f"unknown decision {decision!r}")
        targets = []
        if decision == ReviewDecision.MAPPED.value:
            code = (form.get("other_code") or "").strip() or (form.get("code") or "").strip()
            if not code:
                raise workflow.InvalidDecision("to approve, choose a candidate (keys 1–9) or enter a code")
            item = workflow.get_item(connection, entry_id)
            targets = workflow.targets_from([{"code": code, "relationship": form.get("relationship") or None}],
                                            item.target_system)
        based_on = form.get("based_on") or ""
        return workflow.decide(connection, entry_id, visit.principal.name, decision, targets=targets,
                               comment=_comment(visit), based_on=int(based_on) if based_on.isdigit() else None,
                               override=_override(visit))

    def done(decided: workflow.Decided) -> str:
        mapping = decided.mapping
        if decided.entry.decision is ReviewDecision.MAPPED and mapping:
            targets = ", ".join(f"{t.code} {t.display or ''} ({Relationship(t.relationship).value})".replace("  ", " ")
                                for t in mapping.targets)
            return f"Approved: mapped to {targets}; mapping version {mapping.version}."
        if decided.entry.decision is ReviewDecision.NO_MAP:
            return f"Decided: no map (mapping version {mapping.version})." if mapping else "Decided: no map."
        return "Deferred: the entry is decided for now; reopen it to review it again."

    return await _act(visit, work, done, invalidate=True)


@page("/ui/entry/{entry_id}/reopen", Permission.CURATE, methods=("POST",))
async def reopen(visit: Visit) -> Response:
    """Bring a decided entry back to open (its mapping stays in force until the next decision)."""
    entry_id = visit.request.path_params["entry_id"]
    return await _act(visit, lambda c: workflow.reopen(c, entry_id, visit.principal.name, comment=_comment(visit)),
                      lambda item: "Reopened: the entry is open again; its mapping stays until a new decision.")


# --- mapping history ---------------------------------------------------------------------------------


@page("/ui/mappings/{mapping_id}", Permission.READ_CURATION)
async def mapping_history(visit: Visit) -> Response:
    """Every version of a curated mapping, newest first: decision, targets, author, time, reason, origin."""
    mapping_id = visit.request.path_params["mapping_id"]
    try:
        versions = await visit.read(lambda c: history(c, mapping_id))
    except UnknownMapping:
        return visit.refuse(404, "No such mapping", "There is no curated mapping with that id.")
    current = versions[-1]
    return visit.render("mapping.html", title=f"Mapping {current.source_code or current.source_text_norm}",
                        current=current, versions=list(reversed(versions)))


# --- reports ---------------------------------------------------------------------------------------------

REPORT_STATES = reports.STATES
REASONS = ("unmapped", "unvalidated", "release-change")


@dataclass(frozen=True, slots=True)
class ReportFilters:
    since: str = ""
    until: str = ""
    sender: str = ""
    context: str = ""
    source_system: str = ""
    state: str = ""
    reason: str = ""
    by: str = "day"
    offset: int = 0

    @classmethod
    def of(cls, query: Mapping[str, str]) -> ReportFilters:
        offset = query.get("offset") or "0"
        return cls(*((query.get(name) or "").strip()[:255] for name in
                     ("since", "until", "sender", "context", "source_system", "state", "reason")),
                   by=(query.get("by") or "day").strip(), offset=int(offset) if offset.isdigit() else 0)

    def params(self, **changes: Any) -> dict[str, Any]:
        values = {"since": self.since, "until": self.until, "sender": self.sender, "context": self.context,
                  "source_system": self.source_system, "state": self.state, "reason": self.reason,
                  "by": "" if self.by == "day" else self.by, "offset": self.offset or ""}
        return values | changes

    def unmapped(self) -> dict[str, Any]:
        """Keyword filters for `reports.unmapped_report` (`InvalidRequest` for a bad date)."""
        if self.reason and self.reason not in REASONS:
            raise InvalidRequest(f"reason must be one of {', '.join(REASONS)}, not {self.reason!r}")
        return {"since": parse_when(self.since, "since"), "until": parse_when(self.until, "until"),
                "sender": self.sender or None, "context": self.context or None, "state": self.state or None,
                "source_system": self.source_system or None, "reason": self.reason or None}

    def coverage(self, today: date) -> dict[str, Any]:
        """Keyword filters for `reports.coverage_report`; without `since`, the last `COVERAGE_DAYS` days (or 13 weeks)."""
        since = parse_when(self.since, "since")
        if since is None:
            since = today - (timedelta(days=COVERAGE_DAYS - 1) if self.by != "week" else timedelta(weeks=13))
        return {"by": self.by, "since": since, "until": parse_when(self.until, "until"),
                "source_system": self.source_system or None, "sender": self.sender or None,
                "context": self.context or None}


def _totals(rows, key: Callable) -> list[tuple[str, dict[str, int]]]:
    """Coverage rows summed over periods per `key(row)`, most translations first."""
    summed: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = summed.setdefault(key(row) or "", {s: 0 for s in charts.STATUSES})
        for status in charts.STATUSES:
            counts[status] += getattr(row, status)
    return sorted(summed.items(), key=lambda item: (-sum(item[1].values()), item[0]))


@dataclass(frozen=True, slots=True)
class CoverageLine:
    label: str
    mapped: int
    unvalidated: int
    unmapped: int
    total: int

    @property
    def mapped_share(self) -> float:
        return self.mapped / self.total if self.total else 0.0

    @classmethod
    def of(cls, label: str, counts: Mapping[str, int]) -> CoverageLine:
        return cls(label, counts["mapped"], counts["unvalidated"], counts["unmapped"], sum(counts.values()))


@page("/ui/reports", Permission.REPORTS, shortcuts=REPORT_SHORTCUTS)
async def reports_page(visit: Visit) -> Response:
    """The unmapped-code report (filters, paging, CSV / XLSX) and coverage charts with their numbers."""
    filters = ReportFilters.of(visit.request.query_params)
    today = datetime.now(timezone.utc).date()

    def work(connection):
        chosen = filters.unmapped()
        rows = reports.unmapped_report(connection, limit=REPORT_PAGE, offset=filters.offset, **chosen)
        total = reports.count_unmapped(connection, **chosen)
        return rows, total, reports.coverage_report(connection, **filters.coverage(today))

    error = None
    try:
        rows, total, coverage = await visit.read(work)
    except TermmapError as exc:
        error, rows, total, coverage = str(exc), [], 0, None
    view: dict[str, Any] = {"trend": None, "systems_chart": None, "senders_chart": None, "periods": [],
                            "systems": [], "senders": [], "coverage": coverage}
    if coverage is not None:
        step = 7 if coverage.by == "week" else 1
        view["periods"] = list(coverage.periods)
        view["trend"] = charts.share_trend([(p.period, p.mapped_share, p.total) for p in coverage.periods],
                                           step_days=step)
        systems = _totals(coverage.systems, lambda r: r.source_system)
        senders = _totals(coverage.senders, lambda r: r.sender)
        view["systems"] = [CoverageLine.of(label, counts) for label, counts in systems]
        view["senders"] = [CoverageLine.of(label, counts) for label, counts in senders]
        view["systems_chart"] = charts.stacked_bars(systems)
        view["senders_chart"] = charts.stacked_bars(senders)
    pages = _pager("/ui/reports", filters.params(), filters.offset, REPORT_PAGE, total)
    downloads = {name: {fmt: _url(f"/ui/reports/{name}.{fmt}", **filters.params(offset="")) for fmt in ("csv", "xlsx")}
                 for name in ("unmapped", "coverage")}
    return visit.render("reports.html", status=422 if error else 200, title="Reports", filters=filters,
                        rows=[(row, Received(row.original_code, row.original_display, row.original_text, None))
                              for row in rows],
                        pages=pages, downloads=downloads, error=error, states=REPORT_STATES, reasons=REASONS,
                        contexts=CONTEXTS, senders_text=reports.senders_text, **view)


def _download(exported: Exported) -> Response:
    return Response(exported.content, media_type=exported.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{exported.filename}"'})


@page("/ui/reports/{report}.{fmt}", Permission.REPORTS)
async def report_file(visit: Visit) -> Response:
    """The unmapped or coverage report as a CSV or XLSX file, with the page's filters (all rows)."""
    report, fmt = visit.request.path_params["report"], visit.request.path_params["fmt"]
    if report not in ("unmapped", "coverage") or fmt not in ("csv", "xlsx"):
        return visit.refuse(404, "No such file", "Reports download as unmapped.csv, unmapped.xlsx, coverage.csv "
                                                 "or coverage.xlsx.")
    filters = ReportFilters.of(visit.request.query_params)
    today = datetime.now(timezone.utc).date()

    def work(connection):
        if report == "unmapped":
            return unmapped_export(connection, fmt, **filters.unmapped())
        return coverage_export(connection, fmt, **filters.coverage(today))

    try:
        exported = await visit.read(work)
    except TermmapError as exc:
        return visit.refuse(422, "Report refused", str(exc))
    return _download(exported)
