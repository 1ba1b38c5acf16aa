"""A release is staged while it loads, active in one switch, and a failed load changes nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from terminology import queries, schema
from terminology.database import create_store_engine, require_current_schema
from terminology.errors import StoreNotInitialised, UnknownSystem
from terminology.model import ReleaseStatus
from terminology.releases import list_releases, open_release

SYSTEM = "http://example.org/fhir/CodeSystem/test-allergens"


def _load(engine, version: str, concepts: list[tuple[str, str]], *, files=None, fail_after: int | None = None):
    with open_release(engine, SYSTEM, version, None, "test", files or {version: version}, batch_size=100) as load:
        if load.already_loaded:
            return load.report
        writer = load.writer(schema.concepts)
        for number, (code, display) in enumerate(concepts):
            if fail_after is not None and number == fail_after:
                raise RuntimeError("disk on fire")
            writer.add((code, True, display, "allergen"))
    return load.report


def test_a_finished_load_becomes_the_active_release(store):
    report = _load(store, "v1", [("PCN", "Penicillin"), ("SULFA", "Sulfonamides")])
    assert report.release.status is ReleaseStatus.ACTIVE
    assert report.rows["concepts"] == 2
    with store.connect() as connection:
        assert queries.concept(connection, SYSTEM, "PCN").display == "Penicillin"


def test_a_second_release_retires_the_first_and_replaces_its_content(store):
    _load(store, "v1", [("PCN", "Penicillin")])
    _load(store, "v2", [("PCN", "Penicillins"), ("LATEX", "Latex")])
    with store.connect() as connection:
        statuses = {r.version: r.status for r in list_releases(connection, SYSTEM)}
        assert statuses == {"v1": ReleaseStatus.RETIRED, "v2": ReleaseStatus.ACTIVE}
        assert queries.concept(connection, SYSTEM, "PCN").display == "Penicillins"
        assert queries.concept(connection, SYSTEM, "LATEX") is not None


def test_loading_the_same_files_again_is_a_no_op_that_says_so(store):
    first = _load(store, "v1", [("PCN", "Penicillin")], files={"a.csv": "abc"})
    again = _load(store, "v1", [("PCN", "Penicillin")], files={"a.csv": "abc"})
    assert again.already_loaded and again.release.id == first.release.id
    with store.connect() as connection:
        assert len(list_releases(connection, SYSTEM)) == 1


def test_a_load_that_fails_midway_leaves_the_previous_release_active_and_intact(store):
    _load(store, "v1", [("PCN", "Penicillin")])
    many = [(f"C{i}", f"Concept {i}") for i in range(1000)]
    with pytest.raises(RuntimeError, match="disk on fire"):
        _load(store, "v2", many, fail_after=500)  # 5 batches already committed
    with store.connect() as connection:
        statuses = {r.version: r.status for r in list_releases(connection, SYSTEM)}
        assert statuses == {"v1": ReleaseStatus.ACTIVE, "v2": ReleaseStatus.FAILED}
        assert queries.concept(connection, SYSTEM, "PCN").display == "Penicillin"
        assert queries.concept(connection, SYSTEM, "C1") is None
        assert connection.execute(select(func.count()).select_from(schema.concepts)).scalar() == 1


def test_questions_about_a_system_with_no_release_name_it(store):
    with store.connect() as connection, pytest.raises(UnknownSystem, match="urn:example:nothing"):
        queries.concept(connection, "urn:example:nothing", "X")


def test_a_store_without_schema_says_to_run_init(tmp_path):
    engine = create_store_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(StoreNotInitialised, match="termmap init"):
        require_current_schema(engine)


def test_the_active_releases_are_read_once_per_transaction_and_a_switch_is_seen_by_the_next(store):
    """Each query of a translation needs the active release; within one transaction it is read once (one round
    trip on PostgreSQL) and stays the same even if a switch commits meanwhile; the next transaction sees the switch."""
    from sqlalchemy import event

    from terminology.releases import active_release_ids

    _load(store, "v1", [("PCN", "Penicillin")])
    reads = []
    event.listen(store, "before_cursor_execute",
                 lambda *args: reads.append(1) if "FROM releases" in args[2] and "status" in args[2] else None)
    with store.connect() as connection:
        first = active_release_ids(connection)[SYSTEM]
        for _ in range(5):
            assert queries.concept(connection, SYSTEM, "PCN").display == "Penicillin"
        assert len(reads) == 1

        _load(store, "v2", [("PCN", "Penicillins (all)")])  # another connection switches releases
        assert active_release_ids(connection)[SYSTEM] == first  # this transaction keeps what it read
        connection.rollback()
        assert active_release_ids(connection)[SYSTEM] != first
        assert queries.concept(connection, SYSTEM, "PCN").display == "Penicillins (all)"


def test_what_the_activation_hook_writes_commits_with_the_switch_and_a_failing_hook_undoes_it(store):
    """The hook runs in the switch's transaction (the CLI writes the `release.activated` audit event there): if it
    fails, the new release is not active, the old one still is, and nothing the hook wrote remains."""
    from mappings.audit import record_event
    from mappings.tables import audit_events

    seen = []

    def audit(connection, release, replaced, report):
        seen.append((release.version, replaced.version if replaced else None, report.rows["concepts"]))
        record_event(connection, actor="test", action="release.activated", subject_type="release",
                     subject_id=str(release.id))

    def failing(connection, release, replaced, report):
        audit(connection, release, replaced, report)
        raise RuntimeError("audit store full")

    with open_release(store, SYSTEM, "v1", None, "test", {"v1": "v1"}, on_activate=audit) as load:
        load.writer(schema.concepts).add(("PCN", True, "Penicillin", "allergen"))
    with pytest.raises(RuntimeError, match="audit store full"):
        with open_release(store, SYSTEM, "v2", None, "test", {"v2": "v2"}, on_activate=failing) as load:
            load.writer(schema.concepts).add(("PCN", True, "Penicillins", "allergen"))

    assert seen == [("v1", None, 1), ("v2", "v1", 1)]
    with store.connect() as connection:
        assert {r.version: r.status for r in list_releases(connection, SYSTEM)} == {
            "v1": ReleaseStatus.ACTIVE, "v2": ReleaseStatus.FAILED}
        assert queries.concept(connection, SYSTEM, "PCN").display == "Penicillin"
        assert connection.execute(select(func.count()).select_from(audit_events)).scalar_one() == 1
