"""Web sessions: a pasted API key becomes a server-side session; the browser holds only a random id.

**Design.** Logging in checks the key once (`api.auth.KeyVerifier`) and creates a `WebSession`
in this process's memory (`SessionStore`, kept on `app.state.web_sessions`). The browser gets a
cookie holding only the session id — 256 random bits, nothing derived from the key — marked
`HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page sends it), `Path=/ui`
and, over HTTPS, `Secure`. The key itself is never stored: not in the cookie, not in memory.

    login  ──▶ session (id, principal, CSRF token) ──▶ every page: id ─▶ session ─▶ role check
                   │ idle 30 min / 12 h after login / logout / key revoked ─▶ gone

Chosen over a signed cookie because a server-side session can be ended: logout and key
revocation take effect at once (the key is re-checked against the store every `KEY_RECHECK`
seconds), and no signing secret has to be configured and shared. The cost: sessions live in
one process — a restart logs everyone out, and with `termmap serve --workers N` (N > 1) a
session is known only to the worker that created it (run the UI on one worker or behind sticky
routing; a store-backed `SessionStore` would lift this).

**CSRF.** Every form that changes something carries the session's token (`csrf_token`), compared
in constant time; a POST without it is refused. The login form, which has no session yet, uses a
double-submit token: a random value in a short-lived cookie scoped to `/ui/login` and the same
value in the form. `SameSite=Strict` is a second, independent barrier.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from mappings.tables import api_keys

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
#: Sessions one process keeps; beyond it the least recently used are dropped (a flood of logins cannot grow memory).
MAX_SESSIONS = 10_000


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; False when either is missing or empty."""
    if not expected or not given:
        return False
    return secrets.compare_digest(expected.encode(), given.encode())


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

    def flash(self, message: str, kind: str = "info") -> None:
        self.flashes.append((kind, message))

    def take_flashes(self) -> list[tuple[str, str]]:
        taken, self.flashes = self.flashes, []
        return taken


class SessionStore:
    """Sessions in memory with idle and absolute expiry; thread-safe. `clock` is monotonic seconds."""

    def __init__(self, *, idle: float = IDLE_TIMEOUT, absolute: float = ABSOLUTE_TIMEOUT,
                 max_sessions: int = MAX_SESSIONS, key_recheck: float = KEY_RECHECK,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.idle, self.absolute, self.max_sessions, self.clock = idle, absolute, max_sessions, clock
        self.key_recheck = key_recheck
        self._sessions: dict[str, WebSession] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def _expired(self, session: WebSession, now: float) -> bool:
        return now - session.last_seen > self.idle or now - session.created > self.absolute

    def create(self, principal: Principal) -> WebSession:
        """A new session for `principal`, with a fresh id and CSRF token (ids are never reused across logins)."""
        now = self.clock()
        session = WebSession(new_token(), principal, new_token(), now, now, now)
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                for stale in [s.id for s in self._sessions.values() if self._expired(s, now)]:
                    del self._sessions[stale]
            while len(self._sessions) >= self.max_sessions:
                oldest = min(self._sessions.values(), key=lambda s: s.last_seen)
                del self._sessions[oldest.id]
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> WebSession | None:
        """The live session with this id (and marks it used), or None; an expired one is dropped."""
        if not session_id:
            return None
        now = self.clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if self._expired(session, now):
                del self._sessions[session_id]
                return None
            session.last_seen = now
            return session

    def drop(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def drop_key(self, key_id: str) -> int:
        """End every session of one key (it was revoked); returns how many."""
        with self._lock:
            ended = [s.id for s in self._sessions.values() if s.principal.key_id == key_id]
            for session_id in ended:
                del self._sessions[session_id]
        return len(ended)

    def due_for_key_check(self, session: WebSession) -> bool:
        return self.clock() - session.key_checked >= self.key_recheck

    def key_checked(self, session: WebSession) -> None:
        session.key_checked = self.clock()


_install_lock = threading.Lock()


def sessions_of(app) -> SessionStore:
    """The app's session store (`app.state.web_sessions`), created on first use."""
    store = getattr(app.state, "web_sessions", None)
    if store is None:
        with _install_lock:
            store = getattr(app.state, "web_sessions", None)
            if store is None:
                store = app.state.web_sessions = SessionStore()
    return store


def key_still_valid(engine: Engine, key_id: str) -> Principal | None:
    """The key's principal as the store has it now, or None if it was revoked or deleted."""
    with engine.connect() as connection:
        row = connection.execute(
            select(api_keys.c.id, api_keys.c.name, api_keys.c.role)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        ).first()
    return Principal(row.id, row.name, Role(row.role)) if row else None
