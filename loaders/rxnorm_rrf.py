"""Load an RxNorm RRF release (full monthly release or Current Prescribable Content) as a release of RxNorm.

`load_rxnorm(engine, path)` takes the release `.zip`, its folder, its `rrf/` folder, or a folder
holding one release folder; it finds the files by name (any case) and writes one release through
`terminology.releases.open_release`:

    RXNCONSO.RRF (required)  SAB=RXNORM atoms -> one concept per RXCUI, and its designations (LAT=ENG);
                             atoms of other sources (SNOMEDCT_US, MTHSPL, ...) -> crosswalks
    RXNREL.RRF   (optional)  SAB=RXNORM rows with a RELA -> relationships `RXCUI2 <RELA> RXCUI1`
    RXNSAT.RRF   (optional)  ATN=NDC, SAB=RXNORM rows (normalised 11-digit NDCs) -> NDC crosswalks
    RXNCUI.RRF   (optional)  retired RXCUIs -> associations `cui1 REMAPPED TO cui2`
    RXNSAB.RRF   (optional)  only read for the version when no Readme or folder name gives one

What the store gets:

- concept: one per RXCUI with an RXNORM atom. `kind` is its main term type (`MAIN_TTY_ORDER`;
  SY/TMSY/PSN only when nothing else), `display` the STR of that main atom (not-suppressed atoms
  first, ties to the first in the file), `active` true when any of its RXNORM atoms has SUPPRESS=N
  (a concept whose RXNORM atoms are all obsolete or suppressed is inactive).
- designation: every RXNORM atom with LAT=ENG, `type` its TTY, `preferred` only for the main atom.
- crosswalk kinds: `RXNCONSO:{SAB}:{TTY}` and `RXNSAT:NDC`, with `:suppressed` appended when the
  atom's or attribute's SUPPRESS is not N (O obsolete, Y/E suppressed) so translation can pass over
  them. Other systems come from `terminology.systems.RRF_SAB_SYSTEMS`; a SAB not listed there
  becomes `urn:rxnorm-sab:{SAB}`. Crosswalks are kept for RXCUIs that have no RXNORM atom.
- relationships keep RxNorm's own RELA names (`has_ingredient`, `consists_of`, `has_tradename`,
  `isa`, ...), read as the RRF documents them: RXCUI2 has RELA to RXCUI1. Rows may point at RXCUIs
  that RXNCONSO lacks (subsets do); they are kept.

Fatal (a `LoadError`; a staged release is purged and the active release stays as it was):

- `SourceNotFound`: no such path, not a zip or folder, or no RXNCONSO.RRF in it.
- `MalformedRow` naming file and line: a row with the wrong number of columns (every row of every
  file read), or a non-numeric RXCUI in a row that would be loaded.
- `UnreadableEncoding` naming file and line: bytes that are not UTF-8.
- `LoadError`: two releases in one zip or folder, a weekly update (a delta, not a release), or an
  RXNCONSO.RRF without any RXNORM atom (not an RxNorm release).

Skipped and reported (`load.skip`: in the report and in the release's load issues, never silent):

- RXNCONSO: an RXNORM atom without STR; an atom of another source without a usable CODE (empty,
  NOCODE, longer than the store's 64 characters) or whose crosswalk kind would not fit in 64.
- RXNREL: an RXNORM row with a RELA but an empty RXCUI1 or RXCUI2 (an atom-level row).
- RXNSAT: an RXNORM NDC whose ATV is empty or not 11 digits.
- RXNCUI: a row whose cui2 is empty or equal to cui1.

Passed over by design (not content termmap keeps; counted in the log): RXNREL rows of other
sources or without RELA, RXNSAT attributes other than RXNORM NDCs, RXNORM atoms in other languages
(designations only), an NDC repeated on one RXCUI, a remapping repeated in RXNCUI, and every other
file of the release (RXNSTY, RXNDOC, RXNATOMARCHIVE, ...).
"""
from __future__ import annotations

import hashlib
import io
import logging
import re
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Engine

from terminology import schema
from terminology.errors import LoadError, MalformedRow, SourceNotFound
from terminology.model import LoadReport
from terminology.normalise import normalise_term
from terminology.releases import ActivationHook, ReleaseLoad, combined_checksum, file_checksums, open_release
from terminology.systems import NDC, RRF_SAB_SYSTEMS, RXNORM

from .delimited import DelimitedFile, read_rows
from .progress import Progress

__all__ = ["load_rxnorm", "MAIN_TTY_ORDER", "REMAPPED_TO", "RRF_LAYOUTS"]

logger = logging.getLogger(__name__)

#: RXNORM term types in the order that picks a concept's main atom (its kind and display).
MAIN_TTY_ORDER = (
    "IN", "PIN", "MIN", "SCD", "SBD", "GPCK", "BPCK", "SCDC", "SBDC", "SCDF", "SBDF",
    "SCDG", "SBDG", "SCDFP", "SBDFP", "SCDGP", "BN", "DF", "DFG", "ET",
    # synonyms last: a concept is named by one of these only when it has nothing else
    "PSN", "SY", "TMSY",
)
#: Association type of an RXNCUI row: the retired RXCUI is remapped to the current one.
REMAPPED_TO = "REMAPPED TO"

RRF_LAYOUTS = {
    "RXNCONSO.RRF": DelimitedFile("|", 18, trailing_separator=True),
    "RXNREL.RRF": DelimitedFile("|", 16, trailing_separator=True),
    "RXNSAT.RRF": DelimitedFile("|", 13, trailing_separator=True),
    "RXNCUI.RRF": DelimitedFile("|", 5, trailing_separator=True),
    "RXNSAB.RRF": DelimitedFile("|", 25, trailing_separator=True),
}
_REQUIRED = "RXNCONSO.RRF"
_MAX_CODE = 64  # String(64) columns of the store
_SUPPRESSED = ":suppressed"

_TTY_RANK = {tty: rank for rank, tty in enumerate(MAIN_TTY_ORDER)}
_UNRANKED = len(MAIN_TTY_ORDER)
_NOT_ACTIVE = 1000  # added to the rank of an atom whose SUPPRESS is not N: any active atom wins

_RELEASE_NAME = re.compile(r"^RxNorm_(\w+?)_(\d{8})$", re.IGNORECASE)  # RxNorm_full_prescribe_10062025
_README_NAME = re.compile(r"^Readme_(\w+?)_(\d{8})\.txt$", re.IGNORECASE)
_SVER = re.compile(r"^\d\d[A-Z]{2}_(\d{2})(\d{2})(\d{2})[A-Z]?$")

# (file name for errors and reports, binary stream, size in bytes): what `read_rows` takes
_Opened = tuple[str, IO[bytes], int]


def load_rxnorm(
    engine: Engine, path: Path, *, progress: Progress | None = None, batch_size: int = 50_000,
    on_activate: ActivationHook | None = None,
) -> LoadReport:
    """Load the RxNorm release at `path` as the active release of RxNorm; the report of what was written.

    `path` is the release zip, its folder, its `rrf/` folder, or a folder holding one release folder.
    Loading the same files again (compared by SHA-256) writes nothing and says `already_loaded`.
    """
    path = Path(path)
    with _open_source(path) as source:
        files = source.checksums()
        version, effective_date = _version(source, files, progress)
        logger.info("RxNorm release %s at %s: %s", version, path, ", ".join(sorted(files)))
        with open_release(
            engine, RXNORM, version, effective_date, source=str(path), files=files, batch_size=batch_size,
            on_activate=on_activate,
        ) as load:
            if load.already_loaded:
                return load.report
            _load_conso(load, source.open("RXNCONSO.RRF"), progress)
            if source.has("RXNREL.RRF"):
                _load_rel(load, source.open("RXNREL.RRF"), progress)
            if source.has("RXNSAT.RRF"):
                _load_sat(load, source.open("RXNSAT.RRF"), progress)
            if source.has("RXNCUI.RRF"):
                _load_cui(load, source.open("RXNCUI.RRF"), progress)
        return load.report


# --- finding the files ------------------------------------------------------------------------------


@dataclass
class _Source:
    """The RRF files of one release, in a folder or a zip, and the names that may carry its date."""

    where: Path
    folder_files: dict[str, Path] = field(default_factory=dict)
    zip: zipfile.ZipFile | None = None
    zip_members: dict[str, zipfile.ZipInfo] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)  # folder, zip and Readme names, nearest first

    def has(self, name: str) -> bool:
        return name in self.folder_files or name in self.zip_members

    def open(self, name: str) -> Path | _Opened:
        if name in self.folder_files:
            return self.folder_files[name]
        info = self.zip_members[name]
        assert self.zip is not None
        stream = io.BufferedReader(self.zip.open(info), buffer_size=1 << 20)  # C readline, not ZipExtFile's
        return f"{self.where}!/{info.filename}", stream, info.file_size

    def checksums(self) -> dict[str, str]:
        """SHA-256 of each file this loader reads, by name; a zip's members hash as the extracted files do."""
        if self.folder_files:
            sums = file_checksums(self.folder_files.values())
            return {name: sums[path.name] for name, path in sorted(self.folder_files.items())}
        assert self.zip is not None
        sums = {}
        for name in sorted(self.zip_members):
            digest = hashlib.sha256()
            with self.zip.open(self.zip_members[name]) as member:
                while block := member.read(1 << 20):
                    digest.update(block)
            sums[name] = digest.hexdigest()
        return sums


@contextmanager
def _open_source(path: Path) -> Iterator[_Source]:
    if not path.exists():
        raise SourceNotFound(f"{path} does not exist")
    with ExitStack() as stack:
        if path.is_dir():
            source = _folder_source(path)
        elif zipfile.is_zipfile(path):
            source = _zip_source(path, stack.enter_context(zipfile.ZipFile(path)))
        else:
            raise SourceNotFound(f"{path} is neither a folder nor a zip of an RxNorm release")
        if not source.has(_REQUIRED):
            raise SourceNotFound(
                f"{path} holds no {_REQUIRED} (looked in it, in its rrf/ folder and in the folders it holds)"
            )
        for name in source.names:
            match = _RELEASE_NAME.match(name) or _README_NAME.match(name)
            if match and match.group(1).lower() == "weekly":
                raise LoadError(
                    f"{path} is an RxNorm weekly update ({name}): a delta, not a release; load a monthly release"
                )
        yield source


def _rrf_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {
        child.name.upper(): child
        for child in folder.iterdir()
        if child.name.upper() in RRF_LAYOUTS and child.is_file()
    }


def _folder_source(path: Path) -> _Source:
    """The release in `path`, in `path/rrf`, or in the one release folder `path` holds (`demo/rxnorm/RxNorm_*`)."""
    files = _rrf_files(path)
    release_folder = path
    if _REQUIRED in files:
        if path.name.lower() == "rrf":
            release_folder = path.parent
    elif _REQUIRED in (nested := _rrf_files(path / "rrf")):
        files = nested
    else:
        below = [child for child in sorted(path.iterdir()) if child.is_dir() and _holds_release(child)]
        if len(below) > 1:
            listed = ", ".join(child.name for child in below)
            raise LoadError(f"{path} holds {len(below)} RxNorm releases ({listed}): point at one of them")
        if below:
            return _folder_source(below[0])
    names = [release_folder.name]
    for folder in dict.fromkeys((path, release_folder)):
        names += sorted(child.name for child in folder.iterdir() if _README_NAME.match(child.name))
    return _Source(where=path, folder_files=files, names=names)


def _holds_release(folder: Path) -> bool:
    return _REQUIRED in _rrf_files(folder) or _REQUIRED in _rrf_files(folder / "rrf")


def _zip_source(path: Path, archive: zipfile.ZipFile) -> _Source:
    members: dict[str, list[zipfile.ZipInfo]] = {}
    names = [path.stem]
    for info in archive.infolist():
        parts = [part for part in info.filename.split("/") if part]
        if not parts:
            continue
        names += [part for part in parts[:-1] if _RELEASE_NAME.match(part)]
        if info.is_dir():
            continue
        if _README_NAME.match(parts[-1]):
            names.append(parts[-1])
        if parts[-1].upper() in RRF_LAYOUTS:
            members.setdefault(parts[-1].upper(), []).append(info)
    chosen = {}
    for name, infos in members.items():
        if len(infos) > 1:
            listed = ", ".join(info.filename for info in infos)
            raise LoadError(f"{path} holds {len(infos)} {name} files ({listed}): zip one release at a time")
        chosen[name] = infos[0]
    return _Source(where=path, zip=archive, zip_members=chosen, names=list(dict.fromkeys(names)))


# --- version ------------------------------------------------------------------------------------------


def _version(source: _Source, files: dict[str, str], progress: Progress | None) -> tuple[str, str | None]:
    """`(version, effective date)`: the release date as NLM writes it (MMDDYYYY, as FHIR asks) and as YYYYMMDD.

    From a `Readme_*_MMDDYYYY.txt` or a `RxNorm_full_MMDDYYYY` folder/zip name; else from the SVER of
    RXNSAB's RXNORM row (`20AA_250804F` -> 08042025); else `unknown-` and the release checksum.
    """
    for name in source.names:
        match = _RELEASE_NAME.match(name) or _README_NAME.match(name)
        if match and (effective := _mmddyyyy(match.group(2))):
            return match.group(2), effective
    if source.has("RXNSAB.RRF"):
        with closing(read_rows(source.open("RXNSAB.RRF"), RRF_LAYOUTS["RXNSAB.RRF"], progress)) as rows:
            for _line, row in rows:
                if row[3] == "RXNORM" and row[6]:  # RSAB, SVER
                    match = _SVER.match(row[6])
                    if match:
                        yy, mm, dd = match.groups()
                        if effective := _mmddyyyy(f"{mm}{dd}20{yy}"):
                            return f"{mm}{dd}20{yy}", effective
                    return row[6], None
    return f"unknown-{combined_checksum(RXNORM, files)[:8]}", None


def _mmddyyyy(text: str) -> str | None:
    try:
        return datetime.strptime(text, "%m%d%Y").strftime("%Y%m%d")
    except ValueError:
        return None


# --- the files ----------------------------------------------------------------------------------------


def _name(opened: Path | _Opened) -> str:
    return str(opened if isinstance(opened, Path) else opened[0])


def _is_rxcui(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _other_system(sab: str) -> str:
    return RRF_SAB_SYSTEMS.get(sab) or f"urn:rxnorm-sab:{sab}"


def _load_conso(load: ReleaseLoad, opened: Path | _Opened, progress: Progress | None) -> None:
    """Concepts and designations from the RXNORM atoms, crosswalks from every other source's atoms.

    A concept's main atom is known only once all its atoms are read, and RXNCONSO is not promised to
    be sorted by RXCUI, so the designations wait in memory (SAB=RXNORM atoms only: ~400k at full scale).
    """
    name = _name(opened)
    add_crosswalk = load.writer(schema.crosswalks).add
    systems: dict[str, str] = {}
    interned: dict[str, str] = {}
    # rxcui -> [rank of main atom, index of its designation (-1 if none), STR, TTY, active, rxcui]
    main: dict[str, list] = {}
    pending: list[tuple[str, str, str]] = []  # (rxcui, STR, TTY) of RXNORM ENG atoms, in file order
    rows = other_languages = 0
    for line, row in read_rows(opened, RRF_LAYOUTS["RXNCONSO.RRF"], progress):
        rows += 1
        rxcui = row[0]
        if not _is_rxcui(rxcui):
            raise MalformedRow(name, line, f"RXCUI {rxcui!r} is not a number")
        sab, tty, text, suppress = row[11], row[12], row[14], row[16]
        if sab == "RXNORM":
            if not text.strip():
                load.skip(name, line, f"RXNORM atom {row[7] or '?'} of RXCUI {rxcui} has no name (STR)")
                continue
            tty = interned.setdefault(tty, tty)
            active = suppress == "N"
            rank = _TTY_RANK.get(tty, _UNRANKED) + (0 if active else _NOT_ACTIVE)
            index = -1
            if row[1] == "ENG":
                index = len(pending)
            else:
                other_languages += 1
            entry = main.get(rxcui)
            if entry is None:
                main[rxcui] = [rank, index, text, tty, active, rxcui]
            else:
                rxcui = entry[5]  # one string per RXCUI in memory, not one per atom
                if active:
                    entry[4] = True
                if rank < entry[0]:
                    entry[0:4] = rank, index, text, tty
            if index >= 0:
                pending.append((rxcui, text, tty))
            continue
        code = row[13]
        kind = f"RXNCONSO:{sab}:{tty}" if suppress == "N" else f"RXNCONSO:{sab}:{tty}{_SUPPRESSED}"
        if not code or code == "NOCODE" or len(code) > _MAX_CODE or len(kind) > _MAX_CODE:
            too_long = len(kind) > _MAX_CODE
            problem = f"a SAB and TTY too long to store ({kind!r})" if too_long else f"no usable CODE ({code!r})"
            load.skip(name, line, f"{sab} atom {row[7] or '?'} of RXCUI {rxcui} has {problem}")
            continue
        system = systems.get(sab)
        if system is None:
            system = systems[sab] = _other_system(sab)
            if sab not in RRF_SAB_SYSTEMS:
                logger.info("RXNCONSO source %s has no known system URI: its codes are kept under %s", sab, system)
        add_crosswalk((rxcui, system, code, text or None, kind))
    if not main:
        raise LoadError(f"{name} has no RXNORM atom: this is not an RxNorm release")

    concepts = load.writer(schema.concepts).add
    concept_count = len(main)
    preferred = bytearray(len(pending))
    for rxcui, (_rank, index, display, tty, active, _rxcui) in main.items():
        if index >= 0:
            preferred[index] = 1
        concepts((rxcui, active, display, tty))
    main.clear()
    designations = load.writer(schema.designations).add
    for index, (rxcui, text, tty) in enumerate(pending):
        designations((rxcui, text, normalise_term(text), tty, "en", bool(preferred[index])))
    logger.info(
        "%s: %d rows, %d RxNorm concepts, %d designations, %d non-English RXNORM atoms passed over",
        name, rows, concept_count, len(pending), other_languages,
    )


def _load_rel(load: ReleaseLoad, opened: Path | _Opened, progress: Progress | None) -> None:
    """Relationships from RXNORM's RXNREL rows: `RXCUI2 <RELA> RXCUI1` (the second concept has RELA to the first)."""
    name = _name(opened)
    add = load.writer(schema.relationships).add
    interned: dict[str, str] = {}
    rows = written = passed = 0
    for line, row in read_rows(opened, RRF_LAYOUTS["RXNREL.RRF"], progress):
        rows += 1
        rela = row[7]
        if row[10] != "RXNORM" or not rela:
            passed += 1
            continue
        rxcui1, rxcui2 = row[0], row[4]
        if not rxcui1 or not rxcui2:
            atoms = f"{row[1] or '?'} and {row[5] or '?'}"
            load.skip(name, line, f"RXNORM {rela} row between atoms {atoms} has no RXCUI1/RXCUI2")
            continue
        for rxcui in (rxcui1, rxcui2):
            if not _is_rxcui(rxcui):
                raise MalformedRow(name, line, f"RXCUI {rxcui!r} is not a number")
        add((rxcui2, interned.setdefault(rela, rela), rxcui1))
        written += 1
    logger.info(
        "%s: %d rows, %d relationships, %d of other sources or without RELA passed over", name, rows, written, passed
    )


def _load_sat(load: ReleaseLoad, opened: Path | _Opened, progress: Progress | None) -> None:
    """NDC crosswalks from RXNSAT's ATN=NDC, SAB=RXNORM rows: RxNorm's own normalised 11-digit NDCs."""
    name = _name(opened)
    add = load.writer(schema.crosswalks).add
    rows = written = passed = 0
    # an RXCUI's attribute rows come together: the same NDC on two atoms of one RXCUI is written once
    current, seen = "", set()
    for line, row in read_rows(opened, RRF_LAYOUTS["RXNSAT.RRF"], progress):
        rows += 1
        if row[8] != "NDC" or row[9] != "RXNORM":
            passed += 1
            continue
        rxcui, ndc = row[0], row[10]
        if not _is_rxcui(rxcui):
            raise MalformedRow(name, line, f"RXCUI {rxcui!r} is not a number")
        if not (len(ndc) == 11 and _is_rxcui(ndc)):
            load.skip(name, line, f"NDC of RXCUI {rxcui} is not an 11-digit normalised NDC ({ndc!r})")
            continue
        kind = "RXNSAT:NDC" if row[11] == "N" else "RXNSAT:NDC" + _SUPPRESSED
        if rxcui != current:
            current, seen = rxcui, set()
        if (ndc, kind) in seen:
            continue
        seen.add((ndc, kind))
        add((rxcui, NDC, ndc, None, kind))
        written += 1
    logger.info("%s: %d rows, %d NDC crosswalks, %d other attributes passed over", name, rows, written, passed)


def _load_cui(load: ReleaseLoad, opened: Path | _Opened, progress: Progress | None) -> None:
    """Associations from RXNCUI: each retired `cui1` REMAPPED TO its current `cui2` (a split has several, all kept)."""
    name = _name(opened)
    add = load.writer(schema.associations).add
    seen: set[tuple[str, str]] = set()
    rows = 0
    for line, (cui1, _start, _end, _cardinality, cui2) in read_rows(opened, RRF_LAYOUTS["RXNCUI.RRF"], progress):
        rows += 1
        for rxcui in (cui1, cui2):
            if rxcui and not _is_rxcui(rxcui):
                raise MalformedRow(name, line, f"RXCUI {rxcui!r} is not a number")
        if not cui1 or not cui2:
            load.skip(name, line, f"retired RXCUI {cui1 or '?'} has no replacement RXCUI")
            continue
        if cui1 == cui2:
            load.skip(name, line, f"RXCUI {cui1} is remapped to itself")
            continue
        if (cui1, cui2) not in seen:
            seen.add((cui1, cui2))
            add((cui1, REMAPPED_TO, cui2))
    logger.info("%s: %d rows, %d remappings", name, rows, len(seen))
