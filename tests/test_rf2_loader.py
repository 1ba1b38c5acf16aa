"""A SNOMED CT RF2 release becomes the active SNOMED CT release; a malformed one changes nothing.

Expected values are read from the shared samples (../shared/data/snomed-rf2); the tiny release that
the malformed-file tests corrupt is a few real rows of the Sep 2025 International release (Leukodystrophy
and its parent), written here into tmp_path.
"""
from __future__ import annotations

import logging
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from loaders.rf2 import _classify, load_rf2
from terminology import queries, schema
from terminology.errors import (
    ConflictingRow,
    LoadError,
    MalformedRow,
    MissingColumn,
    SourceNotFound,
    UnreadableEncoding,
)
from terminology.model import Association, Crosswalk, ReleaseStatus, SkippedRow
from terminology.releases import active_release, list_releases
from terminology.systems import SNOMED

pytestmark = pytest.mark.shared_data

IS_A = queries.SNOMED_IS_A


@pytest.fixture
def rf2(shared_data) -> Path:
    return shared_data / "snomed-rf2"


def _zip(folder: Path, target: Path) -> Path:
    """`folder` zipped as an RF2 release is shipped: every file under one top folder."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")
    return target


def _parents(engine, code: str) -> set[tuple[str, str]]:
    with engine.connect() as connection:
        return {(parent.code, parent.display) for parent in queries.parents(connection, SNOMED, code)}


def _content_rows(connection, release_id: int) -> dict[str, int]:
    return {
        table.name: connection.execute(
            select(func.count()).select_from(table).where(table.c.release_id == release_id)
        ).scalar()
        for table in schema.CONTENT_TABLES
    }


# --- finding the files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "role", "release_type"),
    [
        ("Snapshot/Terminology/sct2_Concept_Snapshot_INT_20250909.txt", "concept", "Snapshot"),
        ("Full/Terminology/sct2_Concept_Full_INT_20180731.txt", "concept", "Full"),
        ("Terminology/sct2_Concept_INT_20140731.txt", "concept", "Snapshot"),  # neither: Snapshot
        ("sct2_Concept_Snapshot_US1000124_20150301.txt", "concept", "Snapshot"),
        ("sct2_Description_Snapshot-en_INT_20250909.txt", "description", "Snapshot"),
        ("sct2_Description_Full-en_INT_20180731.txt", "description", "Full"),
        ("sct2_Description_INT_20140731.txt", "description", "Snapshot"),
        ("sct2_Relationship_Snapshot_INT_20250909.txt", "relationship", "Snapshot"),
        ("sct2_StatedRelationship_Snapshot_US1000124_20150301.txt", "stated_relationship", "Snapshot"),
        ("sct2_TextDefinition_Snapshot-en_INT_20250909.txt", "text_definition", "Snapshot"),
        ("der2_cRefset_LanguageSnapshot-en_INT_20250909.txt", "language", "Snapshot"),
        ("der2_cRefset_LanguageSnapshot-en-US_INT_20230131.txt", "language", "Snapshot"),
        ("der2_cRefset_LanguageFull-en_INT_20180731.txt", "language", "Full"),
        ("der2_cRefset_AssociationSnapshot_INT_20250909.txt", "association", "Snapshot"),
        ("der2_cRefset_AssociationReferenceFull_INT_20180731.txt", "association", "Full"),
        ("der2_AssociationReferenceSnapshot_INT_20140731.txt", "association", "Snapshot"),
        ("der2_sRefset_SimpleMapSnapshot_INT_20140731.txt", "simple_map", "Snapshot"),
        ("sct2_Concept_Delta_INT_20250909.txt", "concept", "Delta"),
    ],
)
def test_rf2_files_are_recognised_by_their_name_pattern(name, role, release_type):
    found_role, file = _classify(name)
    assert (found_role, file.release_type) == (role, release_type)


@pytest.mark.parametrize(
    "name",
    [
        "sct2_RelationshipConcreteValues_Snapshot_INT_20250909.txt",
        "sct2_sRefset_OWLExpressionSnapshot_INT_20250909.txt",
        "der2_cissccRefset_MRCMAttributeDomainSnapshot_INT_20250909.txt",
        "der2_iisssccRefset_ExtendedMapSnapshot_INT_20140731.txt",
        "der2_iisssccRefset_ComplexMapSnapshot_INT_20140731.txt",
        "der2_ssRefset_SimpleMapWithDescriptionSnapshot_12345_20241021.txt",
        "der2_cRefset_AttributeValueSnapshot_US1000124_20150301.txt",
        "Readme.txt",
    ],
)
def test_files_the_loader_does_not_read_are_not_recognised(name):
    assert _classify(name) is None


# --- a complete subset: tx-ecosystem (Sep 2025 International, Snapshot, CRLF) --------------------------


def test_a_zipped_release_loads_each_table_with_its_active_rows(store, rf2, tmp_path):
    archive = _zip(rf2 / "tx-ecosystem-int-20250909", tmp_path / "tx-ecosystem.zip")
    report = load_rf2(store, archive)
    # Concept file 2,258 rows; 6,528 of 7,882 descriptions active; 6,945 active relationships of which
    # 368 repeat a source, type and destination in another group; 29 of 33 association rows active.
    # The 340 language rows about text definitions are not reported as skipped.
    assert report.rows == {
        "concepts": 2258, "designations": 6528, "relationships": 6577, "associations": 1, "crosswalks": 0,
        "skipped": 0,
    }
    assert report.release.status is ReleaseStatus.ACTIVE
    assert (report.release.version, report.release.effective_date) == ("INT 20250909", "20250909")
    assert set(report.release.files) == {"tx-ecosystem.zip", "option:language"}


def test_a_concepts_display_is_its_en_us_preferred_synonym_and_its_kind_the_fsn_semantic_tag(store, rf2):
    load_rf2(store, rf2 / "tx-ecosystem-int-20250909")
    with store.connect() as connection:
        leukodystrophy = queries.require_concept(connection, SNOMED, "192781003")
        amiodarone = queries.require_concept(connection, SNOMED, "372821002")
        terms = {(d.term, d.type, d.preferred) for d in queries.designations(connection, SNOMED, "192781003")}
    assert (leukodystrophy.display, leukodystrophy.kind, leukodystrophy.active) == ("Leukodystrophy", "disorder", True)
    assert (amiodarone.display, amiodarone.kind) == ("Amiodarone", "substance")
    # "Leucodystrophy" is the en-GB preferred synonym; the old FSN "Leucodystrophy (disorder)" is inactive.
    assert terms == {
        ("Leukodystrophy (disorder)", "fsn", True),
        ("Leukodystrophy", "synonym", True),
        ("Leucodystrophy", "synonym", False),
    }


def test_parents_are_the_destinations_of_active_is_a_relationships(store, rf2):
    load_rf2(store, rf2 / "tx-ecosystem-int-20250909")
    assert _parents(store, "74400008") == {
        ("128121009", "Disorder of trunk"),
        ("362965005", "Disorder of body system"),
        ("406123005", "Viscus structure finding"),
    }
    assert _parents(store, "372821002") == {("410942007", "Drug or medicament")}


def test_an_inactive_concept_points_to_its_replacement_through_the_association_refset(store, rf2):
    load_rf2(store, rf2 / "tx-ecosystem-int-20250909")
    with store.connect() as connection:
        old = queries.require_concept(connection, SNOMED, "307530000")
        links = queries.associations(connection, SNOMED, "307530000")
        # The same file holds active rows of 734139008, an anatomy refset: not history, not loaded.
        skin = queries.associations(connection, SNOMED, "39937001")
        # 52988006 REPLACED BY 49755003 is an inactive row: not loaded.
        retired = queries.associations(connection, SNOMED, "52988006")
    assert (old.display, old.active) == ("Appendicitis NOS", False)
    assert links == [Association("307530000", "REPLACED BY", "74400008", "Appendicitis")]
    assert skin == []
    assert retired == []


# --- the wci "mini" sets: Stated relationships only, no language refset, map refsets --------------


def test_without_a_language_refset_the_display_is_the_fsn_without_its_tag_and_stated_is_a_gives_parents(
    store, rf2, caplog
):
    with caplog.at_level(logging.WARNING, logger="loaders.rf2"):
        report = load_rf2(store, rf2 / "wci-us-20150301-mini")
    assert "no inferred Relationship file" in caplog.text
    assert "Terminology/sct2_StatedRelationship_Snapshot_US1000124_20150301.txt" in report.release.files
    assert (report.release.version, report.release.effective_date) == ("US1000124 20150301", "20150301")
    with store.connect() as connection:
        shellfish = queries.require_concept(connection, SNOMED, "227146005")
        eggs = queries.require_concept(connection, SNOMED, "102263004")
    assert (shellfish.display, shellfish.kind) == ("Shellfish - dietary", "substance")
    assert eggs.display == "Eggs (edible)"  # from "Eggs (edible) (substance)": only the tag goes
    assert _parents(store, "227146005") == {("406465008", "Food allergen"), ("44027008", "Seafood")}


def test_names_with_neither_snapshot_nor_full_are_snapshots_and_simple_maps_become_crosswalks(sqlite_store, rf2):
    report = load_rf2(sqlite_store, rf2 / "wci-int-20140731-mini")
    # 11,680 active rows of the CTV3 and ICD-O simple maps; ComplexMap and ExtendedMap are not read.
    assert (report.rows["concepts"], report.rows["crosswalks"]) == (10293, 11680)
    with sqlite_store.connect() as connection:
        peanuts = queries.require_concept(connection, SNOMED, "91935009")
        peanut_maps = queries.crosswalks_from(connection, SNOMED, "91935009")
        leg_maps = queries.crosswalks_from(connection, SNOMED, "61685007")
    assert (peanuts.display, peanuts.kind) == ("Allergy to peanuts", "disorder")
    assert peanut_maps == [Crosswalk("91935009", "http://read.info/ctv3", "Xa1no", None, "map:900000000000497000")]
    assert leg_maps == [
        Crosswalk("61685007", "http://read.info/ctv3", "Xa1Z9", None, "map:900000000000497000"),
        Crosswalk("61685007", "http://terminology.hl7.org/CodeSystem/icd-o-3", "C76.5", None, "map:446608001"),
    ]


# --- a Full release: several rows per component ---------------------------------------------------


def test_a_full_release_keeps_only_the_latest_row_of_each_component(store, rf2):
    report = load_rf2(store, rf2 / "snowstorm-dummy-int-20180731-full", language="en-GB")
    assert report.rows["concepts"] == 102  # 113 rows of 102 concepts
    with store.connect() as connection:
        # 246188002 |Finding|: active in 2002, inactive since 20040131, and so is its is-a row.
        finding = queries.require_concept(connection, SNOMED, "246188002")
        # 243796009: its FSN "Context-dependent categories (context-dependent category)" (2002) became
        # "Context-dependent category (...)" (2006-01), then "Situation with explicit context (situation)"
        # (2006-07); en-GB preferred moved from "Context-dependent category" to "Situation with explicit context".
        situation = queries.require_concept(connection, SNOMED, "243796009")
        terms = {(d.term, d.type, d.preferred) for d in queries.designations(connection, SNOMED, "243796009")}
    assert (finding.display, finding.active) == ("Finding", False)
    assert _parents(store, "246188002") == set()
    assert (situation.display, situation.kind) == ("Situation with explicit context", "situation")
    assert terms == {
        ("Situation with explicit context (situation)", "fsn", True),
        ("Situation with explicit context", "synonym", True),
        ("Context-dependent category", "synonym", False),
        ("Context-dependent categories", "synonym", False),
    }


# --- a tiny release written here, to corrupt ------------------------------------------------------

HEADERS = {
    "concept": "id\teffectiveTime\tactive\tmoduleId\tdefinitionStatusId",
    "description": "id\teffectiveTime\tactive\tmoduleId\tconceptId\tlanguageCode\ttypeId\tterm\tcaseSignificanceId",
    "relationship": "id\teffectiveTime\tactive\tmoduleId\tsourceId\tdestinationId\trelationshipGroup\ttypeId\t"
                    "characteristicTypeId\tmodifierId",
    "language": "id\teffectiveTime\tactive\tmoduleId\trefsetId\treferencedComponentId\tacceptabilityId",
}
ROWS = {  # real rows of tx-ecosystem-int-20250909
    "concept": [
        "192781003\t20020131\t1\t900000000000207008\t900000000000074008",
        "362965005\t20020131\t1\t900000000000207008\t900000000000073002",
    ],
    "description": [
        "296959019\t20170731\t1\t900000000000207008\t192781003\ten\t900000000000013009\tLeucodystrophy\t900000000000448009",
        "482097018\t20170731\t1\t900000000000207008\t362965005\ten\t900000000000013009\tDisorder of body system\t"
        "900000000000448009",
        "509587013\t20170731\t1\t900000000000207008\t91689009\ten\t900000000000013009\tBody system structure\t"
        "900000000000448009",
        "576600014\t20090131\t0\t900000000000207008\t192781003\ten\t900000000000003001\tLeucodystrophy (disorder)\t"
        "900000000000020002",
        "754733011\t20170731\t1\t900000000000207008\t362965005\ten\t900000000000003001\t"
        "Disorder of body system (disorder)\t900000000000448009",
        "2470024014\t20170731\t1\t900000000000207008\t192781003\ten\t900000000000013009\tLeukodystrophy\t"
        "900000000000448009",
        "2788789012\t20170731\t1\t900000000000207008\t192781003\ten\t900000000000003001\tLeukodystrophy (disorder)\t"
        "900000000000448009",
    ],
    "relationship": [
        "65641000003026\t20250909\t1\t31000003106\t192781003\t362965005\t0\t116680003\t900000000000011006\t"
        "900000000000451002",
        "65651000003028\t20250909\t1\t31000003106\t192781003\t91689009\t1\t363698007\t900000000000011006\t"
        "900000000000451002",
    ],
    "language": [
        "1bc30efd-b361-5a7c-b51e-ea1b7f3312c1\t20090131\t1\t900000000000207008\t900000000000508004\t296959019\t"
        "900000000000548007",
        "93bffc87-0b62-59e6-8ef7-3c145eac486e\t20020131\t1\t900000000000207008\t900000000000509007\t482097018\t"
        "900000000000548007",
        "c2a926ff-153f-5042-bc73-6a0853fa7ae4\t20020131\t1\t900000000000207008\t900000000000508004\t509587013\t"
        "900000000000548007",
        "7acf5bb6-47cb-53b7-b3b4-a7c0632712b6\t20020131\t1\t900000000000207008\t900000000000509007\t509587013\t"
        "900000000000548007",
        "dbb69134-7150-58bf-92ae-856deafab2df\t20090131\t0\t900000000000207008\t900000000000509007\t576600014\t"
        "900000000000548007",
        "80e81e63-b652-5c04-afb6-44f0733b346f\t20020131\t1\t900000000000207008\t900000000000509007\t754733011\t"
        "900000000000548007",
        "863b5423-e66b-53b5-a6a1-47faac9b96c4\t20040731\t1\t900000000000207008\t900000000000509007\t2470024014\t"
        "900000000000548007",
        "e9390459-f289-58e5-828f-73e5ccb8ef93\t20090131\t1\t900000000000207008\t900000000000509007\t2788789012\t"
        "900000000000548007",
        "c2826283-3c8a-5a1d-bd7b-cf72b364868a\t20090131\t1\t900000000000207008\t900000000000508004\t2788789012\t"
        "900000000000548007",
    ],
}
NAMES = {
    "concept": "Snapshot/Terminology/sct2_Concept_Snapshot_INT_{date}.txt",
    "description": "Snapshot/Terminology/sct2_Description_Snapshot-en_INT_{date}.txt",
    "relationship": "Snapshot/Terminology/sct2_Relationship_Snapshot_INT_{date}.txt",
    "language": "Snapshot/Refset/Language/der2_cRefset_LanguageSnapshot-en_INT_{date}.txt",
}
Edit = Callable[[list[str]], "list[str] | bytes | None"]


def _tiny_release(root: Path, date: str = "20250909", edits: dict[str, Edit] | None = None) -> Path:
    """The tiny release as a Snapshot folder with CRLF lines; `edits` change a file's lines (header first),
    give its bytes, or leave it out (None)."""
    for kind, name in NAMES.items():
        lines: list[str] | bytes | None = [HEADERS[kind], *ROWS[kind]]
        if edits and kind in edits:
            lines = edits[kind](lines)
        if lines is None:
            continue
        path = root / name.format(date=date)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(lines if isinstance(lines, bytes) else "".join(f"{line}\r\n" for line in lines).encode())
    return root


def _replace(line: int, old: str, new: str) -> Edit:
    """An edit of line `line` (1 = header) of a file: `old` becomes `new`."""

    def edit(lines: list[str]) -> list[str]:
        assert old in lines[line - 1]
        lines[line - 1] = lines[line - 1].replace(old, new, 1)
        return lines

    return edit


def test_rows_about_components_outside_the_release_are_skipped_and_reported_with_file_and_line(store, tmp_path):
    report = load_rf2(store, _tiny_release(tmp_path / "tiny"))
    description = "sct2_Description_Snapshot-en_INT_20250909.txt"
    relationship = "sct2_Relationship_Snapshot_INT_20250909.txt"
    language = "der2_cRefset_LanguageSnapshot-en_INT_20250909.txt"
    expected = [
        SkippedRow(description, 4, "description 509587013: concept 91689009 is not in the concept file"),
        SkippedRow(language, 4, "language row for description 509587013, which is not loaded"),
        SkippedRow(language, 5, "language row for description 509587013, which is not loaded"),
        SkippedRow(relationship, 3, "relationship 65651000003028: concept 91689009 is not in the concept file"),
    ]
    assert report.skipped == expected
    assert report.rows == {
        "concepts": 2, "designations": 5, "relationships": 1, "associations": 0, "crosswalks": 0, "skipped": 4,
    }
    with store.connect() as connection:
        issues = connection.execute(
            select(schema.load_issues.c.file, schema.load_issues.c.line, schema.load_issues.c.problem)
            .where(schema.load_issues.c.release_id == report.release.id)
            .order_by(schema.load_issues.c.file, schema.load_issues.c.line)
        ).all()
    assert [SkippedRow(*issue) for issue in issues] == sorted(expected, key=lambda row: (row.file, row.line))


def test_en_gb_gives_the_british_preferred_synonym_and_is_another_release_than_en_us(sqlite_store, tmp_path):
    release = _tiny_release(tmp_path / "tiny")
    american = load_rf2(sqlite_store, release)
    british = load_rf2(sqlite_store, release, language="en-GB")
    assert not british.already_loaded and british.release.id != american.release.id
    with sqlite_store.connect() as connection:
        assert queries.require_concept(connection, SNOMED, "192781003").display == "Leucodystrophy"
        preferred = {d.term for d in queries.designations(connection, SNOMED, "192781003") if d.preferred}
    assert preferred == {"Leucodystrophy", "Leukodystrophy (disorder)"}


def test_a_language_other_than_en_us_or_en_gb_is_refused(sqlite_store, tmp_path):
    with pytest.raises(ValueError, match="en-US, en-GB"):
        load_rf2(sqlite_store, _tiny_release(tmp_path / "tiny"), language="fr-FR")


def test_loading_the_same_release_twice_is_a_no_op_that_says_so(store, tmp_path):
    release = _tiny_release(tmp_path / "tiny")
    first = load_rf2(store, release)
    again = load_rf2(store, release)
    assert again.already_loaded and again.release.id == first.release.id
    with store.connect() as connection:
        assert len(list_releases(connection, SNOMED)) == 1


def test_snapshot_files_are_read_rather_than_full_files_of_the_same_release(sqlite_store, tmp_path):
    release = _tiny_release(tmp_path / "tiny")
    full = release / "Full/Terminology/sct2_Concept_Full_INT_20250909.txt"
    full.parent.mkdir(parents=True)
    full.write_text(f"{HEADERS['concept']}\r\n91689009\t20020131\t1\t900000000000207008\t900000000000074008\r\n")
    report = load_rf2(sqlite_store, release)
    assert report.rows["concepts"] == 2
    assert "Full/Terminology/sct2_Concept_Full_INT_20250909.txt" not in report.release.files


# --- what a load refuses: the error names file and line, and nothing stored changes ----------------


def _latin1_term(lines: list[str]) -> bytes:
    """The description file with line 3 (`Disorder of body system`) in latin-1, as `Désordre ...`."""
    lines[2] = lines[2].replace("Disorder", "Désordre")
    return "".join(f"{line}\r\n" for line in lines).encode("latin-1")


def _line_without_last_column(line: int) -> Edit:
    def edit(lines: list[str]) -> list[str]:
        lines[line - 1] = lines[line - 1].rsplit("\t", 1)[0]
        return lines

    return edit


MALFORMED = {
    "a row with a column missing": (
        "description", _line_without_last_column(3), MalformedRow, 3, "expected 9 columns, found 8"),
    "a concept id with a letter": (
        "concept", _replace(2, "192781003", "19278100X"), MalformedRow, 2,
        "id '19278100X' is not an SCTID"),
    "a destination id of 5 digits": (
        "relationship", _replace(2, "\t362965005\t", "\t36296\t"), MalformedRow, 2,
        "destinationId '36296' is not an SCTID"),
    "a language refsetId with a leading zero": (
        "language", _replace(3, "900000000000509007", "0900000000000509007"), MalformedRow, 3,
        "refsetId '0900000000000509007' is not an SCTID"),
    "an active flag of 2": (
        "language", _replace(2, "\t20090131\t1\t", "\t20090131\t2\t"), MalformedRow, 2,
        "active '2' is neither 0 nor 1"),
    "an effectiveTime with dashes": (
        "description", _replace(7, "20170731", "2017-07-31"), MalformedRow, 7,
        "effectiveTime '2017-07-31' is not 8 digits"),
    "latin-1 bytes": ("description", _latin1_term, UnreadableEncoding, 3, "not valid utf-8"),
    "a header without conceptId": (
        "description", _replace(1, "conceptId", "concept"), MissingColumn, 1, "header lacks column(s) conceptId"),
    "a concept twice": (
        "concept", lambda lines: [*lines, lines[1]], ConflictingRow, 4, "concept 192781003 appears twice"),
}


def _assert_only_previous_release_active(engine, previous) -> None:
    """`previous` is still the active release, with all its rows; the refused release is failed and empty."""
    with engine.connect() as connection:
        releases = list_releases(connection, SNOMED)
        assert [(r.version, r.status) for r in releases] == [
            ("INT 20250909", ReleaseStatus.FAILED), ("INT 20250301", ReleaseStatus.ACTIVE),
        ]
        assert active_release(connection, SNOMED).row_counts == previous.row_counts
        assert _content_rows(connection, previous.id) == {
            "designations": 5, "relationships": 1, "associations": 0, "crosswalks": 0, "load_issues": 4, "concepts": 2,
        }
        assert set(_content_rows(connection, releases[0].id).values()) == {0}
        assert queries.require_concept(connection, SNOMED, "192781003").display == "Leukodystrophy"


@pytest.mark.parametrize(("kind", "edit", "error", "line", "problem"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_file_is_refused_naming_file_and_line_and_the_previous_release_stays(
    sqlite_store, tmp_path, kind, edit, error, line, problem
):
    previous = load_rf2(sqlite_store, _tiny_release(tmp_path / "previous", date="20250301")).release
    bad = _tiny_release(tmp_path / "bad", edits={kind: edit})
    with pytest.raises(error) as refused:
        load_rf2(sqlite_store, bad, batch_size=1)  # every staged row is committed before the error
    name = NAMES[kind].format(date="20250909")
    assert refused.value.file == str(bad / name) and refused.value.line == line
    assert f"{Path(name).name}, line {line}: " in str(refused.value) and problem in str(refused.value)
    _assert_only_previous_release_active(sqlite_store, previous)


def test_a_load_refused_in_its_last_file_purges_what_it_had_staged(store, tmp_path):
    previous = load_rf2(store, _tiny_release(tmp_path / "previous", date="20250301")).release
    bad = _tiny_release(tmp_path / "bad", edits={"relationship": _line_without_last_column(3)})
    with pytest.raises(MalformedRow, match="sct2_Relationship_Snapshot_INT_20250909.txt, line 3: expected 10 columns"):
        load_rf2(store, bad, batch_size=1)  # concepts and designations are committed by then
    _assert_only_previous_release_active(store, previous)


def test_an_error_inside_a_zip_names_the_member_and_line(sqlite_store, tmp_path):
    folder = _tiny_release(tmp_path / "SnomedCT_Tiny", edits={"relationship": _line_without_last_column(2)})
    with pytest.raises(MalformedRow) as refused:
        load_rf2(sqlite_store, _zip(folder, tmp_path / "tiny.zip"))
    assert refused.value.file == "SnomedCT_Tiny/Snapshot/Terminology/sct2_Relationship_Snapshot_INT_20250909.txt"
    assert refused.value.line == 2


def test_a_release_without_a_description_file_is_refused_before_anything_is_staged(store, tmp_path):
    previous = load_rf2(store, _tiny_release(tmp_path / "previous", date="20250301")).release
    with pytest.raises(SourceNotFound, match="no RF2 Description file"):
        load_rf2(store, _tiny_release(tmp_path / "bad", edits={"description": lambda lines: None}))
    with store.connect() as connection:
        assert [release.id for release in list_releases(connection, SNOMED)] == [previous.id]
        assert active_release(connection, SNOMED).row_counts == previous.row_counts


def test_a_path_holding_two_releases_is_refused(sqlite_store, tmp_path):
    _tiny_release(tmp_path / "both" / "a", date="20250301")
    _tiny_release(tmp_path / "both" / "b", date="20250909")
    with pytest.raises(LoadError, match="2 Concept files"):
        load_rf2(sqlite_store, tmp_path / "both")


def test_a_path_that_is_neither_folder_nor_zip_is_refused(sqlite_store, tmp_path):
    with pytest.raises(SourceNotFound, match="does not exist"):
        load_rf2(sqlite_store, tmp_path / "nowhere")
    text = tmp_path / "release.txt"
    text.write_text("not a release")
    with pytest.raises(SourceNotFound, match="neither a folder nor a zip"):
        load_rf2(sqlite_store, text)
