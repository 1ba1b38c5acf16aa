"""The audit trail is append-only and hash-chained: altering any stored row is detected and named."""
from __future__ import annotations

from sqlalchemy import select, update

from mappings.audit import GENESIS, record_event, verify_chain
from mappings.curated import Decision, Target, record_mapping
from mappings.tables import audit_events

SNOMED = "http://snomed.info/sct"
LOCAL = "https://hospital.example.org/fhir/CodeSystem/allergens"


def _map(connection, author, based_on=None, code="372687004"):
    return record_mapping(connection, source_system=LOCAL, source_code="AMOX", source_text=None, context="allergy",
                          target_system=SNOMED, decision=Decision.MAPPED, targets=[Target(SNOMED, code, None)],
                          author=author, reason="review", origin="review:test", based_on=based_on)


def test_each_mapping_version_is_an_event_with_actor_before_and_after(store):
    with store.begin() as connection:
        _map(connection, "pharm.a")
        _map(connection, "pharm.b", based_on=1, code="27658006")
    with store.connect() as connection:
        events = connection.execute(select(audit_events).order_by(audit_events.c.seq)).all()
    assert [(e.actor, e.action) for e in events] == [("pharm.a", "mapping.version"), ("pharm.b", "mapping.version")]
    assert events[0].before is None and events[0].after["targets"][0]["code"] == "372687004"
    assert events[1].before["version"] == 1 and events[1].after["targets"][0]["code"] == "27658006"
    assert events[0].prev_hash == GENESIS and events[1].prev_hash == events[0].hash


def test_an_intact_chain_verifies(store):
    with store.begin() as connection:
        for n in range(5):
            record_event(connection, actor=f"user{n}", action="test.event", subject_type="test", subject_id=str(n),
                         after={"n": n, "text": "Pénicilline <script>"})
    with store.connect() as connection:
        assert verify_chain(connection) == (5, None, None)


def test_altering_one_stored_row_breaks_the_chain_at_that_row(store):
    with store.begin() as connection:
        for n in range(4):
            record_event(connection, actor="pharm.a", action="test.event", subject_type="test", subject_id=str(n),
                         after={"n": n})
    with store.begin() as connection:
        third = connection.execute(select(audit_events.c.seq).order_by(audit_events.c.seq).offset(2).limit(1)).scalar()
        connection.execute(update(audit_events).where(audit_events.c.seq == third).values(actor="mallory"))
    with store.connect() as connection:
        checked, broken, why = verify_chain(connection)
    assert checked == 2 and broken.seq == third and broken.actor == "mallory" and "altered" in why


def test_removing_a_row_breaks_the_link_of_the_next(store):
    with store.begin() as connection:
        for n in range(3):
            record_event(connection, actor="a", action="test.event", subject_type="test", subject_id=str(n))
    with store.begin() as connection:
        second = connection.execute(select(audit_events.c.seq).order_by(audit_events.c.seq).offset(1).limit(1)).scalar()
        connection.execute(audit_events.delete().where(audit_events.c.seq == second))
    with store.connect() as connection:
        checked, broken, why = verify_chain(connection)
    assert checked == 1 and broken.seq == second + 1 and "link" in why


def test_removing_the_last_events_is_caught_against_the_head_an_earlier_verification_reported(any_store_client):
    """The chain that is left is intact by itself; the head an auditor kept from the last verification shows
    that events are missing from its end (and a head whose hash differs shows the event was rewritten)."""
    client = any_store_client
    with client.engine.begin() as connection:
        for n in range(4):
            record_event(connection, actor="pharm.a", action="test.event", subject_type="test", subject_id=str(n))
    first = client.get("/v1/audit/verify").json()
    head = first["head"]
    assert first["intact"] and head.split(":")[1] == _last_hash(client.engine)
    assert client.get("/v1/audit/verify", params={"head": head}).json()["intact"]

    with client.engine.begin() as connection:
        last = connection.execute(select(audit_events.c.seq).order_by(audit_events.c.seq.desc()).limit(1)).scalar()
        connection.execute(audit_events.delete().where(audit_events.c.seq >= last - 1))
    alone = client.get("/v1/audit/verify").json()
    assert alone["intact"]  # nothing in the database itself tells
    checked = client.get("/v1/audit/verify", params={"head": head}).json()
    assert not checked["intact"] and "removed from its end" in checked["problem"]

    forged = head.split(":")[0] + ":" + "0" * 64
    with client.engine.connect() as connection:
        seq = int(head.split(":")[0])
        assert verify_chain(connection, head=(seq, "0" * 64))[2] is not None
    refused = client.get("/v1/audit/verify", params={"head": "12:nothex"})
    assert refused.status_code == 422 and "64 hex digits" in refused.text
    assert not client.get("/v1/audit/verify", params={"head": forged}).json()["intact"]


def _last_hash(engine) -> str:
    with engine.connect() as connection:
        return connection.execute(select(audit_events.c.hash).order_by(audit_events.c.seq.desc()).limit(1)).scalar()
