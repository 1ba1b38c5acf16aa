"""The benchmark generator writes files a real loader would take for a real release (tiny scale here)."""
from __future__ import annotations

import hashlib
import importlib
import json
from collections import defaultdict
from pathlib import Path

import pytest

from benchmarks.generate import (
    MANIFEST,
    RF2_FILES,
    RF2_HEADERS,
    RRF_COLUMNS,
    RRF_FILES,
    generate_rf2,
    generate_rxnorm,
    is_valid_sctid,
    main,
)

SCALE = 0.002
ROOT = "138875005"
IS_A = "116680003"

#: Real SCTIDs (from the shared RF2 samples and the International release), to anchor the check digit.
REAL_SCTIDS = (
    "138875005", "404684003", "71388002", "116680003", "900000000000207008", "900000000000548007",
    "31000003106", "91000003111", "101000003112", "1011000003024", "449015009", "91936005", "1186921001",
)


def _p(position: int, digit: int) -> int:
    """Verhoeff's position permutation, built by repeating p1 (not copied from the generator's table)."""
    for _ in range(position % 8):
        digit = (1, 5, 7, 6, 2, 8, 3, 0, 9, 4)[digit]
    return digit


def _d(j: int, k: int) -> int:
    """Multiplication in the dihedral group D5, the operation Verhoeff's check is built on."""
    if j < 5:
        return (j + k) % 5 if k < 5 else 5 + (j + k) % 5
    return 5 + (j - k) % 5 if k < 5 else (j - k) % 5


def verhoeff_ok(number: str) -> bool:
    c = 0
    for position, digit in enumerate(reversed(number)):
        c = _d(c, _p(position, int(digit)))
    return c == 0


@pytest.fixture(scope="module")
def rf2(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rf2")
    generate_rf2(out, SCALE)
    return out


@pytest.fixture(scope="module")
def rrf(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rxnorm")
    generate_rxnorm(out, SCALE)
    return out


def rf2_lines(release: Path, kind: str) -> list[str]:
    return (release / RF2_FILES[kind]).read_bytes().decode("utf-8").split("\r\n")


def rf2_rows(release: Path, kind: str) -> list[list[str]]:
    return [line.split("\t") for line in rf2_lines(release, kind)[1:-1]]


def rrf_rows(release: Path, name: str) -> list[list[str]]:
    text = (release / RRF_FILES[name]).read_text(encoding="utf-8")
    return [line.split("|")[:-1] for line in text.split("\n")[:-1]]


# ---- the check digit itself


@pytest.mark.parametrize("sctid", REAL_SCTIDS)
def test_real_sctids_pass_the_check_digit_test(sctid):
    assert verhoeff_ok(sctid)
    assert is_valid_sctid(sctid)


@pytest.mark.parametrize("sctid", REAL_SCTIDS)
def test_a_changed_digit_fails_the_check(sctid):
    changed = sctid[:-2] + str((int(sctid[-2]) + 1) % 10) + sctid[-1]
    assert not verhoeff_ok(changed)
    assert not is_valid_sctid(changed)


# ---- RF2


def test_rf2_files_have_the_international_release_names(rf2):
    names = sorted(str(path.relative_to(rf2)) for path in rf2.rglob("*.txt"))
    assert names == sorted([
        "Snapshot/Refset/Content/der2_cRefset_AssociationSnapshot_INT_20250901.txt",
        "Snapshot/Refset/Language/der2_cRefset_LanguageSnapshot-en_INT_20250901.txt",
        "Snapshot/Terminology/sct2_Concept_Snapshot_INT_20250901.txt",
        "Snapshot/Terminology/sct2_Description_Snapshot-en_INT_20250901.txt",
        "Snapshot/Terminology/sct2_Relationship_Snapshot_INT_20250901.txt",
    ])


@pytest.mark.parametrize("kind", sorted(RF2_FILES))
def test_rf2_files_have_the_exact_header_and_tab_separated_crlf_rows(rf2, kind):
    raw = (rf2 / RF2_FILES[kind]).read_bytes()
    assert raw.endswith(b"\r\n") and raw.count(b"\n") == raw.count(b"\r\n")
    lines = rf2_lines(rf2, kind)
    assert lines[0].split("\t") == list(RF2_HEADERS[kind])
    assert lines[-1] == ""
    assert len(lines) > 3
    width = len(RF2_HEADERS[kind])
    assert all(len(line.split("\t")) == width for line in lines[1:-1])


def test_every_component_id_is_an_sctid_of_its_partition(rf2):
    for kind, partition in (("concept", "00"), ("description", "01"), ("relationship", "02")):
        for row in rf2_rows(rf2, kind):
            assert row[0][-3:-1] == partition and row[0][0] != "0", row
            assert verhoeff_ok(row[0]), row


def test_refset_members_have_uuid_ids_and_every_field_is_filled(rf2):
    for kind in ("language", "association"):
        for row in rf2_rows(rf2, kind):
            assert [len(part) for part in row[0].split("-")] == [8, 4, 4, 4, 12], row
            assert all(row), row


def test_ids_are_unique_within_each_file(rf2):
    for kind in RF2_FILES:
        ids = [row[0] for row in rf2_rows(rf2, kind)]
        assert len(ids) == len(set(ids)), kind


def test_concepts_are_mostly_active_with_some_inactive(rf2):
    active = [row[2] for row in rf2_rows(rf2, "concept")]
    inactive_share = active.count("0") / len(active)
    assert set(active) == {"0", "1"} and 0.02 < inactive_share < 0.15


def test_relationship_sources_targets_and_types_are_concepts_of_the_release(rf2):
    concepts = {row[0] for row in rf2_rows(rf2, "concept")}
    for row in rf2_rows(rf2, "relationship"):
        assert {row[4], row[5], row[7], row[3], row[8], row[9]} <= concepts, row


def test_active_is_a_relationships_form_a_dag_rooted_at_snomed_ct_concept(rf2):
    active = {row[0] for row in rf2_rows(rf2, "concept") if row[2] == "1"}
    parents: dict[str, set[str]] = defaultdict(set)
    for row in rf2_rows(rf2, "relationship"):
        if row[2] == "1" and row[7] == IS_A:
            assert row[4] in active and row[5] in active, row
            parents[row[4]].add(row[5])
    assert not parents[ROOT]
    reaches_root: dict[str, bool] = {ROOT: True}

    def climbs(concept: str, path: frozenset[str]) -> bool:
        assert concept not in path, f"cycle through {concept}"
        if concept not in reaches_root:
            reaches_root[concept] = bool(parents[concept]) and all(
                climbs(parent, path | {concept}) for parent in parents[concept]
            )
        return reaches_root[concept]

    assert all(climbs(concept, frozenset()) for concept in active)


def test_every_active_concept_has_one_fsn_with_a_semantic_tag(rf2):
    fsns: dict[str, int] = defaultdict(int)
    for row in rf2_rows(rf2, "description"):
        if row[2] == "1" and row[6] == "900000000000003001":
            fsns[row[4]] += 1
            assert row[7].endswith(")") and " (" in row[7], row
    concepts = [row[0] for row in rf2_rows(rf2, "concept")]
    assert all(fsns[concept] == 1 for concept in concepts)


def test_language_rows_refer_to_descriptions_in_both_dialects(rf2):
    descriptions = {row[0] for row in rf2_rows(rf2, "description")}
    refsets = defaultdict(int)
    for row in rf2_rows(rf2, "language"):
        assert row[5] in descriptions, row
        assert row[6] in ("900000000000548007", "900000000000549004")
        refsets[row[4]] += 1
    assert set(refsets) == {"900000000000509007", "900000000000508004"}


def test_associations_link_inactive_concepts_to_active_ones(rf2):
    status = {row[0]: row[2] for row in rf2_rows(rf2, "concept")}
    rows = rf2_rows(rf2, "association")
    assert rows
    for row in rows:
        assert status[row[5]] == "0" and status[row[6]] == "1", row


def test_the_manifest_counts_the_rows_of_each_file(rf2):
    manifest = json.loads((rf2 / MANIFEST).read_text())
    for kind, entry in manifest["files"].items():
        assert entry["rows"] == len(rf2_rows(rf2, kind)), kind
    counts = manifest["counts"]
    assert counts["concepts_active"] + counts["concepts_inactive"] == manifest["files"]["concept"]["rows"]


def test_the_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path):
    def digest(folder: Path) -> str:
        return hashlib.sha256(b"".join(path.read_bytes() for path in sorted(folder.rglob("*.txt")))).hexdigest()

    generate_rf2(tmp_path / "a", 0.001)
    generate_rf2(tmp_path / "b", 0.001)
    generate_rf2(tmp_path / "c", 0.001, seed=7)
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")


def test_the_command_line_writes_a_release(tmp_path, capsys):
    assert main(["rxnorm", str(tmp_path / "rx"), "--scale", "0.001"]) == 0
    assert (tmp_path / "rx" / "rrf" / "RXNCONSO.RRF").stat().st_size > 0
    assert "RXNCONSO" in capsys.readouterr().err


# ---- RxNorm RRF


@pytest.mark.parametrize("name", ["RXNCONSO", "RXNREL", "RXNSAT", "RXNCUI", "RXNSTY", "RXNSAB"])
def test_rrf_rows_have_the_exact_field_count_a_trailing_bar_and_lf_ends(rrf, name):
    raw = (rrf / RRF_FILES[name]).read_bytes()
    assert b"\r" not in raw and raw.endswith(b"|\n")
    lines = raw.decode("utf-8").split("\n")[:-1]
    assert lines
    assert all(line.endswith("|") and line.count("|") == len(RRF_COLUMNS[name]) for line in lines), name


def test_rxnconso_has_rxnorm_term_types_and_other_sources(rrf):
    rows = rrf_rows(rrf, "RXNCONSO")
    sources = {row[11] for row in rows}
    rxnorm_ttys = {row[12] for row in rows if row[11] == "RXNORM"}
    assert {"RXNORM", "SNOMEDCT_US", "MTHSPL", "VANDF"} <= sources
    assert {"IN", "PIN", "MIN", "SCD", "SBD", "BN", "SCDC", "SBDC", "SCDF", "DF", "SY", "TMSY", "PSN"} <= rxnorm_ttys
    assert {row[16] for row in rows} >= {"N", "O"}
    assert all(row[1] == "ENG" and row[0].isdigit() and row[7].isdigit() for row in rows)
    assert len({row[7] for row in rows}) == len(rows), "RXAUIs are unique"
    for row in rows:
        if row[11] == "RXNORM":
            assert row[13] == row[0] == row[9], row  # CODE and SCUI are the RXCUI
        if row[11] == "SNOMEDCT_US":
            assert is_valid_sctid(row[13], "00"), row


def test_rxnrel_links_rxcuis_and_atoms_that_rxnconso_has(rrf):
    conso = rrf_rows(rrf, "RXNCONSO")
    rxcuis = {row[0] for row in conso}
    atoms = {row[7]: row[0] for row in conso}
    relas = set()
    for row in rrf_rows(rrf, "RXNREL"):
        assert row[0] in rxcuis and row[4] in rxcuis, row
        if row[2] == "AUI":
            assert atoms[row[1]] == row[0] and atoms[row[5]] == row[4], row
        else:
            assert row[2] == row[6] == "CUI" and row[1] == row[5] == "", row
        relas.add(row[7])
    assert {"has_ingredient", "ingredient_of", "consists_of", "constitutes", "tradename_of", "has_tradename",
            "has_dose_form", "dose_form_of", "isa", "inverse_isa"} <= relas


def test_every_rxnorm_relationship_comes_with_its_inverse(rrf):
    pairs = {(row[0], row[7], row[4]) for row in rrf_rows(rrf, "RXNREL") if row[10] == "RXNORM"}
    inverse = {"has_ingredient": "ingredient_of", "consists_of": "constitutes", "tradename_of": "has_tradename",
               "has_dose_form": "dose_form_of", "isa": "inverse_isa"}
    for cui1, rela, cui2 in pairs:
        if rela in inverse:
            assert (cui2, inverse[rela], cui1) in pairs


def test_rxnsat_holds_ndcs_on_existing_atoms(rrf):
    atoms = {row[7]: row[0] for row in rrf_rows(rrf, "RXNCONSO")}
    ndcs = [row for row in rrf_rows(rrf, "RXNSAT") if row[8] == "NDC"]
    assert any(row[9] == "RXNORM" for row in ndcs) and any(row[9] == "MTHSPL" for row in ndcs)
    for row in rrf_rows(rrf, "RXNSAT"):
        assert atoms[row[3]] == row[0], row
    for row in ndcs:
        if row[9] == "RXNORM":
            assert len(row[10]) == 11 and row[10].isdigit(), row


def test_rxncui_remaps_retired_rxcuis_to_current_ones(rrf):
    current = {row[0] for row in rrf_rows(rrf, "RXNCONSO")}
    rows = rrf_rows(rrf, "RXNCUI")
    assert rows
    for cui1, start, end, cardinality, cui2 in rows:
        assert cui1 not in current and cui2 in current and cardinality == "1"
        assert start.startswith("RXNORM_") and start <= end


# ---- the loaders take the generated files (once they exist)


def _loader(module: str, name: str):
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        pytest.skip(f"{module}.{name} cannot be imported yet ({exc}); the generator is tested above")


def test_the_rf2_loader_loads_the_generated_release_with_the_expected_row_counts(rf2, sqlite_store):
    load_rf2 = _loader("loaders.rf2", "load_rf2")
    concepts = rf2_rows(rf2, "concept")
    active = [row for row in rf2_rows(rf2, "description") if row[2] == "1"]
    relationships = {(row[4], row[7], row[5]) for row in rf2_rows(rf2, "relationship") if row[2] == "1"}
    associations = [row for row in rf2_rows(rf2, "association") if row[2] == "1"]

    report = load_rf2(sqlite_store, rf2)

    assert not report.skipped
    assert report.rows == {
        "concepts": len(concepts),
        "designations": len(active),  # every active FSN and synonym; inactive ones are not designations
        "relationships": len(relationships),  # active rows, one per (source, type, destination)
        "associations": len(associations),
        "crosswalks": 0,  # no simple map refset in the generated release
        "skipped": 0,
    }


def test_the_rxnorm_loader_loads_the_generated_release_with_the_expected_row_counts(rrf, sqlite_store):
    load_rxnorm = _loader("loaders.rxnorm_rrf", "load_rxnorm")
    conso = rrf_rows(rrf, "RXNCONSO")
    rxnorm = [row for row in conso if row[11] == "RXNORM"]
    ndcs = {(row[0], row[10], row[11]) for row in rrf_rows(rrf, "RXNSAT") if row[8] == "NDC" and row[9] == "RXNORM"}
    relationships = [row for row in rrf_rows(rrf, "RXNREL") if row[10] == "RXNORM" and row[7]]

    report = load_rxnorm(sqlite_store, rrf)

    assert not report.skipped
    assert report.release.version == "09022025"  # from the Readme, as for a real release
    assert report.rows == {
        "concepts": len({row[0] for row in rxnorm}),
        "designations": len(rxnorm),  # every RXNORM atom (all ENG)
        "crosswalks": len(conso) - len(rxnorm) + len(ndcs),  # other sources' atoms + RxNorm's NDCs
        "relationships": len(relationships),
        "associations": len(rrf_rows(rrf, "RXNCUI")),
        "skipped": 0,
    }
