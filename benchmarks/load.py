"""Time the termmap loaders on release-sized files against a floor measured in the same run.

    python -m benchmarks.load [--scale 1.0] [--backend sqlite|postgresql|both] [--out benchmarks/out]
                              [--system rf2|rxnorm|both] [--repeat N] [--profile]

For SNOMED CT (RF2) and RxNorm (RRF), one after the other:

- **floor**: the `sqlite3` CLI `.import`s the main files (RF2 Concept, Description, Relationship,
  Language; RRF RXNCONSO, RXNREL, RXNSAT) into plain tables of the files' own columns, then builds
  one index for each index termmap's tables have, on the matching columns (`FLOORS` lists them).
  Same pragmas as the store (WAL, synchronous=NORMAL, 256 MB cache). No parsing, checking or
  normalising: the least work that gets these rows into SQLite, searchable the way termmap searches.
  With `--backend postgresql`, `psql \\copy` into plain tables plus the same indexes is the floor too.
- **floor-kept**: the same, of only the rows the loader stores something for (`FloorTable.keep`:
  active RF2 rows; RXNORM relationships and RXNORM NDCs of RXNREL/RXNSAT), filtered untimed
  beforehand. The ratio to it (`x kept`) is the fairer one where a loader passes over much of a
  file, as the RxNorm loader does; the targets are judged against the floor, as specified.
- **termmap**: the loader (`load_rf2`, `load_rxnorm`) in a fresh Python process on a fresh, migrated
  store: a new SQLite file, or a new PostgreSQL schema (dropped afterwards).

Each is timed wall-clock around its own process (so termmap's times include starting Python and
importing SQLAlchemy), with peak RSS and user + system CPU seconds from `/usr/bin/time -v` (or
`getrusage` of a dedicated child); CPU seconds are the steadier figure on a shared machine.
Rows/s counts the rows of the files read, so rows/s and time ratios tell the same story. Files are
generated into OUT on first use (`benchmarks.generate`, deterministic) and reused afterwards.
Results: a table on stdout and `OUT/load-results.json`. Targets are reported, never asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

from benchmarks.generate import DEFAULT_SEED, MANIFEST, RF2_HEADERS, RRF_COLUMNS

__all__ = ["FLOORS", "TARGETS", "Measurement", "main"]

PROJECT = Path(__file__).resolve().parent.parent
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PSQL = ("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-d", "test")

#: What is reported against (never asserted): per full load.
TARGETS = {"seconds": 60.0, "ratio_to_floor": 2.5, "peak_rss_mb": 1024.0}

#: The pragmas termmap's SQLite store runs with (terminology.database.SQLITE_PRAGMAS), minus the ones
#: that do not apply to a one-connection import (foreign keys, busy timeout).
_FLOOR_PRAGMAS = (
    "PRAGMA journal_mode=WAL;", "PRAGMA synchronous=NORMAL;", "PRAGMA cache_size=-262144;",
    "PRAGMA temp_store=MEMORY;",
)


@dataclass(frozen=True)
class FloorTable:
    """A file imported as is, and the indexes that mirror termmap's indexes on the rows it becomes."""

    table: str
    file: str  # key of the file in the generator's manifest
    columns: tuple[str, ...]
    header: bool
    #: (columns, unique, the termmap index it stands for)
    indexes: tuple[tuple[tuple[str, ...], bool, str], ...] = ()
    #: for the kept-rows floor: the rows the loader stores something for (None: every row)
    keep: Callable[[list[str]], bool] | None = None


FLOORS = {
    "rf2": (
        FloorTable("concept", "concept", RF2_HEADERS["concept"], True, (
            (("id",), True, "concepts (release_id, code) unique"),
        )),
        FloorTable("description", "description", RF2_HEADERS["description"], True, (
            (("conceptId",), False, "designations (release_id, code)"),
            (("term",), False, "designations (release_id, term_norm)"),
        ), keep=lambda row: row[2] == "1"),
        FloorTable("relationship", "relationship", RF2_HEADERS["relationship"], True, (
            (("sourceId", "typeId"), False, "relationships (release_id, source_code, type)"),
            (("destinationId", "typeId"), False, "relationships (release_id, target_code, type)"),
        ), keep=lambda row: row[2] == "1"),
        # termmap keeps no language table: the refset becomes designations.preferred
        FloorTable("language", "language", RF2_HEADERS["language"], True, keep=lambda row: row[2] == "1"),
    ),
    "rxnorm": (
        FloorTable("rxnconso", "RXNCONSO", (*RRF_COLUMNS["RXNCONSO"], "_end"), False, (
            (("RXCUI",), False, "concepts / designations (release_id, code)"),
            (("STR",), False, "designations (release_id, term_norm)"),
            (("SAB", "CODE"), False, "crosswalks (release_id, other_system, other_code)"),
        )),
        FloorTable("rxnrel", "RXNREL", (*RRF_COLUMNS["RXNREL"], "_end"), False, (
            (("RXCUI2", "RELA"), False, "relationships (release_id, source_code, type)"),
            (("RXCUI1", "RELA"), False, "relationships (release_id, target_code, type)"),
        ), keep=lambda row: row[10] == "RXNORM" and row[7] != ""),
        FloorTable("rxnsat", "RXNSAT", (*RRF_COLUMNS["RXNSAT"], "_end"), False, (
            (("RXCUI",), False, "crosswalks (release_id, code)"),
            (("ATN", "ATV"), False, "crosswalks (release_id, other_system, other_code)"),
        ), keep=lambda row: row[8] == "NDC" and row[9] == "RXNORM"),
    ),
}

#: The files each loader reads (its input rows), by the generator's manifest keys.
_LOADER_FILES = {
    "rf2": ("concept", "description", "relationship", "language", "association"),
    "rxnorm": ("RXNCONSO", "RXNREL", "RXNSAT", "RXNCUI", "RXNSAB"),
}
_LOADERS = {"rf2": ("loaders.rf2", "load_rf2"), "rxnorm": ("loaders.rxnorm_rrf", "load_rxnorm")}
_LABELS = {"rf2": "SNOMED CT RF2", "rxnorm": "RxNorm RRF"}


@dataclass
class Measurement:
    system: str  # rf2 | rxnorm
    backend: str  # sqlite | postgresql
    method: str  # floor | termmap
    rows_read: int
    seconds: float
    peak_rss_mb: float | None
    cpu_seconds: float | None = None
    rows_per_second: float = 0.0
    ratio_to_floor: float | None = None
    ratio_to_kept_floor: float | None = None
    #: wall time of the load call alone (termmap), and of the import and index phases (floor)
    phases: dict[str, float] = field(default_factory=dict)
    rows_written: dict[str, int] = field(default_factory=dict)
    store_mb: float | None = None
    load_average: float | None = None
    note: str = ""

    def __post_init__(self) -> None:
        self.rows_per_second = round(self.rows_read / self.seconds) if self.seconds else 0.0


# --------------------------------------------------------------------------------------------
# Running and measuring a process


@dataclass
class _Run:
    seconds: float  # wall clock
    cpu_seconds: float | None  # user + system of the process and its children (not a database server's)
    peak_rss_mb: float | None
    stdout: str


def _run_measured(command: list[str], *, stdin: str | None = None, env: dict | None = None) -> _Run:
    """Run `command` and measure it. Raises with its stderr if it fails."""
    time_binary = shutil.which("time", path="/usr/bin:/bin")
    if time_binary:
        wrapped = [time_binary, "-v", *command]
    else:  # a dedicated child whose RUSAGE_CHILDREN is the measured process alone
        probe = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
                 "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
                 "print('Maximum resident set size (kbytes):', u.ru_maxrss, file=sys.stderr); "
                 "print('User time (seconds):', u.ru_utime, file=sys.stderr); "
                 "print('System time (seconds):', u.ru_stime, file=sys.stderr); sys.exit(rc)")
        wrapped = [sys.executable, "-c", probe, *command]
    started = time.perf_counter()
    done = subprocess.run(wrapped, input=stdin, capture_output=True, text=True, env=env, cwd=PROJECT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])}... failed ({done.returncode}):\n{done.stderr[-4000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    cpu = [float(m.group(1)) for m in re.finditer(r"(?:User|System) time \(seconds\): ([\d.]+)", done.stderr)]
    return _Run(seconds, round(sum(cpu), 2) if len(cpu) == 2 else None,
                round(int(rss.group(1)) / 1024, 1) if rss else None, done.stdout)


def _marks(stdout: str) -> dict[str, float]:
    """Phase times from the `mark|name|epoch` lines a floor script prints."""
    stamps = [(m.group(1), float(m.group(2))) for m in re.finditer(r"^mark\|(\w+)\|([\d.]+)$", stdout, re.M)]
    return {name: round(stamp - previous, 2) for (_, previous), (name, stamp) in zip(stamps, stamps[1:], strict=False)}


def _size_mb(*paths: Path) -> float:
    return round(sum(path.stat().st_size for path in paths if path.exists()) / 2**20, 1)


# --------------------------------------------------------------------------------------------
# The floor


def _floor_files(system: str, release: Path, manifest: dict) -> dict[str, tuple[Path, int]]:
    """Each floor table's file and its row count."""
    return {table.table: (release / manifest["files"][table.file]["path"], manifest["files"][table.file]["rows"])
            for table in FLOORS[system]}


def _kept_files(system: str, release: Path, manifest: dict, work: Path) -> dict[str, tuple[Path, int]]:
    """Copies of the floor's files with only the rows the loader keeps (made untimed, before the floor)."""
    files = {}
    folder = work / f"kept-{system}"
    folder.mkdir(parents=True, exist_ok=True)
    for table in FLOORS[system]:
        source = release / manifest["files"][table.file]["path"]
        if table.keep is None:
            files[table.table] = (source, manifest["files"][table.file]["rows"])
            continue
        separator, kept = ("\t", 0) if table.header else ("|", 0)
        target = folder / source.name
        with (open(source, encoding="utf-8", newline="") as read,
              open(target, "w", encoding="utf-8", newline="") as write):
            if table.header:
                write.write(read.readline())
            for line in read:
                if table.keep(line.rstrip("\r\n").split(separator)):
                    write.write(line)
                    kept += 1
        files[table.table] = (target, kept)
    return files


def _sqlite_floor_script(system: str, files: dict[str, tuple[Path, int]]) -> str:
    lines = [".bail on", *_FLOOR_PRAGMAS, "SELECT 'mark|start|' || ((julianday('now') - 2440587.5) * 86400.0);"]
    for table in FLOORS[system]:
        columns = ", ".join(f'"{column}" TEXT' for column in table.columns)
        lines.append(f"CREATE TABLE {table.table} ({columns});")
    for table in FLOORS[system]:
        path = files[table.table][0]
        if table.header:
            lines += [".mode tabs", f".import --skip 1 '{path}' {table.table}"]
        else:
            lines += [".mode list", ".separator |", f".import '{path}' {table.table}"]
    lines.append(".mode list")
    lines.append("SELECT 'mark|import|' || ((julianday('now') - 2440587.5) * 86400.0);")
    for table in FLOORS[system]:
        for number, (columns, unique, _mirrors) in enumerate(table.indexes):
            kind = "UNIQUE INDEX" if unique else "INDEX"
            lines.append(f"CREATE {kind} ix_{table.table}_{number} ON {table.table} ({', '.join(columns)});")
    lines.append("SELECT 'mark|index|' || ((julianday('now') - 2440587.5) * 86400.0);")
    lines.append("PRAGMA wal_checkpoint(TRUNCATE);")
    return "\n".join(lines) + "\n"


def floor_sqlite(system: str, release: Path, manifest: dict, work: Path, *, kept: bool = False) -> Measurement:
    """`sqlite3 .import` of the main files into plain tables, then termmap's indexes on them.

    With `kept`, of only the rows the loader stores something for (filtered beforehand, untimed).
    """
    database = work / f"floor-{system}.db"
    _remove_database(database)
    sqlite3 = shutil.which("sqlite3") or "/usr/bin/sqlite3"
    files = _kept_files(system, release, manifest, work) if kept else _floor_files(system, release, manifest)
    script = _sqlite_floor_script(system, files)
    load = os.getloadavg()[0]
    run = _run_measured([sqlite3, str(database)], stdin=script)
    if kept:
        shutil.rmtree(work / f"kept-{system}", ignore_errors=True)
    rows = sum(count for _path, count in files.values())
    measured = Measurement(system, "sqlite", "floor-kept" if kept else "floor", rows, round(run.seconds, 2),
                           run.peak_rss_mb, run.cpu_seconds,
                           phases=_marks(run.stdout),
                           store_mb=_size_mb(database, Path(f"{database}-wal")), load_average=load)
    _remove_database(database)
    return measured


def floor_postgres(system: str, release: Path, manifest: dict) -> Measurement:
    """`psql \\copy` of the main files into plain tables of a new schema, then termmap's indexes on them."""
    schema = f"floor_{uuid.uuid4().hex[:10]}"
    lines = [f"CREATE SCHEMA {schema};", f"SET search_path = {schema};",
             "SELECT 'mark|start|' || extract(epoch from clock_timestamp());"]
    for table in FLOORS[system]:
        columns = ", ".join(f'"{column}" TEXT' for column in table.columns)
        lines.append(f"CREATE TABLE {table.table} ({columns});")
    for table in FLOORS[system]:
        path = release / manifest["files"][table.file]["path"]
        delimiter = "E'\\t'" if table.header else "'|'"
        header = "true" if table.header else "false"
        # CSV with a quote character that never occurs: fields are taken as they are, like .import
        lines.append(f"\\copy {table.table} FROM '{path}' WITH (FORMAT csv, DELIMITER {delimiter}, "
                     f"HEADER {header}, QUOTE E'\\x01')")
    lines.append("SELECT 'mark|import|' || extract(epoch from clock_timestamp());")
    for table in FLOORS[system]:
        for number, (columns, unique, _mirrors) in enumerate(table.indexes):
            kind = "UNIQUE INDEX" if unique else "INDEX"
            quoted = ", ".join(f'"{column}"' for column in columns)
            lines.append(f"CREATE {kind} ix_{table.table}_{number} ON {table.table} ({quoted});")
    lines.append("SELECT 'mark|index|' || extract(epoch from clock_timestamp());")
    lines.append(f"SELECT 'size|' || sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                 f"ON n.oid = c.relnamespace WHERE n.nspname = '{schema}' AND c.relkind = 'r';")
    load = os.getloadavg()[0]
    try:
        run = _run_measured([*PSQL], stdin="\n".join(lines) + "\n")
    finally:
        subprocess.run([*PSQL, "-c", f"DROP SCHEMA IF EXISTS {schema} CASCADE"], capture_output=True)
    rows = sum(manifest["files"][table.file]["rows"] for table in FLOORS[system])
    size = re.search(r"^size\|(\d+)$", run.stdout, re.M)
    return Measurement(system, "postgresql", "floor", rows, round(run.seconds, 2), None, phases=_marks(run.stdout),
                       store_mb=round(int(size.group(1)) / 2**20, 1) if size else None, load_average=load,
                       note="psql \\copy + CREATE INDEX; server-side memory not measured")


# --------------------------------------------------------------------------------------------
# termmap


def _remove_database(database: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    for lock in database.parent.glob(f"{database.name}.load-*.lock"):
        lock.unlink()


def termmap_load(
    system: str, backend: str, release: Path, manifest: dict, work: Path, profile: Path | None
) -> Measurement:
    """The loader in a fresh process on a fresh migrated store; the store is removed afterwards."""
    from sqlalchemy import create_engine, text

    from terminology.database import create_store_engine, migrate

    schema = database = None
    if backend == "sqlite":
        database = work / f"termmap-{system}.db"
        _remove_database(database)
        url = f"sqlite:///{database}"
    else:
        schema = f"tm_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    try:
        engine = create_store_engine(url)
        migrate(engine)
        engine.dispose()
        result = work / f"termmap-{system}-{backend}.json"
        job = {"system": system, "path": str(release), "url": url, "result": str(result),
               "profile": str(profile) if profile else None}
        load = os.getloadavg()[0]
        run = _run_measured([sys.executable, "-m", "benchmarks.load", "--child", json.dumps(job)])
        child = json.loads(result.read_text())
        result.unlink()
        store_mb = None
        if database is not None:
            store_mb = _size_mb(database, Path(f"{database}-wal"))
        else:
            with admin.connect() as connection:
                store_mb = round(float(connection.execute(text(
                    "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = :schema AND c.relkind = 'r'"
                ), {"schema": schema}).scalar() or 0) / 2**20, 1)
    finally:
        if database is not None:
            _remove_database(database)
        if schema is not None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()
    rows = sum(manifest["files"][name]["rows"] for name in _LOADER_FILES[system])
    return Measurement(system, backend, "termmap", rows, round(run.seconds, 2), run.peak_rss_mb, run.cpu_seconds,
                       phases={"load_call": child["seconds"],
                               "startup_and_imports": round(run.seconds - child["seconds"], 2)},
                       rows_written=child["rows"], store_mb=store_mb, load_average=load,
                       note="profiled (cProfile): times inflated" if profile else "")


def _child(job: dict) -> int:
    """Inside the measured process: one load, its time and row counts written to `job['result']`."""
    import importlib
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from terminology.database import create_store_engine

    module, name = _LOADERS[job["system"]]
    load = getattr(importlib.import_module(module), name)
    engine = create_store_engine(job["url"])
    started = time.perf_counter()
    if job.get("profile"):
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        report = profiler.runcall(load, engine, Path(job["path"]))
        seconds = time.perf_counter() - started
        with open(job["profile"], "w") as handle:
            stats = pstats.Stats(profiler, stream=handle)
            where = job["url"].split("?")[0]
            handle.write(f"# cProfile of {module}.{name} on {job['path']} ({where}): {seconds:.1f} s\n")
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(35)
    else:
        report = load(engine, Path(job["path"]))
        seconds = time.perf_counter() - started
    engine.dispose()
    if report.skipped:
        logging.warning("%d rows skipped, e.g. %s", len(report.skipped), report.skipped[:3])
    Path(job["result"]).write_text(json.dumps({"seconds": round(seconds, 2), "rows": report.rows}))
    return 0


# --------------------------------------------------------------------------------------------
# The release files


def release_folder(out: Path, system: str, scale: float) -> Path:
    return out / f"{system}-scale-{scale:g}"


def ensure_releases(out: Path, systems: list[str], scale: float, seed: int) -> dict[str, dict]:
    """The generator's manifest of each system's files, generating (in parallel) the ones missing."""
    manifests, running = {}, {}
    for system in systems:
        folder = release_folder(out, system, scale)
        manifest_path = folder / MANIFEST
        if manifest_path.exists():
            manifest = json.loads(manifest_path.read_text())
            if manifest.get("scale") == scale and manifest.get("seed") == seed:
                manifests[system] = manifest
                continue
        shutil.rmtree(folder, ignore_errors=True)
        print(f"generating {_LABELS[system]} at scale {scale:g} into {folder} ...", file=sys.stderr)
        command = [sys.executable, "-m", "benchmarks.generate", system, str(folder), "--scale", str(scale),
                   "--seed", str(seed)]
        running[system] = subprocess.Popen(command, cwd=PROJECT)
    for system, process in running.items():
        if process.wait() != 0:
            raise SystemExit(f"generating {system} failed")
        manifests[system] = json.loads((release_folder(out, system, scale) / MANIFEST).read_text())
    return manifests


# --------------------------------------------------------------------------------------------
# Report


def _machine() -> dict:
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.strip()
    sqlite_version = subprocess.run([shutil.which("sqlite3") or "/usr/bin/sqlite3", "--version"],
                                    capture_output=True, text=True).stdout.split(" ")[0]
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory": memory, "python": platform.python_version(),
            "platform": platform.platform(), "sqlite3_cli": sqlite_version}


def _postgres_version() -> str | None:
    done = subprocess.run([*PSQL, "-c", "SHOW server_version"], capture_output=True, text=True)
    return done.stdout.strip() or None if done.returncode == 0 else None


def _verdict(measurement: Measurement) -> str:
    if measurement.method != "termmap":
        return ""
    misses = []
    if measurement.seconds > TARGETS["seconds"]:
        misses.append(f">{TARGETS['seconds']:g}s")
    if measurement.ratio_to_floor is not None and measurement.ratio_to_floor > TARGETS["ratio_to_floor"]:
        misses.append(f">{TARGETS['ratio_to_floor']:g}x")
    if measurement.peak_rss_mb is not None and measurement.peak_rss_mb >= TARGETS["peak_rss_mb"]:
        misses.append(">=1GB")
    return "MISS " + " ".join(misses) if misses else "ok"


def format_table(measurements: list[Measurement]) -> str:
    header = ("system", "backend", "method", "rows read", "seconds", "CPU s", "rows/s", "peak RSS", "x floor",
              "x kept", "store", "targets")
    lines = [header]
    for m in measurements:
        lines.append((
            _LABELS[m.system], m.backend, m.method, f"{m.rows_read:,}", f"{m.seconds:.1f}",
            f"{m.cpu_seconds:.1f}" if m.cpu_seconds is not None else "-", f"{m.rows_per_second:,.0f}",
            f"{m.peak_rss_mb:.0f} MB" if m.peak_rss_mb is not None else "-",
            f"{m.ratio_to_floor:.2f}" if m.ratio_to_floor is not None else "-",
            f"{m.ratio_to_kept_floor:.2f}" if m.ratio_to_kept_floor is not None else "-",
            f"{m.store_mb:,.0f} MB" if m.store_mb is not None else "-", _verdict(m),
        ))
    widths = [max(len(str(row[i])) for row in lines) for i in range(len(header))]
    rendered = [" | ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in lines]
    rendered.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(rendered)


def _best(repeat: int, measure: Callable[[], Measurement]) -> Measurement:
    """The fastest of `repeat` runs, with the highest peak RSS seen and every run's time noted."""
    runs = [measure() for _ in range(max(repeat, 1))]
    best = min(runs, key=lambda m: m.seconds)
    if len(runs) > 1:
        rss = [m.peak_rss_mb for m in runs if m.peak_rss_mb is not None]
        best.peak_rss_mb = max(rss) if rss else None
        cpu = [m.cpu_seconds for m in runs if m.cpu_seconds is not None]
        best.cpu_seconds = min(cpu) if cpu else None
        best.note = f"best of {len(runs)}: {', '.join(f'{m.seconds:.1f}' for m in runs)} s; {best.note}".rstrip("; ")
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="release size; 1.0 = a real release (default)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--system", choices=("rf2", "rxnorm", "both"), default="both")
    parser.add_argument("--out", type=Path, default=PROJECT / "benchmarks" / "out")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure each N times; report the fastest run (and the highest peak RSS)")
    parser.add_argument("--profile", action="store_true",
                        help="run the termmap loads under cProfile (OUT/profile-*.txt); their times are inflated")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(json.loads(args.child))

    out = args.out.resolve()
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    systems = ["rf2", "rxnorm"] if args.system == "both" else [args.system]
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    manifests = ensure_releases(out, systems, args.scale, args.seed)

    started = datetime.now(timezone.utc)
    measurements: list[Measurement] = []
    for system in systems:
        release, manifest = release_folder(out, system, args.scale), manifests[system]
        floor = _best(args.repeat, partial(floor_sqlite, system, release, manifest, work))
        kept_floor = _best(args.repeat, partial(floor_sqlite, system, release, manifest, work, kept=True))
        kept_floor.ratio_to_floor = round(kept_floor.seconds / floor.seconds, 2)
        measurements += [floor, kept_floor]
        print("\n".join(format_table([floor, kept_floor]).splitlines()[-2:]), file=sys.stderr)
        for backend in backends:
            base = floor
            if backend == "postgresql":
                base = _best(args.repeat, partial(floor_postgres, system, release, manifest))
                base.ratio_to_floor = round(base.seconds / floor.seconds, 2)
                measurements.append(base)
            profile = out / f"profile-{system}-{backend}.txt" if args.profile else None
            measured = _best(args.repeat, partial(termmap_load, system, backend, release, manifest, work, profile))
            measured.ratio_to_floor = round(measured.seconds / floor.seconds, 2)
            measured.ratio_to_kept_floor = round(measured.seconds / kept_floor.seconds, 2)
            if backend == "postgresql":
                versus_copy = f"{measured.seconds / base.seconds:.2f}x the psql \\copy floor"
                measured.note = f"{measured.note}; {versus_copy}".lstrip("; ")
            measurements.append(measured)
            print(format_table([measured]).splitlines()[-1], file=sys.stderr)

    table = format_table(measurements)
    results = {
        "command": " ".join(["python -m benchmarks.load", *(argv if argv is not None else sys.argv[1:])]),
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "scale": args.scale,
        "seed": args.seed,
        "repeat": args.repeat,
        "targets": TARGETS,
        "machine": _machine(),
        "postgresql": _postgres_version() if "postgresql" in backends else None,
        "floor_definition": {
            system: [{"table": t.table, "file": t.file, "indexes": [
                {"columns": list(columns), "unique": unique, "mirrors": mirrors}
                for columns, unique, mirrors in t.indexes
            ]} for t in FLOORS[system]] for system in systems
        },
        "generated": {system: {"files": manifests[system]["files"], "seconds": manifests[system]["seconds"]}
                      for system in systems},
        "measurements": [asdict(m) | {"targets": _verdict(m)} for m in measurements],
        "table": table,
    }
    (out / "load-results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table)
    for m in measurements:
        if m.note:
            print(f"  {_LABELS[m.system]} {m.backend} {m.method}: {m.note}")
    print(f"results: {out / 'load-results.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
