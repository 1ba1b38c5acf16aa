"""demo/ is what scripts/make_demo_data.py writes, in the exact release formats, and every code in it is real."""
from __future__ import annotations

import csv
import functools
import importlib.util
import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parent.parent
DEMO = PROJECT / "demo"
SCRIPT = PROJECT / "scripts" / "make_demo_data.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("make_demo_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


demo_data = _load_script()

RF2 = {role: DEMO / name for role, (name, _header) in demo_data.RF2_FILES.items()}
RRF = DEMO / demo_data.RXNORM_DIR / "rrf"
ROOT = "138875005"
IS_A = "116680003"


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "build" not in path.relative_to(folder).parts
    }


def _rf2_rows(role: str) -> list[list[str]]:
    lines = RF2[role].read_bytes().decode("utf-8").split("\r\n")
    assert lines[-1] == ""
    return [line.split("\t") for line in lines[1:-1]]


def _rrf_rows(name: str) -> list[list[str]]:
    text = (RRF / name).read_bytes().decode("utf-8")
    return [line.split("|")[:-1] for line in text.splitlines()]


def _column(role: str, name: str) -> int:
    return demo_data.RF2_FILES[role][1].index(name)


# --------------------------------------------------------------------------------------------
# The script and the committed files
# --------------------------------------------------------------------------------------------
def test_the_script_regenerates_the_committed_demo_set_byte_for_byte(tmp_path):
    demo_data.generate(tmp_path)
    assert _files(tmp_path) == _files(DEMO)


def test_two_runs_write_the_same_bytes(tmp_path):
    demo_data.generate(tmp_path / "a")
    demo_data.generate(tmp_path / "b")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


@pytest.mark.slow
def test_the_script_runs_alone_without_the_shared_samples(tmp_path):
    lonely = tmp_path / "clone" / "scripts" / "make_demo_data.py"
    lonely.parent.mkdir(parents=True)
    shutil.copy(SCRIPT, lonely)
    subprocess.run([sys.executable, str(lonely), "--out", str(tmp_path / "out")], check=True, cwd=tmp_path,
                   capture_output=True)
    assert _files(tmp_path / "out") == _files(DEMO)


# --------------------------------------------------------------------------------------------
# RF2 structure
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", sorted(demo_data.RF2_FILES))
def test_every_rf2_file_has_the_exact_header_crlf_lines_and_the_right_column_count(role):
    raw = RF2[role].read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    header = text.split("\r\n", 1)[0].split("\t")
    assert tuple(header) == demo_data.RF2_FILES[role][1]
    rows = _rf2_rows(role)
    assert rows and all(len(row) == len(header) for row in rows)
    assert all(len(row[1]) == 8 and row[1].isdigit() and row[2] in {"0", "1"} for row in rows)


def test_component_ids_are_unique_sctids_with_a_valid_check_digit():
    for role in ("concept", "description", "relationship"):
        ids = [row[0] for row in _rf2_rows(role)]
        assert len(ids) == len(set(ids)), role
        assert all(demo_data.is_valid_sctid(sctid) for sctid in ids), role


def test_verhoeff_check_digit_agrees_with_real_sctids():
    for real in ("116680003", "900000000000003001", "442571000124108", "814527017", "1003774007"):
        assert demo_data.is_valid_sctid(real)
    assert not demo_data.is_valid_sctid("116680004")


def test_every_relationship_and_association_endpoint_is_a_concept_in_the_file():
    concepts = {row[0] for row in _rf2_rows("concept")}
    for row in _rf2_rows("relationship"):
        source, destination, type_ = row[4], row[5], row[7]
        assert {source, destination, type_} <= concepts, row
    for row in _rf2_rows("association"):
        assert {row[4], row[5], row[6]} <= concepts, row


def test_every_id_the_files_use_as_metadata_is_a_concept_in_the_file():
    concepts = {row[0] for row in _rf2_rows("concept")}
    used = set()
    for row in _rf2_rows("concept"):
        used |= {row[3], row[4]}
    for row in _rf2_rows("description"):
        used |= {row[3], row[6], row[8]}
    for row in _rf2_rows("relationship"):
        used |= {row[3], row[7], row[8], row[9]}
    for row in _rf2_rows("language"):
        used |= {row[3], row[4], row[6]}
    assert used <= concepts, sorted(used - concepts)


def test_every_language_row_points_at_a_description_in_the_file_and_every_description_has_one():
    descriptions = {row[0] for row in _rf2_rows("description")}
    described = [row[5] for row in _rf2_rows("language")]
    assert set(described) <= descriptions
    assert sorted(described) == sorted(descriptions)


def test_every_concept_has_one_preferred_fsn_and_one_preferred_synonym_in_en_us():
    acceptability = {row[5]: row[6] for row in _rf2_rows("language")}
    preferred = defaultdict(list)
    for row in _rf2_rows("description"):
        if acceptability[row[0]] == demo_data.PREFERRED:
            preferred[row[4]].append(row[6])
    for concept in (row[0] for row in _rf2_rows("concept")):
        assert sorted(preferred[concept]) == [demo_data.FSN, demo_data.SYNONYM], concept


def test_every_active_concept_but_the_root_reaches_the_root_by_is_a():
    rows = _rf2_rows("concept")
    active = {row[0] for row in rows if row[2] == "1"}
    parents = defaultdict(set)
    for row in _rf2_rows("relationship"):
        if row[7] == IS_A:
            parents[row[4]].add(row[5])
    for concept in active - {ROOT}:
        seen, todo = set(), [concept]
        while todo:
            for parent in parents[todo.pop()]:
                assert parent != concept, f"is-a cycle through {concept}"
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        assert ROOT in seen and seen <= active, concept


def test_inactive_concepts_have_no_relationships_but_a_historical_association():
    inactive = {row[0] for row in _rf2_rows("concept") if row[2] == "0"}
    assert inactive
    assert not inactive & {row[4] for row in _rf2_rows("relationship")}
    associated = {row[5] for row in _rf2_rows("association")}
    assert inactive <= associated
    refsets = {row[4] for row in _rf2_rows("association")}
    assert {"900000000000527005", "900000000000526001", "900000000000523009"} <= refsets


def test_the_negation_situations_are_all_in_the_demo():
    concepts = {row[0] for row in _rf2_rows("concept") if row[2] == "1"}
    assert {"716186003", "409137002", "429625007", "428607008", "716184000", "1003774007"} <= concepts


# --------------------------------------------------------------------------------------------
# RRF structure
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(demo_data.RRF_COLUMNS))
def test_every_rrf_row_has_the_right_field_count_a_trailing_pipe_and_lf_ends(name):
    raw = (RRF / name).read_bytes()
    assert b"\r" not in raw and raw.endswith(b"|\n")
    lines = raw.decode("utf-8").splitlines()
    assert lines and all(line.endswith("|") and line.count("|") == demo_data.RRF_COLUMNS[name] for line in lines)


def test_every_rxnrel_rxcui_is_in_rxnconso_and_every_row_has_its_inverse():
    rxcuis = {row[0] for row in _rrf_rows("RXNCONSO.RRF") if row[11] == "RXNORM"}
    rows = {(row[0], row[7], row[4]) for row in _rrf_rows("RXNREL.RRF")}
    inverse = {**demo_data.INVERSE, **{b: a for a, b in demo_data.INVERSE.items()}}
    for cui1, rela, cui2 in rows:
        assert {cui1, cui2} <= rxcuis
        assert (cui2, inverse[rela], cui1) in rows


def test_rxnsat_ndcs_are_eleven_digit_rxnorm_ndcs_of_demo_concepts():
    rxcuis = {row[0] for row in _rrf_rows("RXNCONSO.RRF")}
    auis = {row[7] for row in _rrf_rows("RXNCONSO.RRF")}
    for row in _rrf_rows("RXNSAT.RRF"):
        assert row[0] in rxcuis and row[3] in auis
        assert (row[8], row[9]) == ("NDC", "RXNORM") and len(row[10]) == 11 and row[10].isdigit()


def test_rxncui_rows_remap_to_concepts_of_the_demo():
    rxcuis = {row[0] for row in _rrf_rows("RXNCONSO.RRF")}
    assert all(row[4] in rxcuis and row[0] not in rxcuis for row in _rrf_rows("RXNCUI.RRF"))


def test_penicillin_v_tablets_reach_their_ingredient_through_the_component():
    rows = {(row[4], row[7], row[0]) for row in _rrf_rows("RXNREL.RRF")}  # (RXCUI2, RELA, RXCUI1)
    assert ("834061", "consists_of", "834060") in rows
    assert ("834060", "has_ingredient", "7984") in rows
    assert ("7984", "ingredient_of", "834060") in rows


# --------------------------------------------------------------------------------------------
# Local tables
# --------------------------------------------------------------------------------------------
def _csv(name: str) -> list[dict[str, str]]:
    with open(DEMO / "local" / name, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_local_tables_point_only_at_demo_codes_and_keep_the_misspellings_unmapped():
    snomed = {row[0] for row in _rf2_rows("concept") if row[2] == "1"}
    rxnorm = {row[0] for row in _rrf_rows("RXNCONSO.RRF") if row[11] == "RXNORM"}
    allergens = _csv("allergens.csv")
    formulary = _csv("pharmacy_formulary.csv")
    assert len({row["code"] for row in allergens}) == len(allergens) >= 40
    assert len({row["code"] for row in formulary}) == len(formulary) >= 15
    assert {row["snomed"] for row in allergens if row["snomed"]} <= snomed
    assert {row["rxnorm"] for row in formulary if row["rxnorm"]} <= rxnorm
    by_name = {row["name"]: row for row in allergens}
    assert by_name["Amoxycilin"]["snomed"] == by_name["Ibuprofin"]["snomed"] == ""
    assert by_name["Penicillins"]["code"] == "PCN" and by_name["No Known Allergies"]["code"] == "NKA"


@pytest.mark.parametrize("table, target", [("allergens", "snomed"), ("pharmacy_formulary", "rxnorm")])
def test_column_maps_name_columns_the_tables_have(table, target):
    columns = yaml.safe_load((DEMO / "local" / f"{table}.columns.yaml").read_text(encoding="utf-8"))
    header = _csv(f"{table}.csv")[0].keys()
    named = {columns[key] for key in ("code", "display", "kind", "synonyms", "target_code")}
    assert named <= set(header) and columns["target_code"] == target and columns["synonym_separator"] == "|"


# --------------------------------------------------------------------------------------------
# Real codes: checked against ../shared/data when it is there
# --------------------------------------------------------------------------------------------
SNOMED_SETS = ("tx-ecosystem-int-20250909", "wci-us-20150301-mini", "wci-int-20140731-mini")
#: SNOMED CT ids checked only in public repositories outside ../shared (named in the script's SOURCES).
ONLY_OUTSIDE_SHARED = {"716186003", "429625007", "428607008", "716184000", "1003774007", "27658006"}
#: ids in ../shared whose FSN is taken from a public repository (ch-ig, ips-fsh): the shared file has another display.
FSN_OUTSIDE_SHARED = {"91936005", "409137002"}


def _shared_rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8") as handle:
        next(handle)
        return [line.rstrip("\r\n").split("\t") for line in handle]


@functools.lru_cache(maxsize=None)
def _shared_snomed(data: Path) -> dict[str, dict]:
    out = {}
    for name in SNOMED_SETS:
        folder = data / "snomed-rf2" / name / "Terminology"
        concepts = {row[0] for path in folder.glob("sct2_Concept*") for row in _shared_rows(path)}
        descriptions = {(row[0], row[4], row[7]) for path in folder.glob("sct2_Description*")
                        for row in _shared_rows(path)}
        parents = defaultdict(set)
        kind = "sct2_Relationship*" if name.startswith("tx") else "sct2_StatedRelationship*"
        for path in folder.glob(kind):
            for row in _shared_rows(path):
                if row[2] == "1" and row[7] == IS_A:
                    parents[row[4]].add(row[5])
        out[name] = {"concepts": concepts, "descriptions": descriptions, "parents": parents}
    return out


def _ancestors(parents: dict[str, set[str]], concept: str) -> set[str]:
    seen, todo = set(), [concept]
    while todo:
        for parent in parents.get(todo.pop(), ()):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


@functools.lru_cache(maxsize=None)
def _shared_file_text(data: Path, key: str) -> str:
    """The text of the shared files a `SOURCES` key names (empty for sources outside ../shared)."""
    source = demo_data.SOURCES[key]
    if not source.startswith("shared: "):
        return ""
    relative = source.removeprefix("shared: ").split(" ")[0]
    path = data / relative
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in files)


def test_every_snomed_concept_is_in_a_shared_rf2_file_or_a_documented_source(shared_data):
    shared = _shared_snomed(shared_data)
    in_rf2 = set().union(*(s["concepts"] for s in shared.values()))
    outside = demo_data.verified_outside_shared()
    for row in _rf2_rows("concept"):
        assert row[0] in in_rf2 or row[0] in outside, row[0]
    assert not set(outside) & in_rf2, "listed as outside the shared RF2 but found in it"
    only_outside = set()
    for code, src in outside.items():
        shared_keys = [key for key in demo_data._keys(src) if demo_data.SOURCES[key].startswith("shared: ")]
        if not shared_keys:
            only_outside.add(code)
        for key in shared_keys:
            assert code in _shared_file_text(shared_data, key), f"{code} is not in {demo_data.SOURCES[key]}"
    assert only_outside == ONLY_OUTSIDE_SHARED


def test_every_fsn_is_in_a_shared_file_unless_its_source_is_outside(shared_data):
    shared = set().union(*(s["descriptions"] for s in _shared_snomed(shared_data).values()))
    fsns = {(concept, term) for _id, concept, term in shared}
    outside = set()
    for concept in demo_data.active_concepts() + demo_data.INACTIVE_CONCEPTS:
        if (concept.id, concept.fsn) in fsns:
            continue
        texts = [_shared_file_text(shared_data, key) for key in demo_data._keys(concept.src)]
        if not any(concept.fsn in text for text in texts):
            outside.add(concept.id)
    assert outside == ONLY_OUTSIDE_SHARED | FSN_OUTSIDE_SHARED


def test_the_check_digit_accepts_every_sctid_of_the_shared_rf2_files(shared_data):
    for name in SNOMED_SETS:
        for path in (shared_data / "snomed-rf2" / name / "Terminology").glob("sct2_*"):
            if "Refset" in path.name:  # OWL expression refset: UUID ids
                continue
            assert all(demo_data.is_valid_sctid(row[0]) for row in _shared_rows(path)), path.name


def test_descriptions_copied_from_shared_rf2_keep_their_real_id_and_term(shared_data):
    shared = set().union(*(s["descriptions"] for s in _shared_snomed(shared_data).values()))
    copied = {(d, c, t) for (c, t), d in demo_data.REAL_DESCRIPTION_IDS.items()}
    assert copied <= shared, sorted(copied - shared)[:5]
    in_demo = {(row[0], row[4], row[7]) for row in _rf2_rows("description")}
    assert copied <= in_demo


def test_is_a_rows_said_to_come_from_a_shared_file_are_in_it(shared_data):
    shared = _shared_snomed(shared_data)
    files = {"tx2025": "tx-ecosystem-int-20250909", "wci-us": "wci-us-20150301-mini", "wci-int": "wci-int-20140731-mini"}
    for child, parent, basis in demo_data.IS_A_ROWS:
        key, _, chain = basis.partition(" ")
        if key not in files:
            continue
        parents = shared[files[key]]["parents"]
        if chain:
            assert parent in _ancestors(parents, child), (child, parent, basis)
        else:
            assert parent in parents[child], (child, parent, basis)


def test_substance_terms_match_the_atc_ddd_table(shared_data):
    table = shared_data / "local-tables" / "snomed-substance-atc-ddd" / "Snomed_Substance_DDDs.tsv"
    with open(table, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    fsn = {row["snomed_code"]: row["snomed_label"] for row in rows}
    atc = {(row["atc_code"], row["snomed_code"]) for row in rows}
    for concept in demo_data.SUBSTANCE_CONCEPTS:
        for key in demo_data._keys(concept.src):
            if key == "atc-ddd":
                code = concept.src.split("atc-ddd ")[1].split(";")[0].strip()
                assert (code, concept.id) in atc and fsn[concept.id] == concept.fsn, concept.id
    for rxcui, sctid, term in demo_data.RXNORM_SNOMED_ATOMS:
        assert fsn[sctid] == f"{term} (substance)", (rxcui, sctid)


def test_association_rows_are_copied_verbatim_from_the_shared_refset(shared_data):
    path = (shared_data / "snomed-rf2" / "wci-int-20140731-mini" / "Refset" / "Content"
            / "der2_AssociationReferenceSnapshot_INT_20140731.txt")
    shared = {tuple(row) for row in _shared_rows(path)}
    assert {tuple(row) for row in _rf2_rows("association")} <= shared


def _p_json(data: Path) -> dict[str, dict]:
    found: dict[str, dict] = {}

    def walk(node):
        if isinstance(node, dict):
            if "RXCUI" in node:
                entry = found.setdefault(node["RXCUI"], {"names": set(), "ttys": set(), "ndcs": set()})
                entry["names"].add(node.get("Name"))
                entry["ttys"].add(node.get("TTY"))
                entry["ndcs"] |= set(node.get("NDCs", ()))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads((data / "rxnorm-rrf" / "rxnorm-ingredients-json" / "P.json").read_text(encoding="utf-8")))
    return found


def _synthea_rxcuis(data: Path) -> set[str]:
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            if "rxnorm" in str(node.get("system", "")).lower() and "code" in node:
                found.add(str(node["code"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in (data / "fhir").rglob("*"):
        if path.suffix == ".json":
            walk(json.loads(path.read_text(encoding="utf-8")))
        elif path.suffix == ".ndjson":
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    walk(json.loads(line))
    return found


def test_every_rxcui_is_in_rxnsty_p_json_or_the_synthea_files(shared_data):
    rxnsty = {line.split("|")[0] for line in
              (shared_data / "rxnorm-rrf" / "tx-ecosystem-subset-2025" / "RXNSTY.RRF").read_text().splitlines()}
    p_json = _p_json(shared_data)
    synthea = _synthea_rxcuis(shared_data)
    for row in _rrf_rows("RXNCONSO.RRF"):
        if row[11] != "RXNORM":
            continue
        rxcui, tty, name = row[0], row[12], row[14]
        assert rxcui in rxnsty or rxcui in p_json or rxcui in synthea, rxcui
        if rxcui in p_json:  # P.json also gives the name and the term type
            assert name in p_json[rxcui]["names"] and tty in p_json[rxcui]["ttys"], rxcui


def test_every_ndc_is_one_p_json_lists_for_that_rxcui(shared_data):
    p_json = _p_json(shared_data)
    for row in _rrf_rows("RXNSAT.RRF"):
        assert row[10] in p_json[row[0]]["ndcs"], row


def test_rxncui_rows_are_copied_verbatim_from_the_shared_file(shared_data):
    text = (shared_data / "rxnorm-rrf" / "tx-ecosystem-subset-2025" / "RXNCUI.RRF").read_text()
    shared = {tuple(line.split("|")[:-1]) for line in text.splitlines()}
    assert {tuple(row) for row in _rrf_rows("RXNCUI.RRF")} <= shared
