"""An in-process cache of translation answers, kept coherent with the store by a cheap version check.

The store's version is (active release ids, newest curated mapping version row). Each worker
reads it at most every `check_every` seconds and drops its cache when it moved, so a curated
decision or a release switch anywhere is seen by every worker within that time (and at once by
the worker that made it, which calls `invalidate`). Answers are cached without their review
reference: an unvalidated or unmapped answer still counts its occurrence in the store.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, func, select

from terminology.normalise import normalise_term
from terminology.releases import active_release_ids
from terminology.systems import canonical_system

from .tables import mapping_versions
from .translation import TranslateRequest, Translation

__all__ = ["TranslationCache", "cache_key", "store_version"]

CacheKey = tuple[str, str, str, str, str]


def cache_key(request: TranslateRequest) -> CacheKey:
    """What determines an answer: source system and code, normalised words, target, context."""
    return (
        canonical_system(request.source.system) if request.source.system else "",
        (request.source.code or "").strip(),
        normalise_term(request.words or ""),
        canonical_system(request.target_system),
        request.context.value,
    )


def store_version(connection: Connection) -> tuple:
    """Changes whenever a release is switched or a curated mapping version is written."""
    releases = tuple(sorted(active_release_ids(connection).values()))
    newest_mapping = connection.execute(select(func.max(mapping_versions.c.id))).scalar()
    return releases, newest_mapping


@dataclass
class _State:
    version: tuple | None = None
    checked_at: float = 0.0


class TranslationCache:
    """LRU of answers by `cache_key`, cleared when the store's version moves; `max_entries=0` keeps none."""

    def __init__(self, *, check_every: float = 0.5, max_entries: int = 200_000) -> None:
        self.check_every = check_every
        self.max_entries = max_entries
        self._answers: OrderedDict[CacheKey, Translation] = OrderedDict()
        self._state = _State()
        self._lock = threading.Lock()
        self.hits = self.misses = 0
        #: Bumped whenever answers are dropped; an answer computed under an older generation is not kept.
        self.generation = 0

    def refresh(self, engine: Engine, *, now: float | None = None) -> None:
        """Re-read the store's version if `check_every` has passed; clear the cache if it moved."""
        now = time.monotonic() if now is None else now
        if now - self._state.checked_at < self.check_every:
            return
        with engine.connect() as connection:
            version = store_version(connection)
        with self._lock:
            if version != self._state.version:
                self._answers.clear()
                self.generation += 1
                self._state.version = version
            self._state.checked_at = now

    def invalidate(self) -> None:
        """Forget every answer and re-read the version on the next `refresh`."""
        with self._lock:
            self._answers.clear()
            self.generation += 1
            self._state = _State()

    def get(self, key: CacheKey) -> Translation | None:
        answer = self._answers.get(key)
        if answer is None:
            self.misses += 1
            return None
        self.hits += 1
        return answer

    def put(self, key: CacheKey, answer: Translation, generation: int | None = None) -> None:
        """Keep `answer`, unless answers were dropped since `generation` (when it was computed) was read."""
        if self.max_entries <= 0:
            return
        with self._lock:
            if generation is not None and generation != self.generation:
                return  # a decision or release switch happened while it was being computed
            self._answers[key] = answer
            if len(self._answers) > self.max_entries:
                self._answers.popitem(last=False)
