"""Prometheus metrics: translations by status, rule and context; latency; open review entries."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import Engine, func, select

from mappings.tables import review_entries
from mappings.translation import Translation

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

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.translations = Counter(
            "termmap_translations", "Translations answered", ["status", "rule", "context"], registry=self.registry
        )
        self.latency = Histogram(
            "termmap_request_seconds", "Request latency", ["route"], registry=self.registry,
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.registry.register(_OpenReviewEntries(engine))

    def count(self, result: Translation, context: str) -> None:
        rule = result.matches[0].rule.value if result.matches else "none"
        self.translations.labels(result.status.value, rule, context).inc()
