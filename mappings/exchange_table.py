"""The pharmacists' spreadsheet: curated mappings out as CSV or XLSX rows, and back in as new versions.

One row per target; a `no-map` or `retired` mapping is one row with the target columns empty.
Export writes every column, in this order; import reads the ones marked so:

| column | export | import |
|---|---|---|
| mapping_id | the mapping's id | optional; with `version`, refuses to overwrite a newer version |
| version | its current version | optional (see mapping_id) |
| source_system | URI of the source code system | required with a source_code (`snomed`, `rxnorm` accepted) |
| source_code | the source code; empty for a text-only mapping | identifies the source when given |
| source_text | a text-only mapping's normalised text; for a code, its display in the source's loaded release | identifies the source when source_code is empty (normalised: case, spacing and punctuation do not matter); otherwise ignored |
| context | allergy or medication | required |
| target_system | URI of the target system | required |
| decision | mapped, no-map or retired | required |
| target_code | a target's code | required for mapped, empty otherwise; must be an active concept when the target system has a loaded release |
| target_display | the target's display | optional; filled from the loaded release when empty |
| relationship | FHIR R5 ConceptMap relationship: equivalent, source-is-narrower-than-target, source-is-broader-than-target, related-to, not-related-to | empty means equivalent |
| author | who wrote the version | ignored: the importing user is the author |
| reason | why | the new version's reason when it differs from the current one's (else "imported from FILE") |
| origin | where the version came from | ignored: the import's origin is `import:FILE` |
| created_at | when, ISO 8601 UTC | ignored |

Other columns are ignored (a notes column is fine). Column names are matched without regard to
case. Row numbers count the header as row 1, as a spreadsheet shows them.

**Import** groups rows into mappings by (source system, source code — or normalised source text
when there is no code —, context, target system). A mapping whose decision and targets (system,
code, relationship) equal the current version's is *unchanged* and left alone; otherwise it is
*new* or *changed* and becomes a new version (`record_mapping`: author the importing user, origin
`import:FILE`). A row that cannot be applied is *invalid*, with its row number and every reason;
when any row is invalid nothing is written, unless `skip_invalid` (then the mappings with an
invalid row are left out and the rest written). A dry run reports the same and writes nothing.

**CSV** is written as UTF-8 with a byte-order mark (Excel then shows accents right), CRLF line
ends, comma-separated; a cell that starts with `= + - @`, a tab or a carriage return (after any
`'`s) gets one more leading `'` so spreadsheets do not run it as a formula, and import takes that
`'` off again. Import strips spaces around every cell. Read:
UTF-8 (BOM or not), UTF-16 with a BOM, or the encoding given; `;` or tab separators are
recognised from the header. Cells holding bytes that are not in the encoding make their row
invalid, naming the column. **XLSX**: sheet `mappings` (else the first sheet) with the same
header; every cell is written as text, so codes keep their digits and text is never a formula;
a code that a spreadsheet turned into a number is read back as its digits, and refused when the
number is too long to be exact. A workbook that would inflate far beyond its size (a zip bomb) is
refused from the zip's directory before anything is inflated (`terminology.archives`).
"""
from __future__ import annotations

import codecs
import csv
import enum
import io
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import PurePath
from typing import Any

from sqlalchemy import Connection, text

from terminology.archives import inflation_problem
from terminology.normalise import normalise_term
from terminology.releases import active_release_ids, list_releases
from terminology.systems import canonical_system
from terminology.text_files import first_nul

from .audit import record_event
from .curated import CuratedMapping, Decision, Relationship, Target, current_mappings, find_current, record_mapping
from .release_changes import release_concepts
from .tables import mapping_versions
from .translation import Context

__all__ = [
    "COLUMNS",
    "REQUIRED_COLUMNS",
    "SheetRow",
    "Sheet",
    "Change",
    "MappingKey",
    "PlannedMapping",
    "InvalidRow",
    "ImportReport",
    "export_rows",
    "rows_to_csv",
    "rows_to_xlsx",
    "read_csv",
    "read_xlsx",
    "plan_import",
    "apply_import",
    "import_sheet",
]

logger = logging.getLogger(__name__)

COLUMNS = ("mapping_id", "version", "source_system", "source_code", "source_text", "context", "target_system",
           "decision", "target_code", "target_display", "relationship", "author", "reason", "origin", "created_at")
#: Columns an import needs in the header; it also needs source_code or source_text (or both).
REQUIRED_COLUMNS = ("source_system", "context", "target_system", "decision", "target_code", "relationship")
_SOURCE_COLUMNS = ("source_code", "source_text")

COLUMN_NOTES = {
    "mapping_id": "the mapping's id (import: optional; with version, refuses to overwrite a newer version)",
    "version": "the mapping's current version",
    "source_system": "URI of the source code system",
    "source_code": "source code; empty for a text-only mapping",
    "source_text": "text-only mapping: its normalised text (the key); with a code: the code's display (ignored)",
    "context": "allergy or medication",
    "target_system": "URI of the target system",
    "decision": "mapped, no-map or retired",
    "target_code": "one target per row (mapped); empty for no-map and retired",
    "target_display": "the target's display (import: filled from the loaded release when empty)",
    "relationship": "equivalent, source-is-narrower-than-target, source-is-broader-than-target, related-to, "
                    "not-related-to (empty: equivalent)",
    "author": "who wrote this version (import: ignored; the importing user is the author)",
    "reason": "why (import: the new version's reason when changed)",
    "origin": "where the version came from (import: ignored)",
    "created_at": "when, ISO 8601 UTC (import: ignored)",
}

_CODE_MAX, _SYSTEM_MAX, _TEXT_MAX, _ID_MAX = 128, 255, 255, 36  # column sizes of mapping_versions / targets
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_RELATIONSHIPS = ", ".join(r.value for r in Relationship)
_DECISIONS = ", ".join(d.value for d in Decision)
_CONTEXTS = ", ".join(c.value for c in Context)

Where = int | str  # a spreadsheet row number, or a path in a ConceptMap such as group[0].element[3]


# --- rows as read ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SheetRow:
    """One data row as read: where it is and its cells by column name (stripped strings)."""

    row: Where
    cells: Mapping[str, str]
    problems: tuple[str, ...] = ()  # found while reading (bytes not in the encoding, a number too long ...)


@dataclass(frozen=True, slots=True)
class Sheet:
    """The rows of an import file; `problems` are about the file as a whole (nothing of it is importable)."""

    rows: tuple[SheetRow, ...]
    problems: tuple[tuple[Where, str], ...] = ()
    warnings: tuple[str, ...] = ()


# --- the plan ---------------------------------------------------------------------------------------------


class Change(str, enum.Enum):
    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True, order=True)
class MappingKey:
    """What identifies a mapping: its source (code, or normalised text without one), context and target system."""

    source_system: str
    source_code: str
    source_text_norm: str
    context: str
    target_system: str

    def describe(self) -> str:
        source = self.source_code or repr(self.source_text_norm)
        return f"{self.source_system or '(no system)'} {source} ({self.context}) -> {self.target_system}"


@dataclass(frozen=True, slots=True)
class PlannedMapping:
    """One mapping of the file and what importing it does (`written`: the version it wrote)."""

    change: Change
    rows: tuple[Where, ...]
    key: MappingKey
    decision: Decision
    targets: tuple[Target, ...]
    reason: str
    current: CuratedMapping | None
    written: CuratedMapping | None = None


@dataclass(frozen=True, slots=True)
class InvalidRow:
    row: Where
    problems: tuple[str, ...]


@dataclass
class ImportReport:
    """What an import did, or (dry run, or refused for invalid rows) would do."""

    file: str
    dry_run: bool
    skip_invalid: bool
    mappings: list[PlannedMapping]
    invalid: list[InvalidRow]
    warnings: list[str] = field(default_factory=list)
    written: bool = False

    def of(self, change: Change) -> list[PlannedMapping]:
        return [m for m in self.mappings if m.change is change]

    @property
    def blocked(self) -> bool:
        """Invalid rows stop the import (no `skip_invalid`)."""
        return bool(self.invalid) and not self.skip_invalid

    @property
    def counts(self) -> dict[str, int]:
        return {"new": len(self.of(Change.NEW)), "changed": len(self.of(Change.CHANGED)),
                "unchanged": len(self.of(Change.UNCHANGED)), "invalid_rows": len(self.invalid)}

    def message(self) -> str:
        c = self.counts
        told = f"{c['new']} new, {c['changed']} changed, {c['unchanged']} unchanged mapping(s); {c['invalid_rows']} " \
               "invalid row(s)"
        if self.dry_run:
            return f"dry run of {self.file}: {told}; nothing written"
        if self.written:
            skipped = " (mappings with invalid rows skipped)" if self.invalid else ""
            return f"imported {self.file}: {told}{skipped}"
        if self.blocked:
            return f"{self.file} not imported: {told}; fix them, or import with skip_invalid"
        return f"{self.file}: {told}; nothing to write"

    def as_json(self) -> dict[str, Any]:
        def mapping(m: PlannedMapping) -> dict[str, Any]:
            shown = m.written or m.current
            found: dict[str, Any] = {
                "rows": list(m.rows), "mapping_id": shown.mapping_id if shown else None,
                "version": shown.version if shown else None, **_key_json(m.key), "decision": m.decision.value,
                "targets": [_target_json(t) for t in m.targets],
            }
            if m.change is Change.CHANGED and m.current is not None:
                found["before"] = {"version": m.current.version, "decision": m.current.decision.value,
                                   "targets": [_target_json(t) for t in m.current.targets]}
            return found

        return {
            "file": self.file, "dry_run": self.dry_run, "written": self.written, "counts": self.counts,
            "message": self.message(),
            "new": [mapping(m) for m in self.of(Change.NEW)],
            "changed": [mapping(m) for m in self.of(Change.CHANGED)],
            "unchanged": [{"rows": list(m.rows), "mapping_id": m.current.mapping_id, "version": m.current.version}
                          for m in self.of(Change.UNCHANGED) if m.current is not None],
            "invalid": [{"row": r.row, "problems": list(r.problems)} for r in self.invalid],
            "warnings": list(self.warnings),
        }


def _key_json(key: MappingKey) -> dict[str, str]:
    return {"source_system": key.source_system, "source_code": key.source_code,
            "source_text": key.source_text_norm, "context": key.context, "target_system": key.target_system}


def _target_json(target: Target) -> dict[str, Any]:
    return {"system": target.system, "code": target.code, "display": target.display,
            "relationship": Relationship(target.relationship).value}


# --- export -------------------------------------------------------------------------------------------------


def _timestamp(value: datetime) -> str:
    """ISO 8601 in UTC: SQLite hands stored UTC times back without their zone."""
    value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _source_displays(connection: Connection, mappings: Sequence[CuratedMapping]) -> dict[tuple[str, str], str]:
    """(source system, code) -> display, for the coded sources whose system has a loaded release."""
    loaded = active_release_ids(connection)
    by_system: dict[str, set[str]] = {}
    for m in mappings:
        if m.source_code and m.source_system in loaded:
            by_system.setdefault(m.source_system, set()).add(m.source_code)
    return {(system, code): concept.display for system, codes in by_system.items()
            for code, concept in release_concepts(connection, system, codes).items()}


def export_rows(
    connection: Connection,
    *,
    source_system: str | None = None,
    target_system: str | None = None,
    context: str | None = None,
) -> list[dict[str, str]]:
    """The current version of every mapping (filtered when asked) as spreadsheet rows, one per target."""
    mappings = current_mappings(
        connection,
        source_system=canonical_system(source_system) if source_system else None,
        target_system=canonical_system(target_system) if target_system else None,
        context=context or None,
    )
    displays = _source_displays(connection, mappings)
    rows = []
    for m in mappings:
        base = {
            "mapping_id": m.mapping_id, "version": str(m.version), "source_system": m.source_system,
            "source_code": m.source_code,
            "source_text": displays.get((m.source_system, m.source_code), "") if m.source_code else m.source_text_norm,
            "context": m.context, "target_system": m.target_system, "decision": m.decision.value,
            "target_code": "", "target_display": "", "relationship": "", "author": m.author, "reason": m.reason,
            "origin": m.origin, "created_at": _timestamp(m.created_at),
        }
        if m.decision is not Decision.MAPPED or not m.targets:
            rows.append(base)
            continue
        for t in m.targets:
            rows.append({**base, "target_code": t.code, "target_display": t.display or "",
                         "relationship": Relationship(t.relationship).value})
    return rows


def _escaped(value: str) -> str:
    """A CSV cell a spreadsheet will not run: `'` before a formula start (and before `'`s leading to one)."""
    return "'" + value if value.lstrip("'").startswith(_FORMULA_START) else value


def _unescaped(value: str) -> str:
    return value[1:] if value.startswith("'") and value.lstrip("'").startswith(_FORMULA_START) else value


def rows_to_csv(rows: Iterable[Mapping[str, str]]) -> bytes:
    """CSV bytes (UTF-8 with BOM, CRLF) with the `COLUMNS` header; formula-like cells escaped."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_escaped(row.get(column, "")) for column in COLUMNS])
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")


def rows_to_xlsx(rows: Iterable[Mapping[str, str]]) -> bytes:
    """An XLSX workbook: sheet `mappings` (every cell text), and sheet `columns` describing them.

    Control characters XLSX cannot hold (free-text reasons may have them) become U+FFFD.
    """
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    def text_cell(sheet, row: int, column: int, value: str) -> None:
        cell = sheet.cell(row=row, column=column, value=ILLEGAL_CHARACTERS_RE.sub("\ufffd", value))
        cell.data_type = "s"  # never a formula, whatever the text starts with
        cell.number_format = "@"

    book = Workbook()
    sheet = book.active
    sheet.title = "mappings"
    widths = [len(column) for column in COLUMNS]
    for index, column in enumerate(COLUMNS, start=1):
        text_cell(sheet, 1, index, column)
        sheet.cell(row=1, column=index).font = Font(bold=True)
    count = 0
    for count, row in enumerate(rows, start=1):
        for index, column in enumerate(COLUMNS, start=1):
            value = row.get(column, "")
            text_cell(sheet, count + 1, index, value)
            widths[index - 1] = max(widths[index - 1], min(len(value), 60))
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width + 2
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{count + 1}"
    notes = book.create_sheet("columns")
    for index, (name, note) in enumerate((("column", "meaning"), *COLUMN_NOTES.items()), start=1):
        text_cell(notes, index, 1, name)
        text_cell(notes, index, 2, note)
    notes.column_dimensions["A"].width, notes.column_dimensions["B"].width = 16, 110
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- reading files ----------------------------------------------------------------------------------------------


def _header(names: Sequence[str]) -> tuple[list[str], list[tuple[Where, str]]]:
    columns = [str(name or "").strip().lstrip("\ufeff").casefold() for name in names]
    problems: list[tuple[Where, str]] = []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if not any(c in columns for c in _SOURCE_COLUMNS):
        missing.append("source_code or source_text")
    if missing:
        problems.append((1, f"the header lacks column(s) {', '.join(missing)}; an import needs "
                            f"{', '.join(REQUIRED_COLUMNS)} and source_code or source_text"))
    repeated = sorted({c for c in columns if c and columns.count(c) > 1})
    if repeated:
        problems.append((1, f"the header names column(s) {', '.join(repeated)} more than once"))
    return columns, problems


def _sheet(header: Sequence[str], records: Iterable[tuple[int, list[str], tuple[str, ...]]],
           undecodable: str = "bytes that are not in the file's encoding") -> Sheet:
    columns, problems = _header(header)
    if problems:
        return Sheet((), tuple(problems))
    unknown = sorted({c for c in columns if c and c not in COLUMNS})
    warnings = (f"column(s) {', '.join(unknown)} are not termmap's and were ignored",) if unknown else ()
    rows = []
    for number, cells, read_problems in records:
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        found = list(read_problems)
        if len(cells) > len(columns) and any(cell.strip() for cell in cells[len(columns):]):
            found.append(f"the row has {len(cells)} cells, the header {len(columns)}")
        values = {column: _unescaped(cells[i]).strip() if i < len(cells) else ""
                  for i, column in enumerate(columns) if column}
        for column, value in values.items():
            if _UNDECODABLE.search(value):
                found.append(f"{column}: {undecodable}")
        rows.append(SheetRow(number, values, tuple(found)))
    return Sheet(tuple(rows), (), warnings)


def read_csv(data: bytes, *, encoding: str | None = None) -> Sheet:
    """The rows of a CSV (see the module docstring for encodings and separators)."""
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            text, codec = data.decode("utf-16"), "UTF-16"
        else:
            codec = codecs.lookup(encoding or "utf-8").name
            if codec == "utf-8" and data.startswith(codecs.BOM_UTF8):
                data = data[len(codecs.BOM_UTF8):]
            text = data.decode(codec, errors="surrogateescape")
    except LookupError:
        return Sheet((), ((1, f"unknown text encoding {encoding!r}"),))
    except UnicodeDecodeError as exc:
        return Sheet((), ((1, f"the file starts as UTF-16 but is not: {exc.reason}"),))
    if "\x00" in text:
        if data.startswith(b"PK\x03\x04"):
            return Sheet((), ((1, "the file is a zip (an XLSX workbook?), not CSV text: import it as xlsx"),))
        line = 1 + text.count("\n", 0, text.index("\x00"))  # of the text: the bytes may be UTF-16 with a BOM
        return Sheet((), ((line, f"the file holds NUL bytes: UTF-16 text without a byte-order mark? give its "
                                 f"encoding (encoding={first_nul(data).likely_encoding}) or save it as UTF-8; "
                                 "an XLSX? import it as xlsx"),))
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=lambda d: sum(c.strip().casefold() in COLUMNS for c in first_line.split(d)))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, [])
        records = [(number, cells, ()) for number, cells in enumerate(reader, start=2)]
    except csv.Error as exc:
        return Sheet((), ((reader.line_num, f"not readable as CSV: {exc}"),))
    undecodable = f"bytes that are not {codec.upper()}"
    if codec == "utf-8":
        undecodable += ": save the file as UTF-8 ('CSV UTF-8' in Excel), or give its encoding (e.g. cp1252)"
    return _sheet(header, records, undecodable)


_EXACT = 2 ** 53


def _cell_text(value: Any) -> tuple[str, str | None]:
    """A cell as text, and a problem when the value cannot be trusted as a code."""
    if value is None:
        return "", None
    if isinstance(value, bool):
        return ("true" if value else "false"), None
    if isinstance(value, int):
        return str(value), None
    if isinstance(value, float):
        if value.is_integer():
            if abs(value) >= _EXACT:
                return repr(value), "a number too long to be exact (the spreadsheet kept only 15 digits): format " \
                                    "the column as Text and type the code again"
            return str(int(value)), None
        return repr(value), None
    if isinstance(value, datetime):
        return _timestamp(value), None
    if isinstance(value, date):
        return value.isoformat(), None
    return str(value), None


def read_xlsx(data: bytes) -> Sheet:
    """The rows of sheet `mappings` of an XLSX workbook (else of its first sheet); one that would inflate far
    beyond its size (a zip bomb, see `terminology.archives`) is refused before anything is inflated."""
    from openpyxl import load_workbook

    bomb = inflation_problem(data)
    if bomb:
        return Sheet((), ((1, f"not imported: {bomb}"),))
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - zip, XML and openpyxl errors all mean "not a workbook"
        return Sheet((), ((1, f"not an XLSX workbook ({type(exc).__name__}); a CSV? import it as csv"),))
    try:
        sheet = book["mappings"] if "mappings" in book.sheetnames else book.worksheets[0]
        lines = sheet.iter_rows(values_only=True)
        header = [_cell_text(v)[0] for v in next(lines, ())]
        records = []
        for number, values in enumerate(lines, start=2):
            converted = [_cell_text(v) for v in values]
            cells = [text for text, _ in converted]
            problems = tuple(f"{header[i] if i < len(header) else f'column {i + 1}'}: {problem}"
                             for i, (_, problem) in enumerate(converted) if problem)
            records.append((number, cells, problems))
    finally:
        book.close()
    return _sheet(header, records)


# --- plan and apply ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Row:
    row: Where
    key: MappingKey
    decision: Decision
    target: Target | None
    reason: str
    mapping_id: str
    version: int | None


def _parsed(row: SheetRow) -> tuple[_Row | None, list[str]]:
    cells, problems = row.cells, list(row.problems)
    get = lambda column: cells.get(column, "").strip()  # noqa: E731
    system_cell, code, text = get("source_system"), get("source_code"), get("source_text")
    source_system = canonical_system(system_cell) if system_cell else ""
    text_norm = "" if code else normalise_term(text)
    if not code and not text_norm:
        problems.append("needs a source_code, or a source_text for a text-only mapping")
    if code and not source_system:
        problems.append("source_system is required with a source_code")
    context = get("context").casefold()
    if context not in {c.value for c in Context}:
        problems.append(f"context must be one of {_CONTEXTS}, not {get('context')!r}")
    target_system = canonical_system(get("target_system")) if get("target_system") else ""
    if not target_system:
        problems.append("target_system is required")
    decision_cell = get("decision").casefold()
    decision = next((d for d in Decision if d.value == decision_cell), None)
    if decision is None:
        problems.append(f"decision must be one of {_DECISIONS}, not {get('decision')!r}")
    relationship_cell = get("relationship").casefold()
    relationship = Relationship.EQUIVALENT
    if relationship_cell:
        try:
            relationship = Relationship(relationship_cell)
        except ValueError:
            problems.append(f"unknown relationship {get('relationship')!r}: use one of {_RELATIONSHIPS} (FHIR R5 "
                            "ConceptMap relationship codes)")
    target_code = get("target_code")
    if decision is Decision.MAPPED and not target_code:
        problems.append("a mapped row needs a target_code")
    if decision in (Decision.NO_MAP, Decision.RETIRED) and target_code:
        problems.append(f"a {decision.value} row has no target: leave target_code empty (or make it mapped)")
    for column, value, limit in (("source_code", code, _CODE_MAX), ("target_code", target_code, _CODE_MAX),
                                 ("source_system", source_system, _SYSTEM_MAX),
                                 ("target_system", target_system, _SYSTEM_MAX), ("mapping_id", get("mapping_id"), _ID_MAX)):
        if len(value) > limit:
            problems.append(f"{column} is longer than {limit} characters")
    version = None
    if get("version"):
        try:
            version = int(get("version"))
        except ValueError:
            problems.append(f"version must be a whole number, not {get('version')!r}")
    if problems or decision is None:
        return None, problems
    target = (Target(target_system, target_code, get("target_display") or None, relationship)
              if decision is Decision.MAPPED else None)
    key = MappingKey(source_system, code, text_norm, context, target_system)
    return _Row(row.row, key, decision, target, get("reason"), get("mapping_id"), version), []


@dataclass
class _Group:
    rows: list[_Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _grouped(rows: list[_Row]) -> dict[MappingKey, _Group]:
    groups: dict[MappingKey, _Group] = {}
    for row in rows:
        groups.setdefault(row.key, _Group()).rows.append(row)
    for key, group in groups.items():
        where = ", ".join(str(r.row) for r in group.rows)
        decisions = sorted({r.decision.value for r in group.rows})
        if len(decisions) > 1:
            group.problems.append(f"rows {where} are one mapping ({key.describe()}) with different decisions "
                                  f"({', '.join(decisions)})")
        seen: dict[str, _Row] = {}
        for row in group.rows:
            if row.target is None:
                continue
            first = seen.setdefault(row.target.code, row)
            if first is not row and first.target.relationship is not row.target.relationship:
                group.problems.append(f"rows {first.row} and {row.row} give target {row.target.code} two "
                                      "relationships")
        ids = {(r.mapping_id, r.version) for r in group.rows if r.mapping_id or r.version is not None}
        if len(ids) > 1:
            group.problems.append(f"rows {where} are one mapping with different mapping_id / version")
    return groups


def _targets(group: _Group) -> tuple[Target, ...]:
    """The group's targets in row order, a target repeated with the same relationship once."""
    found: dict[str, Target] = {}
    for row in group.rows:
        if row.target is not None and row.target.code not in found:
            found[row.target.code] = row.target
    return tuple(found.values())


def _same(current: CuratedMapping | None, decision: Decision, targets: Sequence[Target]) -> bool:
    if current is None or current.decision is not decision:
        return False
    as_set = lambda ts: {(t.system, t.code, Relationship(t.relationship).value) for t in ts}  # noqa: E731
    return as_set(current.targets) == as_set(targets)


def _release_checked(connection: Connection, groups: dict[MappingKey, _Group],
                     row_problems: dict[Where, list[str]], warnings: list[str]) -> dict[MappingKey, tuple[Target, ...]]:
    """Each group's targets with displays filled from the loaded release; codes it lacks or holds inactive refused."""
    loaded = active_release_ids(connection)
    labels = {r.system: r.label for r in list_releases(connection) if r.status.value == "active"}
    wanted: dict[str, set[str]] = {}
    for group in groups.values():
        for target in _targets(group):
            wanted.setdefault(target.system, set()).add(target.code)
    known = {system: release_concepts(connection, system, codes) for system, codes in wanted.items() if system in loaded}
    for system in sorted(set(wanted) - set(loaded)):
        warnings.append(f"no release of {system} is loaded: its target codes were not checked")
    checked = {}
    for key, group in groups.items():
        targets = []
        for target in _targets(group):
            if target.system in known:
                concept = known[target.system].get(target.code)
                if concept is None or not concept.active:
                    state = "inactive in" if concept is not None else "not in"
                    for row in group.rows:
                        if row.target is not None and row.target.code == target.code:
                            row_problems.setdefault(row.row, []).append(
                                f"target {target.code} is {state} the loaded release {labels[target.system]}: "
                                "a target must be an active concept")
                    continue
                if not target.display:
                    target = replace(target, display=concept.display)
            targets.append(target)
        checked[key] = tuple(targets)
    return checked


def _in_order(where: Where) -> tuple:
    """Row numbers in number order, ConceptMap paths in natural order (element[2] before element[10])."""
    if isinstance(where, int):
        return (0, where)
    return (1, *((int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"(\d+)", where)))


def plan_import(connection: Connection, sheet: Sheet, *, file: str, dry_run: bool = True,
                skip_invalid: bool = False, default_reason: str | None = None) -> ImportReport:
    """What importing `sheet` would do, mapping by mapping; writes nothing."""
    row_problems: dict[Where, list[str]] = {where: [problem] for where, problem in sheet.problems}
    parsed = []
    for row in sheet.rows:
        found, problems = _parsed(row)
        if found is None:
            row_problems.setdefault(row.row, []).extend(problems)
        else:
            parsed.append(found)
    groups = _grouped(parsed)
    warnings = list(sheet.warnings)
    targets_of = _release_checked(connection, groups, row_problems, warnings)
    planned = []
    for key, group in sorted(groups.items()):
        decision, targets = group.rows[0].decision, targets_of[key]
        current = find_current(connection, key.source_system, key.source_code or None,
                               None if key.source_code else key.source_text_norm, key.context, key.target_system)
        change = Change.NEW if current is None else (
            Change.UNCHANGED if _same(current, decision, targets) else Change.CHANGED)
        file_ids = next(((r.mapping_id, r.version) for r in group.rows if r.mapping_id), None)
        if (change is Change.CHANGED and file_ids is not None and file_ids[0] == current.mapping_id
                and file_ids[1] is not None and file_ids[1] != current.version):
            group.problems.append(
                f"mapping {current.mapping_id} is now version {current.version} ({current.author}, "
                f"{_timestamp(current.created_at)}); this file edits version {file_ids[1]}: export again and redo the edit")
        if group.problems:
            for row in group.rows:
                row_problems.setdefault(row.row, []).extend(group.problems)
        if any(row.row in row_problems for row in group.rows):
            for row in group.rows:
                if row.row not in row_problems:
                    row_problems[row.row] = ["another row of this mapping is invalid"]
            continue
        reasons = [r.reason for r in group.rows if r.reason]
        reason = reasons[0] if reasons and (current is None or reasons[0] != current.reason) else (
            default_reason or f"imported from {file}")
        planned.append(PlannedMapping(change, tuple(r.row for r in group.rows), key, decision,
                                      targets if decision is Decision.MAPPED else (), reason, current))
    invalid = [InvalidRow(where, tuple(dict.fromkeys(problems)))
               for where, problems in sorted(row_problems.items(), key=lambda item: _in_order(item[0]))]
    return ImportReport(file, dry_run, skip_invalid, planned, invalid, warnings)


def apply_import(connection: Connection, report: ImportReport, *, author: str, origin: str) -> ImportReport:
    """Write the new and changed mappings of a planned import, unless it is a dry run or blocked by invalid rows."""
    if report.dry_run or report.blocked:
        return report
    if len(origin) > _TEXT_MAX:
        origin = origin[:_TEXT_MAX - 1] + "…"
    done = []
    for planned in report.mappings:
        if planned.change is Change.UNCHANGED:
            done.append(planned)
            continue
        key = planned.key
        written = record_mapping(
            connection, source_system=key.source_system, source_code=key.source_code or None,
            source_text=None if key.source_code else key.source_text_norm, context=key.context,
            target_system=key.target_system, decision=planned.decision, targets=planned.targets, author=author,
            reason=planned.reason, origin=origin, based_on=planned.current.version if planned.current else None,
        )
        done.append(replace(planned, written=written))
    report.mappings, report.written = done, True
    counts = report.counts
    if counts["new"] or counts["changed"]:
        record_event(connection, actor=author, action="mappings.imported", subject_type="import", subject_id=origin,
                     after={"file": report.file, **counts})
    logger.info("import %s: %d new, %d changed, %d unchanged, %d invalid rows", report.file, counts["new"],
                counts["changed"], counts["unchanged"], counts["invalid_rows"])
    return report


def _hold_mapping_writes(connection: Connection) -> None:
    """Until commit, nobody else writes curated mappings, so the plan and the writes see one state.

    PostgreSQL: a SHARE ROW EXCLUSIVE lock on `mapping_versions` (readers, translate included, go on;
    other writers wait), rather than an advisory lock per mapping, which a large file would run out
    of. SQLite: the database's write lock (BEGIN IMMEDIATE).
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"LOCK TABLE {mapping_versions.name} IN SHARE ROW EXCLUSIVE MODE"))
    elif connection.dialect.name == "sqlite" and not connection.connection.driver_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def import_sheet(connection: Connection, sheet: Sheet, *, file: str, author: str, dry_run: bool = False,
                 skip_invalid: bool = False, origin: str | None = None,
                 default_reason: str | None = None) -> ImportReport:
    """Plan the import of `sheet` and (unless a dry run, or blocked by invalid rows) write it; the caller commits.

    `origin` defaults to `import:{file name}`. A real import holds off other mapping writers until commit.
    """
    name = PurePath(file).name or file
    if not dry_run:
        _hold_mapping_writes(connection)
    report = plan_import(connection, sheet, file=name, dry_run=dry_run, skip_invalid=skip_invalid,
                         default_reason=default_reason)
    return apply_import(connection, report, author=author, origin=origin or f"import:{name}")
