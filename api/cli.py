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
from sqlalchemy import Engine

from terminology.database import create_store_engine, migrate, require_current_schema
from terminology.errors import LoadError, TermmapError
from terminology.model import LoadReport
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
    console.print(f"store ready at {get_settings().database_url} (schema {revision})")


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
                batch_size=settings.load_batch_size,
            )
        )
    _report(report)


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
            lambda progress: load(engine, path, progress=progress, batch_size=settings.load_batch_size)
        )
    _report(report)


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
                progress=progress, batch_size=settings.load_batch_size,
            )
        )
    _report(report)


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
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
) -> None:
    """Rank concepts whose terms resemble TEXT. Suggestions only: a score never decides a mapping.

    Example: `termmap search "amoxicilin" --system rxnorm`
    """
    with _store() as engine, engine.connect() as connection:
        found = search_store(connection, text, system, limit=limit)
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
        reports = [load_rf2(engine, DEMO / "snomed", language=settings.snomed_language),
                   load_rrf(engine, DEMO / "rxnorm" / "RxNorm_demo_09022025")]
        for table, system in DEMO_LOCAL_TABLES:
            columns = ColumnMap.from_file(DEMO / "local" / f"{table}.columns.yaml")
            reports.append(load_local_table(engine, DEMO / "local" / f"{table}.csv", system, columns))
    for report in reports:
        _report(report)
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
