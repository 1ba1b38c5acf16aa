"""A local code table (CSV, TSV, XLSX) loads as a release of its local system; bad tables change nothing.

Real tables come from `../shared/data/local-tables` (read in place, never copied):
- VistA GMR ALLERGIES (`vista-allergies/gmr_allergies.csv`, 874 rows): line 3 is ien 3 CHOCOLATE,
  type DF, `SCT:102262009`, synonym CHOCOLATES; line 54 ien 55 ASPIRIN has no coded mapping;
  line 115 ien 128 HAYFEVER lists HAYFEVER among its own synonyms; line 762 ien 775 ASPIRIN RELATED
  MEDICATIONS maps to `RXNORM:1191`; line 857 ien 870 PEPPERMINT HERB holds the upstream quirk
  `SCT: 801000161103` (a space after the prefix).
- CIEL allergy set (`openmrs-ciel/ciel_allergy_set.csv`, 116 rows, CRLF): 160556 No known drug
  allergies (other names include NKDA), 162297 Penicillins (Pharmacologic Drug Class, also
  "Pénicillines"), 1499 Moderate (lists "Modéré" twice).
Everything else is a small table each test writes itself.
"""
from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from loaders.local_table import (
    COLUMN_MAP_ENTRY,
    CROSSWALK_KIND,
    ColumnMap,
    load_local_table,
    parse_targets,
)
from terminology import queries, schema
from terminology.errors import (
    ConfigurationError,
    ConflictingRow,
    LoadError,
    MalformedRow,
    MissingColumn,
    SourceNotFound,
    UnreadableEncoding,
)
from terminology.model import Crosswalk, Designation, ReleaseStatus
from terminology.releases import active_release, list_releases
from terminology.systems import NDC, RXNORM, SNOMED

VISTA = "https://va.example.org/fhir/CodeSystem/gmr-allergies"
CIEL = "https://openmrs.example.org/fhir/CodeSystem/ciel-allergy-set"
LOCAL = "https://hospital.example.org/fhir/CodeSystem/allergens"
VISTA_COLUMNS = ColumnMap(
    code="ien", display="name", kind="allergy_type", synonyms="synonyms", target_code="coded_mappings"
)
SIMPLE = ColumnMap(code="code", display="display", synonyms="synonyms")
PLAIN = ColumnMap(code="code", display="display")


def _vista(shared_data: Path) -> Path:
    return shared_data / "local-tables" / "vista-allergies" / "gmr_allergies.csv"


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _terms(engine, system: str, code: str) -> list[str]:
    with engine.connect() as connection:
        return [d.term for d in queries.designations(connection, system, code)]


def _active_state(engine, system: str, codes: list[str]):
    """What a reader sees of `system`: the active release and, per code, its concept, terms and crosswalks."""
    with engine.connect() as connection:
        release = active_release(connection, system)
        seen = {
            code: (
                queries.concept(connection, system, code),
                queries.designations(connection, system, code),
                queries.crosswalks_from(connection, system, code),
            )
            for code in codes
        }
        count = connection.execute(
            select(func.count()).select_from(schema.concepts).where(schema.concepts.c.release_id == release.id)
        ).scalar_one()
    return release.id, release.version, count, seen


def _statuses(engine, system: str) -> list[ReleaseStatus]:
    with engine.connect() as connection:
        return [release.status for release in reversed(list_releases(connection, system))]


# --- the real VistA GMR ALLERGIES table -------------------------------------------------------------


@pytest.mark.shared_data
def test_vista_allergy_table_loads_every_row_with_kind_synonyms_and_coded_mappings(store, shared_data):
    path = _vista(shared_data)
    report = load_local_table(store, path, VISTA, VISTA_COLUMNS)

    with open(path, encoding="utf-8", newline="") as handle:  # expectations read independently of pandas
        rows = list(csv.DictReader(handle))
    mappings = [value for row in rows for value in row["coded_mappings"].split("|") if value]
    assert report.rows["concepts"] == len(rows) == 874
    assert report.rows["crosswalks"] == len(mappings) - 1 == 738  # all but the malformed one
    assert report.release.status is ReleaseStatus.ACTIVE
    assert report.release.version == f"sha256:{report.release.files[path.name][:12]}"

    with store.connect() as connection:
        chocolate = queries.concept(connection, VISTA, "3")
        assert (chocolate.display, chocolate.kind) == ("CHOCOLATE", "DF")
        assert queries.designations(connection, VISTA, "3") == [
            Designation("CHOCOLATE", "display", "und", True),
            Designation("CHOCOLATES", "synonym", "und", False),
        ]
        assert queries.crosswalks_from(connection, VISTA, "3") == [
            Crosswalk("3", SNOMED, "102262009", None, CROSSWALK_KIND)
        ]
        assert queries.crosswalks_from(connection, VISTA, "775") == [
            Crosswalk("775", RXNORM, "1191", None, CROSSWALK_KIND)
        ]
        assert queries.crosswalks_from(connection, VISTA, "55") == []  # ASPIRIN: unmapped upstream
        assert [(system, crosswalk.code) for system, crosswalk in queries.crosswalks_to(connection, SNOMED, "102262009")] == [
            (VISTA, "3")
        ]


@pytest.mark.shared_data
def test_vista_synonym_is_found_by_term(store, shared_data):
    load_local_table(store, _vista(shared_data), VISTA, VISTA_COLUMNS)
    with store.connect() as connection:
        found = queries.find_by_term(connection, "Chocolates", VISTA)
    assert [(concept.code, concept.display, term) for concept, term in found] == [("3", "CHOCOLATE", "CHOCOLATES")]


@pytest.mark.shared_data
def test_vista_malformed_coded_mapping_is_reported_with_its_line_and_the_concept_still_loads(store, shared_data):
    report = load_local_table(store, _vista(shared_data), VISTA, VISTA_COLUMNS)

    assert [(row.file, row.line) for row in report.skipped] == [("gmr_allergies.csv", 857)]
    assert "'SCT: 801000161103'" in report.skipped[0].problem
    assert "'870'" in report.skipped[0].problem
    assert report.rows["skipped"] == 1
    with store.connect() as connection:
        assert queries.concept(connection, VISTA, "870").display == "PEPPERMINT HERB"
        assert queries.crosswalks_from(connection, VISTA, "870") == []
        stored = connection.execute(
            select(schema.load_issues.c.file, schema.load_issues.c.line).where(
                schema.load_issues.c.release_id == report.release.id
            )
        ).all()
    assert [tuple(row) for row in stored] == [("gmr_allergies.csv", 857)]


@pytest.mark.shared_data
def test_vista_synonym_equal_to_the_display_is_not_stored_twice(store, shared_data):
    load_local_table(store, _vista(shared_data), VISTA, VISTA_COLUMNS)
    assert _terms(store, VISTA, "128") == ["HAYFEVER", "BARN HAY", "HAY FEVER", "HAYWEED"]


@pytest.mark.shared_data
def test_reloading_the_same_vista_file_is_already_loaded(store, shared_data):
    first = load_local_table(store, _vista(shared_data), VISTA, VISTA_COLUMNS)
    again = load_local_table(store, _vista(shared_data), VISTA, VISTA_COLUMNS)
    assert again.already_loaded and again.release.id == first.release.id
    assert _statuses(store, VISTA) == [ReleaseStatus.ACTIVE]


# --- the real CIEL allergy set, with a YAML column map ---------------------------------------------


@pytest.mark.shared_data
def test_ciel_allergy_set_loads_with_a_yaml_column_map(store, shared_data, tmp_path):
    map_file = _write(
        tmp_path / "ciel.columns.yaml",
        "# OpenMRS CIEL allergy set, derived CSV\n"
        "code: concept_id\n"
        "display: display_name\n"
        "kind: concept_class\n"
        "synonyms: other_names\n",
    )
    path = shared_data / "local-tables" / "openmrs-ciel" / "ciel_allergy_set.csv"
    report = load_local_table(store, path, CIEL, ColumnMap.from_file(map_file))

    assert report.rows["concepts"] == 116
    assert report.skipped == []
    with store.connect() as connection:
        nkda = queries.find_by_term(connection, "NKDA", CIEL)
        assert [(c.code, c.display) for c, _ in nkda] == [("160556", "No known drug allergies")]
        penicillins = queries.concept(connection, CIEL, "162297")
        assert (penicillins.display, penicillins.kind) == ("Penicillins", "Pharmacologic Drug Class")
        assert [c.code for c, _ in queries.find_by_term(connection, "Pénicillines", CIEL)] == ["162297"]
    # "Modéré" is listed twice upstream; it is one synonym.
    assert sorted(_terms(store, CIEL, "1499")) == ["Moderate", "Modéré", "wastani au Kadiri"]


# --- formats: XLSX, TSV, encodings --------------------------------------------------------------------


def test_xlsx_sheet_keeps_leading_zeros_and_reports_spreadsheet_row_numbers(store, tmp_path):
    path = tmp_path / "pharmacy.xlsx"
    with pd.ExcelWriter(path) as book:
        pd.DataFrame({"note": ["not this sheet"]}).to_excel(book, sheet_name="About", index=False)
        pd.DataFrame(
            {
                "Item Code": ["000123", "0450", "", "7"],
                "Item Name": ["Amoxicillin 500 mg capsule", "Penicillin V 250 mg tablet", "orphan name", ""],
                "Form": ["CAP", "TAB", "", "TAB"],
            }
        ).to_excel(book, sheet_name="Formulary", index=False)
    columns = ColumnMap(code="Item Code", display="Item Name", kind="Form", sheet="Formulary")

    report = load_local_table(store, path, LOCAL, columns)

    assert report.rows["concepts"] == 2
    assert [(row.file, row.line) for row in report.skipped] == [("pharmacy.xlsx", 4), ("pharmacy.xlsx", 5)]
    assert "empty code" in report.skipped[0].problem and "empty display" in report.skipped[1].problem
    with store.connect() as connection:
        amoxicillin = queries.concept(connection, LOCAL, "000123")
        assert (amoxicillin.display, amoxicillin.kind) == ("Amoxicillin 500 mg capsule", "CAP")
        assert queries.concept(connection, LOCAL, "123") is None
        assert queries.concept(connection, LOCAL, "0450").display == "Penicillin V 250 mg tablet"


def test_xlsx_sheet_that_does_not_exist_is_named_with_the_sheets_there(store, tmp_path):
    path = tmp_path / "t.xlsx"
    pd.DataFrame({"code": ["1"], "display": ["x"]}).to_excel(path, sheet_name="Allergens", index=False)
    with pytest.raises(SourceNotFound, match=r"no sheet 'Drugs'; the workbook has 'Allergens'"):
        load_local_table(store, path, LOCAL, PLAIN, sheet="Drugs")


def test_tsv_table_splits_on_tabs_only(store, tmp_path):
    path = _write(tmp_path / "allergens.tsv", "code\tdisplay\tsynonyms\nPCN\tPenicillin, all forms\tPCN|Penicillins\n")
    load_local_table(store, path, LOCAL, SIMPLE)
    assert _terms(store, LOCAL, "PCN") == ["Penicillin, all forms", "PCN", "Penicillins"]


def test_latin1_table_read_as_latin1_keeps_accents(store, tmp_path):
    path = _write(tmp_path / "menu.csv", "code,display\nF1,Café au lait\nF2,Crème brûlée\n", "latin-1")
    load_local_table(store, path, LOCAL, PLAIN, encoding="latin-1")
    with store.connect() as connection:
        assert queries.concept(connection, LOCAL, "F2").display == "Crème brûlée"
        assert [c.code for c, _ in queries.find_by_term(connection, "crème brûlée", LOCAL)] == ["F2"]


def test_latin1_table_read_as_utf8_is_unreadable_naming_file_and_line(store, tmp_path):
    path = _write(tmp_path / "menu.csv", "code,display\nF0,Tea\nF1,Café au lait\n", "latin-1")
    with pytest.raises(UnreadableEncoding) as caught:
        load_local_table(store, path, LOCAL, PLAIN)
    assert (caught.value.file, caught.value.line) == (str(path), 3)
    assert f"{path}, line 3" in str(caught.value) and "utf-8" in str(caught.value)


def test_utf8_bom_is_not_part_of_the_first_column_name(store, tmp_path):
    path = _write(tmp_path / "bom.csv", "\ufeffcode,display\nPCN,Penicillin\n")
    load_local_table(store, path, LOCAL, PLAIN, encoding="utf-8")
    with store.connect() as connection:
        assert queries.concept(connection, LOCAL, "PCN").display == "Penicillin"


def test_encoding_from_the_column_map_file_is_used(store, tmp_path):
    path = _write(tmp_path / "menu.csv", "code;display\nF1;Café\n", "cp1252")
    map_file = _write(tmp_path / "menu.toml", 'code = "code"\ndisplay = "display"\nencoding = "cp1252"\ndelimiter = ";"\n')
    load_local_table(store, path, LOCAL, ColumnMap.from_file(map_file))
    with store.connect() as connection:
        assert queries.concept(connection, LOCAL, "F1").display == "Café"


# --- what is kept, trimmed, merged and reported ----------------------------------------------------------


def test_codes_and_displays_lose_surrounding_whitespace_but_keep_their_inside(store, tmp_path):
    path = _write(tmp_path / "t.csv", 'code,display\n  007 ,"  Peanut   oil (refined) "\n')
    load_local_table(store, path, LOCAL, PLAIN)
    with store.connect() as connection:
        assert queries.concept(connection, LOCAL, "007").display == "Peanut   oil (refined)"


def test_rows_without_code_or_display_are_reported_with_file_line_numbers(store, tmp_path):
    path = _write(
        tmp_path / "t.csv",
        "code,display,synonyms\n"
        'PCN,"Penicillin\nall forms",\n'  # a quoted value over two lines: lines 2-3
        "\n"  # a blank line: line 4, passed over
        ",Sulfa drugs,\n"  # line 5
        "LTX,   ,\n"  # line 6
        ",,\n"  # nothing in it: passed over like a blank line
        "EGG,Egg,\n",  # line 8
    )
    report = load_local_table(store, path, LOCAL, SIMPLE)
    assert [(row.line, row.problem) for row in report.skipped] == [
        (5, "empty code (column code)"),
        (6, "empty display for code 'LTX' (column display)"),
    ]
    assert report.rows["concepts"] == 2


def test_the_same_code_twice_with_the_same_display_is_merged_and_reported(store, tmp_path):
    path = _write(
        tmp_path / "t.csv",
        "code,display,synonyms\nPCN,Penicillin,Penicillins\nSULFA,Sulfonamides,\nPCN,Penicillin,PCN|penicillin|Pen\n",
    )
    report = load_local_table(store, path, LOCAL, SIMPLE)
    assert [(row.line, row.problem) for row in report.skipped] == [
        (4, "code 'PCN' repeats line 2 with the same display: merged into it (synonyms and targets added)")
    ]
    assert _terms(store, LOCAL, "PCN") == ["Penicillin", "PCN", "Pen", "Penicillins"]


def test_pre_existing_targets_take_their_system_from_a_prefix_a_column_or_the_fixed_system(store, tmp_path):
    path = _write(
        tmp_path / "t.csv",
        "code,display,target_system,target\n"
        "PCN,Penicillin,,SCT:764146007|RXNORM:70618\n"
        "ASA,Aspirin,RXNORM,1191\n"
        "TYL,Tylenol 325,,50580-0496-02\n"
        "PNT,Peanut,,SCT:abc|LOINC:1234-5| \n",
    )
    columns = ColumnMap(
        code="code", display="display", target_system="target_system", target_system_fixed="NDC", target_code="target"
    )
    report = load_local_table(store, path, LOCAL, columns)
    with store.connect() as connection:
        assert [(x.other_system, x.other_code) for x in queries.crosswalks_from(connection, LOCAL, "PCN")] == [
            (SNOMED, "764146007"), (RXNORM, "70618")
        ]
        assert [(x.other_system, x.other_code) for x in queries.crosswalks_from(connection, LOCAL, "ASA")] == [
            (RXNORM, "1191")
        ]
        assert [(x.other_system, x.other_code) for x in queries.crosswalks_from(connection, LOCAL, "TYL")] == [
            (NDC, "50580-0496-02")
        ]
        assert queries.concept(connection, LOCAL, "PNT").display == "Peanut"
    assert [(row.line, row.problem.split(":")[0]) for row in report.skipped] == [
        (5, "target 'SCT"), (5, "target 'LOINC")
    ]


@pytest.mark.parametrize(
    ("cell", "system", "targets", "problem"),
    [
        ("SCT:102262009", None, [(SNOMED, "102262009")], None),
        ("RXNORM:1191|SCT:387458008", None, [(RXNORM, "1191"), (SNOMED, "387458008")], None),
        ("snomed:102262009", None, [(SNOMED, "102262009")], None),
        ("NDC:0002-3227-30", None, [(NDC, "0002-3227-30")], None),
        ("102262009", "SCT", [(SNOMED, "102262009")], None),
        ("A-17", "urn:oid:1.2.3", [("urn:oid:1.2.3", "A-17")], None),
        ("SCT: 801000161103", None, [], "whitespace in the code"),
        (" 801000161103", None, [], "no system"),
        ("SAME-AS:SNOMED-CT:91936005", None, [], "'SAME-AS' is not a system termmap knows"),
        ("SCT:", None, [], "no code after the prefix"),
        ("SCT:penicillin", None, [], "a SNOMED CT id is 6 to 18 digits"),
        ("RXNORM:1191", "SCT", [], "its prefix names"),
    ],
)
def test_parse_targets(cell, system, targets, problem):
    found, problems = parse_targets(cell, system)
    assert found == targets
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0][1]


def test_progress_is_told_about_the_file_and_every_row(sqlite_store, tmp_path):
    class Recorder:
        def __init__(self):
            self.files, self.rows, self.bytes, self.ended = [], 0, 0, 0

        def start_file(self, name, total_bytes):
            self.files.append((name, total_bytes))

        def advance(self, bytes_read, rows):
            self.bytes += bytes_read
            self.rows += rows

        def end_file(self):
            self.ended += 1

    body = "code,display\n" + "".join(f"C{n},Concept {n}\n" for n in range(25_000))
    path = _write(tmp_path / "t.csv", body)
    recorder = Recorder()
    load_local_table(sqlite_store, path, LOCAL, PLAIN, progress=recorder, batch_size=1000)
    assert recorder.files == [("t.csv", len(body))]
    assert (recorder.rows, recorder.bytes, recorder.ended) == (25_000, len(body), 1)


# --- releases: reload, replace ---------------------------------------------------------------------------


def test_a_changed_file_is_a_new_release_that_replaces_the_old_one(store, tmp_path):
    path = _write(tmp_path / "t.csv", "code,display\nPCN,Penicillin\nLTX,Latex\n")
    first = load_local_table(store, path, LOCAL, PLAIN)
    _write(path, "code,display\nPCN,Penicillins\nEGG,Egg\n")
    second = load_local_table(store, path, LOCAL, PLAIN)
    assert second.release.id != first.release.id
    assert _statuses(store, LOCAL) == [ReleaseStatus.RETIRED, ReleaseStatus.ACTIVE]
    with store.connect() as connection:
        assert queries.concept(connection, LOCAL, "PCN").display == "Penicillins"
        assert queries.concept(connection, LOCAL, "LTX") is None


def test_the_same_bytes_read_with_another_column_map_are_a_new_release(store, tmp_path):
    path = _write(tmp_path / "t.csv", "code,display,synonyms\nPCN,Penicillin,Penicillins\n")
    first = load_local_table(store, path, LOCAL, ColumnMap(code="code", display="display"))
    second = load_local_table(store, path, LOCAL, SIMPLE)
    assert not second.already_loaded and second.release.id != first.release.id
    assert set(second.release.files) == {"t.csv", COLUMN_MAP_ENTRY}
    assert _terms(store, LOCAL, "PCN") == ["Penicillin", "Penicillins"]
    assert load_local_table(store, path, LOCAL, SIMPLE).already_loaded


# --- fatal: nothing changes ------------------------------------------------------------------------------


@pytest.fixture
def loaded(store, tmp_path):
    """`store` with a first release of LOCAL active: PCN and SULFA."""
    path = _write(tmp_path / "first.csv", "code,display,synonyms\nPCN,Penicillin,Penicillins\nSULFA,Sulfonamides,\n")
    load_local_table(store, path, LOCAL, SIMPLE, version="v1")
    return store


def _assert_first_release_intact(engine, before) -> None:
    assert _active_state(engine, LOCAL, ["PCN", "SULFA", "NEW"]) == before
    assert _statuses(engine, LOCAL) == [ReleaseStatus.ACTIVE, ReleaseStatus.FAILED]


def test_a_missing_column_is_fatal_naming_it_and_the_columns_found(loaded, tmp_path):
    before = _active_state(loaded, LOCAL, ["PCN", "SULFA", "NEW"])
    path = _write(tmp_path / "second.csv", "code,name,synonyms\nNEW,New allergen,\n")
    with pytest.raises(MissingColumn) as caught:
        load_local_table(loaded, path, LOCAL, SIMPLE)
    assert caught.value.line == 1
    assert "no column 'display'" in str(caught.value)
    assert "columns found: 'code', 'name', 'synonyms'" in str(caught.value)
    _assert_first_release_intact(loaded, before)


def test_the_same_code_with_another_display_is_fatal_naming_both_lines(loaded, tmp_path):
    before = _active_state(loaded, LOCAL, ["PCN", "SULFA", "NEW"])
    path = _write(tmp_path / "second.csv", "code,display\nNEW,New allergen\nPCN,Penicillin\nEGG,Egg\nPCN,Penicillin G\n")
    with pytest.raises(ConflictingRow) as caught:
        load_local_table(loaded, path, LOCAL, PLAIN)
    assert caught.value.line == 5
    assert "'Penicillin G' here but 'Penicillin' on line 3" in str(caught.value)
    _assert_first_release_intact(loaded, before)


def test_undecodable_bytes_are_fatal(loaded, tmp_path):
    before = _active_state(loaded, LOCAL, ["PCN", "SULFA", "NEW"])
    path = _write(tmp_path / "second.csv", "code,display\nNEW,Crème\n", "latin-1")
    with pytest.raises(UnreadableEncoding, match="line 2"):
        load_local_table(loaded, path, LOCAL, PLAIN)
    _assert_first_release_intact(loaded, before)


def test_a_row_longer_than_the_header_is_fatal_naming_its_line(loaded, tmp_path):
    before = _active_state(loaded, LOCAL, ["PCN", "SULFA", "NEW"])
    path = _write(tmp_path / "second.csv", 'code,display\nNEW,"New\nallergen"\nPCN,Penicillin,G\n')
    with pytest.raises(MalformedRow) as caught:
        load_local_table(loaded, path, LOCAL, PLAIN)
    assert caught.value.line == 4 and "3 values in a table of 2 columns" in str(caught.value)
    _assert_first_release_intact(loaded, before)


def test_a_table_with_no_loadable_row_is_fatal_rather_than_emptying_the_system(loaded, tmp_path):
    before = _active_state(loaded, LOCAL, ["PCN", "SULFA", "NEW"])
    path = _write(tmp_path / "second.csv", "code,display\n,Penicillin\n")
    with pytest.raises(LoadError, match="no concept could be loaded"):
        load_local_table(loaded, path, LOCAL, PLAIN)
    _assert_first_release_intact(loaded, before)


def test_a_missing_file_is_source_not_found(store, tmp_path):
    with pytest.raises(SourceNotFound, match="no such file"):
        load_local_table(store, tmp_path / "nothing.csv", LOCAL, SIMPLE)


def test_an_unreadable_suffix_is_source_not_found(store, tmp_path):
    path = _write(tmp_path / "t.xls", "code,display\n")
    with pytest.raises(SourceNotFound, match=r"cannot read \.xls"):
        load_local_table(store, path, LOCAL, SIMPLE)


@pytest.mark.parametrize("system", ["SNOMED", "http://snomed.info/sct", "rxnorm", "", "  "])
def test_a_local_table_cannot_be_loaded_as_a_standard_or_unnamed_system(sqlite_store, tmp_path, system):
    path = _write(tmp_path / "t.csv", "code,display\nPCN,Penicillin\n")
    with pytest.raises(ConfigurationError):
        load_local_table(sqlite_store, path, system, PLAIN)
    with sqlite_store.connect() as connection:
        assert list_releases(connection) == []


# --- ColumnMap: the CLI form and map files ---------------------------------------------------------------


def test_column_map_parses_the_cli_form():
    assert ColumnMap.parse("code=ien,display=name,synonyms=synonyms,kind=allergy_type") == ColumnMap(
        code="ien", display="name", kind="allergy_type", synonyms="synonyms"
    )
    assert ColumnMap.parse(" code = Item Code , display=Name=Long, target-code=map, sheet=2, synonym_separator=tab ") == (
        ColumnMap(code="Item Code", display="Name=Long", target_code="map", sheet=2, synonym_separator="\t")
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "code and display must be given"),
        ("code=ien", "display must be given"),
        ("ien,name", "'ien' is not key=value"),
        ("code=ien,display=name,colour=red", "unknown key 'colour'"),
        ("code=ien,display=name,synonym=syn", "did you mean synonyms?"),
        ("code=ien,code=id,display=name", "code is given twice"),
        ("code=ien,display=", "display has no value"),
        ("code=ien,display=name,target_system_fixed=SCT", "need a target_code column"),
        ("code=ien,display=name,encoding=klingon", "unknown text encoding 'klingon'"),
        ("code=ien,display=name,delimiter=;;", "delimiter must be one character"),
    ],
)
def test_a_bad_column_map_spec_is_a_configuration_error_saying_what_is_wrong(spec, message):
    with pytest.raises(ConfigurationError, match=message) as caught:
        ColumnMap.parse(spec)
    assert not isinstance(caught.value, ValueError)


def test_yaml_and_toml_map_files_hold_the_same_keys_as_the_cli_form(tmp_path):
    spec = "code=ien,display=name,kind=allergy_type,synonyms=synonyms,target_code=coded_mappings"
    yaml_file = _write(
        tmp_path / "vista.columns.yaml",
        "code: ien\ndisplay: name\nkind: allergy_type\nsynonyms: synonyms\ntarget_code: coded_mappings\n",
    )
    toml_file = _write(
        tmp_path / "vista.columns.toml",
        'code = "ien"\ndisplay = "name"\nkind = "allergy_type"\nsynonyms = "synonyms"\ntarget_code = "coded_mappings"\n',
    )
    assert ColumnMap.from_file(yaml_file) == ColumnMap.from_file(toml_file) == ColumnMap.parse(spec) == VISTA_COLUMNS


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("m.yaml", "- code\n- display\n", "expected key: value pairs"),
        ("m.yaml", "code: [ien\n", "not valid YAML"),
        ("m.toml", "code = ien\n", "not valid TOML"),
        ("m.yaml", "code: ien\ndisplay: 7\n", "display must be a text; put it in quotes"),
        ("m.yaml", "code: ien\n", "display must be given"),
        ("m.json", "{}", "expected a .yaml, .yml or .toml file"),
    ],
)
def test_a_bad_map_file_is_a_configuration_error_naming_the_file(tmp_path, name, text, message):
    path = _write(tmp_path / name, text)
    with pytest.raises(ConfigurationError, match=message) as caught:
        ColumnMap.from_file(path)
    assert str(path) in str(caught.value)


def test_a_missing_map_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        ColumnMap.from_file(tmp_path / "nothing.yaml")


_column = st.text(st.characters(blacklist_characters=",", blacklist_categories=("Cs", "Cc")), min_size=1).map(
    str.strip
).filter(bool)


@st.composite
def column_maps(draw) -> ColumnMap:
    target_code = draw(st.none() | _column)
    return ColumnMap(
        code=draw(_column),
        display=draw(_column),
        kind=draw(st.none() | _column),
        synonyms=draw(st.none() | _column),
        synonym_separator=draw(st.sampled_from(["|", ";", "/", "\t", ",", " ", "||"])),
        target_system=draw(st.none() | _column) if target_code else None,
        target_system_fixed=draw(st.none() | st.sampled_from(["SCT", "RXNORM", "urn:oid:2.16.840.1.113883.6.88"]))
        if target_code
        else None,
        target_code=target_code,
        sheet=draw(st.none() | st.integers(0, 20) | _column.filter(lambda name: not name.isdigit())),
        encoding=draw(st.none() | st.sampled_from(["utf-8", "latin-1", "cp1252"])),
        delimiter=draw(st.none() | st.sampled_from([",", "\t", ";", "|"])),
    )


@given(column_maps())
def test_a_column_map_survives_the_cli_form(columns):
    assert ColumnMap.parse(columns.to_spec()) == columns


@settings(deadline=None)  # two small files per example
@given(column_maps())
def test_a_column_map_survives_yaml_and_toml_files(columns):
    with tempfile.TemporaryDirectory() as folder:
        yaml_file = Path(folder) / "m.yaml"
        yaml_file.write_text(yaml.safe_dump(columns.as_dict(), allow_unicode=True), encoding="utf-8")
        toml_file = Path(folder) / "m.toml"
        toml_file.write_text(
            "".join(f"{key} = {json.dumps(value, ensure_ascii=False)}\n" for key, value in columns.as_dict().items()),
            encoding="utf-8",
        )
        assert ColumnMap.from_file(yaml_file) == columns
        assert ColumnMap.from_file(toml_file) == columns
