"""Local code tables (CSV, TSV, XLSX exports of an EHR or pharmacy system) as releases of a local code system.

The user names the local system URI and which columns hold what (`ColumnMap`); each load of a
table becomes a release of that system, replacing the previous one in one switch.

Format by suffix: `.csv` (comma), `.tsv` / `.txt` (tab), `.xlsx` (first sheet unless told). Text
tables are read in chunks with every value a string exactly as written, so `00123` stays `00123`;
an `.xlsx` is read whole, and keeps leading zeros only where the cell holds text (a number cell
formatted as `00000` is the number 123). Text is UTF-8 (a BOM is fine) unless `encoding` says
otherwise.

Line numbers are those of the file: the header is line 1, a quoted value that spans lines moves
the rows after it down, and blank lines count. In a workbook they are spreadsheet row numbers.

What stops a load (a `terminology.errors.LoadError`; the active release stays as it was):

- `SourceNotFound`: no file at the path, a suffix the loader cannot read, no such sheet.
- `MissingColumn`: a column the map names is not in the header (the error lists those found).
- `ConflictingRow`: the same code twice with different displays (the error names both lines).
- `UnreadableEncoding`: bytes that do not decode (the error names the line), or UTF-16 text read as an
  8-bit encoding (a UTF-16 byte-order mark or NUL bytes: the error names the encoding to pass).
- `MalformedRow`: a row with more values than the header has columns; an `.xlsx` that is not a
  readable workbook, or that would inflate far beyond its size (a zip bomb: refused from the zip's
  directory, before anything is inflated; see `terminology.archives`).
- `LoadError`: not one row could be loaded. An empty export or a wrong column map would otherwise
  replace a good release with an empty one.

What is skipped with a report (`LoadReport.skipped`, stored with the release; nothing silently):

- a row with an empty code or an empty display, or a code or kind longer than the store's 64 characters;
- a row repeating an earlier code with the same display: it is merged into the first (its synonyms
  and targets are added) and reported as merged;
- a malformed pre-existing target (see `ColumnMap`): only that target is dropped, the concept is loaded.

Passed over without a report, as they hold nothing: blank lines (every value empty), empty
synonyms, synonyms that repeat the display or another synonym once normalised, and repeats of
a target the concept already has.

Codes, displays, kinds, synonyms and target values lose surrounding whitespace; text inside them is kept.

Reloading the same bytes with the same column map is `already_loaded`; a changed file or a
changed column map makes a new release that replaces the old one.

Configuration mistakes (a bad column map, an unknown encoding, a standard system such as SNOMED CT
named as the local system) raise `ConfigurationError` before anything is read.
"""
from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import json
import logging
import re
import tomllib
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import yaml
from sqlalchemy import Engine

from terminology import schema
from terminology.archives import inflation_problem
from terminology.errors import (
    ConfigurationError,
    ConflictingRow,
    LoadError,
    MalformedRow,
    MissingColumn,
    SourceNotFound,
    UnreadableEncoding,
)
from terminology.model import LoadReport
from terminology.normalise import normalise_term
from terminology.releases import ActivationHook, ReleaseLoad, file_checksums, open_release
from terminology.systems import NDC, RXNORM, SNOMED, canonical_system, is_local
from terminology.text_files import first_nul

from .progress import NullProgress, Progress

__all__ = ["ColumnMap", "load_local_table", "parse_targets", "COLUMN_MAP_ENTRY", "CROSSWALK_KIND"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Rows per chunk read from a text table.
CHUNK_ROWS = 10_000
#: Longest code, kind or target code the store holds (`String(64)` in `terminology.schema`).
MAX_CODE = 64
#: Key under which a release's `files` records how the table was read (column map, sheet,
#: encoding, delimiter), so that the same bytes read another way are a new release.
COLUMN_MAP_ENTRY = "<column map>"
#: Crosswalk `kind` of the targets a local table brings with it.
CROSSWALK_KIND = "local-table"

_DELIMITERS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}
_EXCEL = {".xlsx"}
_SEPARATOR_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}
_SEPARATOR_SPELLING = {"\t": "tab", ",": "comma", " ": "space"}
_TARGET_CODE = {
    SNOMED: (re.compile(r"[1-9][0-9]{5,17}"), "a SNOMED CT id is 6 to 18 digits"),
    RXNORM: (re.compile(r"[0-9]{1,10}"), "an RxNorm RXCUI is digits only"),
    NDC: (
        re.compile(r"[0-9]{10,11}|[0-9]{4,5}-[0-9]{3,4}-[0-9]{1,2}"),
        "an NDC is 10 or 11 digits, or 4-4-2 / 5-3-2 / 5-4-1",
    ),
}


@dataclass(frozen=True)
class ColumnMap:
    """Which column of a local table holds what, and how to read the table.

    `code` and `display` are required; every other column is optional. `synonyms` holds several
    terms split on `synonym_separator` (`|` unless told).

    Pre-existing targets: `target_code` names a column of codes in other systems, several in one
    cell split on `|`. A value names its own system with a prefix, the "coded mapping"
    convention of the VistA export: `SCT:102262009` or `SNOMED:…` (SNOMED CT), `RXNORM:1191`,
    `NDC:…`, any name `terminology.systems.canonical_system` knows. A value without a prefix
    takes its system from the `target_system` column (a URI or a known name per row), else
    from `target_system_fixed` (one URI or name for the whole table). A value whose system
    cannot be told, whose prefix names another system than the row's `target_system`, or whose
    code is not well formed (`SCT: 801000161103`, `SCT:abc`, an NDC of letters) is skipped with
    a report; the concept is kept. OCL/CIEL's three-part `SAME-AS:SNOMED-CT:91936005` is not
    this convention (its first part is a map type) and is reported as an unknown prefix.

    `sheet` (an `.xlsx` sheet name, or 0-based position), `encoding` and `delimiter` say how to
    read the file; arguments given to `load_local_table` win over them.

    Mistakes raise `terminology.errors.ConfigurationError` (a `TermmapError`, not a `ValueError`),
    so the CLI reports them as one line like every other termmap error.
    """

    code: str
    display: str
    kind: str | None = None
    synonyms: str | None = None
    synonym_separator: str = "|"
    target_system: str | None = None
    target_system_fixed: str | None = None
    target_code: str | None = None
    sheet: str | int | None = None
    encoding: str | None = None
    delimiter: str | None = None

    def __post_init__(self) -> None:
        for name in ("code", "display"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(f"column map: {name} must name a column (got {value!r})")
        for name in ("kind", "synonyms", "target_system", "target_system_fixed", "target_code", "encoding"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigurationError(f"column map: {name} must be a non-empty text or left out (got {value!r})")
        if not isinstance(self.synonym_separator, str) or not self.synonym_separator:
            raise ConfigurationError("column map: synonym_separator must be at least one character")
        if (self.target_system or self.target_system_fixed) and not self.target_code:
            raise ConfigurationError("column map: target_system and target_system_fixed need a target_code column")
        if self.delimiter is not None and (
            not isinstance(self.delimiter, str) or len(self.delimiter) != 1 or self.delimiter in "\"\r\n"
        ):
            raise ConfigurationError(
                f"column map: delimiter must be one character other than a quote or newline (got {self.delimiter!r})"
            )
        if self.sheet is not None and not (
            (isinstance(self.sheet, str) and self.sheet) or (type(self.sheet) is int and self.sheet >= 0)
        ):
            raise ConfigurationError(f"column map: sheet must be a sheet name or a 0-based position (got {self.sheet!r})")
        if self.encoding is not None:
            _check_encoding(self.encoding)

    @property
    def columns(self) -> dict[str, str]:
        """The columns the map names, by role: `{"code": "ien", "display": "name", ...}`."""
        roles = ("code", "display", "kind", "synonyms", "target_system", "target_code")
        return {role: getattr(self, role) for role in roles if getattr(self, role) is not None}

    def as_dict(self) -> dict[str, Any]:
        """The keys that differ from the defaults, as a YAML or TOML map file holds them."""
        defaults = {f.name: f.default for f in fields(self)}
        return {key: value for key, value in asdict(self).items() if value != defaults[key]}

    def to_spec(self) -> str:
        """The CLI form, `code=ien,display=name,...`, that `parse` reads back to an equal map."""
        parts = []
        for key, value in self.as_dict().items():
            text = str(value)
            if key in ("synonym_separator", "delimiter") and value in _SEPARATOR_SPELLING:
                text = _SEPARATOR_SPELLING[value]
            elif (
                "," in text
                or text != text.strip()
                or (key in ("synonym_separator", "delimiter") and text.casefold() in _SEPARATOR_NAMES)
                or (key == "sheet" and isinstance(value, str) and text.isdigit())
            ):
                raise ConfigurationError(f"column map: {key}={value!r} cannot be written as a spec; use a map file")
            parts.append(f"{key}={text}")
        return ",".join(parts)

    @classmethod
    def parse(cls, spec: str) -> ColumnMap:
        """A map from the CLI form `code=ien,display=name,synonyms=synonyms,kind=allergy_type`.

        Keys are the field names (`target-code` is read as `target_code`); a `sheet` of digits is
        a 0-based position; separators may be spelt `tab`, `comma`, `semicolon`, `pipe`, `space`.
        A column whose name holds a comma needs a map file.
        """
        values: dict[str, Any] = {}
        for part in spec.split(","):
            if not part.strip():
                continue
            key, equals, value = part.partition("=")
            if not equals:
                raise ConfigurationError(
                    f"column map {spec!r}: {part.strip()!r} is not key=value (e.g. code=ien,display=name)"
                )
            key = _field_name(key, f"column map {spec!r}")
            if key in values:
                raise ConfigurationError(f"column map {spec!r}: {key} is given twice")
            if not value.strip():
                raise ConfigurationError(f"column map {spec!r}: {key} has no value")
            values[key] = value.strip()
        if isinstance(values.get("sheet"), str) and values["sheet"].isdigit():
            values["sheet"] = int(values["sheet"])
        return cls._from_values(values, f"column map {spec!r}")

    @classmethod
    def from_file(cls, path: Path) -> ColumnMap:
        """A map from a small `.yaml` / `.yml` or `.toml` file holding the same keys as `parse`."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in {".yaml", ".yml", ".toml"}:
            raise ConfigurationError(f"column map file {path}: expected a .yaml, .yml or .toml file")
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigurationError(f"column map file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"column map file {path} cannot be read: {exc}") from None
        try:
            data = tomllib.loads(text) if suffix == ".toml" else yaml.safe_load(text)
        except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
            raise ConfigurationError(f"column map file {path} is not valid {suffix[1:].upper()}: {exc}") from None
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"column map file {path}: expected key: value pairs such as `code: ien`")
        origin = f"column map file {path}"
        values: dict[str, Any] = {}
        for raw_key, value in data.items():
            key = _field_name(str(raw_key), origin)
            if key in values:
                raise ConfigurationError(f"{origin}: {key} is given twice")
            if key == "sheet" and type(value) is int:
                values[key] = value
            elif isinstance(value, str):
                values[key] = value if key in {"synonym_separator", "delimiter"} else value.strip()
            else:
                raise ConfigurationError(f"{origin}: {key} must be a text; put it in quotes (got {value!r})")
        return cls._from_values(values, origin)

    @classmethod
    def _from_values(cls, values: dict[str, Any], origin: str) -> ColumnMap:
        missing = [key for key in ("code", "display") if key not in values]
        if missing:
            raise ConfigurationError(f"{origin}: {' and '.join(missing)} must be given (e.g. code=ien,display=name)")
        for key in ("synonym_separator", "delimiter"):
            if isinstance(values.get(key), str):
                values[key] = _SEPARATOR_NAMES.get(values[key].casefold(), values[key])
        try:
            return cls(**values)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{origin}: {str(exc).removeprefix('column map: ')}") from None


def _field_name(raw: str, origin: str) -> str:
    key = raw.strip().replace("-", "_")
    known = [f.name for f in fields(ColumnMap)]
    if key not in known:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigurationError(f"{origin}: unknown key {raw.strip()!r}{hint}; known keys: {', '.join(known)}")
    return key


def _check_encoding(encoding: str) -> str:
    """The codec's canonical name; `ConfigurationError` for one Python does not know."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ConfigurationError(f"unknown text encoding {encoding!r} (e.g. utf-8, latin-1, cp1252)") from None


def parse_targets(
    cell: str, system: str | None = None, *, default: str | None = None, separator: str = "|"
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The `(system URI, code)` targets in one cell of a target column, and `(value, why)` for each malformed one.

    A value's prefix (`SCT:`, `RXNORM:` ...) names its system; a value without one is in `system`
    (the row's `target_system` value), else in `default` (the map's `target_system_fixed`).
    A prefix that names another system than `system` is a conflict, reported.
    """
    row_system = canonical_system(system) if system and system.strip() else None
    fallback = row_system or (canonical_system(default) if default and default.strip() else None)
    targets: list[tuple[str, str]] = []
    problems: list[tuple[str, str]] = []
    for piece in cell.split(separator):
        value = piece.strip()
        if not value:
            continue
        prefix, colon, rest = value.partition(":")
        named = canonical_system(prefix) if colon and prefix.strip() else None
        if named is not None and named != prefix.strip():  # a known name such as SCT or RXNORM
            if row_system is not None and row_system != named:
                problems.append((value, f"its prefix names {named} but the row's target system is {row_system}"))
                continue
            target_system, code = named, rest
        elif fallback is not None:
            target_system, code = fallback, value
        elif colon:
            problems.append((value, f"{prefix!r} is not a system termmap knows (prefixes such as SCT:, RXNORM:, NDC:)"))
            continue
        else:
            problems.append((value, "no system: no prefix such as SCT: or RXNORM:, and no target system for the row"))
            continue
        why = _malformed_code(target_system, code)
        if why:
            problems.append((value, why))
        else:
            targets.append((target_system, code))
    return targets, problems


def _malformed_code(system: str, code: str) -> str | None:
    if not code:
        return "no code after the prefix"
    if code != code.strip() or any(ch.isspace() for ch in code):
        return f"whitespace in the code {code!r}"
    if len(code) > MAX_CODE:
        return f"the code is longer than {MAX_CODE} characters"
    pattern = _TARGET_CODE.get(system)
    if pattern is not None and not pattern[0].fullmatch(code):
        return pattern[1]
    return None


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    blank: bool
    code: str
    display: str
    kind: str
    synonyms: str
    target_system: str
    target_code: str


@dataclass(frozen=True)
class _Reading:
    """How one file is read: format, and the options in force after arguments and map are combined."""

    path: Path
    excel: bool
    delimiter: str
    encoding: str  # a codec name; UTF-8 is read as utf-8-sig so a BOM is dropped
    sheet: str | int

    def describe(self, columns: ColumnMap) -> str:
        """The reading as a stable text, part of the release checksum."""
        options = {"sheet": self.sheet} if self.excel else {"delimiter": self.delimiter, "encoding": self.encoding}
        mapping = {key: value for key, value in asdict(columns).items() if key not in ("sheet", "encoding", "delimiter")}
        return json.dumps({**mapping, **options}, sort_keys=True)


def load_local_table(
    engine: Engine,
    path: Path,
    system: str,
    columns: ColumnMap,
    *,
    version: str | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
    progress: Progress | None = None,
    batch_size: int = 50_000,
    on_activate: ActivationHook | None = None,
) -> LoadReport:
    """Load a local table as the new active release of the local code `system`; the report lists every skipped row.

    `version` defaults to `sha256:` and the first 12 hex digits of the file's SHA-256.
    """
    path = Path(path)
    canonical = canonical_system(system) if system else ""
    if not canonical:
        raise ConfigurationError("a local table needs the URI of its local code system")
    if not is_local(canonical):
        raise ConfigurationError(
            f"{system!r} is {canonical}, a standard system loaded from its own releases; "
            "name the local code system the table belongs to (e.g. https://hospital.example.org/fhir/CodeSystem/allergens)"
        )
    reading = _reading(path, columns, sheet, encoding)
    _refuse_unreadable(reading)  # before a release is opened: nothing of it is written
    checksum = file_checksums([path])[path.name]
    files = {
        path.name: checksum,
        COLUMN_MAP_ENTRY: hashlib.sha256(reading.describe(columns).encode()).hexdigest(),
    }
    with open_release(
        engine,
        canonical,
        version or f"sha256:{checksum[:12]}",
        None,
        source=str(path),
        files=files,
        batch_size=batch_size,
        on_activate=on_activate,
    ) as load:
        if load.already_loaded:
            return load.report
        table = _TableLoad(load, path.name, columns)
        for row in _read_rows(reading, columns, progress or NullProgress()):
            table.add(row)
        table.finish()
    return load.report


def _reading(path: Path, columns: ColumnMap, sheet: str | int | None, encoding: str | None) -> _Reading:
    if not path.is_file():
        raise SourceNotFound(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    suffix = path.suffix.lower()
    if suffix not in _DELIMITERS and suffix not in _EXCEL:
        raise SourceNotFound(
            f"{path}: cannot read {suffix or 'a file without suffix'}; save the table as .csv, .tsv, .txt or .xlsx"
        )
    codec = _check_encoding(encoding or columns.encoding or "utf-8")
    return _Reading(
        path=path,
        excel=suffix in _EXCEL,
        delimiter=columns.delimiter or _DELIMITERS.get(suffix, ","),
        encoding="utf-8-sig" if codec == "utf-8" else codec,
        sheet=sheet if sheet is not None else columns.sheet if columns.sheet is not None else 0,
    )


class _TableLoad:
    """Applies the policy to each row and writes what it keeps to the release."""

    def __init__(self, load: ReleaseLoad, file: str, columns: ColumnMap) -> None:
        self.load = load
        self.file = file
        self.columns = columns
        self.concepts = load.writer(schema.concepts)
        self.designations = load.writer(schema.designations)
        self.crosswalks = load.writer(schema.crosswalks)
        self.first: dict[str, tuple[int, str, str]] = {}  # code -> (line, display, kind) of its first row
        self.terms: set[tuple[str, str]] = set()  # (code, normalised term) already written
        self.targets: set[tuple[str, str, str]] = set()  # (code, system, target code) already written
        self.rows = self.blank = self.merged = self.skipped = 0

    def add(self, row: _Row) -> None:
        if row.blank:
            self.blank += 1
            return
        self.rows += 1
        code, display, kind = row.code.strip(), row.display.strip(), row.kind.strip()
        problem = self._problem(code, display, kind)
        if problem:
            self._skip(row.line, problem)
            return
        first = self.first.get(code)
        if first is None:
            self.first[code] = (row.line, display, kind)
            self.concepts.add((code, True, display, kind or None))
            self._term(code, display, "display", preferred=True)
        else:
            first_line, first_display, first_kind = first
            if display != first_display:
                raise ConflictingRow(
                    self.file, row.line,
                    f"code {code!r} has display {display!r} here but {first_display!r} on line {first_line}",
                )
            note = f"; its kind {kind!r} differs from {first_kind!r} and was not used" if kind != first_kind else ""
            self.merged += 1
            self._skip(row.line, f"code {code!r} repeats line {first_line} with the same display: merged into it "
                                 f"(synonyms and targets added){note}")
        if self.columns.synonyms:
            for synonym in row.synonyms.split(self.columns.synonym_separator):
                if synonym.strip():
                    self._term(code, synonym.strip(), "synonym", preferred=False)
        if self.columns.target_code and row.target_code.strip():
            self._targets(row, code)

    def _problem(self, code: str, display: str, kind: str) -> str | None:
        if not code:
            return f"empty code (column {self.columns.code})"
        if len(code) > MAX_CODE:
            return f"code is longer than {MAX_CODE} characters (column {self.columns.code})"
        if not display:
            return f"empty display for code {code!r} (column {self.columns.display})"
        if len(kind) > MAX_CODE:
            return f"kind of code {code!r} is longer than {MAX_CODE} characters (column {self.columns.kind})"
        return None

    def _term(self, code: str, term: str, term_type: str, *, preferred: bool) -> None:
        normalised = normalise_term(term)
        if (code, normalised) in self.terms:
            return
        self.terms.add((code, normalised))
        self.designations.add((code, term, normalised, term_type, "und", preferred))

    def _targets(self, row: _Row, code: str) -> None:
        targets, problems = parse_targets(row.target_code, row.target_system, default=self.columns.target_system_fixed)
        for value, why in problems:
            self._skip(row.line, f"target {value!r} of code {code!r} not loaded: {why} (column {self.columns.target_code}; "
                                 "the concept itself is loaded)")
        for target_system, target in targets:
            if (code, target_system, target) not in self.targets:
                self.targets.add((code, target_system, target))
                self.crosswalks.add((code, target_system, target, None, CROSSWALK_KIND))

    def _skip(self, line: int, problem: str) -> None:
        self.skipped += 1
        self.load.skip(self.file, line, problem)

    def finish(self) -> None:
        logger.info(
            "%s: %d rows read, %d concepts, %d merged repeats, %d problems reported, %d blank lines passed over",
            self.file, self.rows, len(self.first), self.merged, self.skipped - self.merged, self.blank,
        )
        if not self.first:
            raise LoadError(
                f"{self.file}: no concept could be loaded ({self.rows} rows read, {self.skipped} skipped); "
                "an empty table would replace the active release with nothing, so it is kept"
            )


def _read_rows(reading: _Reading, columns: ColumnMap, progress: Progress) -> Iterator[_Row]:
    """Every row of the table, blank ones flagged, with its line number."""
    size = reading.path.stat().st_size
    progress.start_file(reading.path.name, size)
    try:
        if reading.excel:
            frame = _read_sheet(reading)
            header = _header(reading, frame.columns, columns)
            yield from _rows_of(frame.fillna(""), header, (frame.index + 2).tolist())
            progress.advance(size, len(frame))
        else:
            yield from _read_text(reading, columns, progress)
    finally:
        progress.end_file()


def _read_sheet(reading: _Reading) -> pd.DataFrame:
    try:
        with pd.ExcelFile(reading.path, engine="openpyxl") as book:
            sheets = book.sheet_names
            sheet = reading.sheet
            if (isinstance(sheet, int) and sheet >= len(sheets)) or (isinstance(sheet, str) and sheet not in sheets):
                raise SourceNotFound(f"{reading.path}: no sheet {sheet!r}; the workbook has {', '.join(map(repr, sheets))}")
            frame = pd.read_excel(book, sheet_name=sheet, dtype=str, keep_default_na=False)
    except LoadError:
        raise
    except zipfile.BadZipFile:
        raise MalformedRow(reading.path, None, "not a readable .xlsx workbook (not a zip file: a CSV or an old "
                                               ".xls saved as .xlsx? save it as .xlsx or .csv)") from None
    except Exception as exc:  # noqa: BLE001 - zip, XML and openpyxl errors on a damaged file all mean "unreadable"
        raise MalformedRow(reading.path, None, f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})") \
            from None
    frame.columns = [str(name) for name in frame.columns]
    return frame


def _refuse_unreadable(reading: _Reading) -> None:
    """What is refused from a glance at the file, before any row is read: a workbook that would inflate far beyond
    its size (a zip bomb, `MalformedRow`); UTF-16 text (or any with NUL bytes) read as an 8-bit encoding
    (`UnreadableEncoding`: decoded as UTF-8 it would be NULs between letters, or fail only lines later)."""
    if reading.excel:
        bomb = inflation_problem(reading.path)
        if bomb:
            raise MalformedRow(reading.path, None, f"not loaded: {bomb}")
        return
    if reading.encoding.startswith("utf-16") or reading.encoding.startswith("utf-32"):
        return
    with open(reading.path, "rb") as handle:
        head = handle.read(64 * 1024)
    name = "utf-8" if reading.encoding == "utf-8-sig" else reading.encoding
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UnreadableEncoding(reading.path, 1, f"the file starts with a UTF-16 byte-order mark: it is UTF-16 text, "
                                                  f"not {name}; pass encoding='utf-16' (or save it as UTF-8)")
    nul = first_nul(head)
    if nul is not None:
        raise UnreadableEncoding(reading.path, nul.line, f"byte {nul.column} of the line is a NUL: UTF-16 text without "
                                                         f"a byte-order mark, not {name}? pass "
                                                         f"encoding='{nul.likely_encoding}' (or save it as UTF-8)")


def _read_text(reading: _Reading, columns: ColumnMap, progress: Progress) -> Iterator[_Row]:
    options = dict(
        sep=reading.delimiter,
        dtype=str,
        keep_default_na=False,
        skip_blank_lines=False,  # blank lines stay rows, so line numbers can be counted
        index_col=False,  # never take a first column as the index; longer rows are caught below
        encoding=reading.encoding,
        engine="c",
    )
    try:
        try:
            head = _strictly(lambda: pd.read_csv(reading.path, nrows=0, **options))
        except pd.errors.EmptyDataError:
            raise MissingColumn(reading.path, 1, "the file is empty: no header line") from None
        header = _header(reading, head.columns, columns)
        line = 2 + sum(str(name).count("\n") for name in head.columns)
        done = 0
        with open(reading.path, "rb") as handle, _strictly(
            lambda: pd.read_csv(handle, chunksize=CHUNK_ROWS, **options)
        ) as chunks:
            while (chunk := _strictly(lambda: next(chunks, None))) is not None:
                chunk = chunk.fillna("")  # values missing from a short row
                spans = 1 + sum(chunk[name].str.count("\n") for name in chunk.columns)
                starts = (line + spans.cumsum() - spans).tolist()
                line += int(spans.sum())
                yield from _rows_of(chunk, header, starts)
                progress.advance(handle.tell() - done, len(chunk))
                done = handle.tell()
    except UnicodeDecodeError as exc:
        raise _undecodable(reading, exc) from None
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        raise _malformed(reading, exc) from None


def _strictly(read: Callable[[], T]) -> T:
    """`read()` with pandas' ParserWarning raised: pandas only warns, and drops values, when rows outgrow the header."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        return read()


def _header(reading: _Reading, found: pd.Index, columns: ColumnMap) -> dict[str, str]:
    """The header column for each role of the map; `MissingColumn` naming what is absent and what is there."""
    names = [str(name) for name in found]
    by_stripped = {name.strip(): name for name in reversed(names)}  # the first of two equal names wins
    missing = [column for column in dict.fromkeys(columns.columns.values()) if column.strip() not in by_stripped]
    if missing:
        where = "row 1 of the sheet" if reading.excel else "the header line"
        raise MissingColumn(
            reading.path, 1,
            f"no column {', '.join(map(repr, missing))} in {where}; columns found: {', '.join(map(repr, names))}",
        )
    return {role: by_stripped[column.strip()] for role, column in columns.columns.items()}


def _rows_of(frame: pd.DataFrame, header: dict[str, str], lines: list[int]) -> Iterator[_Row]:
    if frame.empty:
        return
    blank = frame.apply(lambda column: column.str.strip().eq("")).all(axis=1).tolist()
    empty = [""] * len(frame)
    values = {role: frame[header[role]].tolist() if role in header else empty for role in
              ("code", "display", "kind", "synonyms", "target_system", "target_code")}
    for index, line in enumerate(lines):
        yield _Row(
            line, blank[index], values["code"][index], values["display"][index], values["kind"][index],
            values["synonyms"][index], values["target_system"][index], values["target_code"][index],
        )


def _undecodable(reading: _Reading, exc: UnicodeDecodeError) -> UnreadableEncoding:
    """The error for the first line of the file that does not decode (pandas does not say where)."""
    name = "utf-8" if reading.encoding == "utf-8-sig" else reading.encoding
    hint = "; pass the table's encoding (e.g. encoding='latin-1' or 'cp1252')"
    decoder = codecs.getincrementaldecoder(reading.encoding)()
    line = 1
    with open(reading.path, "rb") as handle:
        for raw in handle:
            try:
                line += decoder.decode(raw).count("\n")
            except UnicodeDecodeError as bad:
                return UnreadableEncoding(reading.path, line, f"byte {bad.start + 1} of the line is not valid {name}{hint}")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return UnreadableEncoding(reading.path, line, f"the file ends inside a {name} character{hint}")
    return UnreadableEncoding(reading.path, None, f"not valid {name} ({exc.reason}){hint}")


def _malformed(reading: _Reading, exc: Exception) -> MalformedRow:
    """The error for the first row longer than the header, found with the csv module (pandas counts records, not lines)."""
    with open(reading.path, encoding=reading.encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=reading.delimiter, strict=True)
        start = 1
        try:
            width = len(next(reader, []))
            for record in reader:
                if len(record) > width:
                    return MalformedRow(reading.path, reader.line_num - _newlines(record),
                                        f"{len(record)} values in a table of {width} columns")
                start = reader.line_num + 1
        except csv.Error as bad:
            return MalformedRow(reading.path, start, f"cannot be read as {_format_name(reading)}: {bad}")
    return MalformedRow(reading.path, None, f"cannot be read as {_format_name(reading)}: {str(exc).strip()}")


def _newlines(record: list[str]) -> int:
    return sum(value.count("\n") for value in record)


def _format_name(reading: _Reading) -> str:
    return {",": "CSV", "\t": "tab-separated text"}.get(reading.delimiter, f"text separated by {reading.delimiter!r}")

