"""Idempotency-Key: a retried POST returns the stored answer and counts nothing twice.

The stored answer is written in the same transaction as the work it answers (review-queue
counts included): either both are committed or neither is. The same key with another body
is refused with 422.

A transaction PostgreSQL aborts as a deadlock victim or a serialization failure (two batches
counting the same review entries in different orders) is rolled back whole and run again, up to
`ATTEMPTS` times after a short random pause: the work counts nothing until the attempt that commits.
"""
from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from mappings.tables import idempotent_requests
from terminology.errors import InvalidRequest

from .metrics import PendingCounts

__all__ = ["IdempotencyConflict", "find_stored", "store_response", "body_digest", "run_once", "ATTEMPTS"]

logger = logging.getLogger(__name__)

#: Attempts at a transaction that PostgreSQL aborts to break a deadlock (or a serialization failure).
ATTEMPTS = 8
_RETRYABLE_STATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


class IdempotencyConflict(InvalidRequest):
    """The key was used before with a different body."""


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def find_stored(connection: Connection, key: str, route: str, digest: str) -> tuple[int, bytes] | None:
    """The stored answer for this key and route, or None; `IdempotencyConflict` if the body differs."""
    row = connection.execute(
        select(idempotent_requests).where(idempotent_requests.c.key == key, idempotent_requests.c.route == route)
    ).first()
    if row is None:
        return None
    if row.body_sha256 != digest:
        raise IdempotencyConflict(
            f"Idempotency-Key {key!r} was already used on {route} with a different body; use a new key for a new request"
        )
    return row.status_code, row.response.encode()


def store_response(connection: Connection, key: str, route: str, digest: str, status: int, response: bytes) -> None:
    """Record the answer to a keyed request (in the caller's transaction)."""
    connection.execute(
        insert(idempotent_requests).values(
            key=key, route=route, body_sha256=digest, status_code=status, response=response.decode(),
            created_at=datetime.now(timezone.utc),
        )
    )


def run_once(
    engine: Engine, key: str | None, route: str, body: bytes, work: Callable[[Connection], tuple[int, bytes]],
    *, counts: PendingCounts | None = None,
) -> tuple[int, bytes, bool]:
    """Run `work` in one transaction, once per (key, route): returns (status, body, replayed).

    Without a key it simply runs. With one, a stored answer is returned instead of running again;
    the same key with another body raises `IdempotencyConflict`. If a concurrent request with the
    same key commits first, its answer is the answer (this one's work is rolled back).
    `counts`, where `work` counts its translations: cleared before each attempt and committed
    after the attempt that committed (not for a replayed answer).
    """
    digest = body_digest(body) if key else ""
    for attempt in range(1, ATTEMPTS + 1):
        if counts is not None:
            counts.clear()
        try:
            status, payload, replayed = _attempt(engine, key, route, digest, work)
            if counts is not None and not replayed:
                counts.commit()
            return status, payload, replayed
        except DBAPIError as exc:
            if attempt == ATTEMPTS or getattr(exc.orig, "sqlstate", None) not in _RETRYABLE_STATES:
                raise
            logger.info("%s: transaction aborted (%s), attempt %d of %d", route,
                        str(exc.orig).splitlines()[0], attempt, ATTEMPTS)
            time.sleep(random.uniform(0, min(0.5, 0.01 * 2 ** attempt)))  # let the other side commit first
    raise AssertionError("unreachable")  # pragma: no cover


def _attempt(
    engine: Engine, key: str | None, route: str, digest: str, work: Callable[[Connection], tuple[int, bytes]]
) -> tuple[int, bytes, bool]:
    try:
        with engine.begin() as connection:
            if key:
                stored = find_stored(connection, key, route, digest)
                if stored is not None:
                    return stored[0], stored[1], True
            status, payload = work(connection)
            if key:
                store_response(connection, key, route, digest, status, payload)
        return status, payload, False
    except IntegrityError:
        if not key:
            raise
        with engine.connect() as connection:
            stored = find_stored(connection, key, route, digest)
        if stored is None:
            raise
        return stored[0], stored[1], True
