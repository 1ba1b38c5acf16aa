"""Bulk exchange of curated mappings: export and import files (HTTP, and the functions `termmap mappings` calls).

    GET  /v1/mappings/export?format=csv|xlsx|conceptmap|skos&source_system=&target_system=&context=
         read-curation; the file as an attachment (media types: `MEDIA_TYPES`). `conceptmap` exports
         one (source system, target system, context): the filters must name one, or match just one.
    POST /v1/mappings/import?format=csv|xlsx|conceptmap&dry_run=true|false&skip_invalid=&filename=&context=&encoding=
         curate; the body is the file. The answer is the change report (JSON): new, changed, unchanged
         mappings and invalid rows with their reasons. 200 for a dry run or an import done; 422 when
         invalid rows stopped it (nothing written) or nothing in the file could be read.

The format defaults to the one the file name (`filename=`, else the Content-Disposition header)
or the Content-Type names. The author of every version written is the API key's name; the origin
is `import:{filename}`, or for a ConceptMap with a url `import:conceptmap:{url}|{version}` as
`POST /fhir/r4/ConceptMap` records it (so `$translate?url=` finds them the same way).
Column layout, IRIs and equivalences: see `mappings.exchange_table`, `exchange_skos`, `exchange_conceptmap`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePath

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from mappings.curated import mapping_groups
from mappings.exchange_conceptmap import export_conceptmap, read_conceptmap
from mappings.exchange_skos import export_skos
from mappings.exchange_table import (
    ImportReport,
    export_rows,
    import_sheet,
    read_csv,
    read_xlsx,
    rows_to_csv,
    rows_to_xlsx,
)
from mappings.translation import Context
from terminology.errors import InvalidRequest
from terminology.systems import canonical_system

from .auth import Permission, requires
from .fhir.maps import MapKey, import_origin, map_history, strip_version
from .limits import IMPORT_PATH, too_large
from .params import refuse_nul
from .responses import JsonResponse

__all__ = ["router", "EXPORT_FORMATS", "IMPORT_FORMATS", "MEDIA_TYPES", "Exported", "export_file", "import_file",
           "format_of"]

EXPORT_FORMATS = ("csv", "xlsx", "conceptmap", "skos")
IMPORT_FORMATS = ("csv", "xlsx", "conceptmap")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "conceptmap": "application/fhir+json",
    "skos": "text/turtle; charset=utf-8",
}
_EXTENSIONS = {"csv": "csv", "xlsx": "xlsx", "conceptmap": "json", "skos": "ttl"}
_FORMAT_OF_EXTENSION = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".json": "conceptmap"}
_FORMAT_OF_MEDIA_TYPE = {"text/csv": "csv", MEDIA_TYPES["xlsx"]: "xlsx", "application/fhir+json": "conceptmap",
                         "application/json": "conceptmap"}

router = APIRouter(tags=["curation"], dependencies=[Depends(refuse_nul)])


@dataclass(frozen=True, slots=True)
class Exported:
    content: bytes
    media_type: str
    filename: str


def _choice(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        raise InvalidRequest(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _contexts() -> tuple[str, ...]:
    return tuple(c.value for c in Context)


def _group(connection: Connection, source: str | None, target: str | None, context: str | None) -> MapKey:
    """The one (source system, target system, context) the filters name or match."""
    if source and target and context:
        return MapKey(source, target, context)
    found = [MapKey(s, t, c) for s, t, c in mapping_groups(connection)
             if (source is None or s == source) and (target is None or t == target) and (context is None or c == context)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise InvalidRequest("no curated mappings match these filters: a ConceptMap export needs source_system, "
                             "target_system and context")
    listed = "; ".join(f"source_system={k.source}&target_system={k.target}&context={k.context}" for k in found[:10])
    more = f" and {len(found) - 10} more" if len(found) > 10 else ""
    raise InvalidRequest(f"a ConceptMap holds one source system, target system and context; these filters match "
                         f"{len(found)}: {listed}{more}")


def export_file(connection: Connection, format: str = "csv", *, source_system: str | None = None,  # noqa: A002
                target_system: str | None = None, context: str | None = None) -> Exported:
    """The current curated mappings (filtered when asked) as a file of `format`."""
    chosen = _choice("format", format or "csv", EXPORT_FORMATS) or "csv"
    context = _choice("context", context, _contexts())
    source = canonical_system(source_system) if source_system else None
    target = canonical_system(target_system) if target_system else None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d")
    filename = f"termmap-mappings{'-' + context if context else ''}-{stamp}.{_EXTENSIONS[chosen]}"
    if chosen in ("csv", "xlsx"):
        rows = export_rows(connection, source_system=source, target_system=target, context=context)
        content = rows_to_csv(rows) if chosen == "csv" else rows_to_xlsx(rows)
    elif chosen == "skos":
        content = export_skos(connection, source_system=source, target_system=target, context=context).encode()
    else:
        key = _group(connection, source, target, context)
        count, newest = map_history(connection, key)
        resource = export_conceptmap(connection, source_system=key.source, target_system=key.target,
                                     context=key.context, url=key.url, id=key.id, version=str(count), date=newest)
        content = orjson.dumps(resource, option=orjson.OPT_INDENT_2)
        filename = f"ConceptMap-{key.id}.json"
    return Exported(content, MEDIA_TYPES[chosen], filename)


def format_of(filename: str | None, content_type: str | None) -> str | None:
    """The import format a file name or media type names, or None."""
    if filename:
        found = _FORMAT_OF_EXTENSION.get(PurePath(filename).suffix.lower())
        if found:
            return found
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return _FORMAT_OF_MEDIA_TYPE.get(media_type)


def import_file(connection: Connection, data: bytes, *, format: str | None, filename: str,  # noqa: A002
                author: str, dry_run: bool = False, skip_invalid: bool = False, context: str | None = None,
                encoding: str | None = None) -> ImportReport:
    """Import a CSV, XLSX or ConceptMap file of curated mappings (a dry run writes nothing); the caller commits."""
    chosen = _choice("format", format, IMPORT_FORMATS) or format_of(filename, None)
    if chosen is None:
        raise InvalidRequest(f"say the file's format: format=csv, xlsx or conceptmap (the name {filename!r} does not)")
    if chosen == "csv":
        sheet, origin, reason = read_csv(data, encoding=encoding), None, None
    elif chosen == "xlsx":
        sheet, origin, reason = read_xlsx(data), None, None
    else:
        read = read_conceptmap(data, context=_choice("context", context, _contexts()))
        sheet = read.sheet
        url = strip_version(read.url) if read.url else None
        origin = import_origin(url, read.version) if url else None
        reason = f"imported ConceptMap {read.title or url or filename} ({url or filename}|{read.version or ''})"
    return import_sheet(connection, sheet, file=filename, author=author, dry_run=dry_run, skip_invalid=skip_invalid,
                        origin=origin, default_reason=reason)


_DISPOSITION_NAME = re.compile(r'filename="?([^";]+)"?', re.IGNORECASE)
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def _upload_name(request: Request, given: str | None, chosen: str | None) -> str:
    found = given
    if not found:
        match = _DISPOSITION_NAME.search(request.headers.get("content-disposition", ""))
        found = match.group(1) if match else None
    name = _UNSAFE.sub("", PurePath((found or "").replace("\\", "/")).name)[:200]
    return name or f"upload.{_EXTENSIONS.get(chosen or '', 'bin')}"


@router.get("/v1/mappings/export", dependencies=[Depends(requires(Permission.READ_CURATION))],
            responses={200: {"description": "the file, as an attachment",
                             "content": {media: {} for media in MEDIA_TYPES.values()}},
                       422: {"description": "unknown format or context; filters that name no single ConceptMap"}})
async def export_mappings(
    request: Request,
    format_: str = Query("csv", alias="format", description="csv, xlsx, conceptmap or skos"),
    source_system: str | None = Query(None, max_length=255),
    target_system: str | None = Query(None, max_length=255),
    context: str | None = Query(None, description="allergy or medication"),
) -> Response:
    """Export the current curated mappings (one row or triple per target; see the module docstring)."""
    def work() -> Exported:
        with request.app.state.engine.connect() as connection:
            return export_file(connection, format_, source_system=source_system, target_system=target_system,
                               context=context)

    exported = await run_in_threadpool(work)
    return Response(exported.content, media_type=exported.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{exported.filename}"'})


@router.post(IMPORT_PATH, dependencies=[Depends(requires(Permission.CURATE))],
             responses={200: {"description": "the change report (dry run, or import done)"},
                        413: {"description": "the file is larger than TERMMAP_MAX_IMPORT_BYTES (20 MiB unless "
                                             "set)"},
                        422: {"description": "invalid rows stopped the import (the change report says which and "
                                             "why), or the file could not be read"}})
async def import_mappings(
    request: Request,
    format_: str | None = Query(None, alias="format", description="csv, xlsx or conceptmap (default: from the "
                                                                   "file name or Content-Type)"),
    dry_run: bool = Query(False, description="report what would change; write nothing"),
    skip_invalid: bool = Query(False, description="import the valid mappings even when some rows are invalid"),
    filename: str | None = Query(None, max_length=255, description="the file's name, kept as the origin"),
    context: str | None = Query(None, description="a ConceptMap's context when it does not carry one"),
    encoding: str | None = Query(None, max_length=40, description="a CSV's text encoding (default UTF-8)"),
) -> Response:
    """Import curated mappings from a CSV, XLSX or ConceptMap body; each changed mapping becomes a new version.

    A file larger than `TERMMAP_MAX_IMPORT_BYTES` is refused (413) before it is read; an XLSX whose
    sheets would inflate far beyond its size (a zip bomb) is refused before it is inflated.
    """
    limit = request.app.state.settings.max_import_bytes
    body = await request.body()  # BodyLimit has refused a larger one before it was read
    if len(body) > limit:
        return too_large(IMPORT_PATH, limit, "TERMMAP_MAX_IMPORT_BYTES")
    chosen = _choice("format", format_, IMPORT_FORMATS)
    name = _upload_name(request, filename, chosen)
    chosen = chosen or format_of(name, request.headers.get("content-type"))
    author = request.state.principal.name

    def work() -> ImportReport:
        with request.app.state.engine.begin() as connection:
            return import_file(connection, body, format=chosen, filename=name, author=author, dry_run=dry_run,
                               skip_invalid=skip_invalid, context=context, encoding=encoding)

    report = await run_in_threadpool(work)
    if report.written:
        request.app.state.cache.invalidate()  # this worker at once; others within the cache's check interval
    refused = not dry_run and (report.blocked or (bool(report.invalid) and not report.mappings))
    return JsonResponse(report.as_json(), status_code=422 if refused else 200)

