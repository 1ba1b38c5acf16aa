"""Translation counts: counted in memory without slowing translate, flushed exactly into `translation_counts`."""
from __future__ import annotations

import threading
import time
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from mappings.tables import translation_counts
from mappings.translation import Match, Rule, Status, Translation
from mappings.usage import UsageCounter, UsageFlusher, day_number
from terminology.database import create_store_engine
from tests.conftest import api_key

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOCAL = "https://hospital.example.org/fhir/CodeSystem/allergens"
MAPPED = Translation(Status.MAPPED, {}, (Match(SNOMED, "387458008", "Aspirin", "equivalent", True, Rule.CROSSWALK, None),))
UNMAPPED = Translation(Status.UNMAPPED, {})


def stored(engine) -> dict[tuple, int]:
    with engine.connect() as connection:
        rows = connection.execute(select(translation_counts)).all()
    return {(r.day if isinstance(r.day, date) else date.fromisoformat(str(r.day)), r.source_system, r.sender,
             r.context, r.status, r.rule): r.count for r in rows}


def total(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.coalesce(func.sum(translation_counts.c["count"]), 0))).scalar_one()


def test_increments_from_many_threads_flush_exactly_and_leave_the_counter_empty(store):
    counter, threads, each = UsageCounter(), 8, 5_000

    def work(n: int) -> None:
        for i in range(each):
            counter.count(MAPPED if i % 3 else UNMAPPED, "allergy", source_system=RXNORM, sender=f"feed-{n % 2}")

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert counter.pending() == threads * each
    with store.begin() as connection:
        assert counter.flush(connection) == threads * each
    assert total(store) == threads * each and counter.pending() == 0
    with store.begin() as connection:
        assert counter.flush(connection) == 0
    assert total(store) == threads * each


def test_counting_while_another_thread_flushes_loses_and_doubles_nothing(store):
    counter, flusher = UsageCounter(), None
    flusher = UsageFlusher(counter, store, every=0.01).start()
    threads, each = 4, 3_000

    def work() -> None:
        for _ in range(each):
            counter.count(MAPPED, "medication", source_system=RXNORM, sender="pharmacy")

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    flusher.stop()
    assert total(store) == threads * each and counter.pending() == 0


def test_a_second_flush_adds_to_the_counts_already_stored(store):
    counter = UsageCounter()
    today = day_number()
    for _ in range(3):
        counter.count(MAPPED, "allergy", source_system=RXNORM, sender="ed", day=today)
    counter.flush_to(store)
    for _ in range(4):
        counter.count(MAPPED, "allergy", source_system=RXNORM, sender="ed", day=today)
    counter.flush_to(store)
    key = (date.fromordinal(date(1970, 1, 1).toordinal() + today), RXNORM, "ed", "allergy", "mapped", "crosswalk")
    assert stored(store) == {key: 7}


def test_systems_are_canonicalised_when_flushed_so_spellings_count_together(store):
    counter = UsageCounter()
    for spelling in ("snomed", "http://snomed.info/sct", " SNOMED ", "http://snomed.info/sct/900000000000207008"):
        counter.count(UNMAPPED, "allergy", source_system=spelling, sender=None, day=20_000)
    counter.count(UNMAPPED, "allergy", source_system=None, sender=None, day=20_000)
    counter.flush_to(store)
    assert stored(store) == {(date(2024, 10, 4), SNOMED, "", "allergy", "unmapped", "none"): 4,
                             (date(2024, 10, 4), "", "", "allergy", "unmapped", "none"): 1}


def test_the_day_is_the_utc_day_of_the_count():
    assert day_number(0) == 0 and day_number(86_399.9) == 0 and day_number(86_400) == 1
    counter = UsageCounter()
    counter.count(MAPPED, "allergy")
    ((day, *_),) = counter.take()
    assert day == int(time.time() // 86_400)


def test_a_failed_flush_keeps_its_counts_for_the_next_one(store, tmp_path):
    counter = UsageCounter()
    for _ in range(5):
        counter.count(UNMAPPED, "allergy", source_system=LOCAL, sender="ed")
    unmigrated = create_store_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no translation_counts table
    with pytest.raises(Exception):
        counter.flush_to(unmigrated)
    unmigrated.dispose()
    assert counter.pending() == 5
    assert UsageFlusher(counter, store).flush() == 5
    assert total(store) == 5


def test_the_flusher_writes_every_interval_and_once_more_when_stopped(store):
    counter = UsageCounter()
    flusher = UsageFlusher(counter, store, every=0.05).start()
    counter.count(MAPPED, "allergy", source_system=RXNORM, sender="ed")
    deadline = time.monotonic() + 5
    while total(store) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert total(store) == 1
    flusher.every = 3600  # the next count waits for stop()
    time.sleep(0.1)
    counter.count(MAPPED, "allergy", source_system=RXNORM, sender="ed")
    flusher.stop()
    assert total(store) == 2


def test_every_translate_path_counts_by_source_system_and_sender_and_the_app_flushes_at_shutdown(demo_sqlite):
    body = {"source": {"system": RXNORM, "code": "1191"}, "target_system": SNOMED, "context": "medication"}
    with TestClient(create_app(engine=demo_sqlite)) as client:
        client.headers["Authorization"] = f"Bearer {api_key(demo_sqlite, 'translator')}"
        assert client.post("/v1/translate", json={**body, "sender": "ed"}).status_code == 200
        assert client.post("/v1/translate", json={**body, "sender": "ed"}).status_code == 200  # from the cache
        batch = client.post("/v1/translate/batch", json={"items": [{**body, "sender": "lab"}, {**body, "sender": "lab"}]})
        assert batch.status_code == 200
        fhir = client.get("/fhir/r4/ConceptMap/$translate",
                          params={"system": RXNORM, "code": "1191", "targetsystem": SNOMED, "sender": "fhir-feed"})
        assert fhir.status_code == 200
    # No explicit flush: leaving the app (its lifespan) flushed what the background thread had not.
    counts = {(system, sender, status): n for (_, system, sender, _, status, _), n in stored(demo_sqlite).items()}
    assert counts == {(RXNORM, "ed", "mapped"): 2, (RXNORM, "lab", "mapped"): 2, (RXNORM, "fhir-feed", "mapped"): 1}
