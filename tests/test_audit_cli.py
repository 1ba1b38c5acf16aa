"""`termmap audit` and `termmap report`: verify names the first altered row; loads are audited; reports as files."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from api.cli import app
from mappings.review_queue import ReviewKey, record_occurrence
from mappings.tables import audit_events
from mappings.translation import Status, Translation
from mappings.usage import UsageCounter
from terminology.database import create_store_engine
from terminology.settings import get_settings

runner = CliRunner()
SYSTEM = "https://hospital.example.org/fhir/CodeSystem/allergens"
SNOMED = "http://snomed.info/sct"


@pytest.fixture
def cli(store_url, monkeypatch):
    """Run `termmap ...` against this test's store (SQLite and PostgreSQL); `cli.engine` is the store."""
    monkeypatch.setenv("TERMMAP_DATABASE_URL", store_url)
    get_settings.cache_clear()
    engine = create_store_engine(store_url)

    def run(*args: str, code: int = 0):
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result

    run.engine = engine
    yield run
    engine.dispose()
    get_settings.cache_clear()


def _keys(cli, n: int) -> None:
    for index in range(n):
        cli("keys", "create", "--role", "auditor", "--name", f"auditor-{index}")


def _seq(engine, index: int) -> int:
    with engine.connect() as connection:
        return connection.execute(select(audit_events.c.seq).order_by(audit_events.c.seq).offset(index).limit(1)).scalar()


def test_an_intact_chain_verifies_with_exit_0_and_counts_its_events_and_prints_its_head(cli):
    _keys(cli, 3)
    with cli.engine.connect() as connection:
        last = connection.execute(select(audit_events.c.seq, audit_events.c.hash)
                                  .order_by(audit_events.c.seq.desc()).limit(1)).one()
    assert cli("audit", "verify").output.strip() == f"chain intact: 3 events; head {last.seq}:{last.hash}"


def test_events_removed_from_the_end_are_caught_by_verifying_against_the_head_printed_before(cli):
    _keys(cli, 3)
    head = cli("audit", "verify").output.split("head ")[1].strip()
    with cli.engine.begin() as connection:
        connection.execute(delete(audit_events).where(audit_events.c.seq == int(head.split(":")[0])))
    assert "chain intact: 2 events" in cli("audit", "verify").output  # the shortened chain is intact by itself
    output = cli("audit", "verify", "--head", head, code=1).output
    assert "removed from its end" in output
    first = _seq(cli.engine, 0)
    rewritten = cli("audit", "verify", "--head", f"{first}:{'a' * 64}", code=1).output
    assert f"chain broken at event seq {first} " in rewritten and "earlier verification recorded" in rewritten
    assert "64 hex digits" in cli("audit", "verify", "--head", "nonsense", code=2).output


def test_altering_one_audit_row_in_the_database_makes_verify_exit_1_naming_its_seq_time_actor_and_action(cli):
    _keys(cli, 4)
    second = _seq(cli.engine, 1)
    with cli.engine.begin() as connection:
        connection.execute(update(audit_events).where(audit_events.c.seq == second).values(actor="mallory"))
        at = connection.execute(select(audit_events.c.at).where(audit_events.c.seq == second)).scalar()
    output = cli("audit", "verify", code=1).output
    assert f"chain broken at event seq {second} " in output
    assert "'mallory'" in output and "key.created" in output and f"{at:%Y-%m-%dT%H:%M:%S}" in output
    assert "altered" in output and "1 of 4 events verified" in output


def test_removing_an_audit_row_breaks_the_link_of_the_next_one(cli):
    _keys(cli, 3)
    second = _seq(cli.engine, 1)
    with cli.engine.begin() as connection:
        connection.execute(delete(audit_events).where(audit_events.c.seq == second))
    output = cli("audit", "verify", code=1).output
    assert f"seq {second + 1} " in output and "link" in output


def _table(tmp_path: Path, name: str, rows: str) -> Path:
    path = tmp_path / name
    path.write_text("code,display\n" + rows, encoding="utf-8")
    return path


def test_each_load_that_activates_a_release_is_audited_naming_the_release_it_replaced(cli, tmp_path):
    v1 = _table(tmp_path, "v1.csv", "PCN,Penicillins\n")
    v2 = _table(tmp_path, "v2.csv", "PCN,Penicillins\nASA,Aspirin\n")
    cli("load", "local", str(v1), "--system", SYSTEM, "--version", "v1")
    cli("load", "local", str(v2), "--system", SYSTEM, "--version", "v2")
    cli("load", "local", str(v2), "--system", SYSTEM, "--version", "v2")  # already loaded: nothing activated
    page = json.loads(cli("audit", "query", "--action", "release.activated", "--json").output)
    second, first = page["events"]
    assert (first["actor"], first["before"], first["after"]["release"]) == ("cli", None, f"{SYSTEM}|v1")
    assert second["after"]["release"] == f"{SYSTEM}|v2" and second["after"]["rows"]["concepts"] == 2
    assert second["before"] == {"release_id": first["after"]["release_id"], "release": f"{SYSTEM}|v1"}
    assert second["subject_type"] == "release" and second["subject_id"] == str(second["after"]["release_id"])
    assert "chain intact" in cli("audit", "verify").output


def test_audit_query_filters_on_the_command_line_and_prints_a_table(cli):
    _keys(cli, 2)
    cli("keys", "create", "--role", "admin", "--name", "boss")
    events = json.loads(cli("audit", "query", "--actor", "cli", "--action", "key.*", "--json").output)["events"]
    assert [e["after"]["name"] for e in events] == ["boss", "auditor-1", "auditor-0"]
    (boss,) = json.loads(cli("audit", "query", "--code", "admin", "--json").output)["events"]
    assert boss["after"]["role"] == "admin"
    table = cli("audit", "query", "--limit", "1").output
    assert "key.created" in table and "more: --offset 1" in table
    assert cli("audit", "query", "--since", "yesterday-ish", code=2).output.startswith("error:")


def _traffic(engine) -> None:
    with engine.begin() as connection:
        for sender in ("ed", "ed", "lab"):
            record_occurrence(connection, ReviewKey.of(SYSTEM, "XYZ", "=Mystery pill", "allergy"),
                              original={"source": {"system": SYSTEM, "code": "XYZ"}, "text": "=Mystery pill"},
                              target_system=SNOMED, reason="unmapped", sender=sender)
    counter = UsageCounter()
    for status in (Status.MAPPED, Status.MAPPED, Status.UNMAPPED):
        counter.count(Translation(status, {}), "allergy", source_system=SYSTEM, sender="ed")
    counter.flush_to(engine)


def test_reports_on_the_command_line_give_the_same_rows_as_json_csv_and_xlsx(cli, tmp_path):
    cli("init")
    _traffic(cli.engine)
    (row,) = json.loads(cli("report", "unmapped", "--format", "json").output)["rows"]
    assert (row["source_code"], row["occurrences"], row["senders"]) == ("XYZ", 3, {"ed": 2, "lab": 1})
    cli("report", "unmapped", "--format", "csv", "--out", str(tmp_path / "u.csv"))
    (from_csv,) = list(csv.DictReader(io.StringIO((tmp_path / "u.csv").read_text(encoding="utf-8-sig"))))
    assert (from_csv["entry_id"], from_csv["original_text"], from_csv["senders"]) == (
        row["entry_id"], "'=Mystery pill", "ed: 2; lab: 1")
    cli("report", "unmapped", "--format", "xlsx", "--out", str(tmp_path / "u.xlsx"))
    sheet = load_workbook(tmp_path / "u.xlsx").worksheets[0]
    header = [c.value for c in sheet[1]]
    values = dict(zip(header, [c.value for c in sheet[2]]))
    assert values["original_text"] == "=Mystery pill" and sheet[2][header.index("original_text")].data_type == "s"
    assert cli("report", "unmapped", "--format", "xlsx", code=2).output.count("--out") == 1
    coverage = json.loads(cli("report", "coverage", "--by", "week", "--format", "json").output)
    (total,) = [r for r in coverage["rows"] if r["level"] == "total"]
    assert (total["mapped"], total["unmapped"], total["total"], total["mapped_share"]) == (2, 1, 3, 0.6667)
    table = cli("report", "coverage").output
    assert "total" in table and "66.7" in table
