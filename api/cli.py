"""`termmap` command line: a thin shell over the library; domain errors become one clear message."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection, Engine

from terminology.database import create_store_engine, migrate, require_current_schema
from terminology.errors import InvalidRequest, LoadError, TermmapError
from terminology.model import LoadReport, Release
from terminology.releases import list_releases
from terminology.search import search as search_store
from terminology.settings import get_settings
from terminology.systems import canonical_system

from .auth import Role, create_key, list_keys, revoke_key
from .lookup import lookup_view
from .observability import configure_logging

app = typer.Typer(
    name="termmap",
    help="Allergy and medication terminology mapping: load SNOMED CT, RxNorm and local code tables; look up; serve.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
load_app = typer.Typer(help="Load a release or a local code table into the store.", no_args_is_help=True)
app.add_typer(load_app, name="load")
keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
mappings_app = typer.Typer(help="Curated mappings: export and import (CSV, XLSX, FHIR ConceptMap; SKOS out).",
                           no_args_is_help=True)
app.add_typer(mappings_app, name="mappings")

console = Console()
errors = Console(stderr=True)
PROJECT = Path(__file__).resolve().parent.parent
DEMO = PROJECT / "demo"


def _engine() -> Engine:
    return create_store_engine(get_settings().database_url)


@contextmanager
def _store(*, migrated: bool = True) -> Iterator[Engine]:
    engine = _engine()
    try:
        if migrated:
            require_current_schema(engine)
        yield engine
    finally:
        engine.dispose()


def _domain_errors(command: Callable) -> Callable:
    """Turn a `TermmapError` into a one-line message and exit status 2 (1 for load errors)."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except LoadError as exc:
            errors.print(f"[bold red]load failed:[/] {exc}\nThe previously active release is unchanged.")
            raise typer.Exit(1) from None
        except TermmapError as exc:
            errors.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from None

    return wrapper


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress and details.")] = False,
) -> None:
    """Settings come from `TERMMAP_*` environment variables; the store is `TERMMAP_DATABASE_URL`."""
    settings = get_settings()
    configure_logging(settings.log_format, "DEBUG" if verbose else settings.log_level)
    logging.getLogger("alembic").setLevel(logging.WARNING)


@app.command()
@_domain_errors
def init() -> None:
    """Create or migrate the store's schema (idempotent).

    Example: `TERMMAP_DATABASE_URL=sqlite:///termmap.db termmap init`
    """
    with _store(migrated=False) as engine:
        revision = migrate(engine)
    console.print(f"store ready at {engine.url.render_as_string(hide_password=True)} (schema {revision})")


def _progress():
    from loaders.progress import progress_for_terminal

    return progress_for_terminal()


def _report(report: LoadReport) -> None:
    release = report.release
    if report.already_loaded:
        console.print(f"already loaded: {release.system} {release.version} is the active release (id {release.id}); nothing to do")
        return
    console.print(
        f"loaded {release.system} {release.version} as release {release.id} (active) in {report.seconds:.1f} s"
    )
    for table, count in report.rows.items():
        console.print(f"  {table:<14} {count:>12,}")
    if report.skipped:
        console.print(f"[yellow]{len(report.skipped)} row(s) skipped[/] (stored with the release; every one listed):")
        for row in report.skipped[:50]:
            console.print(f"  {row.file}:{row.line}: {row.problem}")
        if len(report.skipped) > 50:
            console.print(f"  ... and {len(report.skipped) - 50} more: `termmap releases --skipped {release.id}`")


def _audit_activation(connection: Connection, release: Release, replaced: Release | None, report: LoadReport) -> None:
    """Record `release.activated` in the audit trail, in the switch's own transaction (an `ActivationHook`):
    the activation and its audit event commit together or not at all."""
    from mappings.audit import record_event

    record_event(
        connection, actor="cli", action="release.activated", subject_type="release", subject_id=str(release.id),
        before={"release_id": replaced.id, "release": replaced.label} if replaced else None,
        after={"release_id": release.id, "release": release.label, "effective_date": release.effective_date,
               "checksum": release.checksum, "source": release.source, "rows": report.rows,
               "skipped": len(report.skipped)},
    )


def _requeue(engine: Engine, report: LoadReport) -> None:
    """Re-queue the curated mappings the now active release makes doubtful, and say which."""
    from mappings.release_changes import requeue_after_release

    with engine.begin() as connection:
        changes = requeue_after_release(connection, report.release.system, actor="cli")
    console.print(changes.summary(), soft_wrap=True)
    for item in changes.requeued[:20]:
        source = item.source_code or repr(item.source_text_norm)
        for target in item.targets:
            hint = ", ".join(f"{r.association} {r.code}" for r in target.replacements) or "no replacement given"
            console.print(f"  {item.source_system} {source} ({item.context}) -> {target.code} {target.why}: {hint}",
                          soft_wrap=True, markup=False)
    if len(changes.requeued) > 20:
        console.print(f"  ... and {len(changes.requeued) - 20} more: see the review queue")


def _with_progress(run: Callable[..., LoadReport]) -> LoadReport:
    progress = _progress()
    try:
        return run(progress)
    finally:
        close = getattr(progress, "close", None)
        if close:
            close()


@load_app.command("snomed")
@_domain_errors
def load_snomed(
    path: Annotated[Path, typer.Argument(help="RF2 release .zip or unpacked folder.")],
    language: Annotated[str, typer.Option(help="Dialect for preferred terms: en-US or en-GB.")] = "",
) -> None:
    """Load a SNOMED CT RF2 release (International or a national edition; Snapshot, or Full).

    Example: `termmap load snomed SnomedCT_InternationalRF2_PRODUCTION_20250901T120000Z.zip`
    """
    from loaders.rf2 import load_rf2

    settings = get_settings()
    with _store() as engine:
        report = _with_progress(
            lambda progress: load_rf2(
                engine, path, language=language or settings.snomed_language, progress=progress,
                batch_size=settings.load_batch_size, on_activate=_audit_activation,
            )
        )
    _report(report)
    _requeue(engine, report)


@load_app.command("rxnorm")
@_domain_errors
def load_rxnorm(path: Annotated[Path, typer.Argument(help="RxNorm release .zip, its folder, or its rrf/ folder.")]) -> None:
    """Load an RxNorm RRF release (full monthly release or Current Prescribable Content).

    Example: `termmap load rxnorm RxNorm_full_prescribe_10062025/rrf`
    """
    from loaders.rxnorm_rrf import load_rxnorm as load

    settings = get_settings()
    with _store() as engine:
        report = _with_progress(
            lambda progress: load(engine, path, progress=progress, batch_size=settings.load_batch_size,
                                  on_activate=_audit_activation)
        )
    _report(report)
    _requeue(engine, report)


@load_app.command("local")
@_domain_errors
def load_local(
    path: Annotated[Path, typer.Argument(help="CSV, TSV or XLSX export of a local code table.")],
    system: Annotated[str, typer.Option(help="URI naming the local code system.")],
    columns: Annotated[
        str,
        typer.Option(help="Column map: `code=COL,display=COL[,kind=COL,synonyms=COL,target_code=COL]` or a YAML/TOML file."),
    ] = "code=code,display=display",
    version: Annotated[Optional[str], typer.Option(help="Version label (default: from the file's checksum).")] = None,
    sheet: Annotated[Optional[str], typer.Option(help="Excel sheet name (default: the first).")] = None,
    encoding: Annotated[Optional[str], typer.Option(help="Text encoding of a CSV/TSV (default: UTF-8).")] = None,
) -> None:
    """Load a local allergen or drug table as a release of the local system named by `--system`.

    Example: `termmap load local allergens.csv --system https://hospital.example.org/fhir/CodeSystem/allergens --columns allergens.columns.yaml`
    """
    from loaders.local_table import ColumnMap, load_local_table

    column_map = ColumnMap.from_file(Path(columns)) if Path(columns).suffix.lower() in {".yaml", ".yml", ".toml"} else ColumnMap.parse(columns)
    settings = get_settings()
    with _store() as engine:
        report = _with_progress(
            lambda progress: load_local_table(
                engine, path, system, column_map, version=version, sheet=sheet, encoding=encoding,
                progress=progress, batch_size=settings.load_batch_size, on_activate=_audit_activation,
            )
        )
    _report(report)
    _requeue(engine, report)


@app.command()
@_domain_errors
def releases(
    system: Annotated[Optional[str], typer.Option(help="Only this system (URI or name such as snomed, rxnorm).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List loaded releases with their status (staged, active, retired, failed) and row counts.

    Example: `termmap releases --system snomed`
    """
    with _store() as engine, engine.connect() as connection:
        found = list_releases(connection, canonical_system(system) if system else None)
    if as_json:
        console.print_json(json.dumps([
            {"id": r.id, "system": r.system, "version": r.version, "effective_date": r.effective_date,
             "status": r.status.value, "loaded_at": r.loaded_at.isoformat(), "rows": r.row_counts,
             "checksum": r.checksum, "source": r.source}
            for r in found
        ]))
        return
    table = Table("id", "system", "version", "status", "loaded at", "rows")
    for r in found:
        rows = ", ".join(f"{k} {v:,}" for k, v in r.row_counts.items() if v)
        table.add_row(str(r.id), r.system, r.version, r.status.value, f"{r.loaded_at:%Y-%m-%d %H:%M}", rows)
    console.print(table)


@app.command()
@_domain_errors
def lookup(
    system: Annotated[str, typer.Argument(help="System URI or name: snomed, rxnorm, or a local URI.")],
    code: Annotated[str, typer.Argument(help="The code to look up.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a concept: display, designations, parents, ingredients / tradenames, history, crosswalks.

    Example: `termmap lookup rxnorm 723`
    """
    with _store() as engine, engine.connect() as connection:
        view = lookup_view(connection, system, code)
    if as_json:
        console.print_json(json.dumps(view))
        return
    status = "" if view["active"] else " [red](inactive)[/]"
    console.print(f"[bold]{view['code']}[/] {view['display']}{status}  [dim]{view['system']} · {view['kind'] or ''}[/]")
    for title, key, fmt in (
        ("designations", "designations", lambda d: f"{'*' if d['preferred'] else ' '} {d['term']}  [dim]{d['type']}[/]"),
        ("parents", "parents", lambda p: f"{p['code']} {p['display']}"),
        ("ingredients", "ingredients", lambda i: f"{i['code']} {i['display']}  [dim]{i['kind'] or ''}[/]"),
        ("relationships", "relationships", lambda r: f"{r['type']}: {r['code']} {r['display'] or ''}"),
        ("historical", "historical", lambda a: f"{a['type']}: {a['code']} {a['display'] or ''}"),
        ("crosswalks", "crosswalks", lambda x: f"{x['system']} {x['code']} {x['display'] or ''}  [dim]{x['kind']}[/]"),
    ):
        if view[key]:
            console.print(f"[bold]{title}[/]")
            for item in view[key]:
                console.print(f"  {fmt(item)}")


@app.command()
@_domain_errors
def search(
    text: Annotated[str, typer.Argument(help="Text to search for, as a sender might write it.")],
    system: Annotated[Optional[str], typer.Option(help="Only this system.")] = None,
    context: Annotated[Optional[str], typer.Option(help="allergy (substances, ingredients, classes) or "
                                                   "medication (products).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
) -> None:
    """Rank concepts whose terms resemble TEXT. Suggestions only: a score never decides a mapping.

    Example: `termmap search "amoxicilin" --system rxnorm`
    """
    with _store() as engine, engine.connect() as connection:
        found = search_store(connection, text, system, limit=limit, context=context)
    table = Table("score", "system", "code", "display", "matched term")
    for candidate in found:
        c = candidate.concept
        table.add_row(f"{candidate.score:.0f}", c.system, c.code, c.display, candidate.term)
    console.print(table)


@app.command()
@_domain_errors
def demo() -> None:
    """Create the store and load the project's demo set (SNOMED CT RF2, RxNorm RRF, local tables).

    Example: `TERMMAP_DATABASE_URL=sqlite:///var/demo.db termmap demo`
    """
    from loaders.local_table import ColumnMap, load_local_table
    from loaders.rf2 import load_rf2
    from loaders.rxnorm_rrf import load_rxnorm as load_rrf

    settings = get_settings()
    with _store(migrated=False) as engine:
        migrate(engine)
        reports = [load_rf2(engine, DEMO / "snomed", language=settings.snomed_language, on_activate=_audit_activation),
                   load_rrf(engine, DEMO / "rxnorm" / "RxNorm_demo_09022025", on_activate=_audit_activation)]
        for table, system in DEMO_LOCAL_TABLES:
            columns = ColumnMap.from_file(DEMO / "local" / f"{table}.columns.yaml")
            reports.append(load_local_table(engine, DEMO / "local" / f"{table}.csv", system, columns,
                                            on_activate=_audit_activation))
    for report in reports:
        _report(report)
        _requeue(engine, report)
    with engine.begin() as connection:
        demo_keys = [(role, create_key(connection, role, f"demo-{role.value}", "termmap demo")[1]) for role in Role]
    console.print("demo API keys (send as `Authorization: Bearer <key>`; new ones each run):")
    for role, key in demo_keys:
        console.print(f"  {role.value:<11} {key}", soft_wrap=True)


DEMO_LOCAL_TABLES = (
    ("allergens", "https://demo-hospital.example.org/fhir/CodeSystem/allergens"),
    ("pharmacy_formulary", "https://demo-hospital.example.org/fhir/CodeSystem/formulary"),
)


@keys_app.command("create")
@_domain_errors
def keys_create(
    role: Annotated[Role, typer.Option(help="translator, pharmacist, auditor or admin.")],
    name: Annotated[Optional[str], typer.Option(help="Who or what uses it (shown in audit records).")] = None,
) -> None:
    """Create an API key. The key is shown once, alone on the last line; only its hash is stored.

    Example: `termmap keys create --role translator --name interface-engine`
    """
    with _store() as engine, engine.begin() as connection:
        record, key = create_key(connection, role, name or f"{role.value}-key", "cli")
    console.print(f"created {record.role.value} key {record.id} ({record.name}); store it now, it is not shown again:")
    print(key)


@keys_app.command("list")
@_domain_errors
def keys_list() -> None:
    """List API keys (never the keys themselves).

    Example: `termmap keys list`
    """
    with _store() as engine, engine.connect() as connection:
        found = list_keys(connection)
    table = Table("id", "name", "role", "starts with", "created", "revoked")
    for k in found:
        table.add_row(k.id, k.name, k.role.value, k.prefix, f"{k.created_at:%Y-%m-%d %H:%M}",
                      f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "")
    console.print(table)


@keys_app.command("revoke")
@_domain_errors
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (from `termmap keys list`).")]) -> None:
    """Revoke an API key; every worker refuses it within seconds.

    Example: `termmap keys revoke 0b6f...`
    """
    with _store() as engine, engine.begin() as connection:
        if not revoke_key(connection, key_id):
            errors.print(f"[bold red]error:[/] no active key {key_id}")
            raise typer.Exit(2)
    console.print(f"revoked {key_id}")


@mappings_app.command("export")
@_domain_errors
def mappings_export(
    file_format: Annotated[str, typer.Option("--format", help="csv, xlsx, conceptmap or skos.")] = "csv",
    source_system: Annotated[Optional[str], typer.Option(help="Only mappings from this system.")] = None,
    target_system: Annotated[Optional[str], typer.Option(help="Only mappings to this system.")] = None,
    context: Annotated[Optional[str], typer.Option(help="Only this context: allergy or medication.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here (default: standard output).")] = None,
) -> None:
    """Export the current curated mappings (the pharmacists' spreadsheet, a FHIR ConceptMap, or SKOS Turtle).

    Example: `termmap mappings export --format xlsx --context allergy -o allergy-mappings.xlsx`
    """
    from .exchange_routes import export_file

    if output is None and file_format == "xlsx":
        errors.print("[bold red]error:[/] an XLSX export needs --output FILE")
        raise typer.Exit(2)
    with _store() as engine, engine.connect() as connection:
        exported = export_file(connection, file_format, source_system=source_system, target_system=target_system,
                               context=context)
    if output is None:
        typer.echo(exported.content, nl=False)
        return
    output.write_bytes(exported.content)
    console.print(f"wrote {output} ({len(exported.content):,} bytes)")


@mappings_app.command("import")
@_domain_errors
def mappings_import(
    path: Annotated[Path, typer.Argument(help="CSV, XLSX or ConceptMap (JSON) file.", exists=True, dir_okay=False)],
    author: Annotated[str, typer.Option(help="Who is importing: the author of every version written.")],
    file_format: Annotated[Optional[str], typer.Option("--format", help="csv, xlsx or conceptmap (default: from the file name).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would change; write nothing.")] = False,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Import the valid mappings even when some rows are invalid.")] = False,
    context: Annotated[Optional[str], typer.Option(help="A ConceptMap's context when it does not carry one.")] = None,
    encoding: Annotated[Optional[str], typer.Option(help="A CSV's text encoding (default: UTF-8).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the change report as JSON.")] = False,
) -> None:
    """Import curated mappings: each changed mapping becomes a new version; invalid rows stop it (exit 1).

    Example: `termmap mappings import allergy-mappings.xlsx --author "pharm.jones" --dry-run`
    """
    from .exchange_routes import import_file

    with _store() as engine, engine.begin() as connection:
        report = import_file(connection, path.read_bytes(), format=file_format, filename=path.name, author=author,
                             dry_run=dry_run, skip_invalid=skip_invalid, context=context, encoding=encoding)
    if as_json:
        console.print_json(json.dumps(report.as_json()))
    else:
        console.print(report.message(), soft_wrap=True, markup=False)
        for warning in report.warnings:
            console.print(f"warning: {warning}", soft_wrap=True, markup=False)
        for invalid in report.invalid[:50]:
            console.print(f"  row {invalid.row}: {'; '.join(invalid.problems)}", soft_wrap=True, markup=False)
        if len(report.invalid) > 50:
            console.print(f"  ... and {len(report.invalid) - 50} more invalid rows (see --json)")
    if report.blocked or (report.invalid and not report.mappings):
        raise typer.Exit(1)


# --- reports and the audit trail (auditors) ------------------------------------------------------

report_app = typer.Typer(help="Reports for auditors: unmapped codes, coverage.", no_args_is_help=True)
app.add_typer(report_app, name="report")
audit_app = typer.Typer(help="The audit trail: query it, verify its hash chain.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


def _write_report(found, output: Optional[Path]) -> None:
    """Report data as JSON to standard output (or --out), or an exported file's bytes."""
    import orjson

    from .report_routes import Exported

    content = found.content if isinstance(found, Exported) else orjson.dumps(found) + b"\n"
    if output is None:
        typer.echo(content.decode("utf-8"), nl=False)
        return
    output.write_bytes(content)
    console.print(f"wrote {output} ({len(content):,} bytes)")


def _report_format(file_format: str, output: Optional[Path], allowed: tuple[str, ...]) -> str:
    chosen = file_format.strip().lower()
    if chosen not in allowed:
        errors.print(f"[bold red]error:[/] --format must be one of {', '.join(allowed)}, not {file_format!r}")
        raise typer.Exit(2)
    if chosen == "xlsx" and output is None:
        errors.print("[bold red]error:[/] an XLSX report needs --out FILE")
        raise typer.Exit(2)
    return chosen


@report_app.command("unmapped")
@_domain_errors
def report_unmapped(
    file_format: Annotated[str, typer.Option("--format", help="csv, xlsx or json.")] = "csv",
    since: Annotated[Optional[str], typer.Option(help="Seen on or after: YYYY-MM-DD or an ISO date-time.")] = None,
    until: Annotated[Optional[str], typer.Option(help="Seen on or before: YYYY-MM-DD or an ISO date-time.")] = None,
    sender: Annotated[Optional[str], typer.Option(help="Only entries this sender sent.")] = None,
    context: Annotated[Optional[str], typer.Option(help="allergy or medication.")] = None,
    state: Annotated[Optional[str], typer.Option(help="open, claimed or decided.")] = None,
    source_system: Annotated[Optional[str], typer.Option(help="Only this source system (URI or name).")] = None,
    output: Annotated[Optional[Path], typer.Option("--out", "--output", "-o", help="Write here (default: standard output).")] = None,
) -> None:
    """Every unmapped or unvalidated entry ever queued: original code and text, senders, occurrences, decision.

    Example: `termmap report unmapped --format xlsx --since 2026-01-01 --out unmapped.xlsx`
    """
    from .report_routes import parse_when, unmapped_export

    chosen = _report_format(file_format, output, ("csv", "xlsx", "json"))
    with _store() as engine, engine.connect() as connection:
        found = unmapped_export(connection, chosen, since=parse_when(since, "--since"),
                                until=parse_when(until, "--until"), sender=sender, context=context, state=state,
                                source_system=source_system)
    _write_report(found, output)


@report_app.command("coverage")
@_domain_errors
def report_coverage(
    by: Annotated[str, typer.Option(help="day or week (ISO weeks, from Monday).")] = "day",
    file_format: Annotated[str, typer.Option("--format", help="table, csv, xlsx or json.")] = "table",
    since: Annotated[Optional[str], typer.Option(help="First day: YYYY-MM-DD.")] = None,
    until: Annotated[Optional[str], typer.Option(help="Last day: YYYY-MM-DD.")] = None,
    source_system: Annotated[Optional[str], typer.Option(help="Only this source system (URI or name).")] = None,
    sender: Annotated[Optional[str], typer.Option(help="Only this sender.")] = None,
    context: Annotated[Optional[str], typer.Option(help="allergy or medication.")] = None,
    output: Annotated[Optional[Path], typer.Option("--out", "--output", "-o", help="Write here (default: standard output).")] = None,
) -> None:
    """Translations answered mapped / unvalidated / unmapped per day or week, source system and sender.

    Example: `termmap report coverage --by week --since 2026-01-01`
    """
    from mappings.reports import coverage_report

    from .report_routes import coverage_export, parse_when

    chosen = _report_format(file_format, output, ("table", "csv", "xlsx", "json"))
    filters = dict(by=by, since=parse_when(since, "--since"), until=parse_when(until, "--until"),
                   source_system=source_system, sender=sender, context=context)
    with _store() as engine, engine.connect() as connection:
        if chosen != "table":
            _write_report(coverage_export(connection, chosen, **filters), output)
            return
        coverage = coverage_report(connection, **filters)
    from rich.text import Text

    table = Table(coverage.by, "source system", "sender", "mapped", "unvalidated", "unmapped", "total", "mapped %")
    for row in (*coverage.rows, *coverage.periods, coverage.total):
        subtotal = row.level in ("period", "total")
        style = "bold" if subtotal else ""
        table.add_row(Text(str(row.period or "total"), style), Text("all" if subtotal else row.source_system or "(none)",
                      style), Text("all" if subtotal else row.sender or "(none)", style), f"{row.mapped:,}",
                      f"{row.unvalidated:,}", f"{row.unmapped:,}", f"{row.total:,}", f"{100 * row.mapped_share:.1f}")
    console.print(table)


@audit_app.command("query")
@_domain_errors
def audit_query_command(
    actor: Annotated[Optional[str], typer.Option(help="Who: an API key's name, `cli`, a reviewer.")] = None,
    since: Annotated[Optional[str], typer.Option(help="On or after: YYYY-MM-DD or an ISO date-time.")] = None,
    until: Annotated[Optional[str], typer.Option(help="On or before: YYYY-MM-DD or an ISO date-time.")] = None,
    action: Annotated[Optional[str], typer.Option(help="e.g. mapping.version, or a prefix: review.*")] = None,
    subject: Annotated[Optional[str], typer.Option(help="A subject id: mapping, review entry, key, release.")] = None,
    code: Annotated[Optional[str], typer.Option(help="A code appearing in the event (its before / after).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (with before and after).")] = False,
) -> None:
    """Audit events, newest first, filtered by actor, time, action, subject or code.

    Example: `termmap audit query --actor pharm.jones --since 2026-01-01 --code 372687004`
    """
    from mappings.reports import as_json as jsonable
    from mappings.reports import audit_query

    from .report_routes import parse_when

    with _store() as engine, engine.connect() as connection:
        page = audit_query(connection, actor=actor, since=parse_when(since, "--since"),
                           until=parse_when(until, "--until"), action=action, subject=subject, code=code,
                           limit=limit, offset=offset)
    if as_json:
        typer.echo(json.dumps(jsonable(page), ensure_ascii=False))
        return
    from rich.text import Text

    table = Table("seq", "at (UTC)", "actor", "action", "subject", "after")
    for event in page.events:
        after = json.dumps(event.after, ensure_ascii=False) if event.after is not None else ""
        cells = (str(event.seq), f"{event.at:%Y-%m-%d %H:%M:%S}", event.actor, event.action,
                 f"{event.subject_type} {event.subject_id}", after[:80] + ("…" if len(after) > 80 else ""))
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)
    if page.next_offset is not None:
        console.print(f"more: --offset {page.next_offset}")


@audit_app.command("verify")
@_domain_errors
def audit_verify(
    head: Annotated[Optional[str], typer.Option(
        help="`seq:hash` an earlier verification printed: the chain must still hold that event with that hash "
             "(catches events removed from the end).")] = None,
) -> None:
    """Recompute the audit trail's hash chain: exit 0 if intact, 1 naming the first altered or missing link.

    Prints the chain's head (`seq:hash`): keep it outside the database (a ticket, a log) and pass it to the
    next verification with --head. Example: `termmap audit verify --head 1042:9f86d081884c...`
    """
    from mappings.audit import parse_head
    from mappings.reports import verify_audit

    try:
        expected = parse_head(head) if head is not None else None
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    with _store() as engine, engine.connect() as connection:
        result = verify_audit(connection, expected)
    if result.intact:
        console.print(f"chain intact: {result.events} events; head {result.head or 'none (no events)'}",
                      soft_wrap=True)
        return
    event = result.broken
    if event is None:
        errors.print(f"chain not as recorded: {result.problem}", markup=False, soft_wrap=True)
        raise typer.Exit(1)
    errors.print(f"chain broken at event seq {event.seq} ({event.at.isoformat()}, actor {event.actor!r}, "
                 f"action {event.action}): {result.problem}; {result.checked} of {result.events} events "
                 "verified before it", markup=False, soft_wrap=True)
    raise typer.Exit(1)


hl7_app = typer.Typer(help="HL7 v2 (ER7) messages: translate their allergy and medication codes.",
                      no_args_is_help=True)
app.add_typer(hl7_app, name="hl7")


@hl7_app.command("translate")
@_domain_errors
def hl7_translate(
    files: Annotated[list[Path], typer.Argument(help="Files of messages: MLLP frames, or separated by blank lines.",
                                                exists=True, dir_okay=False)],
    target_system: Annotated[str, typer.Option("--target-system", help="e.g. http://snomed.info/sct")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Directory for the translated files "
                                                "(default: messages to stdout)", file_okay=False)] = None,
    local_system: Annotated[Optional[str], typer.Option(
        help="System of `L` / `99zzz` codes (default: per MSH-4 from TERMMAP_HL7V2_LOCAL_SYSTEMS).")] = None,
    original_first: Annotated[bool, typer.Option(help="Keep the original in components 1-3.")] = False,
) -> None:
    """Translate every message in FILES, each in its own transaction, as `POST /v1/hl7v2/translate` does.

    A translated file keeps its framing: MLLP frames stay frames, other messages are separated by a blank
    line. An unreadable message is reported and left out. Example:
    `termmap hl7 translate in.hl7 --target-system http://snomed.info/sct --out translated/`
    """
    import sys

    from mappings.cache import TranslationCache
    from mappings.hl7v2 import Hl7v2Error, Outcome, split_messages, translate_message

    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    totals = {outcome: 0 for outcome in Outcome}
    table = Table("file", "messages", "rejected", *(o.value for o in Outcome))
    cache = TranslationCache()  # a file repeats its codes: each decided once, until a decision or release elsewhere
    with _store() as engine:
        for path in files:
            data = path.read_bytes()
            framed = b"\x0b" in data
            written: list[bytes] = []
            counts = {outcome: 0 for outcome in Outcome}
            rejected = 0
            for number, raw in enumerate(split_messages(data), 1):
                cache.refresh(engine)  # what the service's workers do: see decisions made meanwhile
                try:
                    with engine.begin() as connection:
                        result = translate_message(connection, raw, target_system, local_system=local_system,
                                                   local_systems=get_settings().hl7v2_local_systems,
                                                   original_first=original_first, cache=cache)
                except Hl7v2Error as exc:
                    rejected += 1
                    errors.print(f"{path.name} message {number}: rejected ({exc.segment}-{exc.field_number}): {exc}",
                                 markup=False)
                    continue
                written.append(result.message)
                for outcome, count in result.counts.items():
                    counts[outcome] += count
                    totals[outcome] += count
            joined = b"".join(b"\x0b" + m + b"\x1c\r" for m in written) if framed else b"\n\n".join(written)
            if out is not None:
                (out / path.name).write_bytes(joined)
            else:
                sys.stdout.buffer.write(joined + (b"" if framed else b"\n"))
            table.add_row(path.name, str(len(written) + rejected), str(rejected), *(str(counts[o]) for o in Outcome))
    (console if out is not None else errors).print(table)


@app.command()
@_domain_errors
def backup(
    dest: Annotated[Path, typer.Argument(help="The backup file to write (SQLite: a database file; PostgreSQL: a "
                                              "pg_dump custom-format archive).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite DEST if it exists.")] = False,
) -> None:
    """Back up the store while the service keeps running: a consistent copy, checked, with its row counts.

    SQLite: the sqlite3 online backup API, then `PRAGMA integrity_check` on the copy. PostgreSQL:
    `pg_dump --format=custom` of the store's schema (needs pg_dump of the server's major version).
    Example: `termmap backup /var/backups/termmap-$(date +%F).db`
    """
    from terminology.backup import backup as run_backup

    report = run_backup(get_settings().database_url, dest, force=force)
    console.print(report.summary(), soft_wrap=True, markup=False)
    for table, count in report.rows.items():
        console.print(f"  {table:<22} {count:>12,}")


@app.command()
@_domain_errors
def restore(
    src: Annotated[Path, typer.Argument(help="A file written by `termmap backup`.")],
    force: Annotated[bool, typer.Option("--force", help="Replace a store that already holds rows.")] = False,
) -> None:
    """Restore a backup into the store named by TERMMAP_DATABASE_URL (stop the service first).

    A store that holds rows is replaced only with --force. PostgreSQL: `pg_restore` in one transaction,
    into the URL's schema. Run `termmap init` afterwards if the backup is from an older termmap.
    Example: `TERMMAP_DATABASE_URL=sqlite:///termmap.db termmap restore /var/backups/termmap-2026-01-31.db`
    """
    from terminology.backup import restore as run_restore

    report = run_restore(get_settings().database_url, src, force=force)
    console.print(report.summary(), soft_wrap=True, markup=False)
    for table, count in report.rows.items():
        console.print(f"  {table:<22} {count:>12,}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the HTTP API (JSON and FHIR) with uvicorn.

    Example: `termmap serve --host 0.0.0.0 --port 8000 --workers 2`
    """
    import uvicorn

    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="info",
                access_log=False)  # termmap logs each request itself, with its request id


if __name__ == "__main__":  # pragma: no cover
    app()
