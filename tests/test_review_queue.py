"""The review queue keeps every unmapped input once, as received, and counts repeats and senders."""
from __future__ import annotations

import threading

from mappings.review_queue import ReviewKey, entry_id_for, get_entry, record_occurrence

LOCAL = "https://hospital.example.org/fhir/CodeSystem/allergens"


def _record(connection, code, text, sender, context="allergy", original=None):
    key = ReviewKey.of(LOCAL, code, text, context)
    return record_occurrence(
        connection, key, original=original or {"source": {"system": LOCAL, "code": code}, "text": text},
        target_system="http://snomed.info/sct", reason="unmapped", sender=sender,
    )


def test_the_same_entry_from_two_senders_is_one_entry_with_two_occurrences(store):
    with store.begin() as connection:
        first, _ = _record(connection, "AMOX1", "Amoxycilin", "pharmacy-feed")
        second, _ = _record(connection, "AMOX1", "  AMOXYCILIN ", "ed-feed")
    assert first == second
    with store.connect() as connection:
        entry = get_entry(connection, first)
    assert entry.occurrences == 2
    assert entry.senders == {"pharmacy-feed": 1, "ed-feed": 1}
    assert entry.status == "open"


def test_the_entry_keeps_the_first_original_exactly_as_received(store):
    original = {"source": {"system": LOCAL, "code": "X1", "display": "Pénicilline  G\t(inj)"}, "text": "  PCN G  "}
    with store.begin() as connection:
        entry_id, _ = _record(connection, "X1", "  PCN G  ", "a", original=original)
        _record(connection, "X1", "pcn g", "b", original={"source": {"code": "X1"}, "text": "pcn g"})
    with store.connect() as connection:
        assert get_entry(connection, entry_id).original == original


def test_another_context_or_code_is_another_entry(store):
    with store.begin() as connection:
        allergy, _ = _record(connection, "ASA", "Aspirin", "a", context="allergy")
        medication, _ = _record(connection, "ASA", "Aspirin", "a", context="medication")
        other_code, _ = _record(connection, "ASA81", "Aspirin", "a")
    assert len({allergy, medication, other_code}) == 3


def test_concurrent_first_sightings_converge_on_one_entry(store):
    errors: list[BaseException] = []

    def send(sender: str) -> None:
        try:
            for _ in range(10):
                with store.begin() as connection:
                    _record(connection, "RACE", "Race condition allergen", sender)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(f"sender-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with store.connect() as connection:
        entry = get_entry(connection, entry_id_for(ReviewKey.of(LOCAL, "RACE", "Race condition allergen", "allergy")))
    assert entry.occurrences == 40
    assert sum(entry.senders.values()) == 40 and len(entry.senders) == 4
