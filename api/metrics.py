"""Prometheus metrics: translations by status, rule and context; latency; open review entries."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import Engine, func, select

from mappings.tables import review_entries
from mappings.translation import Translation
from mappings.usage import UsageCounter

__all__ = ["Metrics"]


class _OpenReviewEntries:
    """Reads the open review entries from the store at scrape time (shared by every worker)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self):
        gauge = GaugeMetricFamily("termmap_review_entries_open", "Review-queue entries not yet decided")
        try:
            with self.engine.connect() as connection:
                count = connection.execute(
                    select(func.count()).select_from(review_entries).where(review_entries.c.status != "decided")
                ).scalar_one()
            gauge.add_metric([], count)
        except Exception:  # noqa: BLE001 - a scrape must not fail because the store is down
            pass
        yield gauge


class Metrics:
    """One registry per app (tests build many apps in one process)."""

    def __init__(self, engine: Engine, usage: UsageCounter | None = None) -> None:
        #: Counts for coverage reports (flushed into `translation_counts` by the app's `UsageFlusher`).
        self.usage = usage or UsageCounter()
        self.registry = CollectorRegistry()
        self.translations = Counter(
            "termmap_translations", "Translations answered", ["status", "rule", "context"], registry=self.registry
        )
        self.latency = Histogram(
            "termmap_request_seconds", "Request latency", ["route"], registry=self.registry,
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.registry.register(_OpenReviewEntries(engine))
        # Children by label values, since `labels()` takes a lock and builds its key on every call.
        self._counted: dict[tuple[str, str, str], Counter] = {}
        self._timed: dict[str, Histogram] = {}

    def time(self, route: str):
        """A context manager observing the latency of one request on `route`."""
        return self._latency(route).time()

    def observe(self, route: str, seconds: float) -> None:
        """The latency of one request on `route`, measured by the caller."""
        self._latency(route).observe(seconds)

    def _latency(self, route: str) -> Histogram:
        child = self._timed.get(route)
        if child is None:
            child = self._timed[route] = self.latency.labels(route)
        return child

    def pending(self) -> PendingCounts:
        """Counts held for a transaction: made only once it commits (see `PendingCounts`)."""
        return PendingCounts(self)

    def count(self, result: Translation, context: str, *, source_system: str | None = None,
              sender: str | None = None) -> None:
        """Count one answered translation: the Prometheus counter and the coverage counts (by source system, sender)."""
        rule = result.matches[0].rule.value if result.matches else "none"
        labels = (result.status.value, rule, context)
        counter = self._counted.get(labels)
        if counter is None:
            counter = self._counted[labels] = self.translations.labels(*labels)
        counter.inc()
        self.usage.count(result, context, source_system=source_system, sender=sender)


class PendingCounts:
    """Translations answered inside a transaction, counted (`Metrics.count`) only once it has committed.

    `api.idempotency.run_once` drives it: `clear()` before each attempt (a deadlock victim's attempt
    counts nothing), `commit()` after the one that committed, unless the answer was replayed.
    """

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._held: list[tuple[Translation, str, str | None, str | None]] = []

    def count(self, result: Translation, context: str, *, source_system: str | None = None,
              sender: str | None = None) -> None:
        self._held.append((result, context, source_system, sender))

    def clear(self) -> None:
        self._held.clear()

    def commit(self) -> None:
        for result, context, source_system, sender in self._held:
            self._metrics.count(result, context, source_system=source_system, sender=sender)
        self._held.clear()
