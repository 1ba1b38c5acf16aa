"""SNOMED CT RF2 release (a .zip or an unpacked folder, any depth) into a release of the concept store.

    report = load_rf2(engine, Path("SnomedCT_InternationalRF2_PRODUCTION_20250101T120000Z.zip"))

**Files read**, found anywhere under the path by their RF2 names (International or a national edition):

    sct2_Concept_*               -> concepts (code, active, display, kind)
    sct2_Description_*           -> designations: active FSNs and synonyms
    der2_cRefset_Language*       -> preferred flags and displays (en-US 900000000000509007, en-GB 900000000000508004)
    sct2_Relationship_*          -> relationships (active rows); sct2_StatedRelationship_* only when there is
                                    no inferred file: a warning is logged and `release.files` names the file used
    der2_[cRefset_]Association*  -> associations: historical links from concepts (SAME AS, REPLACED BY ...)
    der2_sRefset_SimpleMap*      -> crosswalks (CTV3, ICD-O; other simple maps: see `MAP_SYSTEMS`)

A Snapshot file is preferred; without one, a Full file is reduced to the latest row (max effectiveTime)
of each id. Delta files are never read. A name with neither Snapshot nor Full in it (the non-standard
`sct2_Concept_INT_20140731.txt`) counts as Snapshot. Version and effective date come from the Concept
file's name: `sct2_Concept_Snapshot_US1000124_20150301.txt` -> `US1000124 20150301` and `20150301`.

**Not read (for now):** OWL axioms and expressions, MRCM, concrete values, attribute-value (inactivation
reason) refsets, complex and extended maps, simple maps with description, module dependency and
descriptor refsets, language refsets other than en-US and en-GB. Text definitions are not loaded; their
ids are read only when some language rows are left over, so that rows about them are not reported.

**Not kept:** inactive rows of any file (inactive descriptions are not designations); relationship group,
characteristic and modifier (a source, type and destination repeated in several groups is stored once);
case significance; "acceptable" (only "preferred" is kept).

**Fatal**, naming file and line (the staged release is purged; the active release stays as it was): a
header that is not the RF2 one (`MissingColumn`, `MalformedRow`), a wrong column count (`MalformedRow`),
bytes that are not UTF-8 (`UnreadableEncoding`), an effectiveTime that is not 8 digits, an active flag
other than 0/1, an SCTID column the loader uses that is not 6 to 18 digits (`MalformedRow`), a concept
twice in a Snapshot Concept file (`ConflictingRow`). Rows that a Full file supersedes are checked for
shape and effectiveTime only. Before anything is staged: `SourceNotFound` without a Concept or
Description file; `LoadError` for several Concept files (two releases under one path) or one file twice.

**Skipped**, each into `report.skipped` and the `load_issues` table with file and line: a description,
a relationship (source or destination), an association (source) or a map row whose concept is not in
the Concept file, which is common in subsets; a description that is neither FSN nor synonym; an active
language row for a description that is not loaded (rows for text definitions are only counted); a map
row with an empty target.

**Logged with counts, by design:** inactive rows, association rows from descriptions, association targets
outside the release (kept: the link is still worth knowing), concepts without any active description
(their display is their code).

**Display** is the synonym preferred in the chosen dialect's language refset, else in the other
dialect's, else the FSN without its semantic tag, else any synonym. **Kind** is the FSN's semantic tag.
"""
from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import IO, NoReturn

from sqlalchemy import Engine

from terminology import schema
from terminology.errors import ConflictingRow, LoadError, MalformedRow, SourceNotFound
from terminology.model import LoadReport
from terminology.normalise import normalise_term, semantic_tag
from terminology.releases import ActivationHook, ReleaseLoad, file_checksums, open_release
from terminology.systems import SNOMED

from .delimited import DelimitedFile, read_rows
from .progress import Progress

__all__ = ["load_rf2", "LANGUAGE_REFSETS", "ASSOCIATION_NAMES", "MAP_SYSTEMS"]

logger = logging.getLogger(__name__)

#: The language refset whose preferred synonyms give displays, by dialect.
LANGUAGE_REFSETS = {"en-US": "900000000000509007", "en-GB": "900000000000508004"}

#: Historical association refsets, by refsetId; any other refsetId is stored as the type itself.
ASSOCIATION_NAMES = {
    "900000000000527005": "SAME AS",
    "900000000000526001": "REPLACED BY",
    "900000000000523009": "POSSIBLY EQUIVALENT TO",
    "900000000000528000": "WAS A",
    "900000000000530003": "ALTERNATIVE",
    "900000000000524003": "MOVED TO",
    "900000000000525002": "MOVED FROM",
    "900000000000531004": "REFERS TO",
    "1186921001": "POSSIBLY REPLACED BY",
    "1186924009": "PARTIALLY EQUIVALENT TO",
}

#: Target system of a simple map refset, by refsetId. Any other simple map refset becomes
#: `http://snomed.info/sct?fhir_cm=<refsetId>`, the FHIR implicit ConceptMap URI of that refset.
MAP_SYSTEMS = {
    "900000000000497000": "http://read.info/ctv3",
    "446608001": "http://terminology.hl7.org/CodeSystem/icd-o-3",
}

_FSN = "900000000000003001"
_SYNONYM = "900000000000013009"
_PREFERRED = "900000000000548007"
_CONCEPT_PARTITIONS = ("00", "10")  # 2nd and 3rd digits from the right of a concept id
_SCTID = r"[1-9]\d{5,17}"
_EFFECTIVE_TIME = re.compile(r"\d{8}", re.ASCII).fullmatch


class _Layout:
    """An RF2 file's columns, and a check of the ones the loader relies on.

    The check is one regex per row, over effectiveTime, active and the `sctids` columns joined by
    tabs (`match(join(pick(fields)))`); only a row it refuses goes to `fail`, which says why.
    """

    def __init__(self, columns: tuple[str, ...], sctids: tuple[int, ...]) -> None:
        self.delimited = DelimitedFile("\t", len(columns), columns)
        self.columns = columns
        self.sctids = sctids
        self.pick = itemgetter(1, 2, *sctids)
        self.match = re.compile("\t".join([r"\d{8}", "[01]", *[_SCTID] * len(sctids)]), re.ASCII).fullmatch

    def fail(self, fields: list[str], where: str, line: int) -> NoReturn:
        """Raise the `MalformedRow` that says what is wrong with a row that `match` refused."""
        if _EFFECTIVE_TIME(fields[1]) is None:
            raise MalformedRow(where, line, f"effectiveTime {fields[1]!r} is not 8 digits (YYYYMMDD)")
        if fields[2] not in ("0", "1"):
            raise MalformedRow(where, line, f"active {fields[2]!r} is neither 0 nor 1")
        for column in self.sctids:
            if not re.fullmatch(_SCTID, fields[column], re.ASCII):
                problem = f"{self.columns[column]} {fields[column]!r} is not an SCTID (6 to 18 digits, no leading 0)"
                raise MalformedRow(where, line, problem)
        raise MalformedRow(where, line, "malformed row")  # pragma: no cover - `match` and the above agree


# Each file's RF2 columns, and those that must hold SCTIDs (the ones the loader uses).
_CONCEPT = _Layout(("id", "effectiveTime", "active", "moduleId", "definitionStatusId"), (0,))
_DESCRIPTION = _Layout(
    ("id", "effectiveTime", "active", "moduleId", "conceptId", "languageCode", "typeId", "term", "caseSignificanceId"),
    (0, 4, 6),
)
_RELATIONSHIP = _Layout(
    ("id", "effectiveTime", "active", "moduleId", "sourceId", "destinationId", "relationshipGroup", "typeId",
     "characteristicTypeId", "modifierId"),
    (0, 4, 5, 7),
)
_LANGUAGE = _Layout(
    ("id", "effectiveTime", "active", "moduleId", "refsetId", "referencedComponentId", "acceptabilityId"), (4, 5, 6)
)
_ASSOCIATION = _Layout(
    ("id", "effectiveTime", "active", "moduleId", "refsetId", "referencedComponentId", "targetComponentId"), (4, 5, 6)
)
_SIMPLE_MAP = _Layout(
    ("id", "effectiveTime", "active", "moduleId", "refsetId", "referencedComponentId", "mapTarget"), (4, 5)
)

# <sct2|der2>_<content>_<namespace>_<date>.txt, where <content> names the role and the release type.
_RF2_NAME = re.compile(r"(?P<content>(?:sct2|der2)_.+?)_(?P<namespace>[A-Za-z0-9]+)_(?P<date>\d{8})\.txt")
_TYPE = r"[A-Z]*(?P<type>Snapshot|Full|Delta)"  # an edition's tag (`UKCR`, `MONO`) may come first
_LANG = r"(?:-[A-Za-z]+(?:-[A-Za-z]+)?)?"
_ROLES = {
    "concept": re.compile(rf"sct2_Concept(?:_{_TYPE})?"),
    "description": re.compile(rf"sct2_Description(?:_{_TYPE}{_LANG})?"),
    "text_definition": re.compile(rf"sct2_TextDefinition(?:_{_TYPE}{_LANG})?"),
    "relationship": re.compile(rf"sct2_Relationship(?:_{_TYPE})?"),
    "stated_relationship": re.compile(rf"sct2_StatedRelationship(?:_{_TYPE})?"),
    "language": re.compile(rf"der2_cRefset_Language(?:{_TYPE})?{_LANG}"),
    "association": re.compile(rf"der2_(?:cRefset_)?Association(?:Reference)?(?:{_TYPE})?"),
    "simple_map": re.compile(rf"der2_sRefset_SimpleMap(?:{_TYPE})?"),
}

_Rows = Iterator[tuple[int, list[str]]]


@dataclass(frozen=True)
class _File:
    """One RF2 file of the release: its path inside the release, release type, namespace and date."""

    name: str
    release_type: str
    namespace: str
    date: str


def _classify(name: str) -> tuple[str, _File] | None:
    """(role, file) for an RF2 file this loader reads, None for any other file."""
    parts = _RF2_NAME.fullmatch(re.split(r"[/\\]", name)[-1])  # zips made on Windows may use backslashes
    if parts is None:
        return None
    for role, pattern in _ROLES.items():
        found = pattern.fullmatch(parts["content"])
        if found is not None:
            return role, _File(name, found["type"] or "Snapshot", parts["namespace"], parts["date"])
    return None


class _Release:
    """The files of a release: a folder walked to any depth, or the members of a zip."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        if path.is_dir():
            self.names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*.txt") if p.is_file())
        elif path.is_file() and zipfile.is_zipfile(path):
            self._zip = zipfile.ZipFile(path)
            self.names = sorted(info.filename for info in self._zip.infolist() if not info.is_dir())
        elif path.exists():
            raise SourceNotFound(f"{path} is neither a folder nor a zip file of an RF2 release")
        else:
            raise SourceNotFound(f"{path} does not exist")

    def open(self, file: _File) -> Path | tuple[str, IO[bytes], int]:
        """What `read_rows` reads: the file's path, or (member name, buffered stream, size) for a zip."""
        if self._zip is None:
            return self.path / file.name
        info = self._zip.getinfo(file.name)
        return file.name, io.BufferedReader(self._zip.open(info), 1 << 20), info.file_size

    def where(self, file: _File) -> str:
        """How errors name a file: as `read_rows` does, its path, or its member name in the zip."""
        return file.name if self._zip is not None else str(self.path / file.name)

    def checksums(self, files: list[_File]) -> dict[str, str]:
        """SHA-256 of each file read, by its path inside the release; for a zip, of the zip itself."""
        if self._zip is not None:
            return file_checksums([self.path])
        sums = file_checksums(self.path / file.name for file in files)  # keyed by base name, unique here
        return {file.name: sums[Path(file.name).name] for file in files}

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _select(release: _Release) -> dict[str, list[_File]]:
    """The files to read, by role: the Snapshot files where there are some, else the Full ones."""
    found: dict[str, dict[str, list[_File]]] = {}
    for name in release.names:
        classified = _classify(name)
        if classified is not None:
            role, file = classified
            found.setdefault(role, {}).setdefault(file.release_type, []).append(file)
    chosen = {role: by_type.get("Snapshot") or by_type.get("Full") or [] for role, by_type in found.items()}
    required = (("concept", "Concept"), ("description", "Description"))
    missing = [label for role, label in required if not chosen.get(role)]
    if missing:
        raise SourceNotFound(
            f"{release.path} has no RF2 {' or '.join(missing)} file: sct2_Concept_Snapshot_*.txt and "
            "sct2_Description_Snapshot-*.txt, or their Full files, are needed (Delta files are not read)"
        )
    if len(chosen["concept"]) > 1:
        names = ", ".join(file.name for file in chosen["concept"])
        raise LoadError(f"{release.path} holds {len(chosen['concept'])} Concept files ({names}): point at one release")
    if not chosen.get("relationship") and chosen.get("stated_relationship"):
        chosen["relationship"] = chosen["stated_relationship"]
        logger.warning("no inferred Relationship file: the hierarchy comes from %s", chosen["relationship"][0].name)
    chosen.pop("stated_relationship", None)
    seen: dict[str, str] = {}
    for file in (file for files in chosen.values() for file in files):
        base = Path(file.name).name
        if base in seen:
            raise LoadError(f"{release.path} holds {base} twice ({seen[base]}, {file.name}): point at one release")
        seen[base] = file.name
    return chosen


def _rows(release: _Release, file: _File, layout: _Layout, progress: Progress | None) -> _Rows:
    """`(line, fields)` of the checked rows of an RF2 file; of a Full file, the latest row of each id."""
    where = release.where(file)
    pick, match, join = layout.pick, layout.match, "\t".join
    if file.release_type == "Full":
        rows = _latest(release, file, layout, progress)
    else:
        rows = read_rows(release.open(file), layout.delimited, progress)
    for line, fields in rows:
        if match(join(pick(fields))) is None:
            layout.fail(fields, where, line)
        yield line, fields


def _latest(release: _Release, file: _File, layout: _Layout, progress: Progress | None) -> _Rows:
    """The rows of a Full file with the greatest effectiveTime of their id: two passes, an int per id held."""
    where = release.where(file)
    latest: dict[str, int] = {}
    for line, fields in read_rows(release.open(file), layout.delimited, progress):
        time = fields[1]
        if _EFFECTIVE_TIME(time) is None:
            raise MalformedRow(where, line, f"effectiveTime {time!r} is not 8 digits (YYYYMMDD)")
        key = int(time) << 32 | line  # the latest time wins; a tie goes to the later line
        if latest.get(fields[0], -1) < key:
            latest[fields[0]] = key
    keep = {key & 0xFFFFFFFF for key in latest.values()}
    del latest
    for line, fields in read_rows(release.open(file), layout.delimited, progress):
        if line in keep:
            yield line, fields


def _without_tag(fsn: str, tag: str | None) -> str:
    """`Amiodarone (substance)` -> `Amiodarone`."""
    if tag is None:
        return fsn
    return fsn.rstrip().removesuffix(f"({tag})").rstrip() or fsn


def _language_refsets(language: str) -> tuple[str, str]:
    """(chosen, other) language refset ids for `en-US` or `en-GB`."""
    if language not in LANGUAGE_REFSETS:
        raise ValueError(f"language must be one of {', '.join(LANGUAGE_REFSETS)}, not {language!r}")
    other = next(refset for dialect, refset in LANGUAGE_REFSETS.items() if dialect != language)
    return LANGUAGE_REFSETS[language], other


def load_rf2(
    engine: Engine,
    path: Path,
    *,
    language: str = "en-US",
    progress: Progress | None = None,
    batch_size: int = 50_000,
    on_activate: ActivationHook | None = None,
) -> LoadReport:
    """Load the RF2 release at `path` (zip or folder) as the active SNOMED CT release; what was written and skipped.

    The same files with the same `language` again write nothing: `report.already_loaded`. The language
    is part of the release's checksum (as `files["option:language"]`), since it changes the displays.
    """
    chosen, other = _language_refsets(language)
    path = Path(path)
    release = _Release(path)
    try:
        files = _select(release)
        concept_file = files["concept"][0]
        version = f"{concept_file.namespace} {concept_file.date}"
        read = [file for role, role_files in files.items() if role != "text_definition" for file in role_files]
        sums = release.checksums(read)
        sums["option:language"] = language
        logger.info("loading SNOMED CT %s (%s) from %s: %d files", version, language, path, len(read))
        with open_release(
            engine, SNOMED, version, concept_file.date, source=str(path), files=sums, batch_size=batch_size,
            on_activate=on_activate,
        ) as load:
            if load.already_loaded:
                return load.report
            _Loader(load, release, files, chosen, other, progress).run()
        return load.report
    finally:
        release.close()


class _Loader:
    """One load: the files in the order they are needed, and the compact lookups between them."""

    def __init__(
        self,
        load: ReleaseLoad,
        release: _Release,
        files: dict[str, list[_File]],
        chosen: str,
        other: str,
        progress: Progress | None,
    ) -> None:
        self.load = load
        self.release = release
        self.files = files
        self.chosen = chosen
        self.other = other
        self.progress = progress
        self.concepts: dict[str, bool] = {}  # concept id -> active
        self.flags: dict[str, int] = {}  # description id -> 1 if preferred in the chosen dialect | 2 in the other
        self.display: dict[str, tuple[int, str]] = {}  # concept id -> (rank, display); the lowest rank wins
        self.kinds: dict[str, str] = {}  # concept id -> semantic tag

    def rows(self, file: _File, layout: _Layout) -> _Rows:
        return _rows(self.release, file, layout, self.progress)

    def run(self) -> None:
        self.read_concepts()
        self.read_language()
        self.read_descriptions()
        self.write_concepts()
        self.report_unused_language_rows()
        self.read_relationships()
        self.read_associations()
        self.read_simple_maps()

    def read_concepts(self) -> None:
        concepts = self.concepts
        for file in self.files["concept"]:
            for line, fields in self.rows(file, _CONCEPT):
                code = fields[0]
                if code in concepts:
                    raise ConflictingRow(self.release.where(file), line, f"concept {code} appears twice")
                concepts[code] = fields[2] == "1"
        logger.info("concepts: %d", len(concepts))

    def read_language(self) -> None:
        flags, chosen, other = self.flags, self.chosen, self.other
        inactive = elsewhere = 0
        for file in self.files.get("language", []):
            for _line, fields in self.rows(file, _LANGUAGE):
                if fields[2] != "1":
                    inactive += 1
                    continue
                refset = fields[4]
                if refset == chosen:
                    bit = 1 if fields[6] == _PREFERRED else 0
                elif refset == other:
                    bit = 2 if fields[6] == _PREFERRED else 0
                else:
                    elsewhere += 1
                    continue
                description = fields[5]
                flags[description] = flags.get(description, 0) | bit
        logger.info(
            "language refsets: %d descriptions with an en-US or en-GB row; %d inactive rows, %d rows of other refsets",
            len(flags), inactive, elsewhere,
        )

    def read_descriptions(self) -> None:
        concepts, display, kinds = self.concepts, self.display, self.kinds
        pop_flags, skip = self.flags.pop, self.load.skip
        add = self.load.writer(schema.designations).add
        tags: dict[str, str] = {}  # one string per semantic tag
        inactive = 0
        for file in self.files["description"]:
            for line, fields in self.rows(file, _DESCRIPTION):
                if fields[2] != "1":
                    inactive += 1
                    continue
                code, type_id, term = fields[4], fields[6], fields[7]
                if code not in concepts:
                    skip(file.name, line, f"description {fields[0]}: concept {code} is not in the concept file")
                    continue
                bits = pop_flags(fields[0], 0)
                if type_id == _SYNONYM:
                    add((code, term, normalise_term(term), "synonym", fields[5], bool(bits & 1)))
                    rank = 0 if bits & 1 else 1 if bits & 2 else 4
                elif type_id == _FSN:
                    add((code, term, normalise_term(term), "fsn", fields[5], bool(bits & 1)))
                    tag = semantic_tag(term)
                    if tag is not None and (bits & 1 or code not in kinds):
                        kinds[code] = tags.setdefault(tag, tag)
                    term = _without_tag(term, tag)
                    rank = 2 if bits & 1 else 3
                else:
                    skip(file.name, line, f"description {fields[0]}: type {type_id} is neither FSN nor synonym")
                    continue
                best = display.get(code)
                if best is None or rank < best[0]:
                    display[code] = (rank, term)
        logger.info("descriptions: %d inactive rows not loaded", inactive)

    def write_concepts(self) -> None:
        add = self.load.writer(schema.concepts).add
        display, kinds = self.display, self.kinds
        untermed = []
        for code, active in self.concepts.items():
            best = display.get(code)
            if best is None:
                untermed.append(code)
            add((code, active, code if best is None else best[1], kinds.get(code)))
        if untermed:
            logger.warning(
                "%d concepts have no active description; their display is their code (e.g. %s)",
                len(untermed), ", ".join(untermed[:5]),
            )
        display.clear()
        kinds.clear()

    def report_unused_language_rows(self) -> None:
        """Skip-report the language rows whose description was not loaded; rows about text definitions are counted."""
        unused = self.flags  # what read_descriptions left: descriptions with a language row but not loaded
        if not unused:
            return
        definitions = 0
        for file in self.files.get("text_definition", []):
            for _line, fields in read_rows(self.release.open(file), _DESCRIPTION.delimited, self.progress):
                if unused.pop(fields[0], None) is not None:
                    definitions += 1
        if definitions:
            logger.info("language refsets: rows for %d text definitions (not loaded) passed over", definitions)
        if unused:
            dialects = (self.chosen, self.other)
            for file in self.files.get("language", []):
                for line, fields in self.rows(file, _LANGUAGE):
                    if fields[2] == "1" and fields[4] in dialects and fields[5] in unused:
                        problem = f"language row for description {fields[5]}, which is not loaded"
                        self.load.skip(file.name, line, problem)
        unused.clear()

    def read_relationships(self) -> None:
        concepts, skip = self.concepts, self.load.skip
        add = self.load.writer(schema.relationships).add
        seen: set[str] = set()
        repeated = 0
        for file in self.files.get("relationship", []):
            for line, fields in self.rows(file, _RELATIONSHIP):
                if fields[2] != "1":
                    continue
                source, destination, type_id = fields[4], fields[5], fields[7]
                if source not in concepts or destination not in concepts:
                    missing = source if source not in concepts else destination
                    skip(file.name, line, f"relationship {fields[0]}: concept {missing} is not in the concept file")
                    continue
                key = f"{source} {type_id} {destination}"
                if key in seen:
                    repeated += 1  # the same attribute and value in another relationship group
                    continue
                seen.add(key)
                add((source, type_id, destination))
        if repeated:
            logger.info("relationships: %d repeated in another group, stored once", repeated)

    def read_associations(self) -> None:
        concepts, skip = self.concepts, self.load.skip
        add = self.load.writer(schema.associations).add
        from_descriptions = outside = 0
        other_refsets: dict[str, int] = {}
        for file in self.files.get("association", []):
            for line, fields in self.rows(file, _ASSOCIATION):
                if fields[2] != "1":
                    continue
                if fields[4] not in ASSOCIATION_NAMES:  # e.g. 734139008, an anatomy refset: not history
                    other_refsets[fields[4]] = other_refsets.get(fields[4], 0) + 1
                    continue
                source, target = fields[5], fields[6]
                if source[-3:-1] not in _CONCEPT_PARTITIONS:
                    from_descriptions += 1
                    continue
                if source not in concepts:
                    skip(file.name, line, f"association {fields[0]}: concept {source} is not in the concept file")
                    continue
                if target not in concepts:
                    outside += 1
                add((source, ASSOCIATION_NAMES[fields[4]], target))
        if other_refsets:
            logger.info("associations: rows of refsets that are not historical associations passed over: %s",
                        ", ".join(f"{refset} ({count})" for refset, count in sorted(other_refsets.items())))
        if from_descriptions or outside:
            logger.info(
                "associations: %d rows from descriptions passed over; %d targets outside this release, kept",
                from_descriptions, outside,
            )

    def read_simple_maps(self) -> None:
        concepts, skip = self.concepts, self.load.skip
        add = self.load.writer(schema.crosswalks).add
        for file in self.files.get("simple_map", []):
            for line, fields in self.rows(file, _SIMPLE_MAP):
                if fields[2] != "1":
                    continue
                code, refset, target = fields[5], fields[4], fields[6].strip()
                if code not in concepts:
                    skip(file.name, line, f"map row {fields[0]}: concept {code} is not in the concept file")
                    continue
                if not target:
                    skip(file.name, line, f"map row {fields[0]}: empty mapTarget")
                    continue
                system = MAP_SYSTEMS.get(refset) or f"{SNOMED}?fhir_cm={refset}"
                add((code, system, target, None, f"map:{refset}"))
