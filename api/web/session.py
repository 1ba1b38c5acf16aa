"""Web sessions: a pasted API key becomes a server-side session; the browser holds only a random id.

**Design.** Logging in checks the key once (`api.auth.KeyVerifier`) and creates a `WebSession`
in the store's `web_sessions` table (`SessionStore`, kept on `app.state.web_sessions`), so every
worker and every host behind the proxy knows it: no sticky routing. The browser gets a cookie
holding only the session id — 256 random bits, nothing derived from the key — marked `HttpOnly`
(no script reads it), `SameSite=Strict` (no other site's page sends it), `Path=/ui` and, over HTTPS,
`Secure`. The store keeps only the SHA-256 of the id (a copy of the table opens no session), and
the key itself is never stored anywhere.

    login  ──▶ session (id, principal, CSRF token) ──▶ every page: id ─▶ session ─▶ role check
                   │ idle 30 min / 12 h after login / logout / key revoked ─▶ gone

Chosen over a signed cookie because a server-side session can be ended: logout and key
revocation take effect at once, on every worker (the key is re-checked against the store every
`KEY_RECHECK` seconds), and no signing secret has to be configured and shared. The cost: a
read per page and a write when the session changes (last seen at most every `TOUCH_EVERY`
seconds, a one-shot message) — pages, not the translate path, pay it.

**CSRF.** Every form that changes something carries the session's token (`csrf_token`), compared
in constant time; a POST without it is refused. The login form, which has no session yet, uses a
double-submit token: a random value in a short-lived cookie scoped to `/ui/login` and the same
value in the form. `SameSite=Strict` is a second, independent barrier.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, delete, func, insert, select, update

from mappings.tables import api_keys, web_sessions

from ..auth import Principal, Role

__all__ = [
    "SESSION_COOKIE",
    "LOGIN_COOKIE",
    "CSRF_FIELD",
    "IDLE_TIMEOUT",
    "ABSOLUTE_TIMEOUT",
    "KEY_RECHECK",
    "WebSession",
    "SessionStore",
    "sessions_of",
    "tokens_match",
    "new_token",
    "key_still_valid",
]

SESSION_COOKIE = "termmap_ui"
LOGIN_COOKIE = "termmap_ui_login"
CSRF_FIELD = "csrf_token"
#: A session ends after this long without a request (seconds) ...
IDLE_TIMEOUT = 30 * 60
#: ... and at the latest this long after login, however active.
ABSOLUTE_TIMEOUT = 12 * 60 * 60
#: How often (seconds) a session's key is re-checked against the store (revoked keys end sessions).
KEY_RECHECK = 5.0
#: Sessions kept; beyond it the least recently used are dropped (a flood of logins cannot grow the table).
MAX_SESSIONS = 10_000
#: A session's last-seen time is written at most this often (seconds): idle expiry needs no finer grain.
TOUCH_EVERY = 10.0


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; False when either is missing or empty."""
    if not expected or not given:
        return False
    return secrets.compare_digest(expected.encode(), given.encode())


def _hashed(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(slots=True)
class WebSession:
    """One logged-in browser: who (the key's id, name and role), its CSRF token, and one-shot messages."""

    id: str
    principal: Principal
    csrf: str
    created: float
    last_seen: float
    key_checked: float
    flashes: list[tuple[str, str]] = field(default_factory=list)  # (kind, message): shown once
    changed: bool = False  # flashes added or taken since it was read: `SessionStore.save` writes them

    def flash(self, message: str, kind: str = "info") -> None:
        self.flashes.append((kind, message))
        self.changed = True

    def take_flashes(self) -> list[tuple[str, str]]:
        taken, self.flashes = self.flashes, []
        self.changed = self.changed or bool(taken)
        return taken


class SessionStore:
    """Sessions in the store's `web_sessions` table, with idle and absolute expiry. `clock` is POSIX seconds.

    Every method is a short transaction of its own (call them from a thread, not the event loop).
    """

    def __init__(self, engine: Engine, *, idle: float = IDLE_TIMEOUT, absolute: float = ABSOLUTE_TIMEOUT,
                 max_sessions: int = MAX_SESSIONS, key_recheck: float = KEY_RECHECK,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.idle, self.absolute, self.max_sessions, self.clock = idle, absolute, max_sessions, clock
        self.key_recheck = key_recheck

    def __len__(self) -> int:
        """Live sessions."""
        now = self.clock()
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(web_sessions).where(self._live(now))).scalar_one()

    def _live(self, now: float):
        return (web_sessions.c.last_seen >= now - self.idle) & (web_sessions.c.created >= now - self.absolute)

    def create(self, principal: Principal) -> WebSession:
        """A new session for `principal`, with a fresh id and CSRF token (ids are never reused across logins)."""
        now = self.clock()
        session = WebSession(new_token(), principal, new_token(), now, now, now)
        with self.engine.begin() as connection:
            connection.execute(delete(web_sessions).where(~self._live(now)))
            count = connection.execute(select(func.count()).select_from(web_sessions)).scalar_one()
            if count >= self.max_sessions:
                oldest = select(web_sessions.c.id_sha256).order_by(web_sessions.c.last_seen) \
                    .limit(count - self.max_sessions + 1).scalar_subquery()
                connection.execute(delete(web_sessions).where(web_sessions.c.id_sha256.in_(oldest)))
            connection.execute(insert(web_sessions).values(
                id_sha256=_hashed(session.id), key_id=principal.key_id, key_name=principal.name,
                role=principal.role.value, csrf=session.csrf, created=now, last_seen=now, key_checked=now,
                flashes=[]))
        return session

    def get(self, session_id: str | None) -> WebSession | None:
        """The live session with this id (and marks it used), or None; an expired one is dropped."""
        if not session_id:
            return None
        now = self.clock()
        key = _hashed(session_id)
        with self.engine.begin() as connection:
            row = connection.execute(select(web_sessions).where(web_sessions.c.id_sha256 == key)).first()
            if row is None:
                return None
            if now - row.last_seen > self.idle or now - row.created > self.absolute:
                connection.execute(delete(web_sessions).where(web_sessions.c.id_sha256 == key))
                return None
            if now - row.last_seen >= TOUCH_EVERY:
                connection.execute(update(web_sessions).where(web_sessions.c.id_sha256 == key).values(last_seen=now))
        return WebSession(session_id, Principal(row.key_id, row.key_name, Role(row.role)), row.csrf, row.created,
                          now, row.key_checked, [(kind, message) for kind, message in row.flashes])

    def save(self, session: WebSession) -> None:
        """Write the session's one-shot messages if they changed (a session ended meanwhile stays ended)."""
        if not session.changed:
            return
        with self.engine.begin() as connection:
            connection.execute(update(web_sessions).where(web_sessions.c.id_sha256 == _hashed(session.id))
                               .values(flashes=[list(f) for f in session.flashes]))
        session.changed = False

    def drop(self, session_id: str | None) -> None:
        if not session_id:
            return
        with self.engine.begin() as connection:
            connection.execute(delete(web_sessions).where(web_sessions.c.id_sha256 == _hashed(session_id)))

    def drop_key(self, key_id: str) -> int:
        """End every session of one key (it was revoked), on every worker; returns how many."""
        with self.engine.begin() as connection:
            return connection.execute(delete(web_sessions).where(web_sessions.c.key_id == key_id)).rowcount

    def due_for_key_check(self, session: WebSession) -> bool:
        return self.clock() - session.key_checked >= self.key_recheck

    def key_checked(self, session: WebSession) -> None:
        """Record that the session's key was found valid now, with its name and role as the store has them."""
        session.key_checked = self.clock()
        with self.engine.begin() as connection:
            connection.execute(update(web_sessions).where(web_sessions.c.id_sha256 == _hashed(session.id)).values(
                key_checked=session.key_checked, key_name=session.principal.name,
                role=session.principal.role.value))


_install_lock = threading.Lock()


def sessions_of(app) -> SessionStore:
    """The app's session store (`app.state.web_sessions`) on its engine, created on first use."""
    store = getattr(app.state, "web_sessions", None)
    if store is None:
        with _install_lock:
            store = getattr(app.state, "web_sessions", None)
            if store is None:
                store = app.state.web_sessions = SessionStore(app.state.engine)
    return store


def key_still_valid(engine: Engine, key_id: str) -> Principal | None:
    """The key's principal as the store has it now, or None if it was revoked or deleted."""
    with engine.connect() as connection:
        row = connection.execute(
            select(api_keys.c.id, api_keys.c.name, api_keys.c.role)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        ).first()
    return Principal(row.id, row.name, Role(row.role)) if row else None
