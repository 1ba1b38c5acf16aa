"""An RxNorm RRF release loads as concepts, designations, relationships, crosswalks and remappings.

The fixture release is a few rows in the exact RRF layout (pipe-delimited, no header, trailing `|`).
Real RxNorm 10/06/2025 content (RXCUI, TTY, name, NDCs; `../shared/data/rxnorm-rrf/rxnorm-ingredients-json/P.json`):
7980 penicillin G (IN), 203133 penicillin G potassium (PIN), 863537 penicillin G potassium
1000000 UNT/ML (SCDC), 863538 ... Injectable Solution (SCD), 995906 ... [Pfizerpen] (SBD), 8096
Pfizerpen (BN), 7984 penicillin V (IN), 834061 penicillin V potassium 250 MG Oral Tablet (SCD),
2671685 penicillin G benzathine 1200000 UNT (SCDC, left out of RXNCONSO on purpose); 562721 is the
obsolete "amylase / cellulase / ... Oral Capsule" of the HL7 tx-ecosystem subset. SNOMED CT 323389000
Benzylpenicillin / 372725003 Phenoxymethylpenicillin and ATC J01CE01 come from the shared
SNOMED-substance ATC table. RXAUIs, RUIs, the SY/TMSY/PSN strings, the obsolete atoms, the
suppressed NDC and the MTHSPL/MTHCMSFRF atoms are illustrative.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from loaders.rxnorm_rrf import REMAPPED_TO, load_rxnorm
from terminology import queries, schema
from terminology.errors import (
    LoadError,
    MalformedRow,
    SourceNotFound,
    UnreadableEncoding,
)
from terminology.model import Crosswalk, Designation, ReleaseStatus
from terminology.releases import active_release, list_releases
from terminology.systems import NDC, RXNORM, SNOMED

# RXCUI|LAT|TS|LUI|STT|SUI|ISPREF|RXAUI|SAUI|SCUI|SDUI|SAB|TTY|CODE|STR|SRL|SUPPRESS|CVF
RXNCONSO = """\
7980|ENG||||||2580|2580|7980||RXNORM|IN|7980|penicillin G||N|4096|
7980|ENG||||||12074871|12074871|7980||RXNORM|SY|7980|benzylpenicillin||N|4096|
7980|ENG||||||2582||||ATC|IN|J01CE01|benzylpenicillin||N|4096|
7980|ENG||||||3213770||323389000||SNOMEDCT_US|PT|323389000|Benzylpenicillin||N|4096|
7980|ENG||||||3213771||323389000||SNOMEDCT_US|FN|323389000|Benzylpenicillin (substance)||N|4096|
7980|ENG||||||3213772||323389000||SNOMEDCT_US|OAS|323389000|Penicillin G||O||
203133|ENG||||||1276545|1276545|203133||RXNORM|PIN|203133|penicillin G potassium||N|4096|
863537|ENG||||||2758745|2758745|863537||RXNORM|SCDC|863537|penicillin G potassium 1000000 UNT/ML||N|4096|
863538|ENG||||||2758610|2758610|863538||RXNORM|SCD|863538|Penicillin G Potassium 1000000 UNT/ML Injectable Solution||O||
863538|ENG||||||2758746|2758746|863538||RXNORM|PSN|863538|penicillin G potassium 1 MILLION UNT/ML Injectable Solution||N|4096|
863538|ENG||||||2758747|2758747|863538||RXNORM|SY|863538|penicillin G potassium 1000000 UNT/ML Injection||N|4096|
863538|ENG||||||2758748|2758748|863538||RXNORM|TMSY|863538|Penicillin G Potassium 1 Million Units per 1 ML Injectable Solution||N|4096|
863538|ENG||||||2758749|2758749|863538||RXNORM|SCD|863538|penicillin G potassium 1000000 UNT/ML Injectable Solution||N|4096|
863538|ENG||||||6512983||||MTHSPL|DP|NOCODE|PENICILLIN G POTASSIUM injection, powder, for solution||N|4096|
995906|ENG||||||3082561|3082561|995906||RXNORM|SBD|995906|penicillin G potassium 1000000 UNT/ML Injectable Solution [Pfizerpen]||N|4096|
8096|ENG||||||38573|38573|8096||RXNORM|BN|8096|Pfizerpen||N|4096|
7984|ENG||||||2604|2604|7984||RXNORM|IN|7984|penicillin V||N|4096|
7984|ENG||||||3213800||372725003||SNOMEDCT_US|PT|372725003|Phenoxymethylpenicillin||N|4096|
834061|ENG||||||2731263|2731263|834061||RXNORM|SCD|834061|penicillin V potassium 250 MG Oral Tablet||N|4096|
834061|ENG||||||9821410||||MTHCMSFRF|SCD|834061|PENICILLIN V POTASSIUM 250 MG TABLET||N|4096|
562721|ENG||||||2122044|2122044|562721||RXNORM|SCD|562721|amylase / cellulase / hyoscyamine / lipase / phenyltoloxamine / protease Oral Capsule||O||
"""

# RXCUI1|RXAUI1|STYPE1|REL|RXCUI2|RXAUI2|STYPE2|RELA|RUI|SRUI|SAB|SL|RG|DIR|SUPPRESS|CVF
# RRF reads "RXCUI2 has RELA to RXCUI1": the first row says SCDC 863537 has_ingredient IN 7980.
RXNREL = """\
7980||CUI|RO|863537||CUI|has_ingredient|5212601||RXNORM|RXNORM|||N|4096|
863537||CUI|RO|7980||CUI|ingredient_of|5212602||RXNORM|RXNORM|||N|4096|
203133||CUI|RO|863537||CUI|has_precise_ingredient|5212603||RXNORM|RXNORM|||N|4096|
7980||CUI|RO|203133||CUI|form_of|5212604||RXNORM|RXNORM|||N|4096|
863537||CUI|RO|863538||CUI|consists_of|5212605||RXNORM|RXNORM|||N|4096|
863538||CUI|RO|863537||CUI|constitutes|5212606||RXNORM|RXNORM|||N|4096|
995906||CUI|RO|863538||CUI|has_tradename|5212607||RXNORM|RXNORM|||N|4096|
863538||CUI|RO|995906||CUI|tradename_of|5212608||RXNORM|RXNORM|||N|4096|
8096||CUI|RO|7980||CUI|has_tradename|5212609||RXNORM|RXNORM|||N|4096|
7980||CUI|RO|8096||CUI|tradename_of|5212610||RXNORM|RXNORM|||N|4096|
8096||CUI|RO|995906||CUI|has_ingredient|5212611||RXNORM|RXNORM|||N|4096|
7980||CUI|RO|2671685||CUI|has_ingredient|5212612||RXNORM|RXNORM|||N|4096|
|6512983|AUI|RO||2758749|AUI|has_active_ingredient|5212613||MTHSPL|MTHSPL|||N|4096|
|2758749|AUI|SY||2758747|AUI||5212614||RXNORM|RXNORM|||N|4096|
|2758610|AUI|RO||2758749|AUI|has_quantified_form|5212615||RXNORM|RXNORM|||N|4096|
"""

# RXCUI|LUI|SUI|RXAUI|STYPE|CODE|ATUI|SATUI|ATN|SAB|ATV|SUPPRESS|CVF
RXNSAT = """\
863538|||2758749|AUI|863538|||NDC|RXNORM|00781613594|N|4096|
863538|||2758749|AUI|863538|||NDC|RXNORM|00781613595|N|4096|
863538|||2758749|AUI|863538|||NDC|RXNORM|00781613599|O||
863538|||2758749|AUI|863538|||RXN_HUMAN_DRUG|RXNORM|US|N|4096|
863538|||6512983|AUI|NOCODE|||NDC|MTHSPL|0781-6135-94|N|4096|
995906|||3082561|AUI|995906|||NDC|RXNORM|00049042005|N|4096|
995906|||3082561|AUI|995906|||NDC|RXNORM||N|4096|
"""

README = "Readme_full_10062025.txt"
OBSOLETE_DRUG = "amylase / cellulase / hyoscyamine / lipase / phenyltoloxamine / protease Oral Capsule"
SHARED_RRF = Path("rxnorm-rrf") / "tx-ecosystem-subset-2025"


def _line_of(text: str, needle: str) -> int:
    """1-based number of the only line of `text` holding `needle`."""
    found = [number for number, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(found) == 1, (needle, found)
    return found[0]


def _write_release(
    folder: Path, files: dict[str, str | bytes | Path] | None = None, *, readme: str | None = README
) -> Path:
    """A release folder `folder/rrf/*.RRF` (+ its Readme); a Path value is linked, not copied."""
    files = {"RXNCONSO.RRF": RXNCONSO, "RXNREL.RRF": RXNREL, "RXNSAT.RRF": RXNSAT} if files is None else files
    rrf = folder / "rrf"
    rrf.mkdir(parents=True)
    for name, content in files.items():
        target = rrf / name
        if isinstance(content, Path):
            target.symlink_to(content)
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8", newline="\n")
    if readme:
        (folder / readme).write_text("RxNorm 10/06/2025 Full Release\n", encoding="utf-8")
    return folder


def _zip_release(folder: Path, zip_path: Path) -> Path:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(folder).as_posix())
    return zip_path


def _active_content(engine) -> dict[str, list[tuple]]:
    """Every content row of RxNorm's active release, table by table, sorted (release id left out)."""
    with engine.connect() as connection:
        release = active_release(connection, RXNORM)
        content = {}
        for table in schema.CONTENT_TABLES:
            columns = [column for column in table.columns if column.name != "release_id"]
            rows = connection.execute(select(*columns).where(table.c.release_id == release.id))
            content[table.name] = sorted((tuple(row) for row in rows), key=repr)
        return content


@pytest.fixture
def release(tmp_path) -> Path:
    return _write_release(tmp_path / "RxNorm_full_10062025")


@pytest.fixture
def loaded(store, release):
    report = load_rxnorm(store, release, batch_size=3)
    with store.connect() as connection:
        yield connection, report


# --- concepts and designations ---------------------------------------------------------------------


def test_kind_and_display_come_from_the_main_term_type_and_active_from_unsuppressed_atoms(loaded):
    connection, _ = loaded
    expected = {  # rxcui: (kind, display, active)
        "7980": ("IN", "penicillin G", True),
        "203133": ("PIN", "penicillin G potassium", True),
        "863537": ("SCDC", "penicillin G potassium 1000000 UNT/ML", True),
        # listed after an obsolete SCD atom, a PSN, a SY and a TMSY: the active SCD atom still names it
        "863538": ("SCD", "penicillin G potassium 1000000 UNT/ML Injectable Solution", True),
        "995906": ("SBD", "penicillin G potassium 1000000 UNT/ML Injectable Solution [Pfizerpen]", True),
        "8096": ("BN", "Pfizerpen", True),
        "562721": ("SCD", OBSOLETE_DRUG, False),  # its only RXNORM atom is obsolete (SUPPRESS=O)
    }
    concepts = {rxcui: queries.concept(connection, RXNORM, rxcui) for rxcui in expected}
    assert {rxcui: (c.kind, c.display, c.active) for rxcui, c in concepts.items()} == expected


def test_only_rxcuis_with_rxnorm_atoms_become_concepts(loaded):
    connection, report = loaded
    assert report.rows["concepts"] == 9
    assert queries.concept(connection, RXNORM, "2671685") is None  # only named in RXNREL


def test_designations_are_the_english_rxnorm_atoms_with_the_main_one_preferred(loaded):
    connection, _ = loaded
    assert queries.designations(connection, RXNORM, "863538") == [
        Designation("penicillin G potassium 1000000 UNT/ML Injectable Solution", "SCD", "en", True),
        Designation("penicillin G potassium 1 MILLION UNT/ML Injectable Solution", "PSN", "en", False),
        Designation("Penicillin G Potassium 1000000 UNT/ML Injectable Solution", "SCD", "en", False),
        Designation("penicillin G potassium 1000000 UNT/ML Injection", "SY", "en", False),
        Designation("Penicillin G Potassium 1 Million Units per 1 ML Injectable Solution", "TMSY", "en", False),
    ]
    # the SNOMED CT, ATC and MTHSPL atoms name other systems' codes, not RxNorm concepts
    assert [d.term for d in queries.designations(connection, RXNORM, "7980")] == ["penicillin G", "benzylpenicillin"]


def test_a_synonym_finds_its_concept_by_normalised_term(loaded):
    connection, _ = loaded
    found = queries.find_by_term(connection, "BENZYLPENICILLIN", RXNORM)
    assert [(concept.code, term) for concept, term in found] == [("7980", "benzylpenicillin")]


# --- relationships -----------------------------------------------------------------------------------


def test_a_clinical_drug_component_has_its_ingredient_and_the_drug_consists_of_the_component(loaded):
    connection, _ = loaded
    assert [(r.type, r.target, r.target_display) for r in queries.related(connection, RXNORM, "863537")] == [
        ("constitutes", "863538", "penicillin G potassium 1000000 UNT/ML Injectable Solution"),
        ("has_ingredient", "7980", "penicillin G"),
        ("has_precise_ingredient", "203133", "penicillin G potassium"),
    ]
    # RxNorm links an SCD to its ingredient through its SCDC: SCD consists_of SCDC has_ingredient IN
    (component,) = queries.related(connection, RXNORM, "863538", ["consists_of"])
    assert [r.target for r in queries.related(connection, RXNORM, component.target, ["has_ingredient"])] == ["7980"]


def test_the_ingredient_sees_what_has_it_through_inverse_related(loaded):
    connection, _ = loaded
    having = queries.inverse_related(connection, RXNORM, "7980", ["has_ingredient"])
    # 2671685 is not in RXNCONSO (a subset does that): the relationship is kept, without a display
    assert sorted((r.source, r.target_display) for r in having) == [
        ("2671685", None),
        ("863537", "penicillin G potassium 1000000 UNT/ML"),
    ]


def test_the_brand_name_is_a_tradename_of_the_ingredient_and_an_ingredient_of_the_branded_drug(loaded):
    connection, _ = loaded
    assert [r.target for r in queries.related(connection, RXNORM, "7980", ["has_tradename"])] == ["8096"]
    assert [(r.type, r.target) for r in queries.related(connection, RXNORM, "8096")] == [("tradename_of", "7980")]
    assert [(r.type, r.target, r.target_display) for r in queries.related(connection, RXNORM, "995906")] == [
        ("has_ingredient", "8096", "Pfizerpen"),
        ("tradename_of", "863538", "penicillin G potassium 1000000 UNT/ML Injectable Solution"),
    ]


def test_relationship_rows_of_other_sources_or_without_rela_are_not_relationships(loaded):
    connection, report = loaded
    assert report.rows["relationships"] == 12
    assert queries.related(connection, RXNORM, "863538", ["has_active_ingredient", "has_quantified_form"]) == []


# --- crosswalks ------------------------------------------------------------------------------------------


def test_the_snomed_atom_is_a_crosswalk_read_from_rxnorm_and_from_snomed(loaded):
    connection, _ = loaded
    from_rxnorm = [x for x in queries.crosswalks_from(connection, RXNORM, "7980") if x.other_system == SNOMED]
    assert sorted(from_rxnorm, key=lambda x: x.kind) == [
        Crosswalk("7980", SNOMED, "323389000", "Benzylpenicillin (substance)", "RXNCONSO:SNOMEDCT_US:FN"),
        Crosswalk("7980", SNOMED, "323389000", "Penicillin G", "RXNCONSO:SNOMEDCT_US:OAS:suppressed"),
        Crosswalk("7980", SNOMED, "323389000", "Benzylpenicillin", "RXNCONSO:SNOMEDCT_US:PT"),
    ]
    to_rxnorm = queries.crosswalks_to(connection, "http://snomed.info/sct", "372725003")
    assert to_rxnorm == [
        (RXNORM, Crosswalk("7984", SNOMED, "372725003", "Phenoxymethylpenicillin", "RXNCONSO:SNOMEDCT_US:PT"))
    ]


def test_every_other_source_is_a_crosswalk_and_an_unlisted_source_gets_a_urn(loaded):
    connection, _ = loaded
    atc = queries.crosswalks_to(connection, "http://www.whocc.no/atc", "J01CE01")
    assert [(system, x.code, x.kind) for system, x in atc] == [(RXNORM, "7980", "RXNCONSO:ATC:IN")]
    cms = [x for x in queries.crosswalks_from(connection, RXNORM, "834061") if x.kind.startswith("RXNCONSO")]
    assert [(x.other_system, x.other_code) for x in cms] == [("urn:rxnorm-sab:MTHCMSFRF", "834061")]


def test_rxnorm_ndcs_are_crosswalks_and_a_suppressed_one_says_so(loaded):
    connection, _ = loaded
    ndcs = [x for x in queries.crosswalks_from(connection, RXNORM, "863538") if x.other_system == NDC]
    assert [(x.other_code, x.kind) for x in ndcs] == [
        ("00781613594", "RXNSAT:NDC"),
        ("00781613595", "RXNSAT:NDC"),
        ("00781613599", "RXNSAT:NDC:suppressed"),
    ]
    assert queries.crosswalks_to(connection, "ndc", "00049042005") == [
        (RXNORM, Crosswalk("995906", NDC, "00049042005", None, "RXNSAT:NDC"))
    ]
    # the MTHSPL NDC is the labeller's, in 10-digit form: not RxNorm's normalised NDC
    assert queries.crosswalks_to(connection, "ndc", "0781-6135-94") == []


# --- skipped rows ------------------------------------------------------------------------------------------


def test_rows_that_cannot_be_loaded_are_skipped_and_each_is_reported(loaded):
    connection, report = loaded
    skipped = {(row.file, row.line): row.problem for row in report.skipped}
    assert skipped.keys() == {
        ("RXNCONSO.RRF", _line_of(RXNCONSO, "|NOCODE|")),
        ("RXNREL.RRF", _line_of(RXNREL, "has_quantified_form")),
        ("RXNSAT.RRF", _line_of(RXNSAT, "|RXNORM||N|")),
    }
    assert "no usable CODE" in skipped["RXNCONSO.RRF", _line_of(RXNCONSO, "|NOCODE|")]
    assert "no RXCUI1/RXCUI2" in skipped["RXNREL.RRF", _line_of(RXNREL, "has_quantified_form")]
    assert "not an 11-digit" in skipped["RXNSAT.RRF", _line_of(RXNSAT, "|RXNORM||N|")]
    assert report.release.row_counts["skipped"] == 3
    issues = connection.execute(select(schema.load_issues.c.file, schema.load_issues.c.line)).all()
    assert sorted(issues) == sorted(skipped)


# --- the release: files, version, zip, idempotence --------------------------------------------------------------


def test_the_release_records_its_version_date_and_the_files_found(loaded, release):
    _, report = loaded
    assert report.release.status is ReleaseStatus.ACTIVE
    assert (report.release.version, report.release.effective_date) == ("10062025", "20251006")
    assert sorted(report.release.files) == ["RXNCONSO.RRF", "RXNREL.RRF", "RXNSAT.RRF"]
    assert report.release.source == str(release)


def test_the_same_release_loaded_twice_is_already_loaded(store, release):
    first = load_rxnorm(store, release)
    again = load_rxnorm(store, release)
    assert again.already_loaded and again.release.id == first.release.id
    with store.connect() as connection:
        assert len(list_releases(connection, RXNORM)) == 1


class _RecordingProgress:
    def __init__(self) -> None:
        self.files: list[str] = []
        self.rows = 0

    def start_file(self, name: str, total_bytes: int) -> None:
        self.files.append(name)

    def advance(self, bytes_read: int, rows: int) -> None:
        self.rows += rows

    def end_file(self) -> None:
        pass


def test_progress_follows_every_file_read(sqlite_store, release):
    progress = _RecordingProgress()
    load_rxnorm(sqlite_store, release, progress=progress)
    assert progress.files == ["RXNCONSO.RRF", "RXNREL.RRF", "RXNSAT.RRF"]
    assert progress.rows == sum(len(text.splitlines()) for text in (RXNCONSO, RXNREL, RXNSAT))


def test_a_zip_of_the_release_loads_the_same_content_as_its_folder(sqlite_store, release, tmp_path):
    archive = _zip_release(release, tmp_path / "RxNorm_full_10062025.zip")
    from_zip = load_rxnorm(sqlite_store, archive)
    assert (from_zip.release.version, from_zip.rows["concepts"]) == ("10062025", 9)
    content = _active_content(sqlite_store)
    # the members hash as the extracted files do, so the extracted folder is the same release
    from_folder = load_rxnorm(sqlite_store, release / "rrf")
    assert from_folder.already_loaded and from_folder.release.id == from_zip.release.id
    assert _active_content(sqlite_store) == content


@pytest.mark.parametrize(
    ("folder", "readme", "version", "effective_date"),
    [
        ("RxNorm_full_10062025", README, "10062025", "20251006"),
        ("RxNorm_full_prescribe_10062025", None, "10062025", "20251006"),  # the rrf/ folder's parent names it
        ("somewhere", "Readme_Full_Prescribe_10062025.txt", "10062025", "20251006"),
    ],
)
def test_the_version_is_the_release_date_from_the_folder_or_readme_name(
    sqlite_store, tmp_path, folder, readme, version, effective_date
):
    release = _write_release(tmp_path / folder, {"RXNCONSO.RRF": RXNCONSO}, readme=readme)
    report = load_rxnorm(sqlite_store, release / "rrf")
    assert (report.release.version, report.release.effective_date) == (version, effective_date)


def test_without_a_dated_name_the_version_comes_from_rxnsab(sqlite_store, shared_data, tmp_path):
    rxnsab = shared_data / SHARED_RRF / "RXNSAB.RRF"
    assert "|RXNORM|20AA_250804F|" in rxnsab.read_text(encoding="utf-8")
    release = _write_release(tmp_path / "rxnorm", {"RXNCONSO.RRF": RXNCONSO, "RXNSAB.RRF": rxnsab}, readme=None)
    report = load_rxnorm(sqlite_store, release)
    assert (report.release.version, report.release.effective_date) == ("08042025", "20250804")


def test_without_any_date_the_version_is_unknown_and_the_checksum(sqlite_store, tmp_path):
    release = _write_release(tmp_path / "rxnorm", {"RXNCONSO.RRF": RXNCONSO}, readme=None)
    report = load_rxnorm(sqlite_store, release / "rrf")
    assert report.release.version == f"unknown-{report.release.checksum[:8]}"
    assert report.release.effective_date is None


def test_a_folder_holding_one_release_folder_loads_that_release(sqlite_store, tmp_path):
    _write_release(tmp_path / "downloads" / "RxNorm_full_prescribe_10062025", {"RXNCONSO.RRF": RXNCONSO})
    report = load_rxnorm(sqlite_store, tmp_path / "downloads")
    assert (report.release.version, report.rows["concepts"]) == ("10062025", 9)


def test_a_folder_holding_two_releases_is_refused_rather_than_guessed(sqlite_store, tmp_path):
    for folder in ("RxNorm_full_09022025", "RxNorm_full_10062025"):
        _write_release(tmp_path / "downloads" / folder, {"RXNCONSO.RRF": RXNCONSO})
    with pytest.raises(LoadError, match="holds 2 RxNorm releases"):
        load_rxnorm(sqlite_store, tmp_path / "downloads")


def test_a_path_without_rxnconso_is_source_not_found(sqlite_store, tmp_path):
    release = _write_release(tmp_path / "RxNorm_full_10062025", {"RXNREL.RRF": RXNREL})
    with pytest.raises(SourceNotFound, match="RXNCONSO.RRF"):
        load_rxnorm(sqlite_store, release)
    with pytest.raises(SourceNotFound, match="does not exist"):
        load_rxnorm(sqlite_store, tmp_path / "nowhere")


def test_a_weekly_update_is_refused_because_it_is_a_delta(sqlite_store, tmp_path):
    release = _write_release(tmp_path / "RxNorm_weekly_10082025", readme=None)
    with pytest.raises(LoadError, match="weekly"):
        load_rxnorm(sqlite_store, release)


# --- retired RXCUIs -------------------------------------------------------------------------------------------------


def test_a_retired_rxcui_of_the_real_rxncui_file_resolves_to_its_replacements(store, shared_data, tmp_path):
    rxncui = shared_data / SHARED_RRF / "RXNCUI.RRF"
    rows = [line.split("|")[:5] for line in rxncui.read_text(encoding="ascii").splitlines()]
    single = next(row for row in rows if row[3] == "1" and row[0] != row[4])
    split = next(row for row in rows if int(row[3]) > 1)
    split_targets = sorted(row[4] for row in rows if row[0] == split[0])
    assert len(split_targets) == int(split[3])
    release = _write_release(tmp_path / "RxNorm_full_10062025", {"RXNCONSO.RRF": RXNCONSO, "RXNCUI.RRF": rxncui})

    report = load_rxnorm(store, release)

    remappings = {(row[0], row[4]) for row in rows if row[0] != row[4]}
    assert report.rows["associations"] == len(remappings)
    with store.connect() as connection:
        (association,) = queries.associations(connection, RXNORM, single[0])
        assert (association.type, association.target) == (REMAPPED_TO, single[4])
        assert [a.target for a in queries.associations(connection, RXNORM, split[0])] == split_targets


def test_an_rxncui_row_remapping_a_code_to_itself_is_skipped_with_a_report(sqlite_store, tmp_path):
    # cui1|ver_start|ver_end|cardinality|cui2  (illustrative rows)
    rxncui = (
        "91811|RXNORM_04AC_050210F|RXNORM_09AA_090706F|1|857082|\n"
        "7980|RXNORM_04AC_050210F|RXNORM_09AA_090706F|1|7980|\n"
    )
    release = _write_release(tmp_path / "RxNorm_full_10062025", {"RXNCONSO.RRF": RXNCONSO, "RXNCUI.RRF": rxncui})
    report = load_rxnorm(sqlite_store, release)
    assert report.rows["associations"] == 1
    (skipped,) = [row for row in report.skipped if row.file == "RXNCUI.RRF"]
    assert skipped.line == 2 and "remapped to itself" in skipped.problem


# --- malformed files: the load fails, the active release stays -------------------------------------------------


def _broken(file: str, needle: str, replacement: str | bytes) -> tuple[str, int, str | bytes]:
    """The fixture `file` with the line holding `needle` replaced: (file, that line's number, content)."""
    text = {"RXNCONSO.RRF": RXNCONSO, "RXNREL.RRF": RXNREL, "RXNSAT.RRF": RXNSAT}[file]
    number = _line_of(text, needle)
    lines = text.splitlines(keepends=True)
    if isinstance(replacement, bytes):
        encoded = [line.encode("utf-8") for line in lines]
        encoded[number - 1] = replacement
        return file, number, b"".join(encoded)
    lines[number - 1] = replacement
    return file, number, "".join(lines)


@pytest.mark.parametrize(
    ("broken", "error", "problem"),
    [
        pytest.param(
            _broken(
                "RXNCONSO.RRF", "|PIN|",
                "203133|ENG||||||1276545|1276545|203133||RXNORM|PIN|203133|penicillin G potassium||N|\n",
            ),
            MalformedRow, "expected 18 columns, found 17", id="wrong-column-count",
        ),
        pytest.param(
            _broken(
                "RXNREL.RRF", "|consists_of|",
                "863537||CUI|RO|RX863538||CUI|consists_of|5212605||RXNORM|RXNORM|||N|4096|\n",
            ),
            MalformedRow, "'RX863538' is not a number", id="non-numeric-rxcui-in-rxnrel",
        ),
        pytest.param(
            _broken("RXNSAT.RRF", "00049042005", "995906 |||3082561|AUI|995906|||NDC|RXNORM|00049042005|N|4096|\n"),
            MalformedRow, "'995906 ' is not a number", id="non-numeric-rxcui-in-rxnsat",
        ),
        pytest.param(
            _broken(
                "RXNCONSO.RRF", "|BN|",
                "8096|ENG||||||38573|38573|8096||RXNORM|BN|8096|Pfizerpen G s\xf3dica||N|4096|\n".encode("latin-1"),
            ),
            UnreadableEncoding, "not valid utf-8", id="latin-1-bytes",
        ),
    ],
)
def test_a_malformed_release_fails_naming_file_and_line_and_the_active_release_stays(
    store, tmp_path, broken, error, problem
):
    previous = _write_release(tmp_path / "v1" / "RxNorm_full_09022025", readme="Readme_full_09022025.txt")
    first = load_rxnorm(store, previous)
    before = _active_content(store)
    file, line, content = broken
    files = {"RXNCONSO.RRF": RXNCONSO, "RXNREL.RRF": RXNREL, "RXNSAT.RRF": RXNSAT, file: content}

    with pytest.raises(error) as raised:
        load_rxnorm(store, _write_release(tmp_path / "v2" / "RxNorm_full_10062025", files), batch_size=2)

    assert Path(raised.value.file).name == file and raised.value.line == line
    assert problem in str(raised.value) and f"line {line}" in str(raised.value)
    with store.connect() as connection:
        statuses = {r.version: r.status for r in list_releases(connection, RXNORM)}
        assert statuses == {"09022025": ReleaseStatus.ACTIVE, "10062025": ReleaseStatus.FAILED}
        assert active_release(connection, RXNORM).id == first.release.id
    assert _active_content(store) == before


def test_an_error_in_a_zipped_release_names_the_member(sqlite_store, tmp_path):
    file, line, content = _broken("RXNREL.RRF", "|form_of|", "7980||CUI|RO|203133||CUI|form_of|\n")
    folder = _write_release(tmp_path / "RxNorm_full_10062025", {"RXNCONSO.RRF": RXNCONSO, file: content})
    archive = _zip_release(folder, tmp_path / "RxNorm_full_10062025.zip")
    where = rf"RxNorm_full_10062025\.zip!/rrf/RXNREL\.RRF, line {line}"
    with pytest.raises(MalformedRow, match=rf"{where}: expected 16 columns, found 8"):
        load_rxnorm(sqlite_store, archive)


def test_an_rxnconso_without_rxnorm_atoms_is_refused_and_the_active_release_stays(sqlite_store, release, tmp_path):
    load_rxnorm(sqlite_store, release)
    before = _active_content(sqlite_store)
    snomed_only = "".join(line + "\n" for line in RXNCONSO.splitlines() if "|SNOMEDCT_US|" in line)
    other = _write_release(tmp_path / "RxNorm_full_11032025", {"RXNCONSO.RRF": snomed_only})
    with pytest.raises(LoadError, match="no RXNORM atom"):
        load_rxnorm(sqlite_store, other)
    assert _active_content(sqlite_store) == before
