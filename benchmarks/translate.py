"""Time termmap's translate API against two floors on the same stack, in one run.

    python -m benchmarks.translate [--scale 1.0] [--duration 10] [--repeat 3] [--out benchmarks/out]
                                   [--subjects baseline-a,baseline-b,termmap-cached,termmap-batch,termmap-store]

Every server is a `uvicorn` subprocess on 127.0.0.1 (a free port each, 1 worker, `--no-access-log`,
log level warning), stopped at the end; `wrk` (bounded runs, one thread, `--latency`,
`translate.lua`) is the load, and only ever points at 127.0.0.1. With 2 CPUs or more, the servers run
on the first and wrk (and the batch client) on the second, so that no run shares a CPU by chance. Every request carries the
`Authorization` header of a translator key made for the run (and revoked after it).

- **baseline (a)** `benchmarks.baseline_app:raw_app`: `POST /translate` does `orjson.loads` of the raw
  body and returns a constant JSON `Response`. The ceiling of FastAPI + uvicorn on this machine.
- **baseline (b)** `benchmarks.baseline_app:model_app`: the same route with a pydantic body model shaped
  like termmap's translate request, returning the constant: what a naive endpoint costs.
- **termmap** `api.app:create_app` on a release-sized SQLite store (the generator's RF2 and RxNorm files
  at `--scale`, loaded by `load_rf2` / `load_rxnorm` into a fresh migrated store, kept under OUT and
  reused, migrated to the current schema, for the same scale and seed):
  1. *cached*: one RxNorm -> SNOMED CT body that translates `mapped`, again and again (after the
     warm-up it is answered from the in-process cache) at 1 and 16 connections;
  2. *batch*: `POST /v1/translate/batch` of 10,000 items (80% mapped RXCUIs, 10% NKDA texts, 10%
     unmapped local codes with their display), timed end to end with httpx, 5 times on the same
     server (the first is cold: nothing cached yet), median reported;
  3. *store*: distinct mapped RXCUIs in turn with the cache off (`TERMMAP_CACHE_ENTRIES=0`), so every
     request runs the rules against the store, at 1 connection.

The machine may be shared, so (a), (b) and termmap cached are measured in `--repeat` interleaved
rounds (a disturbance hits all three alike) and the median round is kept; measuring starts once every
server has been idle for 2 s (termmap warms its candidate-search indexes in a background thread at
start-up, which would otherwise overlap the first rounds); every wrk run follows an
unrecorded warm-up run of the same shape, and records the cores that *other* processes used meanwhile
(all busy CPU time minus the server's, wrk's and this script's). Ratios are termmap's cached req/s over
the baselines' at the same connection count. Results: a table on stdout and
`OUT/translate-results.json`. Targets are reported, never asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import orjson

from benchmarks.generate import DEFAULT_SEED, MANIFEST

__all__ = ["TARGETS", "SUBJECTS", "WrkResult", "parse_wrk", "run_wrk", "Server", "serve", "batch_items", "main",
           "Measurement", "measure_wrk", "wait_until_idle", "mapped_codes", "translator_key", "translate_body",
           "write_bodies", "ensure_release", "ensure_store", "load_generated", "database_url"]

PROJECT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "translate.lua"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOCAL_SYSTEM = "urn:oid:2.16.840.1.113883.3.9999.7.12"  # a hospital's own allergen code table
BATCH_SIZE = 10_000
BATCH_REPEAT = 5
STORE_CODES = 2_000  # distinct mapped RXCUIs the store path cycles through

#: What is reported against (never asserted).
TARGETS = {
    "cached_ratio_to_a": 0.8,  # termmap cached req/s over baseline (a) req/s, at 1 and at 16 connections
    "cached_p50_ms": 0.25,  # at 1 connection
    "cached_p99_ms": 1.0,  # at 1 connection
    "store_p50_ms": 1.0,  # at 1 connection, cache off
    "batch_seconds": 0.5,  # 10,000 items, median of 5
}


# --------------------------------------------------------------------------------------------
# CPUs: servers on one, wrk (and this script's batch client) on another

#: (server CPUs, load-generator CPUs), or None when the machine has fewer than 2 CPUs to give. On 2 CPUs,
#: letting the scheduler place them makes one-connection figures bimodal (same CPU or not, run by run).
PINNING: tuple[set[int], set[int]] | None = None
if hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) >= 2:
    _cpus = sorted(os.sched_getaffinity(0))
    PINNING = ({_cpus[0]}, {_cpus[1]})


def _pinned(cpus: set[int] | None):
    """A `preexec_fn` that keeps a child on `cpus` (None: no pinning)."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


# --------------------------------------------------------------------------------------------
# wrk


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms) and anything that was not a 2xx answer."""

    connections: int
    seconds: float
    requests: int
    requests_per_second: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int = 0
    socket_errors: int = 0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION = re.compile(r"^([\d.]+)(us|ms|s|m|h)$")


def _ms(token: str) -> float:
    """A wrk duration (`126.00us`, `1.82ms`, `2.00s`) in milliseconds."""
    match = _DURATION.match(token.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {token!r}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def parse_wrk(output: str, connections: int) -> WrkResult:
    """The figures of a `wrk --latency` report; ValueError naming what is missing."""
    percentiles = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    total = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),", output, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if len(percentiles) < 4 or total is None or rate is None:
        raise ValueError(f"not a wrk --latency report:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkResult(
        connections=connections,
        seconds=round(_ms(total.group(2) + total.group(3)) / 1000, 2),
        requests=int(total.group(1)),
        requests_per_second=round(float(rate.group(1)), 1),
        p50_ms=round(_ms(percentiles["50"]), 3),
        p75_ms=round(_ms(percentiles["75"]), 3),
        p90_ms=round(_ms(percentiles["90"]), 3),
        p99_ms=round(_ms(percentiles["99"]), 3),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
    )


def run_wrk(url: str, bodies: Path, *, connections: int, seconds: int, threads: int = 1,
            authorization: str | None = None, pin: bool = True) -> WrkResult:
    """`wrk --latency` POSTing the lines of `bodies` in turn to `url` (127.0.0.1 only) for `seconds`.

    `authorization` is sent as the `Authorization` header of every request.
    """
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"wrk only runs against 127.0.0.1, not {url}")
    command = [WRK, f"-t{threads}", f"-c{connections}", f"-d{max(1, int(seconds))}s", "--timeout", "10s", "--latency",
               "-s", str(LUA), url, "--", str(bodies)] + ([authorization] if authorization else [])
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60,
                          preexec_fn=_pinned(PINNING[1] if PINNING and pin else None))
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return parse_wrk(done.stdout, connections)


def write_bodies(path: Path, bodies: Sequence[dict]) -> Path:
    """One compact JSON body per line, as `translate.lua` reads them."""
    path.write_bytes(b"".join(orjson.dumps(body) + b"\n" for body in bodies))
    return path


# --------------------------------------------------------------------------------------------
# Servers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """A uvicorn subprocess on 127.0.0.1."""

    name: str
    process: subprocess.Popen
    port: int
    log: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def serve(name: str, app: str, *, factory: bool = False, env: dict[str, str] | None = None,
          work: Path, ready_timeout: float = 60.0, workers: int = 1, pin: bool = True) -> Iterator[Server]:
    """`uvicorn APP` (`workers` processes, no access log, log level warning) until the block ends; stopped after.

    With `pin`, the server runs on the servers' CPU (see PINNING); several workers are left to the scheduler.
    """
    port = free_port()
    log = work / f"server-{name}.log"
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--workers",
               str(workers), "--no-access-log", "--log-level", "warning"] + (["--factory"] if factory else [])
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=PROJECT, env={**os.environ, **(env or {})}, stdout=output,
                                   preexec_fn=_pinned(PINNING[0] if PINNING and pin else None),
                                   stderr=subprocess.STDOUT)
    server = Server(name, process, port, log)
    try:
        _wait_until_listening(server, ready_timeout)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_listening(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited ({server.process.returncode}):\n{server.log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{server.name} did not listen on {server.port} within {timeout:g} s")


def _headers(authorization: str | None) -> dict[str, str]:
    return {"content-type": "application/json", **({"authorization": authorization} if authorization else {})}


def _post(url: str, body: dict | list, authorization: str | None = None, timeout: float = 300.0):
    import httpx

    response = httpx.post(url, content=orjson.dumps(body), headers=_headers(authorization), timeout=timeout)
    response.raise_for_status()
    return response


# --------------------------------------------------------------------------------------------
# The store


def release_folder(out: Path, system: str, scale: float) -> Path:
    """Where `benchmarks.load` keeps the generated files too, so the two benchmarks share them."""
    return out / f"{system}-scale-{scale:g}"


def ensure_release(out: Path, system: str, scale: float, seed: int) -> Path:
    """The generated release folder, generated (`python -m benchmarks.generate`) if absent."""
    folder = release_folder(out, system, scale)
    manifest = folder / MANIFEST
    if manifest.exists():
        found = json.loads(manifest.read_text())
        if found.get("scale") == scale and found.get("seed") == seed:
            return folder
        raise SystemExit(f"{folder} holds scale {found.get('scale')} seed {found.get('seed')}, not {scale:g} "
                         f"seed {seed}: move it away (benchmarks.load may be using it)")
    print(f"generating {system} at scale {scale:g} into {folder} ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "benchmarks.generate", system, str(folder), "--scale", str(scale),
                    "--seed", str(seed)], cwd=PROJECT, check=True)
    return folder


def load_generated(engine, out: Path, scale: float, seed: int) -> dict[str, float]:
    """Load the generator's RF2 and RxNorm releases at `scale` (generated if absent) into the migrated store of
    `engine`; the seconds each load took."""
    from loaders.rf2 import load_rf2
    from loaders.rxnorm_rrf import load_rxnorm

    folders = {system: ensure_release(out, system, scale, seed) for system in ("rf2", "rxnorm")}
    seconds = {}
    for system, load in (("rf2", load_rf2), ("rxnorm", load_rxnorm)):
        started = time.perf_counter()
        load(engine, folders[system])
        seconds[system] = round(time.perf_counter() - started, 1)
    return seconds


def ensure_store(out: Path, scale: float, seed: int) -> tuple[Path, dict]:
    """A SQLite store holding both releases at `scale`, built once (into a temporary name, then renamed)."""
    store = out / f"translate-store-scale-{scale:g}.db"
    stamp = store.with_suffix(".json")
    if store.exists() and stamp.exists():
        built = json.loads(stamp.read_text())
        if built.get("scale") == scale and built.get("seed") == seed:
            from terminology.database import create_store_engine, migrate

            engine = create_store_engine(f"sqlite:///{store}")
            try:
                built["schema"] = migrate(engine)  # a store kept from an older checkout gets the new tables
            finally:
                engine.dispose()
            return store, built
    from sqlalchemy import text

    from terminology.database import create_store_engine, migrate

    building = store.with_name(store.name + ".building")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{building}{suffix}").unlink(missing_ok=True)
    print(f"building the store {store} (scale {scale:g}) ...", file=sys.stderr, flush=True)
    engine = create_store_engine(f"sqlite:///{building}")
    try:
        migrate(engine)
        seconds = load_generated(engine, out, scale, seed)
        with engine.connect() as connection:
            built_schema = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.execute(text("ANALYZE"))
            connection.commit()
    finally:
        engine.dispose()
    for suffix in ("-wal", "-shm"):
        Path(f"{building}{suffix}").unlink(missing_ok=True)
    building.replace(store)
    built = {"scale": scale, "seed": seed, "load_seconds": seconds, "built": _now(),
             "size_mb": round(store.stat().st_size / 2**20, 1), "schema": built_schema}
    stamp.write_text(json.dumps(built, indent=2) + "\n")
    return store, built


def database_url(store: Path | str) -> str:
    """A store given as a SQLite file, or already as a database URL."""
    return f"sqlite:///{store}" if isinstance(store, Path) else store


def mapped_codes(store: Path | str, wanted: int) -> list[str]:
    """Up to `wanted` RXCUIs (spread over the release) that translate to SNOMED CT as `mapped` (medication)."""
    from sqlalchemy import select

    from mappings.engine import translate
    from mappings.translation import Context, SourceCoding, Status, TranslateRequest
    from terminology import schema
    from terminology.database import create_store_engine
    from terminology.releases import active_release_ids

    engine = create_store_engine(database_url(store))
    try:
        with engine.connect() as connection:
            release = active_release_ids(connection)[RXNORM]
            x, c = schema.crosswalks, schema.concepts
            candidates = sorted(set(connection.execute(
                select(x.c.code).join(c, (c.c.release_id == x.c.release_id) & (c.c.code == x.c.code))
                .where(x.c.release_id == release, x.c.other_system == SNOMED, c.c.active.is_(True),
                       x.c.kind.not_like("%:suppressed"))
            ).scalars()), key=int)
            step = max(1, len(candidates) // (wanted * 2))
            chosen = []
            for code in candidates[::step]:
                request = TranslateRequest(SourceCoding(RXNORM, code), None, SNOMED, Context.MEDICATION)
                if translate(connection, request).status is Status.MAPPED:
                    chosen.append(code)
                    if len(chosen) == wanted:
                        break
            connection.rollback()
    finally:
        engine.dispose()
    if not chosen:
        raise SystemExit(f"no RXCUI of {store} translates to SNOMED CT as mapped")
    return chosen


@contextmanager
def translator_key(store: Path | str) -> Iterator[str]:
    """`Bearer <key>` of a translator API key made in `store` for this run, revoked afterwards."""
    from api.auth import Role, create_key, revoke_key
    from terminology.database import create_store_engine

    engine = create_store_engine(database_url(store))
    try:
        with engine.begin() as connection:
            record, key = create_key(connection, Role.TRANSLATOR, "benchmarks.translate", "benchmarks.translate")
        yield f"Bearer {key}"
    finally:
        with engine.begin() as connection:
            revoke_key(connection, record.id, revoked_by="benchmarks.translate")
        engine.dispose()


def translate_body(rxcui: str) -> dict:
    return {"source": {"system": RXNORM, "code": rxcui}, "target_system": SNOMED, "context": "medication"}


NKDA_TEXTS = ("NKDA", "nkda", "No known drug allergies", "No Known Drug Allergy", "NKA", "No known allergies")


def batch_items(codes: Sequence[str], size: int = BATCH_SIZE, seed: int = 7) -> list[dict]:
    """A feed-like batch: 80% mapped RXCUIs (medication), 10% NKDA texts, 10% unmapped local codes (allergy).

    Codes repeat as in a real feed (drawn from `codes`); the local codes are 200 distinct ones, each
    with the sender's display, which termmap cannot map: each is answered `unmapped` with candidates
    and counted on its review-queue entry.
    """
    pick = random.Random(seed)
    items = []
    for index in range(size):
        roll = pick.random()
        if roll < 0.8:
            items.append(translate_body(pick.choice(codes)))
        elif roll < 0.9:
            items.append({"text": pick.choice(NKDA_TEXTS), "target_system": SNOMED, "context": "allergy",
                          "sender": "adt-feed"})
        else:
            local = pick.randrange(200)
            items.append({"source": {"system": LOCAL_SYSTEM, "code": f"ALG{local:04d}",
                                     "display": f"Hospital allergen list item {local}"},
                          "target_system": SNOMED, "context": "allergy", "sender": "adt-feed"})
    return items


# --------------------------------------------------------------------------------------------
# The run


@dataclass
class Measurement:
    """One line of the results table: the median of the rounds (each round in `rounds`)."""

    subject: str  # baseline-a, baseline-b, termmap-cached, termmap-store, termmap-batch
    connections: int | None
    requests_per_second: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    seconds: float | None = None  # batch: the median
    errors: int = 0
    #: Cores used by other processes (not the server, wrk or this script) during the recorded runs: the
    #: highest of the rounds. Above ~0.2 the figures were disturbed.
    others_cores: float | None = None
    load_average: float | None = None
    rounds: list[dict] = field(default_factory=list)
    detail: dict = field(default_factory=dict)


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


_TICKS = os.sysconf("SC_CLK_TCK")


def _busy_ticks() -> int:
    """CPU ticks spent busy by the whole machine so far (`/proc/stat`)."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in stat.readline().split()[1:9])
    return user + nice + system + irq + softirq + steal


def _process_ticks(pid: int) -> int:
    """CPU ticks used by `pid` and its live descendants (uvicorn's worker processes, with `--workers N`)."""
    total = 0
    for one in [pid, *_descendants(pid)]:
        try:
            with open(f"/proc/{one}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # exited meanwhile
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as children:
                    kids = [int(k) for k in children.read().split()]
            except FileNotFoundError:
                continue
            found.extend(kids)
            todo.extend(kids)
    return found


class _OtherWork:
    """Cores the rest of the machine used while a measurement ran: all busy CPU time, minus the
    server's, wrk's (a reaped child) and this process's own."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def __enter__(self) -> _OtherWork:
        self._start = (time.monotonic(), _busy_ticks(), _process_ticks(self.server_pid),
                       resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF))
        return self

    def __exit__(self, *_exc) -> None:
        started, busy, server, children, own = self._start
        children_now, own_now = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
        mine = (_process_ticks(self.server_pid) - server) / _TICKS + sum(
            getattr(now, f) - getattr(then, f) for now, then in ((children_now, children), (own_now, own))
            for f in ("ru_utime", "ru_stime"))
        elapsed = time.monotonic() - started
        self.cores = round(max(0.0, ((_busy_ticks() - busy) / _TICKS - mine) / elapsed), 2)


def measure_wrk(subject: str, server: Server, path: str, bodies: Path, connections: int, seconds: int,
                warmup: int, authorization: str | None, pin: bool = True) -> dict:
    """A warm-up run, then the recorded run, of wrk against `server`: one round."""
    url = server.url(path)
    run_wrk(url, bodies, connections=connections, seconds=warmup, authorization=authorization, pin=pin)
    load = _load()
    with _OtherWork(server.process.pid) as others:
        result = run_wrk(url, bodies, connections=connections, seconds=seconds, authorization=authorization, pin=pin)
    print(f"  {subject:16} c={connections:<3} {result.requests_per_second:9.1f} req/s  p50 {result.p50_ms:.3f} ms  "
          f"p99 {result.p99_ms:.3f} ms  errors {result.errors}  (other work {others.cores:.2f} cores)",
          file=sys.stderr, flush=True)
    return {**asdict(result), "load_average": load, "others_cores": others.cores}


def wait_until_idle(server: Server, *, below: float = 0.05, timeout: float = 900.0) -> float:
    """Seconds until `server` used less than `below` of a core for two seconds running (start-up work such as
    warming the candidate-search indexes in a background thread must not overlap a measurement)."""
    started = time.monotonic()
    quiet = 0
    while quiet < 2:
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{server.name} still busy after {timeout:g} s")
        before = _process_ticks(server.process.pid)
        time.sleep(1.0)
        quiet = quiet + 1 if (_process_ticks(server.process.pid) - before) / _TICKS < below else 0
    waited = round(time.monotonic() - started, 1)
    print(f"  {server.name} idle after {waited:g} s", file=sys.stderr, flush=True)
    return waited


def _median_of(subject: str, connections: int, rounds: list[dict]) -> Measurement:
    def median(name: str) -> float:
        return round(statistics.median(r[name] for r in rounds), 3)

    return Measurement(subject, connections, median("requests_per_second"), median("p50_ms"), median("p99_ms"),
                       errors=sum(r["non_2xx"] + r["socket_errors"] for r in rounds),
                       others_cores=max(r["others_cores"] for r in rounds),
                       load_average=max(r["load_average"] for r in rounds), rounds=rounds)


def measure_batch(server: Server, items: list[dict], repeat: int, authorization: str | None) -> Measurement:
    """`repeat` timed POSTs of the batch (one client, kept alive); the median, and every time."""
    import httpx

    body = orjson.dumps({"items": items})
    times, statuses = [], Counter()
    load = _load()
    own_cpus = os.sched_getaffinity(0) if PINNING else None
    if PINNING:
        os.sched_setaffinity(0, PINNING[1])  # the client on the load generator's CPU, as wrk is
    with httpx.Client(timeout=600.0) as client, _OtherWork(server.process.pid) as others:
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.post(server.url("/v1/translate/batch"), content=body, headers=_headers(authorization))
            response.read()
            times.append(time.perf_counter() - started)
            response.raise_for_status()
            statuses = Counter(a.get("status", "error") for a in orjson.loads(response.content)["items"])
    if own_cpus is not None:
        os.sched_setaffinity(0, own_cpus)
    median = statistics.median(times)
    print(f"  {'termmap-batch':16} {len(items)} items: median {median:.3f} s (each: "
          f"{', '.join(f'{t:.3f}' for t in times)}; other work {others.cores:.2f} cores)", file=sys.stderr, flush=True)
    return Measurement("termmap-batch", 1, seconds=round(median, 3), others_cores=others.cores, load_average=load,
                       detail={
        "items": len(items), "repeat": repeat, "seconds_each": [round(t, 3) for t in times],
        "first_is_cold": True, "items_per_second_median": round(len(items) / median),
        "answers": dict(sorted(statuses.items())),
        "request_mb": round(len(body) / 2**20, 2), "response_mb": round(len(response.content) / 2**20, 2),
    })


def _check_answer(server: Server, body: dict, status: str, authorization: str) -> None:
    answer = _post(server.url("/v1/translate"), body, authorization).json()
    if answer.get("status") != status:
        raise SystemExit(f"{server.name}: expected {status!r} for {body}, got {answer}")


SUBJECTS = ("baseline-a", "baseline-b", "termmap-cached", "termmap-batch", "termmap-store")


def run(scale: float, duration: int, out: Path, seed: int, warmup: int, connections: Sequence[int],
        subjects: Sequence[str] = SUBJECTS, repeat: int = 3) -> dict:
    """Every measurement of `subjects`: `repeat` rounds of (a), (b), termmap cached at each connection count,
    interleaved so that a disturbance hits all three alike; then the batch, then the store path (`repeat` runs)."""
    out.mkdir(parents=True, exist_ok=True)
    started, load_at_start = _now(), _load()
    store, built = ensure_store(out, scale, seed)
    codes = mapped_codes(store, STORE_CODES)
    print(f"store {store} ({built['size_mb']} MB): {len(codes)} mapped RXCUIs picked", file=sys.stderr, flush=True)
    cached_body = translate_body(codes[len(codes) // 2])
    measurements: list[Measurement] = []
    database = {"TERMMAP_DATABASE_URL": f"sqlite:///{store}"}
    apps = {"baseline-a": ("benchmarks.baseline_app:raw_app", "/translate", False, {}),
            "baseline-b": ("benchmarks.baseline_app:model_app", "/translate", False, {}),
            "termmap-cached": ("api.app:create_app", "/v1/translate", True, database)}
    with tempfile.TemporaryDirectory(prefix="termmap-translate-bench-") as scratch, translator_key(store) as key, \
            ExitStack() as servers:
        work = Path(scratch)
        one = write_bodies(work / "cached.jsonl", [cached_body])
        many = write_bodies(work / "store.jsonl", [translate_body(code) for code in codes])

        running, settling = {}, {}
        for subject, (app, path, factory, env) in apps.items():
            if subject in subjects or (subject == "termmap-cached" and "termmap-batch" in subjects):
                running[subject] = servers.enter_context(serve(subject, app, factory=factory, env=env, work=work))
                if factory:
                    _check_answer(running[subject], cached_body, "mapped", key)
                else:
                    _post(running[subject].url(path), cached_body, key)
        for subject, server in running.items():
            settling[subject] = wait_until_idle(server)

        rounds: dict[tuple[str, int], list[dict]] = {}
        for _ in range(repeat):
            for subject in (s for s in apps if s in subjects):
                for c in connections:  # the key goes to the floors too (ignored) so that requests weigh the same
                    rounds.setdefault((subject, c), []).append(
                        measure_wrk(subject, running[subject], apps[subject][1], one, c, duration, warmup, key))
        measurements.extend(_median_of(subject, c, found) for (subject, c), found in rounds.items())

        if "termmap-batch" in subjects:
            measurements.append(measure_batch(running["termmap-cached"], batch_items(codes), BATCH_REPEAT, key))

        if "termmap-store" in subjects:
            with serve("termmap-nocache", "api.app:create_app", factory=True,
                       env={**database, "TERMMAP_CACHE_ENTRIES": "0"}, work=work) as server:
                _check_answer(server, translate_body(codes[0]), "mapped", key)
                settling["termmap-store"] = wait_until_idle(server)
                measurements.append(_median_of("termmap-store", 1, [
                    measure_wrk("termmap-store", server, "/v1/translate", many, 1, duration, warmup, key)
                    for _ in range(repeat)]))
    return _results(measurements, scale=scale, duration=duration, warmup=warmup, repeat=repeat, seed=seed,
                    store=store, built=built, codes=len(codes), cached_body=cached_body, started=started,
                    seconds_until_servers_idle=settling,
                    load_average_at_start=load_at_start, code=_checkout())


def _checkout() -> dict:
    """The commit measured, and the files changed on top of it (uncommitted work is measured too)."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=PROJECT, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else ""

    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "uncommitted_changes": changed}


def _find(measurements: list[Measurement], subject: str, connections: int | None = None) -> Measurement | None:
    return next((m for m in measurements if m.subject == subject
                 and (connections is None or m.connections == connections)), None)


def _ratio(top: Measurement | None, bottom: Measurement | None) -> float | None:
    if top is None or bottom is None or not bottom.requests_per_second:
        return None
    return round(top.requests_per_second / bottom.requests_per_second, 3)


def _results(measurements: list[Measurement], **run: object) -> dict:
    ratios, verdicts = {}, {}
    for c in sorted({m.connections for m in measurements if m.subject == "termmap-cached"}):
        cached = _find(measurements, "termmap-cached", c)
        ratios[f"cached_over_a_c{c}"] = _ratio(cached, _find(measurements, "baseline-a", c))
        ratios[f"cached_over_b_c{c}"] = _ratio(cached, _find(measurements, "baseline-b", c))
        if ratios[f"cached_over_a_c{c}"] is not None:
            verdicts[f"cached_ratio_to_a_c{c}"] = ratios[f"cached_over_a_c{c}"] >= TARGETS["cached_ratio_to_a"]
    cached_1 = _find(measurements, "termmap-cached", 1)
    if cached_1 is not None:
        verdicts["cached_p50_ms"] = cached_1.p50_ms <= TARGETS["cached_p50_ms"]
        verdicts["cached_p99_ms"] = cached_1.p99_ms <= TARGETS["cached_p99_ms"]
    store = _find(measurements, "termmap-store", 1)
    if store is not None:
        verdicts["store_p50_ms"] = store.p50_ms <= TARGETS["store_p50_ms"]
    batch = _find(measurements, "termmap-batch")
    if batch is not None:
        verdicts["batch_seconds"] = batch.seconds <= TARGETS["batch_seconds"]
    import fastapi
    import starlette
    import uvicorn

    return {
        "command": "python -m benchmarks.translate " + " ".join(sys.argv[1:]),
        "started": run.pop("started"),
        "finished": _now(),
        **{k: (str(v) if isinstance(v, Path) else v) for k, v in run.items()},
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "uvicorn": uvicorn.__version__, "fastapi": fastapi.__version__, "starlette": starlette.__version__,
                    "wrk": "1 thread, --latency, benchmarks/translate.lua",
                    "cpus": {"servers": sorted(PINNING[0]), "wrk_and_batch_client": sorted(PINNING[1])}
                    if PINNING else "not pinned"},
        "targets": TARGETS,
        "measurements": [asdict(m) for m in measurements],
        "ratios": ratios,
        "meets_targets": verdicts,
    }


def format_table(results: dict) -> str:
    """The results as a fixed-width table, ratios and target verdicts below it."""
    lines = [f"{'subject':16} {'conn':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'seconds':>8} {'errors':>6} "
             f"{'others':>6} {'load':>5}"]
    for m in results["measurements"]:
        def cell(value, fmt):
            width = fmt.lstrip(">").split(".")[0]
            return format(value, fmt) if value is not None else format("-", f">{width}")
        lines.append(f"{m['subject']:16} {cell(m['connections'], '>4')} {cell(m['requests_per_second'], '>9.1f')} "
                     f"{cell(m['p50_ms'], '>8.3f')} {cell(m['p99_ms'], '>8.3f')} {cell(m['seconds'], '>8.3f')} "
                     f"{m['errors']:>6} {cell(m['others_cores'], '>6.2f')} {cell(m['load_average'], '>5.2f')}")
    lines.append(f"(median of {results['repeat']} interleaved rounds; others: cores used by other processes during the "
                 "runs, the highest round; load: 1-minute load average, this run included)")
    lines.append("")
    lines.append("ratios (termmap cached req/s over baseline req/s): " + ", ".join(
        f"{k} {v:.2f}" if v is not None else f"{k} -" for k, v in results["ratios"].items()))
    lines.append("targets: " + ", ".join(f"{k} {'met' if ok else 'MISSED'}" for k, ok in results["meets_targets"].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.translate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="release size of the store; 1.0 = a real release")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each recorded wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of the warm-up run before each")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every wrk measurement (the median is kept)")
    parser.add_argument("--connections", default="1,16", help="connection counts of the cached runs")
    parser.add_argument("--subjects", default=",".join(SUBJECTS),
                        help=f"what to measure, comma-separated (default all: {','.join(SUBJECTS)})")
    parser.add_argument("--out", type=Path, default=PROJECT / "benchmarks" / "out")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    if not Path(WRK).exists():
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    connections = [int(c) for c in args.connections.split(",")]
    subjects = [s.strip() for s in args.subjects.split(",") if s.strip()]
    if unknown := sorted(set(subjects) - set(SUBJECTS)):
        parser.error(f"unknown subjects {unknown}; choose from {', '.join(SUBJECTS)}")
    results = run(args.scale, args.duration, args.out, args.seed, args.warmup, connections, subjects, args.repeat)
    path = args.out / "translate-results.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(format_table(results))
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
