"""The review workflow: claim (a lease), decide (a curated mapping version), reopen; never two holders."""
from __future__ import annotations

import multiprocessing
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from mappings.audit import verify_chain
from mappings.curated import Decision, Relationship, Target, find_current, history
from mappings.review_queue import ReviewKey, record_occurrence
from mappings.review_workflow import (
    EntryHeld,
    InvalidDecision,
    MappingRetired,
    NotClaimHolder,
    ReviewDecision,
    ReviewState,
    UnknownEntry,
    WrongState,
    candidates_for,
    claim,
    claim_next,
    decide,
    get_item,
    list_entries,
    release,
    reopen,
    retire_mapping,
    revise_mapping,
)
from mappings.tables import audit_events, mapping_versions, review_entries
from terminology.errors import StaleMappingVersion
from terminology.systems import RXNORM, SNOMED

LOCAL = "https://hospital.example.org/fhir/CodeSystem/allergens"
DEMO_LOCAL = "https://demo-hospital.example.org/fhir/CodeSystem/allergens"
IBUPROFEN = Target(SNOMED, "387207008", None, Relationship.EQUIVALENT)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def _queue(connection, code, text, *, times=1, sender="ed-feed", context="allergy", system=LOCAL,
           target=SNOMED, now=T0):
    """Count `times` occurrences of an entry; returns its id."""
    for n in range(times):
        entry_id, _ = record_occurrence(
            connection, ReviewKey.of(system, code, text, context),
            original={"source": {"system": system, "code": code}, "text": text}, target_system=target,
            reason="unmapped", sender=sender, now=now + timedelta(seconds=n),
        )
    return entry_id


# --- claiming -----------------------------------------------------------------------------------


def test_claim_next_takes_the_most_frequent_entry_then_the_oldest(store):
    with store.begin() as connection:
        rare = _queue(connection, "R", "rare", times=1, now=T0)
        old = _queue(connection, "O", "old", times=3, now=T0)
        new = _queue(connection, "N", "new", times=3, now=T0 + timedelta(hours=1))
        frequent = _queue(connection, "F", "frequent", times=5, now=T0 + timedelta(days=1))
    claimed = []
    for _ in range(5):
        with store.begin() as connection:
            item = claim_next(connection, "alice", now=T0 + timedelta(days=2))
            claimed.append(item.id if item else None)
    assert claimed == [frequent, old, new, rare, None]


def test_a_claim_is_a_lease_naming_the_reviewer(store):
    with store.begin() as connection:
        entry_id = _queue(connection, "A", "aspirin")
    with store.begin() as connection:
        item = claim_next(connection, "alice", now=T0, lease=timedelta(minutes=5))
    assert (item.id, item.status, item.claimed_by) == (entry_id, ReviewState.CLAIMED, "alice")
    assert item.claim_expires == T0 + timedelta(minutes=5)
    with store.connect() as connection:
        stored = get_item(connection, entry_id, now=T0 + timedelta(minutes=1))
    assert stored.status is ReviewState.CLAIMED and stored.claim_expires == T0 + timedelta(minutes=5)


def test_the_default_lease_is_fifteen_minutes(store):
    with store.begin() as connection:
        _queue(connection, "A", "aspirin")
        item = claim_next(connection, "alice", now=T0)
    assert item.claim_expires == T0 + timedelta(minutes=15)


def test_claiming_an_entry_held_by_someone_else_is_refused_naming_the_holder_and_until_when(store):
    with store.begin() as connection:
        entry_id = _queue(connection, "A", "aspirin")
        claim(connection, entry_id, "alice", now=T0)
    with store.begin() as connection, pytest.raises(EntryHeld) as refused:
        claim(connection, entry_id, "bob", now=T0 + timedelta(minutes=1))
    assert refused.value.holder == "alice" and refused.value.until == T0 + timedelta(minutes=15)
    assert "claimed by alice until 2026-03-02T09:15:00+00:00" in str(refused.value)


def test_claiming_ones_own_claim_again_renews_the_lease(store):
    with store.begin() as connection:
        entry_id = _queue(connection, "A", "aspirin")
        claim(connection, entry_id, "alice", now=T0)
        renewed = claim(connection, entry_id, "alice", now=T0 + timedelta(minutes=10))
    assert renewed.claim_expires == T0 + timedelta(minutes=25)


def test_an_expired_lease_makes_the_entry_claimable_again(store):
    with store.begin() as connection:
        entry_id = _queue(connection, "A", "aspirin")
        claim(connection, entry_id, "alice", now=T0)
    with store.begin() as connection:
        assert claim_next(connection, "bob", now=T0 + timedelta(minutes=14)) is None
    with store.connect() as connection:
        expired = get_item(connection, entry_id, now=T0 + timedelta(minutes=16))
        page = list_entries(connection, status="open", now=T0 + timedelta(minutes=16))
    assert expired.status is ReviewState.OPEN and expired.claimed_by is None
    assert [e.id for e in page.entries] == [entry_id]
    with store.begin() as connection:
        taken = claim_next(connection, "bob", now=T0 + timedelta(minutes=16))
    assert (taken.id, taken.claimed_by) == (entry_id, "bob")
    with store.begin() as connection, pytest.raises(EntryHeld, match="claimed by bob"):
        claim(connection, entry_id, "alice", now=T0 + timedelta(minutes=17))


def test_claim_next_does_not_offer_a_reviewers_own_live_claims_again(store):
    with store.begin() as connection:
        _queue(connection, "A", "aspirin")
        assert claim_next(connection, "alice", now=T0) is not None
        assert claim_next(connection, "alice", now=T0) is None


def test_claim_next_takes_only_entries_matching_its_filters(store):
    with store.begin() as connection:
        _queue(connection, "A", "aspirin", times=5, sender="ed-feed")
        pharmacy = _queue(connection, "P", "penicillin", sender="pharmacy-feed")
        medication = _queue(connection, "M", "metformin", context="medication")
        other_system = _queue(connection, "X", "codeine", system="urn:other")
    with store.begin() as connection:
        assert claim_next(connection, "alice", sender="pharmacy-feed", now=T0).id == pharmacy
        assert claim_next(connection, "alice", context="medication", now=T0).id == medication
        assert claim_next(connection, "alice", source_system="urn:other", now=T0).id == other_system
        assert claim_next(connection, "alice", text="ASPIR", now=T0).source_code == "A"
        assert claim_next(connection, "alice", text="aspirin", now=T0) is None


def test_release_gives_the_entry_back_and_only_its_holder_may(store):
    with store.begin() as connection:
        entry_id = _queue(connection, "A", "aspirin")
        claim(connection, entry_id, "alice", now=T0)
    with store.begin() as connection, pytest.raises(NotClaimHolder, match="claimed by alice"):
        release(connection, entry_id, "bob", now=T0)
    with store.begin() as connection:
        released = release(connection, entry_id, "alice", now=T0)
    assert released.status is ReviewState.OPEN and released.claimed_by is None
    with store.begin() as connection, pytest.raises(WrongState, match="only a claimed entry"):
        release(connection, entry_id, "alice", now=T0)


def test_an_unknown_entry_is_named(store):
    with store.begin() as connection, pytest.raises(UnknownEntry, match="no-such-entry"):
        claim(connection, "no-such-entry", "alice")


def _claim_until_empty(engine, reviewer: str) -> list[str]:
    taken = []
    while True:
        with engine.begin() as connection:
            item = claim_next(connection, reviewer)
        if item is None:
            return taken
        taken.append(item.id)


def test_concurrent_claims_from_threads_never_collide(store):
    with store.begin() as connection:
        queued = {_queue(connection, f"C{n}", f"concurrent {n}", times=1 + n % 3) for n in range(30)}
    results: dict[str, list[str]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(5)

    def reviewer(name: str) -> None:
        try:
            start.wait()
            results[name] = _claim_until_empty(store, name)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=reviewer, args=(f"pharm-{n}",)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    claimed = [entry for taken in results.values() for entry in taken]
    assert sorted(claimed) == sorted(queued)  # every entry claimed exactly once, by exactly one reviewer
    with store.connect() as connection:
        holders = dict(connection.execute(select(review_entries.c.id, review_entries.c.claimed_by)).all())
    assert all(holders[entry] == name for name, taken in results.items() for entry in taken)


def _claim_in_own_process(url: str, reviewer: str, start, results) -> None:
    """Runs in a child process: its own engine on `url`; waits for the others, then claims until the queue is empty."""
    from terminology.database import create_store_engine

    engine = create_store_engine(url)
    try:
        start.wait(timeout=60)
        results.put((reviewer, _claim_until_empty(engine, reviewer)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        results.put((reviewer, repr(exc)))
    finally:
        engine.dispose()


def test_concurrent_claims_from_processes_with_their_own_engines_never_collide(store):
    with store.begin() as connection:
        queued = {_queue(connection, f"P{n}", f"process {n}", times=1 + n % 4) for n in range(40)}
    url = store.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(3), context.Queue()
    workers = [context.Process(target=_claim_in_own_process, args=(url, f"pharm-{n}", start, results))
               for n in range(3)]
    for worker in workers:
        worker.start()
    reported = dict(results.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join(timeout=30)
    assert all(isinstance(taken, list) for taken in reported.values()), reported
    claimed = [entry for taken in reported.values() for entry in taken]
    assert sorted(claimed) == sorted(queued)  # every entry exactly once: nobody got one twice or lost one


# --- deciding -----------------------------------------------------------------------------------


def test_a_mapped_decision_writes_a_curated_mapping_keyed_by_the_source_code(demo_store):
    with demo_store.begin() as connection:
        entry_id = _queue(connection, "IBUF", "Ibuprofin", system=DEMO_LOCAL)
        claim(connection, entry_id, "alice", now=T0)
    with demo_store.begin() as connection:
        decided = decide(connection, entry_id, "alice", "mapped", targets=[IBUPROFEN], comment="misspelt ibuprofen",
                         now=T0 + timedelta(minutes=3))
    entry, mapping = decided.entry, decided.mapping
    assert entry.status is ReviewState.DECIDED and entry.decision is ReviewDecision.MAPPED
    assert (entry.decided_by, entry.decided_at, entry.comment) == ("alice", T0 + timedelta(minutes=3),
                                                                   "misspelt ibuprofen")
    assert entry.claimed_by is None and entry.mapping_id == mapping.mapping_id
    assert (mapping.origin, mapping.author, mapping.reason) == (f"review:{entry_id}", "alice", "misspelt ibuprofen")
    assert [(t.code, t.display) for t in mapping.targets] == [("387207008", "Ibuprofen")]
    with demo_store.connect() as connection:
        found = find_current(connection, DEMO_LOCAL, "IBUF", None, "allergy", SNOMED)
    assert (found.mapping_id, found.version, found.decision) == (mapping.mapping_id, 1, Decision.MAPPED)


def test_a_text_only_entry_is_keyed_by_its_normalised_text(store):
    with store.begin() as connection:
        entry_id = _queue(connection, None, "  Shellfish  ALLERGY ")
        claim(connection, entry_id, "alice")
        decided = decide(connection, entry_id, "alice", ReviewDecision.NO_MAP, comment="not a drug or substance")
    assert decided.mapping.decision is Decision.NO_MAP and decided.mapping.targets == ()
    with store.connect() as connection:
        found = find_current(connection, LOCAL, None, "shellfish allergy", "allergy", SNOMED)
    assert found.mapping_id == decided.mapping.mapping_id and found.source_code == ""


def test_deferred_writes_no_mapping(store):
    with store.begin() as connection:
        entry_id = _queue(connection, "D", "come back later")
        claim(connection, entry_id, "alice")
        decided = decide(connection, entry_id, "alice", "deferred", comment="ask the ward")
        versions = connection.execute(select(func.count()).select_from(mapping_versions)).scalar_one()
    assert decided.mapping is None and decided.entry.decision is ReviewDecision.DEFERRED and versions == 0


@pytest.mark.parametrize(("decision", "targets", "problem"), [
    ("mapped", [], "needs at least one target"),
    ("mapped", [Target(SNOMED, "999999999", None)], "999999999: not in the active release"),
    ("mapped", [Target(SNOMED, "74069000", None)], "74069000: inactive"),
    ("mapped", [Target(RXNORM, "5640", None)], "but this mapping's target system is http://snomed.info/sct"),
    ("mapped", [Target(SNOMED, "387207008", None, "same-as")], "unknown relationship 'same-as'"),
    ("mapped", [IBUPROFEN, IBUPROFEN], "listed twice"),
    ("no-map", [IBUPROFEN], "takes no targets"),
    ("approved", [], "unknown decision 'approved'"),
])
def test_a_decision_that_cannot_be_recorded_is_refused_naming_the_problem(demo_sqlite, decision, targets, problem):
    with demo_sqlite.begin() as connection:
        entry_id = _queue(connection, "IBUF", "Ibuprofin", system=DEMO_LOCAL)
        claim(connection, entry_id, "alice")
    with demo_sqlite.begin() as connection, pytest.raises(InvalidDecision, match=problem):
        decide(connection, entry_id, "alice", decision, targets=targets)
    with demo_sqlite.connect() as connection:
        assert get_item(connection, entry_id).status is ReviewState.CLAIMED


def test_only_the_claim_holder_decides_unless_overriding(store):
    with store.begin() as connection:
        entry_id = _queue(connection, "A", "aspirin")
        unclaimed = _queue(connection, "U", "unclaimed")
        claim(connection, entry_id, "alice")
    with store.begin() as connection, pytest.raises(NotClaimHolder, match="bob does not hold .* claimed by alice"):
        decide(connection, entry_id, "bob", "deferred")
    with store.begin() as connection, pytest.raises(NotClaimHolder, match="nobody has claimed it"):
        decide(connection, unclaimed, "alice", "deferred")
    with store.begin() as connection:
        overridden = decide(connection, entry_id, "admin", "deferred", override=True)
    assert overridden.entry.decided_by == "admin"


def test_the_holder_may_still_decide_after_the_lease_ran_out_if_nobody_took_the_entry(store):
    with store.begin() as connection:
        entry_id = _queue(connection, "A", "aspirin")
        claim(connection, entry_id, "alice", now=T0)
        decided = decide(connection, entry_id, "alice", "deferred", now=T0 + timedelta(hours=1))
    assert decided.entry.status is ReviewState.DECIDED


def test_a_decided_entry_is_neither_claimed_nor_decided_again_until_reopened(store):
    with store.begin() as connection:
        entry_id = _queue(connection, "A", "aspirin")
        claim(connection, entry_id, "alice")
        decide(connection, entry_id, "alice", "no-map")
    with store.begin() as connection, pytest.raises(WrongState, match="decided.*reopen it"):
        claim(connection, entry_id, "bob")
    with store.begin() as connection, pytest.raises(WrongState, match="already decided no-map"):
        decide(connection, entry_id, "alice", "deferred", override=True)
    with store.begin() as connection:
        assert claim_next(connection, "bob") is None


def test_reopen_brings_a_decided_entry_back_to_open_and_the_next_decision_is_the_next_version(store):
    with store.begin() as connection:
        entry_id = _queue(connection, None, "sulfa drugs")
        claim(connection, entry_id, "alice")
        first = decide(connection, entry_id, "alice", "no-map").mapping
    with store.begin() as connection:
        reopened = reopen(connection, entry_id, "bob", comment="sulfonamide allergy is mappable")
    assert reopened.status is ReviewState.OPEN and reopened.decision is None and reopened.decided_by is None
    assert reopened.mapping_id == first.mapping_id  # the mapping stays in force until the next decision
    with store.begin() as connection:
        assert claim_next(connection, "bob").id == entry_id
        second = decide(connection, entry_id, "bob", "no-map", based_on=1, comment="still no-map").mapping
    assert (second.mapping_id, second.version) == (first.mapping_id, 2)
    with store.begin() as connection, pytest.raises(WrongState, match="is open: only a decided entry"):
        reopen(connection, _queue(connection, "O", "open one"), "bob")


def test_a_decision_based_on_a_replaced_mapping_version_is_stale(store):
    with store.begin() as connection:
        entry_id = _queue(connection, None, "latex")
        claim(connection, entry_id, "alice")
        decide(connection, entry_id, "alice", "no-map")
        reopen(connection, entry_id, "alice")
        claim(connection, entry_id, "bob")
        decide(connection, entry_id, "bob", "no-map", based_on=1)
        reopen(connection, entry_id, "bob")
        claim(connection, entry_id, "carol")
    with store.begin() as connection, pytest.raises(StaleMappingVersion, match="changed by bob"):
        decide(connection, entry_id, "carol", "no-map", based_on=1)


def test_claim_decide_release_and_reopen_write_audit_events_with_before_and_after(store):
    with store.begin() as connection:
        entry_id = _queue(connection, "A", "aspirin")
        claim(connection, entry_id, "alice")
        release(connection, entry_id, "alice")
        claim_next(connection, "alice")
        decide(connection, entry_id, "alice", "no-map", comment="not a drug")
        reopen(connection, entry_id, "bob", comment="second look")
    with store.connect() as connection:
        events = connection.execute(
            select(audit_events).where(audit_events.c.subject_type == "review", audit_events.c.subject_id == entry_id)
            .order_by(audit_events.c.seq)
        ).all()
        checked, broken, _ = verify_chain(connection)
    assert [(e.action, e.actor) for e in events] == [
        ("review.claimed", "alice"), ("review.released", "alice"), ("review.claimed", "alice"),
        ("review.decided", "alice"), ("review.reopened", "bob")]
    decided = events[3]
    assert decided.before["status"] == "claimed" and decided.before["claimed_by"] == "alice"
    assert decided.after["status"] == "decided" and decided.after["decision"] == "no-map"
    assert decided.after["comment"] == "not a drug" and decided.after["mapping_version"] == 1
    assert events[4].before["decision"] == "no-map" and events[4].after["status"] == "open"
    assert events[4].after["reason"] == "second look"
    assert broken is None and checked >= 6  # the decision's mapping version is an event too


# --- listing and candidates ---------------------------------------------------------------------


def test_list_entries_filters_pages_and_counts_by_status(store):
    with store.begin() as connection:
        ids = [_queue(connection, f"L{n}", f"listed {n}", times=10 - n, sender=f"feed-{n % 2}") for n in range(6)]
        claim(connection, ids[1], "alice", now=T0)
        claim(connection, ids[2], "alice", now=T0)
        decide(connection, ids[2], "alice", "deferred", now=T0)
    with store.connect() as connection:
        everything = list_entries(connection, now=T0)
        first_page = list_entries(connection, limit=2, offset=0, now=T0)
        second_page = list_entries(connection, limit=2, offset=2, now=T0)
        claimed = list_entries(connection, status="claimed", now=T0)
        feed_1 = list_entries(connection, sender="feed-1", now=T0)
        mine = list_entries(connection, claimed_by="alice", now=T0)
    assert [e.id for e in everything.entries] == ids  # more occurrences first
    assert everything.total == 6 and everything.counts_by_status == {"open": 4, "claimed": 1, "decided": 1}
    assert [e.id for e in first_page.entries + second_page.entries] == ids[:4] and first_page.total == 6
    assert [e.id for e in claimed.entries] == [ids[1]] and claimed.total == 1
    assert claimed.counts_by_status == everything.counts_by_status  # counts ignore the status filter
    assert [e.id for e in feed_1.entries] == [ids[1], ids[3], ids[5]]
    assert feed_1.counts_by_status == {"open": 2, "claimed": 1, "decided": 0}
    assert [e.id for e in mine.entries] == [ids[1]]
    assert everything.entries[0].senders == {"feed-0": 10}
    with store.connect() as connection, pytest.raises(InvalidDecision, match="unknown review status 'pending'"):
        list_entries(connection, status="pending")


def test_candidates_for_an_entry_are_ranked_with_parents_and_rxnorm_ingredients(demo_sqlite):
    with demo_sqlite.begin() as connection:
        snomed_entry = _queue(connection, "IBUF", "Ibuprofin", system=DEMO_LOCAL)
        rxnorm_entry = _queue(connection, "PVK250", "penicillin V potassium 250 mg tablet", context="medication",
                              system=DEMO_LOCAL, target=RXNORM)
    with demo_sqlite.connect() as connection:
        snomed = candidates_for(connection, get_item(connection, snomed_entry))
        rxnorm = candidates_for(connection, get_item(connection, rxnorm_entry), limit=10)
    assert snomed[0].concept.code == "387207008" and snomed[0].score > 80
    assert snomed[0].parents and all(p.system == SNOMED for p in snomed[0].parents)
    assert len(rxnorm) <= 10 and [c.score for c in rxnorm] == sorted((c.score for c in rxnorm), reverse=True)
    tablet = next(c for c in rxnorm if c.concept.code == "834061")  # an SCD: its ingredient is penicillin V
    assert [i.code for i in tablet.ingredients] == ["7984"]
    assert all(c.ingredients == () for c in rxnorm if c.concept.kind in ("IN", "PIN", "MIN"))


def test_an_entry_with_a_code_and_no_words_has_no_candidates(demo_sqlite):
    with demo_sqlite.begin() as connection:
        entry_id, _ = record_occurrence(connection, ReviewKey.of(DEMO_LOCAL, "ZZ9", None, "allergy"),
                                        original={"source": {"system": DEMO_LOCAL, "code": "ZZ9"}},
                                        target_system=SNOMED, reason="unmapped", sender=None)
    with demo_sqlite.connect() as connection:
        assert candidates_for(connection, get_item(connection, entry_id)) == []


# --- editing mappings ---------------------------------------------------------------------------


def test_revising_and_retiring_a_mapping_are_versions_checked_against_the_version_edited(demo_store):
    with demo_store.begin() as connection:
        entry_id = _queue(connection, "IBUF", "Ibuprofin", system=DEMO_LOCAL)
        claim(connection, entry_id, "alice")
        mapping_id = decide(connection, entry_id, "alice", "no-map").mapping.mapping_id
    with demo_store.begin() as connection:
        revised = revise_mapping(connection, mapping_id, "bob", based_on=1, decision="mapped",
                                 targets=[IBUPROFEN], reason="it is ibuprofen")
    assert (revised.version, revised.author, revised.origin) == (2, "bob", "api")
    with demo_store.begin() as connection, pytest.raises(StaleMappingVersion, match="changed by bob"):
        revise_mapping(connection, mapping_id, "carol", based_on=1, decision="no-map")
    with demo_store.begin() as connection:
        retired = retire_mapping(connection, mapping_id, "carol", based_on=2, reason="code withdrawn")
    with demo_store.begin() as connection, pytest.raises(MappingRetired, match="already retired"):
        retire_mapping(connection, mapping_id, "carol", based_on=3)
    with demo_store.begin() as connection, pytest.raises(InvalidDecision, match="retire it"):
        revise_mapping(connection, mapping_id, "carol", based_on=3, decision="retired")
    with demo_store.connect() as connection:
        versions = history(connection, mapping_id)
    assert retired.decision is Decision.RETIRED
    assert [(v.version, v.decision, v.author) for v in versions] == [
        (1, Decision.NO_MAP, "alice"), (2, Decision.MAPPED, "bob"), (3, Decision.RETIRED, "carol")]
