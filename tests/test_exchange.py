"""Bulk exchange of curated mappings: the pharmacists' spreadsheet (CSV, XLSX), FHIR ConceptMap, SKOS Turtle."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import openpyxl
import orjson
import pytest
from fhir.resources.R4B.conceptmap import ConceptMap
from hypothesis import example, given
from hypothesis import strategies as st
from rdflib import Graph, URIRef
from rdflib.namespace import SKOS
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from api.exchange_routes import export_file, import_file
from mappings.curated import Decision, Relationship, Target, current_mappings, mapping_groups, record_mapping
from mappings.exchange_conceptmap import CONTEXT_EXTENSION, export_conceptmap, read_conceptmap
from mappings.exchange_skos import concept_iri, export_skos
from mappings.exchange_table import (
    COLUMNS,
    Change,
    export_rows,
    import_sheet,
    read_csv,
    read_xlsx,
    rows_to_csv,
    rows_to_xlsx,
)
from mappings.tables import audit_events, mapping_targets, mapping_versions
from terminology.database import create_store_engine, migrate
from tests.conftest import DEMO_FORMULARY_SYSTEM, DEMO_LOCAL_SYSTEM, _postgres_store_url, api_key

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
HEADER = ",".join(COLUMNS)


def curate(connection, author: str = "pharm.a") -> None:
    """A small curated set: one and two targets, text-only, no-map, retired, and a medication mapping."""
    def put(code, text, targets, decision=Decision.MAPPED, *, system=DEMO_LOCAL_SYSTEM, context="allergy",
            target_system=SNOMED, reason="reviewed"):
        record_mapping(connection, source_system=system, source_code=code, source_text=text, context=context,
                       target_system=target_system, decision=decision, targets=targets, author=author,
                       reason=reason, origin="review:test")

    put("PCN", None, [Target(SNOMED, "373270004", "Penicillin class", Relationship.EQUIVALENT)])
    put("PENG", None, [Target(SNOMED, "323389000", "Benzylpenicillin", Relationship.EQUIVALENT),
                       Target(SNOMED, "373270004", "Penicillin class", Relationship.SOURCE_NARROWER)])
    put(None, "Amoxycilin ", [Target(SNOMED, "372687004", "Amoxicillin", Relationship.RELATED)])
    put("ZZZ", None, [], Decision.NO_MAP, reason="not an allergen")
    put("OLD", None, [Target(SNOMED, "372687004", "Amoxicillin", Relationship.EQUIVALENT)])
    put("OLD", None, [], Decision.RETIRED, reason="local code withdrawn")
    put("100101", None, [Target(RXNORM, "834061", "penicillin V potassium 250 MG Oral Tablet",
                                Relationship.EQUIVALENT)],
        system=DEMO_FORMULARY_SYSTEM, context="medication", target_system=RXNORM)


def state(engine: Engine, *, retired: bool = True) -> list[tuple]:
    """The current mappings as comparable values (no ids, authors or times)."""
    with engine.connect() as connection:
        return sorted(
            (m.source_system, m.source_code, m.source_text_norm, m.context, m.target_system, m.decision.value,
             tuple(sorted((t.system, t.code, t.display or "", Relationship(t.relationship).value) for t in m.targets)))
            for m in current_mappings(connection) if retired or m.decision is not Decision.RETIRED
        )


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as connection:
        return tuple(connection.execute(select(func.count()).select_from(t)).scalar_one()
                     for t in (mapping_versions, mapping_targets, audit_events))


@pytest.fixture
def curated(demo_store: Engine) -> Engine:
    with demo_store.begin() as connection:
        curate(connection)
    return demo_store


@pytest.fixture
def fresh_store(demo_store: Engine, tmp_path) -> Iterator[Engine]:
    """An empty migrated store on the same backend as `demo_store` (no releases: targets unchecked)."""
    if demo_store.dialect.name == "sqlite":
        engine = create_store_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    for url in _postgres_store_url():
        engine = create_store_engine(url)
        migrate(engine)
        yield engine
        engine.dispose()


def run_import(engine: Engine, sheet, *, file="mappings.csv", author="pharm.import", **options):
    with engine.begin() as connection:
        return import_sheet(connection, sheet, file=file, author=author, **options)


def csv_of(*lines: str) -> bytes:
    return ("\r\n".join((HEADER, *lines)) + "\r\n").encode()


def row(code="PCN", target="373270004", *, decision="mapped", relationship="equivalent", text="", context="allergy",
        system=DEMO_LOCAL_SYSTEM, target_system=SNOMED, mapping_id="", version="", reason="") -> str:
    cells = {"mapping_id": mapping_id, "version": version, "source_system": system, "source_code": code,
             "source_text": text, "context": context, "target_system": target_system, "decision": decision,
             "target_code": target, "relationship": relationship, "reason": reason}
    return ",".join(cells.get(column, "") for column in COLUMNS)


# --- round trips -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_a_spreadsheet_export_imported_into_a_fresh_store_reproduces_the_same_mappings(curated, fresh_store,
                                                                                        file_format):
    with curated.connect() as connection:
        exported = export_file(connection, file_format)
    with fresh_store.begin() as connection:
        report = import_file(connection, exported.content, format=file_format, filename=exported.filename,
                             author="pharm.b")
    assert report.written and not report.invalid
    assert report.counts["new"] == 6 and any("no release of" in w for w in report.warnings)
    assert state(fresh_store) == state(curated)
    with fresh_store.connect() as connection:
        imported = current_mappings(connection)
    assert {(m.author, m.origin, m.version) for m in imported} == {("pharm.b", f"import:{exported.filename}", 1)}


def test_a_conceptmap_export_imported_into_a_fresh_store_reproduces_the_same_mappings(curated, fresh_store):
    with curated.connect() as connection:
        groups = mapping_groups(connection)
        maps = [export_conceptmap(connection, source_system=s, target_system=t, context=c) for s, t, c in groups]
    assert len(maps) == 2
    for resource in maps:
        ConceptMap.model_validate(resource)  # a valid R4 ConceptMap
        with fresh_store.begin() as connection:
            report = import_sheet(connection, read_conceptmap(orjson.dumps(resource)).sheet, file="map.json",
                                  author="pharm.b")
        assert report.written and not report.invalid, report.as_json()
    assert state(fresh_store) == state(curated, retired=False)  # a ConceptMap states what holds: retired left out


def test_exporting_again_and_importing_the_unchanged_file_writes_nothing(curated):
    with curated.connect() as connection:
        exported = export_file(connection, "csv")
    before = counts(curated)
    report = run_import(curated, read_csv(exported.content), file="again.csv")
    assert report.counts == {"new": 0, "changed": 0, "unchanged": 6, "invalid_rows": 0}
    assert counts(curated) == before


# --- CSV / XLSX layout -----------------------------------------------------------------------------------------------


def test_the_export_has_one_row_per_target_and_one_row_for_a_mapping_without_targets(curated):
    with curated.connect() as connection:
        rows = export_rows(connection, context="allergy")
    by_source = {}
    for r in rows:
        by_source.setdefault(r["source_code"] or r["source_text"], []).append(r)
    assert [(r["target_code"], r["relationship"]) for r in by_source["PENG"]] == [
        ("323389000", "equivalent"), ("373270004", "source-is-narrower-than-target")]
    assert [(r["decision"], r["target_code"], r["relationship"]) for r in by_source["ZZZ"]] == [("no-map", "", "")]
    assert [r["decision"] for r in by_source["OLD"]] == ["retired"]
    assert by_source["amoxycilin"][0]["source_code"] == ""  # text-only: the normalised text is the key
    assert by_source["PCN"][0]["source_text"] == "Penicillins"  # a code's display in its loaded release
    assert {r["context"] for r in rows} == {"allergy"}
    assert by_source["PCN"][0]["created_at"].endswith("Z") and by_source["PCN"][0]["version"] == "1"


def test_csv_is_utf8_with_bom_and_formula_like_cells_survive_a_round_trip_unexecuted():
    cells = {c: "" for c in COLUMNS} | {"source_system": DEMO_LOCAL_SYSTEM, "source_code": "X", "context": "allergy",
                                        "target_system": SNOMED, "decision": "no-map",
                                        "reason": '=HYPERLINK("http://evil.example")', "source_text": "-10% Pénicilline"}
    data = rows_to_csv([cells])
    assert data.startswith(b"\xef\xbb\xbf")
    raw = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert raw[1][COLUMNS.index("reason")].startswith("'=")  # a spreadsheet shows it as text
    read = read_csv(data).rows[0].cells
    assert read["reason"] == cells["reason"] and read["source_text"] == "-10% Pénicilline"


@given(st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))))
@example("'=1+1")
@example("\t=cmd")
@example("''@SUM(A1)")
def test_any_cell_text_survives_a_csv_round_trip_but_for_surrounding_spaces(text):
    cells = {c: "" for c in COLUMNS} | {"source_code": "X", "reason": text}
    assert read_csv(rows_to_csv([cells])).rows[0].cells["reason"] == text.strip()


def test_xlsx_cells_are_text_so_codes_keep_their_digits_and_nothing_is_a_formula():
    cells = {c: "" for c in COLUMNS} | {"source_code": "007", "target_code": "373270004", "reason": "=1+1"}
    book = openpyxl.load_workbook(io.BytesIO(rows_to_xlsx([cells])))
    sheet = book["mappings"]
    header = [c.value for c in sheet[1]]
    assert tuple(header) == COLUMNS and "columns" in book.sheetnames
    second = {name: cell for name, cell in zip(header, sheet[2])}
    assert second["source_code"].value == "007" and second["reason"].data_type == "s"


def test_xlsx_numbers_a_spreadsheet_made_of_codes_are_read_as_digits_and_inexact_ones_refused():
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(COLUMNS))
    base = dict.fromkeys(COLUMNS) | {"source_system": DEMO_LOCAL_SYSTEM, "context": "allergy", "target_system": SNOMED,
                                     "decision": "mapped", "relationship": "equivalent"}
    sheet.append([(base | {"source_code": 100101, "target_code": 373270004.0, "version": 2})[c] for c in COLUMNS])
    sheet.append([(base | {"source_code": "X", "target_code": 1.0e18})[c] for c in COLUMNS])
    out = io.BytesIO()
    book.save(out)
    read = read_xlsx(out.getvalue())
    assert read.rows[0].cells["source_code"] == "100101" and read.rows[0].cells["target_code"] == "373270004"
    assert read.rows[0].cells["version"] == "2" and read.rows[0].problems == ()
    assert read.rows[1].row == 3 and "too long to be exact" in read.rows[1].problems[0]


# --- import: what it re-applies and how -------------------------------------------------------------------------------


def test_a_changed_row_becomes_a_new_version_by_the_importer_and_unchanged_ones_are_left_alone(curated):
    data = csv_of(row("PCN", "373270004"), row("ZZZ", "", decision="no-map"),
                  row("PENG", "323389000", reason="benzylpenicillin only"))
    report = run_import(curated, read_csv(data), file="edits.csv", author="pharm.jones")
    assert report.counts == {"new": 0, "changed": 1, "unchanged": 2, "invalid_rows": 0}
    [changed] = report.of(Change.CHANGED)
    assert changed.rows == (4,) and changed.written.version == 2
    assert (changed.written.author, changed.written.origin, changed.written.reason) == (
        "pharm.jones", "import:edits.csv", "benzylpenicillin only")
    assert [t.code for t in changed.written.targets] == ["323389000"]
    assert changed.written.targets[0].display == "Benzylpenicillin"  # filled from the loaded release
    with curated.connect() as connection:
        events = connection.execute(select(audit_events.c.action).order_by(audit_events.c.seq.desc()).limit(2)).all()
    assert [e.action for e in events] == ["mappings.imported", "mapping.version"]


def test_rows_without_a_code_are_matched_by_normalised_text(curated):
    data = csv_of(row("", "372687004", text="  AMOXYCILIN!! ", relationship="related-to"),
                  row("", "387170002", text="amoxycilin", relationship="related-to"))
    report = run_import(curated, read_csv(data), dry_run=True)
    [changed] = report.of(Change.CHANGED)
    assert changed.key.source_text_norm == "amoxycilin" and changed.rows == (2, 3)
    assert changed.current.source_text_norm == "amoxycilin"  # the existing text-only mapping
    assert {t.code for t in changed.targets} == {"372687004", "387170002"}


def test_a_new_source_is_a_new_mapping(curated):
    report = run_import(curated, read_csv(csv_of(row("AMP", "387170002"))))
    [new] = report.of(Change.NEW)
    assert new.written.version == 1 and new.written.source_code == "AMP"


def test_a_dry_run_reports_what_would_change_with_row_numbers_and_writes_nothing(curated):
    data = csv_of(row("PCN", "373270004"), row("PENG", "323389000"), row("AMP", "387170002"),
                  row("BAD", "373270004", relationship="equal"))
    before = counts(curated)
    report = run_import(curated, read_csv(data), dry_run=True)
    assert counts(curated) == before
    body = report.as_json()
    assert body["counts"] == {"new": 1, "changed": 1, "unchanged": 1, "invalid_rows": 1}
    assert [m["rows"] for m in body["new"]] == [[4]] and [m["rows"] for m in body["changed"]] == [[3]]
    assert body["changed"][0]["before"]["version"] == 1 and len(body["changed"][0]["before"]["targets"]) == 2
    assert body["invalid"][0]["row"] == 5 and "unknown relationship 'equal'" in body["invalid"][0]["problems"][0]
    assert body["written"] is False and "dry run" in body["message"]


BAD_ROWS = {
    "unknown relationship": (row(relationship="sameas"), 2, "unknown relationship 'sameas': use one of equivalent"),
    "unknown decision": (row(decision="maybe"), 2, "decision must be one of mapped, no-map, retired"),
    "unknown context": (row(context="food"), 2, "context must be one of allergy, medication"),
    "mapped without a target": (row(target=""), 2, "a mapped row needs a target_code"),
    "no-map with a target": (row(decision="no-map"), 2, "leave target_code empty"),
    "neither code nor text": (row(code="", text=" !! "), 2, "needs a source_code, or a source_text"),
    "inactive target": (row(target="74069000"), 2, "target 74069000 is inactive in the loaded release http://snomed"),
    "target not in the release": (row(target="999999999"), 2, "target 999999999 is not in the loaded release"),
    "bad version": (row(version="v2"), 2, "version must be a whole number"),
}


@pytest.mark.parametrize("case", BAD_ROWS, ids=list(BAD_ROWS))
def test_an_invalid_row_is_named_with_its_reason_and_nothing_is_written(demo_sqlite, case):
    line, number, reason = BAD_ROWS[case]
    before = counts(demo_sqlite)
    report = run_import(demo_sqlite, read_csv(csv_of(row("AMP", "387170002"), line)))
    assert [(r.row, any(reason in p for p in r.problems)) for r in report.invalid] == [(number + 1, True)], \
        report.as_json()["invalid"]
    assert report.blocked and not report.written and counts(demo_sqlite) == before


def test_missing_columns_are_named_on_the_header_row(demo_sqlite):
    data = b"source_system,source_code,context,target_system,target_code\r\nx,PCN,allergy,snomed,373270004\r\n"
    report = run_import(demo_sqlite, read_csv(data))
    assert [(r.row, r.problems) for r in report.invalid] == [
        (1, ("the header lacks column(s) decision, relationship; an import needs source_system, context, "
             "target_system, decision, target_code, relationship and source_code or source_text",))]
    assert not report.written


def test_bytes_in_another_encoding_make_their_row_invalid_naming_the_column(demo_sqlite):
    data = csv_of(row("AMP", "387170002")) + row("", "372687004", text="P\xe9nicilline").encode("cp1252") + b"\r\n"
    report = run_import(demo_sqlite, read_csv(data), dry_run=True)
    [bad] = report.invalid
    assert bad.row == 3 and bad.problems[0].startswith("source_text: bytes that are not UTF-8: save the file as UTF-8")
    again = run_import(demo_sqlite, read_csv(data, encoding="cp1252"), dry_run=True)
    assert not again.invalid
    assert [m.key.source_text_norm for m in again.of(Change.NEW) if not m.key.source_code] == ["pénicilline"]


def test_rows_of_one_mapping_that_disagree_are_all_invalid(demo_sqlite):
    data = csv_of(row("AMP", "387170002"), row("AMP", "", decision="no-map"), row("PCN", "373270004"))
    report = run_import(demo_sqlite, read_csv(data))
    assert [r.row for r in report.invalid] == [2, 3]
    assert "different decisions (mapped, no-map)" in report.invalid[0].problems[0]


def test_skip_invalid_writes_the_valid_mappings_and_reports_the_rest(demo_sqlite):
    data = csv_of(row("AMP", "387170002"), row("PCN", "74069000"))
    report = run_import(demo_sqlite, read_csv(data), skip_invalid=True)
    assert report.written and [r.row for r in report.invalid] == [3]
    assert [m.key.source_code for m in report.of(Change.NEW)] == ["AMP"]
    assert [s[1] for s in state(demo_sqlite)] == ["AMP"]


def test_an_edit_of_a_version_someone_has_since_replaced_is_refused(curated):
    with curated.connect() as connection:
        [pcn] = [r for r in export_rows(connection) if r["source_code"] == "PCN"]
    with curated.begin() as connection:
        record_mapping(connection, source_system=DEMO_LOCAL_SYSTEM, source_code="PCN", source_text=None,
                       context="allergy", target_system=SNOMED, decision=Decision.NO_MAP, targets=[],
                       author="pharm.b", reason="changed meanwhile", origin="api")
    data = csv_of(row("PCN", "323389000", mapping_id=pcn["mapping_id"], version=pcn["version"]))
    report = run_import(curated, read_csv(data))
    [bad] = report.invalid
    assert f"mapping {pcn['mapping_id']} is now version 2 (pharm.b" in bad.problems[0]
    assert "this file edits version 1" in bad.problems[0]


# --- FHIR ConceptMap ------------------------------------------------------------------------------------------------


def test_the_conceptmap_uses_r4_equivalences_unmatched_for_no_map_and_carries_the_context(curated):
    with curated.connect() as connection:
        resource = export_conceptmap(connection, source_system=DEMO_LOCAL_SYSTEM, target_system="snomed",
                                     context="allergy", url="https://example.org/cm", id="cm")
    ConceptMap.model_validate(resource)
    assert resource["extension"] == [{"url": CONTEXT_EXTENSION, "valueCode": "allergy"}]
    [group] = resource["group"]
    elements = {e.get("code") or e["display"]: e for e in group["element"]}
    assert "OLD" not in elements  # retired
    assert [(t["code"], t["equivalence"]) for t in elements["PENG"]["target"]] == [
        ("323389000", "equivalent"), ("373270004", "wider")]
    assert [(t.get("code"), t["equivalence"]) for t in elements["ZZZ"]["target"]] == [(None, "unmatched")]
    assert elements["amoxycilin"]["target"][0]["equivalence"] == "relatedto"
    assert "v1 by pharm.a" in elements["PCN"]["target"][0]["comment"]


def test_an_r5_conceptmap_imports_with_its_relationships_and_nomap(demo_sqlite):
    resource = {"resourceType": "ConceptMap", "status": "active", "url": "https://example.org/r5", "group": [
        {"source": DEMO_LOCAL_SYSTEM, "target": SNOMED, "element": [
            {"code": "AMOX", "target": [{"code": "372687004", "relationship": "source-is-broader-than-target"}]},
            {"code": "ZZZ", "noMap": True}]}]}
    read = read_conceptmap(orjson.dumps(resource), context="medication")
    report = run_import(demo_sqlite, read.sheet, file="r5.json")
    assert report.written and not report.invalid
    assert state(demo_sqlite) == [
        (DEMO_LOCAL_SYSTEM, "AMOX", "", "medication", SNOMED, "mapped",
         ((SNOMED, "372687004", "Amoxicillin", "source-is-broader-than-target"),)),
        (DEMO_LOCAL_SYSTEM, "ZZZ", "", "medication", SNOMED, "no-map", ())]


def test_a_conceptmap_without_a_context_or_with_bad_targets_is_refused_by_path(demo_sqlite):
    resource = {"resourceType": "ConceptMap", "status": "active", "group": [
        {"source": DEMO_LOCAL_SYSTEM, "target": SNOMED, "element": [
            {"code": "AMOX", "target": [{"code": "372687004", "equivalence": "sameish"}]},
            {"code": "PCN", "target": [{"code": "74069000", "equivalence": "equivalent"}]}]}]}
    assert "does not say its context" in read_conceptmap(orjson.dumps(resource)).sheet.problems[0][1]
    report = run_import(demo_sqlite, read_conceptmap(orjson.dumps(resource), context="allergy").sheet)
    assert [(r.row, r.problems[0][:40]) for r in report.invalid] == [
        ("group[0].element[0].target[0]", "equivalence 'sameish' is not an R4 Conce"),
        ("group[0].element[1].target[0]", "target 74069000 is inactive in the loade")]
    assert read_conceptmap(b'{"resourceType": "Patient"}').sheet.problems[0][1].startswith("expected a FHIR ConceptMap")


# --- SKOS -------------------------------------------------------------------------------------------------------------


def test_skos_turtle_parses_and_holds_one_triple_per_mapped_target(curated):
    with curated.connect() as connection:
        turtle = export_skos(connection)
        mapped = [(m, t) for m in current_mappings(connection) if m.decision is Decision.MAPPED and m.source_code
                  for t in m.targets]
    graph = Graph().parse(data=turtle, format="turtle")
    assert len(graph) == len(mapped) == 4  # PCN, PENG x2, 100101; the text-only mapping has no source concept
    peng = URIRef(f"{DEMO_LOCAL_SYSTEM}/PENG")
    assert set(graph.predicate_objects(peng)) == {
        (SKOS.exactMatch, URIRef("http://snomed.info/id/323389000")),
        (SKOS.broadMatch, URIRef("http://snomed.info/id/373270004")),  # the source is narrower: the target broader
    }
    assert (URIRef(f"{DEMO_FORMULARY_SYSTEM}/100101"), SKOS.exactMatch,
            URIRef("http://purl.bioontology.org/ontology/RXNORM/834061")) in graph


def test_concept_iris_follow_the_documented_scheme():
    assert concept_iri("snomed", "373270004") == URIRef("http://snomed.info/id/373270004")
    assert concept_iri(RXNORM, "723") == URIRef("http://purl.bioontology.org/ontology/RXNORM/723")
    assert concept_iri("https://h.example.org/cs/", "PEN G/1") == URIRef("https://h.example.org/cs/PEN%20G%2F1")


# --- HTTP -----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("file_format, media_type, suffix", [
    ("csv", "text/csv; charset=utf-8", ".csv"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
    ("skos", "text/turtle; charset=utf-8", ".ttl"),
])
def test_http_export_answers_the_file_with_its_media_type_and_a_filename(client, file_format, media_type, suffix):
    with client.engine.begin() as connection:
        curate(connection)
    response = client.get("/v1/mappings/export", params={"format": file_format, "context": "allergy"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="termmap-mappings-allergy-') and disposition.endswith(
        f'{suffix}"')


def test_http_conceptmap_export_needs_one_group_and_imports_back(any_store_client):
    client = any_store_client
    with client.engine.begin() as connection:
        curate(connection)
    ambiguous = client.get("/v1/mappings/export", params={"format": "conceptmap"})
    assert ambiguous.status_code == 422 and "these filters match 2" in ambiguous.json()["message"]
    response = client.get("/v1/mappings/export", params={"format": "conceptmap", "context": "medication"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/fhir+json"
    resource = response.json()
    assert resource["url"].startswith("https://termmap.dev/fhir/ConceptMap/medication-") and resource["version"] == "1"
    resource["group"][0]["element"][0]["target"][0]["equivalence"] = "narrower"
    imported = client.post("/v1/mappings/import", params={"format": "conceptmap"}, content=orjson.dumps(resource))
    assert imported.status_code == 200, imported.text
    assert imported.json()["counts"] == {"new": 0, "changed": 1, "unchanged": 0, "invalid_rows": 0}
    with client.engine.connect() as connection:
        [medication] = current_mappings(connection, context="medication")
    assert medication.targets[0].relationship is Relationship.SOURCE_BROADER
    assert medication.origin == f"import:conceptmap:{resource['url']}|1"


def test_http_import_is_the_callers_dry_run_or_new_versions_and_translate_sees_it_at_once(any_store_client):
    client = any_store_client
    pharmacist = {"Authorization": f"Bearer {api_key(client.engine, 'pharmacist', 'pharm.jones')}"}
    ask = {"source": {"system": DEMO_LOCAL_SYSTEM, "code": "AMOXY"}, "target_system": SNOMED, "context": "allergy"}
    assert client.post("/v1/translate", json=ask).json()["status"] != "mapped"  # answered, and cached
    data = csv_of(row("AMOXY", "372687004"))
    before = counts(client.engine)
    dry = client.post("/v1/mappings/import", params={"dry_run": "true", "filename": "amoxy.csv"}, content=data,
                      headers=pharmacist)
    assert dry.status_code == 200 and dry.json()["counts"]["new"] == 1 and counts(client.engine) == before
    done = client.post("/v1/mappings/import", params={"filename": "amoxy.csv"}, content=data, headers=pharmacist)
    assert done.status_code == 200 and done.json()["written"] is True
    written = done.json()["new"][0]
    assert written["rows"] == [2] and written["version"] == 1
    with client.engine.connect() as connection:
        [mapping] = current_mappings(connection)
    assert (mapping.author, mapping.origin) == ("pharm.jones", "import:amoxy.csv")
    answer = client.post("/v1/translate", json=ask).json()
    assert answer["status"] == "mapped" and [m["code"] for m in answer["matches"]] == ["372687004"]


def test_http_import_with_invalid_rows_is_422_with_the_report_and_writes_nothing(client):
    before = counts(client.engine)
    response = client.post("/v1/mappings/import", params={"format": "csv"},
                           content=csv_of(row("AMP", "387170002"), row("PCN", "74069000")))
    assert response.status_code == 422
    assert [r["row"] for r in response.json()["invalid"]] == [3] and response.json()["written"] is False
    assert counts(client.engine) == before
    unreadable = client.post("/v1/mappings/import", params={"format": "xlsx", "skip_invalid": "true"}, content=b"a,b")
    assert unreadable.status_code == 422 and "not an XLSX workbook" in unreadable.json()["invalid"][0]["problems"][0]


def test_an_auditor_may_export_but_not_import(client):
    auditor = {"Authorization": f"Bearer {api_key(client.engine, 'auditor')}"}
    assert client.get("/v1/mappings/export", headers=auditor).status_code == 200
    refused = client.post("/v1/mappings/import", params={"format": "csv"}, content=csv_of(row()), headers=auditor)
    assert refused.status_code == 403 and "may not curate" in refused.json()["message"]


# --- CLI --------------------------------------------------------------------------------------------------------------


def test_cli_exports_and_imports_the_same_files(demo_sqlite, tmp_path, monkeypatch):
    from api.cli import app
    from terminology.settings import get_settings

    with demo_sqlite.begin() as connection:
        curate(connection)
    monkeypatch.setenv("TERMMAP_DATABASE_URL", demo_sqlite.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = tmp_path / "mappings.xlsx"
        result = runner.invoke(app, ["mappings", "export", "--format", "xlsx", "-o", str(out)])
        assert result.exit_code == 0, result.output
        turtle = runner.invoke(app, ["mappings", "export", "--format", "skos"])
        assert turtle.exit_code == 0 and "skos:exactMatch" in turtle.output
        unchanged = runner.invoke(app, ["mappings", "import", str(out), "--author", "pharm.cli", "--json"])
        assert unchanged.exit_code == 0, unchanged.output
        assert json.loads(unchanged.stdout)["counts"] == {"new": 0, "changed": 0, "unchanged": 6, "invalid_rows": 0}
        bad = tmp_path / "bad.csv"
        bad.write_bytes(csv_of(row("PCN", "373270004", relationship="equal")))
        refused = runner.invoke(app, ["mappings", "import", str(bad), "--author", "pharm.cli", "--dry-run"])
        assert refused.exit_code == 1 and "row 2: unknown relationship 'equal'" in refused.output
    finally:
        get_settings.cache_clear()
