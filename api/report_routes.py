"""Reports and the audit trail over HTTP (auditors and admins: `Permission.REPORTS`), and their file exports.

    GET /v1/reports/unmapped?format=json|csv|xlsx&since=&until=&sender=&context=&state=&source_system=&reason=
                            &limit=&offset=
    GET /v1/reports/coverage?by=day|week&format=json|csv|xlsx&since=&until=&source_system=&sender=&context=
    GET /v1/reports/release-impact?system=&release_id=&previous_id=&limit=&search_entries=
    GET /v1/audit?actor=&since=&until=&action=&subject=&code=&limit=&offset=
    GET /v1/audit/verify

Dates are `YYYY-MM-DD` (the whole UTC day) or ISO 8601 date-times; both ends are inclusive. The
data comes from `mappings.reports` (what each filter means is documented there); JSON is its records as
orjson writes them (times ISO 8601 with +00:00, dates YYYY-MM-DD). CSV and XLSX
hold the same rows as the JSON `rows`, flattened (`mappings.reports.unmapped_table`,
`coverage_table`): senders as one `name: count; ...` cell, times as ISO 8601 UTC text, an empty
cell for none. CSV is UTF-8 with a BOM; a text cell that starts like a formula (`= + - @`, tab,
CR) gets a leading `'` there, as the mapping exports do; XLSX stores every text cell as text.
Files come as attachments named `termmap-<report>-<UTC date>.<ext>`.
"""
from __future__ import annotations

import codecs
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from mappings import reports
from mappings.audit import parse_head
from terminology.errors import InvalidRequest

from .auth import Permission, requires
from .params import MAX_OFFSET, refuse_nul
from .responses import InvalidRequestRoute, JsonResponse, error_responses

__all__ = ["router", "REPORT_FORMATS", "MEDIA_TYPES", "Exported", "export_table", "parse_when", "unmapped_export",
           "coverage_export"]

REPORT_FORMATS = ("json", "csv", "xlsx")
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

router = APIRouter(tags=["reports"], dependencies=[Depends(requires(Permission.REPORTS)), Depends(refuse_nul)],
                   route_class=InvalidRequestRoute,
                   responses=error_responses({422: "a parameter out of range or unreadable (the message names it)"}))


@dataclass(frozen=True, slots=True)
class Exported:
    content: bytes
    media_type: str
    filename: str


def parse_when(value: str | None, name: str = "date") -> date | datetime | None:
    """`YYYY-MM-DD` as a date, anything longer as an ISO 8601 date-time (naive: UTC); None for none."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"{name} must be YYYY-MM-DD or an ISO 8601 date-time, not {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _format(value: str | None) -> str:
    chosen = (value or "json").strip().lower()
    if chosen not in REPORT_FORMATS:
        raise InvalidRequest(f"format must be one of {', '.join(REPORT_FORMATS)}, not {value!r}")
    return chosen


def _cell(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def export_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], file_format: str, name: str) -> Exported:
    """The rows as a CSV or XLSX file (pandas at this edge only); `name` is the report's, for the file and sheet."""
    import pandas as pd

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d")
    if file_format == "csv":
        frame = pd.DataFrame([{k: _cell(v) for k, v in row.items()} for row in rows], columns=list(columns))
        text = frame.to_csv(index=False, lineterminator="\r\n")
        return Exported(codecs.BOM_UTF8 + text.encode("utf-8"), MEDIA_TYPES["csv"], f"termmap-{name}-{stamp}.csv")
    if file_format != "xlsx":
        raise InvalidRequest(f"a table exports as csv or xlsx, not {file_format!r}")
    frame = pd.DataFrame(list(rows), columns=list(columns))
    buffer = io.BytesIO()
    sheet_name = name[:31]
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name=sheet_name, index=False)
        sheet = writer.sheets[sheet_name]
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if cell.data_type == "f":  # text that starts with "=" is data here, never a formula
                    cell.data_type = "s"
        sheet.freeze_panes = "A2"
        for index, column in enumerate(frame.columns):
            longest = max([len(str(column)), *(len(str(v)) for v in frame[column].head(200) if v is not None)])
            sheet.column_dimensions[sheet.cell(row=1, column=index + 1).column_letter].width = min(longest, 60) + 2
    return Exported(buffer.getvalue(), MEDIA_TYPES["xlsx"], f"termmap-{name}-{stamp}.xlsx")


def _file(exported: Exported) -> Response:
    return Response(exported.content, media_type=exported.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{exported.filename}"'})


def unmapped_export(connection, file_format: str, **filters: Any) -> Exported | dict[str, Any]:
    """The unmapped-code report for JSON (records orjson writes), or as a CSV / XLSX file (the CLI calls this too)."""
    limit, offset = filters.pop("limit", None), filters.pop("offset", 0)
    rows = reports.unmapped_report(connection, limit=limit, offset=offset, **filters)
    if file_format == "json":
        total = reports.count_unmapped(connection, **filters)
        return {"count": total, "limit": limit, "offset": offset, "rows": rows}
    return export_table(reports.unmapped_table(rows), reports.UNMAPPED_COLUMNS, file_format, "unmapped")


def coverage_export(connection, file_format: str, **filters: Any) -> Exported | dict[str, Any]:
    """The coverage report for JSON (`rows`: every level, as in the files), or as a CSV / XLSX file."""
    coverage = reports.coverage_report(connection, **filters)
    if file_format == "json":
        return {"by": coverage.by, "since": coverage.since, "until": coverage.until,
                "rows": reports.coverage_rows(coverage)}
    return export_table(reports.coverage_table(coverage), reports.COVERAGE_COLUMNS, file_format,
                        f"coverage-by-{coverage.by}")


def _answer(found: Exported | dict[str, Any]) -> Response:
    return _file(found) if isinstance(found, Exported) else JsonResponse(found)


@router.get("/v1/reports/unmapped", responses={200: {"description": "JSON rows, or the same rows as a file",
                                                      "content": {m: {} for m in MEDIA_TYPES.values()}}})
def unmapped(
    request: Request,
    format_: str = Query("json", alias="format", description="json, csv or xlsx"),
    since: str | None = Query(None, description="seen on or after: YYYY-MM-DD or an ISO date-time"),
    until: str | None = Query(None, description="seen on or before: YYYY-MM-DD or an ISO date-time"),
    sender: str | None = Query(None, max_length=255),
    context: str | None = Query(None, description="allergy or medication"),
    state: str | None = Query(None, description="open, claimed or decided"),
    source_system: str | None = Query(None, max_length=255),
    reason: str | None = Query(None, max_length=16, description="unmapped, unvalidated or release-change"),
    limit: int | None = Query(None, ge=0, le=MAX_OFFSET, description="at most this many rows (default: all)"),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> Response:
    """Every review entry (unmapped or unvalidated codes and texts): what came, how often, from whom, what was decided.

    JSON `count` is the total matching; page a large queue with `limit` / `offset` (100,000 entries are
    about 60 MB of JSON, seconds to build; a page of 1,000 is milliseconds to a few hundred).
    """
    chosen = _format(format_)
    with request.app.state.engine.connect() as connection:
        return _answer(unmapped_export(
            connection, chosen, since=parse_when(since, "since"), until=parse_when(until, "until"), sender=sender,
            context=context, state=state, source_system=source_system, reason=reason, limit=limit, offset=offset))


@router.get("/v1/reports/coverage", responses={200: {"description": "JSON rows, or the same rows as a file",
                                                      "content": {m: {} for m in MEDIA_TYPES.values()}}})
def coverage(
    request: Request,
    by: str = Query("day", description="day or week (ISO weeks, from Monday)"),
    format_: str = Query("json", alias="format", description="json, csv or xlsx"),
    since: str | None = Query(None, description="first day: YYYY-MM-DD"),
    until: str | None = Query(None, description="last day: YYYY-MM-DD"),
    source_system: str | None = Query(None, max_length=255),
    sender: str | None = Query(None, max_length=255),
    context: str | None = Query(None, description="allergy or medication"),
) -> Response:
    """Translations answered mapped / unvalidated / unmapped, per period, source system and sender, with totals."""
    chosen = _format(format_)
    with request.app.state.engine.connect() as connection:
        return _answer(coverage_export(connection, chosen, by=by, since=parse_when(since, "since"),
                                       until=parse_when(until, "until"), source_system=source_system, sender=sender,
                                       context=context))


@router.get("/v1/reports/release-impact", responses=error_responses({404: "no release of that system is loaded"}))
def release_impact(
    request: Request,
    system: str = Query(..., max_length=255, description="the code system: URI or name (snomed, rxnorm)"),
    release_id: int | None = Query(None, description="the release to assess (default: the active one)"),
    previous_id: int | None = Query(None, description="compare with (default: the release activated before it)"),
    limit: int = Query(500, ge=0, le=10_000, description="at most this many review entries"),
    search_entries: int = Query(50, ge=0, le=500, description="open entries whose candidates are searched"),
) -> JsonResponse:
    """Curated mappings whose targets a release made inactive or removed, and open entries it may now answer."""
    with request.app.state.engine.connect() as connection:
        impact = reports.release_impact(connection, system, release_id=release_id, previous_id=previous_id,
                                        limit=limit, search_entries=search_entries)
    return JsonResponse(impact)


@router.get("/v1/audit")
def audit(
    request: Request,
    actor: str | None = Query(None, max_length=255),
    since: str | None = Query(None, description="on or after: YYYY-MM-DD or an ISO date-time"),
    until: str | None = Query(None, description="on or before: YYYY-MM-DD or an ISO date-time"),
    action: str | None = Query(None, max_length=64, description="exact, or a prefix ending in .* (review.*)"),
    subject: str | None = Query(None, max_length=255, description="a subject id: mapping, review entry, key, release"),
    code: str | None = Query(None, max_length=128, description="a code in the event's before/after (or its subject)"),
    limit: int = Query(100, ge=1, le=reports.MAX_AUDIT_PAGE),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> JsonResponse:
    """Audit events, newest first, paged (`next_offset` is null on the last page)."""
    with request.app.state.engine.connect() as connection:
        page = reports.audit_query(connection, actor=actor, since=parse_when(since, "since"),
                                   until=parse_when(until, "until"), action=action, subject=subject, code=code,
                                   limit=limit, offset=offset)
    return JsonResponse(page)


@router.get("/v1/audit/verify")
def audit_verify(request: Request, head: Annotated[str | None, Query(
        description="`seq:hash` an earlier verification reported as its `head`: the chain must still hold "
                    "that event with that hash (this detects events removed from the end)")] = None) -> JsonResponse:
    """Recompute the hash chain: `intact`, or the first event whose link or content was altered; `head` to keep."""
    try:
        expected = parse_head(head) if head is not None else None
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    with request.app.state.engine.connect() as connection:
        return JsonResponse(reports.verify_audit(connection, expected))
