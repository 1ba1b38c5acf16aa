"""Auditors' reports: exact coverage counts and unmapped entries from real traffic, the same rows in JSON, CSV and
XLSX; the audit trail queried by actor, time, action, subject and code; what a new release changes; read-only access."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from openpyxl import load_workbook

from api.auth import ROLE_PERMISSIONS, Permission, Role
from loaders.local_table import ColumnMap, load_local_table
from loaders.rf2 import load_rf2
from mappings import reports
from mappings.audit import record_event
from mappings.curated import Decision, Target, record_mapping
from mappings.review_queue import ReviewKey, record_occurrence
from mappings.review_workflow import claim, decide
from mappings.tables import review_entries
from mappings.usage import UsageCounter
from tests.conftest import DEMO_LOCAL_SYSTEM as LOCAL
from tests.conftest import api_key, redated_demo_snomed
from tests.test_access import _routes

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ED, PHARMACY = "ed-feed", "pharmacy-feed"
MAPPED = {"source": {"system": RXNORM, "code": "1191"}, "target_system": SNOMED, "context": "medication"}
UNVALIDATED = {"source": {"system": LOCAL, "code": "PCN"}, "text": "Penicillins", "target_system": SNOMED,
               "context": "allergy"}
# Free text that starts like a spreadsheet formula: kept exactly in JSON and XLSX, escaped with ' in CSV.
UNMAPPED = {"source": {"system": LOCAL, "code": "IBUF", "display": "Ibuprofin"}, "text": "=Ibuprofin tabs",
            "target_system": SNOMED, "context": "allergy"}
#: (body, sender) -> how many times it is sent: ED one at a time, the pharmacy in one batch.
TRAFFIC = {("mapped", ED): 3, ("unvalidated", ED): 2, ("unmapped", ED): 1,
           ("mapped", PHARMACY): 2, ("unvalidated", PHARMACY): 1, ("unmapped", PHARMACY): 2}
BODIES = {"mapped": MAPPED, "unvalidated": UNVALIDATED, "unmapped": UNMAPPED}


def send_traffic(client) -> None:
    batch = []
    for (kind, sender), times in TRAFFIC.items():
        for _ in range(times):
            if sender == ED:
                answer = client.post("/v1/translate", json={**BODIES[kind], "sender": sender})
                assert answer.status_code == 200 and answer.json()["status"] == kind
            else:
                batch.append({**BODIES[kind], "sender": sender})
    answers = client.post("/v1/translate/batch", json={"items": batch}).json()["items"]
    assert [a["status"] for a in answers] == [kind for (kind, s), n in TRAFFIC.items() if s == PHARMACY
                                              for _ in range(n)]
    client.app.state.metrics.usage.flush_to(client.engine)  # what the background thread does every 2 s


@pytest.fixture
def traffic(any_store_client):
    send_traffic(any_store_client)
    return any_store_client


def csv_rows(content: bytes) -> list[dict[str, str]]:
    assert content.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def xlsx_rows(content: bytes) -> list[dict]:
    sheet = load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    header, *rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(header, row)) for row in rows]


def as_csv_cell(value) -> str:
    """A JSON value as the CSV writes it."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@")):
        return "'" + value
    return str(value)


def flat(row: dict) -> dict:
    """A JSON row of the unmapped report as the files hold it: senders in one cell."""
    return {**row, "senders": "; ".join(f"{name}: {n}" for name, n in row["senders"].items())}


def by_system_and_sender(rows: list[dict]) -> dict[tuple, tuple[int, int, int]]:
    """Detail rows summed over periods (the traffic may straddle UTC midnight)."""
    found: dict[tuple, list[int]] = {}
    for row in rows:
        if row["level"] == "system-sender":
            counts = found.setdefault((row["source_system"], row["sender"]), [0, 0, 0])
            for index, status in enumerate(("mapped", "unvalidated", "unmapped")):
                counts[index] += int(row[status])
    return {key: tuple(value) for key, value in found.items()}


# --- coverage ---------------------------------------------------------------------------------------------------


def test_coverage_counts_each_translation_answered_by_source_system_and_sender_exactly(traffic):
    body = traffic.get("/v1/reports/coverage").json()
    assert body["by"] == "day"
    assert by_system_and_sender(body["rows"]) == {
        (RXNORM, ED): (3, 0, 0), (RXNORM, PHARMACY): (2, 0, 0),
        (LOCAL, ED): (0, 2, 1), (LOCAL, PHARMACY): (0, 1, 2),
    }
    (total,) = [row for row in body["rows"] if row["level"] == "total"]
    assert (total["mapped"], total["unvalidated"], total["unmapped"], total["total"]) == (5, 3, 3, 11)
    assert (total["mapped_share"], total["unvalidated_share"], total["unmapped_share"]) == (0.4545, 0.2727, 0.2727)
    senders: dict[str, int] = {}
    for row in body["rows"]:
        if row["level"] == "sender":
            senders[row["sender"]] = senders.get(row["sender"], 0) + row["total"]
    assert senders == {ED: 6, PHARMACY: 5}


def test_coverage_json_csv_and_xlsx_hold_the_same_rows(traffic):
    rows = traffic.get("/v1/reports/coverage", params={"by": "week"}).json()["rows"]
    as_csv = traffic.get("/v1/reports/coverage", params={"by": "week", "format": "csv"})
    as_xlsx = traffic.get("/v1/reports/coverage", params={"by": "week", "format": "xlsx"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert 'filename="termmap-coverage-by-week-' in as_csv.headers["content-disposition"]
    assert ".xlsx" in as_xlsx.headers["content-disposition"]
    assert csv_rows(as_csv.content) == [{k: as_csv_cell(v) for k, v in row.items()} for row in rows]
    assert xlsx_rows(as_xlsx.content) == rows
    assert by_system_and_sender(csv_rows(as_csv.content)) == by_system_and_sender(rows)


def test_coverage_filters_by_source_system_sender_and_context(traffic):
    def totals(**params):
        body = traffic.get("/v1/reports/coverage", params=params).json()
        (row,) = [r for r in body["rows"] if r["level"] == "total"]
        return row["mapped"], row["unvalidated"], row["unmapped"]

    assert totals(source_system="rxnorm") == (5, 0, 0)  # names are canonicalised like translate does
    assert totals(sender=PHARMACY) == (2, 1, 2)
    assert totals(context="allergy") == (0, 3, 3)
    assert totals(until=(date.today() - timedelta(days=2)).isoformat()) == (0, 0, 0)
    assert traffic.get("/v1/reports/coverage", params={"by": "month"}).status_code == 422


def test_weeks_start_on_monday_and_sum_their_days_within_the_range(store):
    counter = UsageCounter()
    epoch = date(1970, 1, 1)
    for day, n in ((date(2026, 1, 4), 1), (date(2026, 1, 5), 2), (date(2026, 1, 11), 3), (date(2026, 1, 12), 4)):
        counter.add(((day - epoch).days, SNOMED, "ed", "allergy", "mapped", "identity"), n)  # Sun, Mon, Sun, Mon
        counter.add(((day - epoch).days, SNOMED, "ed", "allergy", "unmapped", "none"), 1)
    counter.flush_to(store)
    with store.connect() as connection:
        weeks = reports.coverage_report(connection, by="week")
        trimmed = reports.coverage_report(connection, by="week", since=date(2026, 1, 5), until=date(2026, 1, 11))
    assert [(p.period, p.mapped, p.unmapped) for p in weeks.periods] == [
        (date(2025, 12, 29), 1, 1), (date(2026, 1, 5), 5, 2), (date(2026, 1, 12), 4, 1)]
    assert [(p.period, p.mapped, p.total) for p in trimmed.periods] == [(date(2026, 1, 5), 5, 7)]
    assert (weeks.total.total, weeks.total.mapped_share) == (14, round(10 / 14, 4))


# --- the unmapped-code report -----------------------------------------------------------------------------------


def test_the_unmapped_report_lists_each_entry_once_with_its_occurrences_senders_and_original(traffic):
    body = traffic.get("/v1/reports/unmapped").json()
    assert body["count"] == 2
    by_code = {row["source_code"]: row for row in body["rows"]}
    assert set(by_code) == {"PCN", "IBUF"}
    pcn, ibuf = by_code["PCN"], by_code["IBUF"]
    assert (pcn["reason"], pcn["occurrences"], pcn["senders"]) == ("unvalidated", 3, {ED: 2, PHARMACY: 1})
    assert (ibuf["reason"], ibuf["occurrences"], ibuf["senders"]) == ("unmapped", 3, {PHARMACY: 2, ED: 1})
    assert list(ibuf["senders"]) == [PHARMACY, ED]  # most occurrences first
    assert (ibuf["original_code"], ibuf["original_display"], ibuf["original_text"]) == ("IBUF", "Ibuprofin",
                                                                                       "=Ibuprofin tabs")
    assert (ibuf["source_system"], ibuf["context"], ibuf["target_system"]) == (LOCAL, "allergy", SNOMED)
    assert ibuf["state"] == "open" and ibuf["decision"] is None and ibuf["mapping_id"] is None
    assert ibuf["first_seen"] <= ibuf["last_seen"]


def test_unmapped_csv_and_xlsx_rows_equal_the_json_rows(traffic):
    rows = traffic.get("/v1/reports/unmapped").json()["rows"]
    as_csv = traffic.get("/v1/reports/unmapped", params={"format": "csv"})
    as_xlsx = traffic.get("/v1/reports/unmapped", params={"format": "xlsx"})
    assert 'filename="termmap-unmapped-' in as_csv.headers["content-disposition"]
    assert as_xlsx.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    expected = [flat(row) for row in rows]
    assert csv_rows(as_csv.content) == [{k: as_csv_cell(v) for k, v in row.items()} for row in expected]
    assert xlsx_rows(as_xlsx.content) == expected  # "=Ibuprofin tabs" stays text, not a formula
    assert list(csv_rows(as_csv.content)[0]) == list(reports.UNMAPPED_COLUMNS)


def test_a_decision_shows_who_decided_what_and_when_and_the_filters_select_entries(traffic):
    engine = traffic.engine
    with engine.connect() as connection:
        (ibuf,) = [r for r in reports.unmapped_report(connection) if r.source_code == "IBUF"]
    with engine.begin() as connection:
        claim(connection, ibuf.entry_id, "pharm.jones")
    with engine.begin() as connection:
        decide(connection, ibuf.entry_id, "pharm.jones", "no-map", comment="not a drug we stock")

    def codes(**params) -> list[str]:
        return sorted(r["source_code"] for r in traffic.get("/v1/reports/unmapped", params=params).json()["rows"])

    (decided,) = traffic.get("/v1/reports/unmapped", params={"state": "decided"}).json()["rows"]
    assert (decided["source_code"], decided["decision"], decided["decided_by"]) == ("IBUF", "no-map", "pharm.jones")
    assert decided["decided_at"] and decided["mapping_id"] and decided["comment"] == "not a drug we stock"
    assert codes(state="open") == ["PCN"]
    assert codes(sender=PHARMACY) == ["IBUF", "PCN"] and codes(sender="nobody") == []
    assert codes(context="medication") == [] and codes(context="allergy") == ["IBUF", "PCN"]
    assert codes(source_system=LOCAL) == ["IBUF", "PCN"] and codes(source_system="rxnorm") == []
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()
    assert codes(since=tomorrow) == [] and codes(until="2000-01-01") == []
    assert codes(since="2000-01-01", until=tomorrow) == ["IBUF", "PCN"]
    page = traffic.get("/v1/reports/unmapped", params={"limit": 1, "offset": 1}).json()
    assert page["count"] == 2 and len(page["rows"]) == 1
    assert traffic.get("/v1/reports/unmapped", params={"state": "lost"}).status_code == 422
    assert traffic.get("/v1/reports/unmapped", params={"since": "last week"}).status_code == 422


def test_a_report_of_many_entries_keeps_every_entrys_own_senders_whole_or_paged(store):
    with store.begin() as connection:
        for n in range(520):  # more than one batch of ids: the senders come through a subquery
            for sender in {f"feed-{n % 7}", f"feed-{n % 3}"}:
                record_occurrence(connection, ReviewKey.of(LOCAL, f"C{n:03d}", None, "allergy"),
                                  original={"source": {"system": LOCAL, "code": f"C{n:03d}"}}, target_system=SNOMED,
                                  reason="unmapped", sender=sender)
    with store.connect() as connection:
        whole = reports.unmapped_report(connection)
        page = reports.unmapped_report(connection, limit=10, offset=500)
        assert reports.count_unmapped(connection) == 520
    expected = {f"C{n:03d}": {f"feed-{n % 7}", f"feed-{n % 3}"} for n in range(520)}
    assert len(whole) == 520 and {r.source_code: set(r.senders) for r in whole} == expected
    assert [r.entry_id for r in page] == [r.entry_id for r in whole[500:510]]
    assert all(set(r.senders) == expected[r.source_code] for r in page)


# --- the audit trail --------------------------------------------------------------------------------------------


T0 = datetime(2026, 1, 10, 9, 0, tzinfo=timezone.utc)


def _events(engine) -> None:
    with engine.begin() as connection:
        record_event(connection, actor="pharm.a", action="mapping.version", subject_type="mapping", subject_id="m-1",
                     after={"targets": [{"code": "372687004"}]}, now=T0)
        record_event(connection, actor="pharm.b", action="review.decided", subject_type="review", subject_id="e-1",
                     after={"decision": "mapped", "code": "3726870041"}, now=T0 + timedelta(days=1))
        record_event(connection, actor="pharm.a", action="review.claimed", subject_type="review", subject_id="e-2",
                     before={"code": "372687004"}, now=T0 + timedelta(days=2))
        record_event(connection, actor="cli", action="release.activated", subject_type="release", subject_id="7",
                     after={"release": "x|1", "note": "100%_done"}, now=T0 + timedelta(days=3))


def _seqs(page) -> list[str]:
    return [event.subject_id for event in page.events]


def test_audit_events_filter_by_actor_time_action_and_subject_newest_first(store):
    _events(store)
    with store.connect() as connection:
        assert _seqs(reports.audit_query(connection)) == ["7", "e-2", "e-1", "m-1"]
        assert _seqs(reports.audit_query(connection, actor="pharm.a")) == ["e-2", "m-1"]
        assert _seqs(reports.audit_query(connection, action="review.*")) == ["e-2", "e-1"]
        assert _seqs(reports.audit_query(connection, action="review")) == []  # exact unless it ends in .*
        assert _seqs(reports.audit_query(connection, since=date(2026, 1, 11), until=date(2026, 1, 12))) == ["e-2", "e-1"]
        assert _seqs(reports.audit_query(connection, until=T0)) == ["m-1"]  # a date-time bound is inclusive
        assert _seqs(reports.audit_query(connection, subject="e-1")) == ["e-1"]
        first = reports.audit_query(connection, limit=3)
        rest = reports.audit_query(connection, limit=3, offset=first.next_offset)
    assert _seqs(first) == ["7", "e-2", "e-1"] and first.next_offset == 3
    assert _seqs(rest) == ["m-1"] and rest.next_offset is None


def test_audit_code_search_finds_whole_codes_in_before_and_after_and_escapes_like_wildcards(store):
    _events(store)
    with store.connect() as connection:
        assert _seqs(reports.audit_query(connection, code="372687004")) == ["e-2", "m-1"]  # not 3726870041
        assert _seqs(reports.audit_query(connection, code="3726870041")) == ["e-1"]
        assert _seqs(reports.audit_query(connection, code="%")) == []
        assert _seqs(reports.audit_query(connection, code="7")) == ["7"]  # a subject id is found too


def test_audit_over_http_pages_and_verifies(any_store_client):
    _events(any_store_client.engine)
    page = any_store_client.get("/v1/audit", params={"actor": "pharm.a", "limit": 1}).json()
    assert [e["subject_id"] for e in page["events"]] == ["e-2"] and page["next_offset"] == 1
    assert page["events"][0]["before"] == {"code": "372687004"} and page["events"][0]["at"].startswith("2026-01-12")
    verified = any_store_client.get("/v1/audit/verify").json()
    assert verified["intact"] is True and verified["checked"] == verified["events"] >= 5
    assert any_store_client.get("/v1/audit", params={"limit": 5000}).status_code == 422


# --- release impact ---------------------------------------------------------------------------------------------


FORMULARY = "https://hospital.example.org/fhir/CodeSystem/formulary-test"
SENDER_SYSTEM = "https://hospital.example.org/fhir/CodeSystem/orders"


def _table(tmp_path: Path, name: str, rows: str) -> Path:
    path = tmp_path / name
    path.write_text("code,display\n" + rows, encoding="utf-8")
    return path


def _queue(connection, system, code, text, target=FORMULARY, reason="unmapped"):
    key = ReviewKey.of(system, code, text, "allergy")
    original = {"source": {"system": system, "code": code} if code else {"system": system}, "text": text}
    return record_occurrence(connection, key, original=original, target_system=target, reason=reason, sender="ed")[0]


def test_release_impact_names_lost_targets_and_entries_the_new_release_may_answer(store, tmp_path):
    columns = ColumnMap.parse("code=code,display=display")
    load_local_table(store, _table(tmp_path, "v1.csv", "A1,Amoxicillin\nB2,Benzylpenicillin\nC3,Cefalexin\n"),
                     FORMULARY, columns, version="v1")
    with store.begin() as connection:
        for code, target in (("AMOX", "A1"), ("PENG", "B2")):
            record_mapping(connection, source_system=SENDER_SYSTEM, source_code=code, source_text=None,
                           context="allergy", target_system=FORMULARY, decision=Decision.MAPPED,
                           targets=[Target(FORMULARY, target, None)], author="pharm.a", reason="r", origin="test")
        doxy = _queue(connection, SENDER_SYSTEM, "DOXY", "Doxycycline")  # a designation only v2 has
        amox = _queue(connection, SENDER_SYSTEM, None, "amoxicillin")  # matched v1 already: not new
        e5 = _queue(connection, FORMULARY, "E5", None, target=SNOMED)  # a source code v2 adds
        decided = _queue(connection, SENDER_SYSTEM, "DOX2", "doxycycline ")
        connection.execute(review_entries.update().where(review_entries.c.id == decided).values(status="decided"))
    load_local_table(store, _table(tmp_path, "v2.csv", "A1,Amoxicillin\nC3,Cefalexin\nD4,Doxycycline\nE5,Erythromycin\n"),
                     FORMULARY, columns, version="v2")
    with store.connect() as connection:
        impact = reports.release_impact(connection, "https://hospital.example.org/fhir/CodeSystem/formulary-test")
    assert (impact.release.version, impact.previous.version, impact.mappings_checked) == ("v2", "v1", 2)
    (lost,) = impact.targets
    assert (lost.source_code, lost.target_code, lost.was, lost.now, lost.replacements) == (
        "PENG", "B2", "active", "not in release", ())
    listed = {entry.entry_id: entry for entry in impact.entries}
    assert set(listed) >= {doxy, e5} and amox not in listed and decided not in listed
    assert (listed[doxy].why, [c.code for c in listed[doxy].concepts]) == ("exact-match", ["D4"])
    assert (listed[e5].why, [c.code for c in listed[e5].concepts]) == ("source-code", ["E5"])
    assert reports.as_json(impact)["targets"][0]["now"] == "not in release"


def test_release_impact_suggests_the_replacements_the_new_snomed_release_gives(demo_sqlite, tmp_path):
    with demo_sqlite.begin() as connection:
        for code, target in (("PENG", "323389000"), ("AMP", "387170002"), ("AMOX", "372687004")):
            record_mapping(connection, source_system=LOCAL, source_code=code, source_text=None, context="allergy",
                           target_system=SNOMED, decision=Decision.MAPPED, targets=[Target(SNOMED, target, None)],
                           author="pharm.a", reason="r", origin="test")
    load_rf2(demo_sqlite, redated_demo_snomed(tmp_path))
    with demo_sqlite.connect() as connection:
        impact = reports.release_impact(connection, "snomed", search_entries=0)
    assert impact.release.version.endswith("20260301") and impact.previous.version.endswith("20250901")
    found = {t.target_code: t for t in impact.targets}
    assert set(found) == {"323389000", "387170002"}
    assert found["323389000"].now == "inactive"
    assert [(r.code, r.association, r.active) for r in found["323389000"].replacements] == [
        ("373270004", "REPLACED BY", True)]
    assert (found["387170002"].now, found["387170002"].replacements) == ("not in release", ())
    with demo_sqlite.connect() as connection:
        first = reports.release_impact(connection, "snomed", release_id=impact.previous.id)
    assert first.previous is None and first.targets == ()  # nothing to compare the first release with


# --- who may read --------------------------------------------------------------------------------------------------

WRITE_PERMISSIONS = {Permission.TRANSLATE, Permission.CURATE, Permission.ADMIN}  # each changes something stored


def test_an_auditor_reads_every_report_and_gets_403_on_every_write_route(client):
    auditor = {"Authorization": f"Bearer {api_key(client.engine, 'auditor')}"}
    assert not WRITE_PERMISSIONS & ROLE_PERMISSIONS[Role.AUDITOR]
    routes = list(_routes(client.app))
    reads = [path for method, path, needs in routes if needs is Permission.REPORTS]
    assert {"/v1/reports/unmapped", "/v1/reports/coverage", "/v1/reports/release-impact", "/v1/audit",
            "/v1/audit/verify"} <= set(reads)
    for path in reads:
        response = client.get(path, params={"system": "snomed"} if "release-impact" in path else None, headers=auditor)
        assert response.status_code == 200, (path, response.text)
    for file_format in ("csv", "xlsx"):
        for path in ("/v1/reports/unmapped", "/v1/reports/coverage"):
            assert client.get(path, params={"format": file_format}, headers=auditor).status_code == 200
    writes = [(m, p) for m, p, needs in routes if needs in WRITE_PERMISSIONS]
    # A route that changes something never hides behind a read permission (POSTs that read are lookups).
    assert all(needs in WRITE_PERMISSIONS | {Permission.LOOKUP}
               for m, p, needs in routes if m in {"POST", "PUT", "PATCH", "DELETE"})
    assert len(writes) >= 15
    for method, path in writes:
        status = client.request(method, path.replace("{id}", "no-such-id"), headers=auditor).status_code
        assert status == 403, (method, path, status)


def test_translators_and_pharmacists_may_not_read_reports(client):
    for role in ("translator", "pharmacist"):
        key = {"Authorization": f"Bearer {api_key(client.engine, role)}"}
        for path in ("/v1/reports/unmapped", "/v1/reports/coverage", "/v1/audit", "/v1/audit/verify"):
            assert client.get(path, headers=key).status_code == 403, (role, path)
