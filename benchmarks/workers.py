"""Throughput of several termmap workers on one PostgreSQL store, against one worker and the bare endpoint.

    python -m benchmarks.workers [--workers 1,2] [--connections 16] [--duration 10] [--repeat 3]
                                 [--scale 1.0] [--out benchmarks/out] [--postgres-url URL]

The store is PostgreSQL (`--postgres-url`, default TERMMAP_TEST_POSTGRES_URL or the local `test`
database), in a schema of its own, `termmap_bench_s<scale>`, kept between runs: built once by loading
the generator's RF2 and RxNorm files at `--scale` (the same files `benchmarks.load` and
`benchmarks.translate` use; `--scale 0` loads the project's demo set instead); the load seconds are
recorded with it (`--rebuild` starts again). For each worker count N (`uvicorn --workers N`, every
server a subprocess on 127.0.0.1, no access log):

- **bare** `benchmarks.baseline_app:raw_app`: `orjson.loads` of the body and a constant answer. The
  ceiling of FastAPI + uvicorn with N processes on this machine.
- **cached** termmap (`api.app:create_app`) on the PostgreSQL store: one RxNorm -> SNOMED CT body that
  translates `mapped`, answered from each worker's cache after the warm-up.
- **store** termmap with the cache off (`TERMMAP_CACHE_ENTRIES=0`): distinct mapped RXCUIs in turn,
  so that every request runs the rules against PostgreSQL (the workers share the store's connections
  and its locks: what scaling out costs or gains).

wrk (1 thread, `--connections` each, `--latency`) is the load. Nothing is pinned to a CPU: N workers
must be free to spread. Measurements are taken in `--repeat` interleaved rounds (every subject at
every N, round after round) and the median round is kept. Reported: req/s and p50/p99 per subject and
N; termmap over bare at the same N; N workers over 1 worker for each subject. On a machine with C
cores, the server, PostgreSQL and wrk share them: more workers than C - 1 cannot help, and the table
says how many cores the machine has. The load average and any other pytest or benchmark process are
recorded. Results: a table on stdout and `OUT/workers-results.json`. Nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import create_engine, text

from benchmarks.generate import DEFAULT_SEED
from benchmarks.translate import (
    Measurement,
    _median_of,
    _now,
    _post,
    load_generated,
    mapped_codes,
    measure_wrk,
    serve,
    translate_body,
    translator_key,
    wait_until_idle,
    write_bodies,
)

__all__ = ["main", "store_schema"]

PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES = os.environ.get("TERMMAP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SUBJECTS = ("bare", "cached", "store")
STORE_CODES = 2_000


def store_schema(scale: float) -> str:
    return "termmap_bench_s" + f"{scale:g}".replace(".", "_")


def _url(base: str, schema: str) -> str:
    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"


def ensure_postgres_store(base: str, scale: float, seed: int, out: Path, rebuild: bool) -> tuple[str, dict]:
    """The URL of a PostgreSQL schema holding both releases at `scale` (demo set at 0), built if absent."""
    from terminology.database import create_store_engine, migrate

    schema = store_schema(scale)
    url = _url(base, schema)
    stamp = out / f"workers-store-{schema}.json"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
                                        {"s": schema}).first() is not None
            if exists and stamp.exists() and not rebuild:
                built = json.loads(stamp.read_text())
                if built.get("scale") == scale and built.get("seed") == seed:
                    engine = create_store_engine(url)
                    try:
                        migrate(engine)
                    finally:
                        engine.dispose()
                    return url, built
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        admin.dispose()
    print(f"building the PostgreSQL store {schema} (scale {scale:g}) ...", file=sys.stderr, flush=True)
    seconds: dict[str, float] = {}
    if scale == 0:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "api.cli", "demo"], cwd=PROJECT, check=True,
                       env={**os.environ, "TERMMAP_DATABASE_URL": url}, stdout=subprocess.DEVNULL)
        seconds["demo"] = round(time.perf_counter() - started, 1)
    else:
        engine = create_store_engine(url)
        try:
            migrate(engine)
            seconds = load_generated(engine, out, scale, seed)
            with engine.begin() as connection:
                connection.execute(text("ANALYZE"))
        finally:
            engine.dispose()
    built = {"scale": scale, "seed": seed, "schema": schema, "load_seconds": seconds, "built": _now()}
    stamp.write_text(json.dumps(built, indent=2) + "\n")
    return url, built


def _others() -> list[str]:
    mine = {os.getpid(), os.getppid()}
    found = subprocess.run(["pgrep", "-fa", r"pytest|benchmarks\."], capture_output=True, text=True).stdout
    return [line for line in found.splitlines() if line and int(line.split()[0]) not in mine]


def run(args: argparse.Namespace) -> dict:
    args.out.mkdir(parents=True, exist_ok=True)
    started, load_at_start, others = _now(), round(os.getloadavg()[0], 2), _others()
    url, built = ensure_postgres_store(args.postgres_url, args.scale, args.seed, args.out, args.rebuild)
    codes = mapped_codes(url, STORE_CODES)
    print(f"store {built['schema']}: {len(codes)} mapped RXCUIs picked", file=sys.stderr, flush=True)
    cached = translate_body(codes[len(codes) // 2])
    database = {"TERMMAP_DATABASE_URL": url, "TERMMAP_WARM_CANDIDATE_INDEX": "false"}
    apps = {
        "bare": ("benchmarks.baseline_app:raw_app", "/translate", False, {}),
        "cached": ("api.app:create_app", "/v1/translate", True, database),
        "store": ("api.app:create_app", "/v1/translate", True, {**database, "TERMMAP_CACHE_ENTRIES": "0"}),
    }
    rounds: dict[tuple[str, int], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="termmap-workers-bench-") as scratch, translator_key(url) as key, \
            ExitStack() as servers:
        work = Path(scratch)
        bodies = {"bare": write_bodies(work / "one.jsonl", [cached]),
                  "cached": work / "one.jsonl",
                  "store": write_bodies(work / "many.jsonl", [translate_body(code) for code in codes])}
        running = {}
        for n in args.workers:
            for subject, (app, path, factory, env) in apps.items():
                server = servers.enter_context(serve(f"{subject}-{n}", app, factory=factory, env=env, work=work,
                                                     workers=n, pin=False))
                for _ in range(4 * n):  # every worker answers once before measuring (and checks the answer)
                    answer = _post(server.url(path), cached, key).json()
                    if factory and answer.get("status") != "mapped":
                        raise SystemExit(f"{subject}-{n}: expected mapped for {cached}, got {answer}")
                running[(subject, n)] = server
        for server in running.values():
            wait_until_idle(server)
        for _ in range(args.repeat):
            for n in args.workers:
                for subject in SUBJECTS:
                    for c in args.connections:
                        rounds.setdefault((f"{subject}-{n}", c), []).append(measure_wrk(
                            f"{subject}-{n}", running[(subject, n)], apps[subject][1], bodies[subject], c,
                            args.duration, args.warmup, key, pin=False))
    measurements = [_median_of(subject, c, found) for (subject, c), found in rounds.items()]
    return _results(measurements, args, built=built, codes=len(codes), started=started,
                    load_average_at_start=load_at_start, other_processes_at_start=others)


def _find(measurements: list[Measurement], subject: str, connections: int) -> Measurement | None:
    return next((m for m in measurements if m.subject == subject and m.connections == connections), None)


def _ratio(top: Measurement | None, bottom: Measurement | None) -> float | None:
    if top is None or bottom is None or not bottom.requests_per_second:
        return None
    return round(top.requests_per_second / bottom.requests_per_second, 2)


def _results(measurements: list[Measurement], args: argparse.Namespace, **run: object) -> dict:
    first = args.workers[0]
    ratios = {}
    for n in args.workers:
        for c in args.connections:
            for subject in ("cached", "store"):
                ratios[f"{subject}-{n} / bare-{n} @{c}"] = _ratio(_find(measurements, f"{subject}-{n}", c),
                                                                   _find(measurements, f"bare-{n}", c))
            if n != first:
                for subject in SUBJECTS:
                    ratios[f"{subject}-{n} / {subject}-{first} @{c}"] = _ratio(
                        _find(measurements, f"{subject}-{n}", c), _find(measurements, f"{subject}-{first}", c))
    return {
        "benchmark": "workers", "cpus": os.cpu_count(), "python": platform.python_version(),
        "workers": args.workers, "connections": args.connections, "duration": args.duration,
        "repeat": args.repeat, "scale": args.scale, **run,
        "measurements": [m.__dict__ for m in measurements], "ratios": ratios, "finished": _now(),
    }


def format_table(results: dict) -> str:
    lines = [f"{'subject':12} {'conns':>5} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'others':>6}"]
    for m in results["measurements"]:
        lines.append(f"{m['subject']:12} {m['connections']:>5} {m['requests_per_second']:>10.1f} "
                     f"{m['p50_ms']:>8.3f} {m['p99_ms']:>8.3f} {m['errors']:>6} {m['others_cores']:>6.2f}")
    lines.append("")
    lines.extend(f"{name:32} {value}" for name, value in results["ratios"].items())
    lines.append(f"\n{results['cpus']} CPUs; load average at start {results['load_average_at_start']}; "
                 f"store {results['built']['schema']} (scale {results['scale']:g})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2", help="worker counts, the first is the reference")
    parser.add_argument("--connections", default="16", help="wrk connection counts")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each recorded wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of the warm-up run before each")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (the median is kept)")
    parser.add_argument("--scale", type=float, default=1.0, help="release size of the store; 0 = the demo set")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--rebuild", action="store_true", help="drop and load the store again")
    parser.add_argument("--out", type=Path, default=PROJECT / "benchmarks" / "out")
    args = parser.parse_args(argv)
    args.workers = [int(n) for n in args.workers.split(",")]
    args.connections = [int(c) for c in args.connections.split(",")]
    results = run(args)
    (args.out / "workers-results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(format_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
