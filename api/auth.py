"""API keys and roles: who may call what.

Keys are 256-bit random tokens (`tm_` + URL-safe base64), shown once when created and stored
only as their SHA-256 (a key has full entropy, so a fast hash is the right one: nothing to
brute-force). A request names its key as `Authorization: Bearer <key>`.

| role | may |
|---|---|
| translator | translate, transform, look up |
| pharmacist | the review queue, decisions, curated mappings (read and write), look up |
| auditor | read the queue, mappings, history, reports and metrics; change nothing |
| admin | everything, including releases and keys |

`/health`, `/ready` and FHIR `/metadata` stay open. Every other route declares the permission
it needs with `Depends(requires(Permission.X))`; a test walks the whole route x role matrix.
"""
from __future__ import annotations

import enum
import hashlib
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from fastapi import Request
from sqlalchemy import Connection, Engine, insert, select, update
from starlette.concurrency import run_in_threadpool

from mappings.audit import record_event
from mappings.tables import api_keys
from terminology.errors import NotAuthenticated, NotPermitted

__all__ = ["Role", "Permission", "ROLE_PERMISSIONS", "Principal", "ApiKey", "create_key", "list_keys",
           "revoke_key", "KeyVerifier", "requires", "key_sha256", "bearer_key"]


class Role(str, enum.Enum):
    TRANSLATOR = "translator"
    PHARMACIST = "pharmacist"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Permission(str, enum.Enum):
    TRANSLATE = "translate"  # translate, batch, transform, FHIR $translate
    LOOKUP = "lookup"  # concepts, $lookup, $validate-code, ConceptMap read
    CURATE = "curate"  # claim, decide, edit and import mappings
    READ_CURATION = "read-curation"  # queue, mappings, history (read only)
    REPORTS = "reports"  # reports, audit trail, metrics
    ADMIN = "admin"  # releases, keys


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.TRANSLATOR: frozenset({Permission.TRANSLATE, Permission.LOOKUP}),
    Role.PHARMACIST: frozenset({Permission.CURATE, Permission.READ_CURATION, Permission.LOOKUP}),
    Role.AUDITOR: frozenset({Permission.READ_CURATION, Permission.REPORTS, Permission.LOOKUP}),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, name and role (the name is what audit records show)."""

    key_id: str
    name: str
    role: Role

    def may(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    role: Role
    prefix: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


def key_sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(connection: Connection, role: Role, name: str, created_by: str) -> tuple[ApiKey, str]:
    """A new key for `role`: (its record, the key itself — shown once, never stored)."""
    key = "tm_" + secrets.token_urlsafe(32)
    record = ApiKey(str(uuid.uuid4()), name, role, key[:10], datetime.now(timezone.utc), created_by, None)
    connection.execute(insert(api_keys).values(
        id=record.id, name=name, role=role.value, prefix=record.prefix, key_sha256=key_sha256(key),
        created_at=record.created_at, created_by=created_by,
    ))
    record_event(connection, actor=created_by, action="key.created", subject_type="key", subject_id=record.id,
                 after={"name": name, "role": role.value, "prefix": record.prefix})
    return record, key


def list_keys(connection: Connection) -> list[ApiKey]:
    rows = connection.execute(select(api_keys).order_by(api_keys.c.created_at))
    return [ApiKey(r.id, r.name, Role(r.role), r.prefix, r.created_at, r.created_by, r.revoked_at) for r in rows]


def revoke_key(connection: Connection, key_id: str, revoked_by: str = "cli") -> bool:
    """Revoke a key by id; False if there is no such active key."""
    done = connection.execute(
        update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=datetime.now(timezone.utc))
    )
    if done.rowcount == 1:
        record_event(connection, actor=revoked_by, action="key.revoked", subject_type="key", subject_id=key_id)
    return done.rowcount == 1


class KeyVerifier:
    """Checks bearer keys against the store, remembering answers for `ttl` seconds.

    The memory keeps the translate path free of a store round trip per request; a revoked key
    stops working within `ttl` seconds on every worker.
    """

    def __init__(self, engine: Engine, ttl: float = 5.0) -> None:
        self.engine, self.ttl = engine, ttl
        self._known: dict[str, tuple[Principal | None, float]] = {}
        self._lock = threading.Lock()

    def remembered(self, key: str) -> tuple[bool, Principal | None]:
        """(True, the answer) when `key` was checked less than `ttl` seconds ago, else (False, None)."""
        known = self._known.get(key_sha256(key))
        if known is not None and time.monotonic() - known[1] < self.ttl:
            return True, known[0]
        return False, None

    def principal(self, key: str) -> Principal | None:
        """Who `key` belongs to (None: unknown or revoked), from memory or else the store."""
        digest = key_sha256(key)
        now = time.monotonic()
        known = self._known.get(digest)
        if known is not None and now - known[1] < self.ttl:
            return known[0]
        with self.engine.connect() as connection:
            row = connection.execute(
                select(api_keys.c.id, api_keys.c.name, api_keys.c.role)
                .where(api_keys.c.key_sha256 == digest, api_keys.c.revoked_at.is_(None))
            ).first()
        found = Principal(row.id, row.name, Role(row.role)) if row else None
        with self._lock:
            if len(self._known) > 10_000:
                self._known.clear()
            self._known[digest] = (found, now)
        return found


def bearer_key(header: str) -> str | None:
    """The key of an `Authorization` header value `Bearer <key>`, or None when it is not one."""
    scheme, _, key = header.partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


def _bearer(request: Request) -> str:
    key = bearer_key(request.headers.get("authorization", ""))
    if key is None:
        raise NotAuthenticated("send an API key as `Authorization: Bearer <key>` (create one with `termmap keys create`)")
    return key


def requires(permission: Permission):
    """A FastAPI dependency: the caller's `Principal`, or 401 / 403 naming what is missing."""

    async def dependency(request: Request) -> Principal:
        # Async, so a remembered key costs no hop to a worker thread: only a store read takes one.
        key, keys = _bearer(request), request.app.state.keys
        known, principal = keys.remembered(key)
        if not known:
            principal = await run_in_threadpool(keys.principal, key)
        if principal is None:
            raise NotAuthenticated("unknown or revoked API key")
        if not principal.may(permission):
            raise NotPermitted(f"the {principal.role.value} role may not {permission.value}; "
                               f"roles that may: {', '.join(r.value for r, p in ROLE_PERMISSIONS.items() if permission in p)}")
        request.state.principal = principal
        return principal

    dependency.permission = permission  # lets the route x role matrix test read what each route needs
    return dependency
