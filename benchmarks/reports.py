"""Time the auditors' reports on a store holding a year-ish of traffic, and the counting that feeds them.

    python -m benchmarks.reports [--backend sqlite|postgresql|both] [--events 1000000] [--entries 100000]
                                 [--audit 100000] [--repeat 3] [--out benchmarks/out] [--keep]

Each backend gets a fresh, migrated store (SQLite: `OUT/reports-store.db`, removed afterwards unless
`--keep`; PostgreSQL: a schema of its own in TERMMAP_TEST_POSTGRES_URL's database, dropped afterwards).
What goes in (seeded, so every run holds the same data):

- **counts**: `--events` translations counted through `mappings.usage.UsageCounter.count` (the hot
  path, with the answer, context, source system and sender a request gives) over 180 UTC days,
  30 senders each sending from 1-3 of 8 source systems, both contexts, mapped 85 % (6 rules) /
  unvalidated 7 % (3 rules) / unmapped 8 %; then one `flush` writes them (about 120k rows). Timed:
  ns per `count` call (one thread; and two threads at once), and the flush, twice (the second
  flush of the same keys takes the `count = count + excluded.count` path for every row).
- **review entries**: `--entries` entries as translate leaves them (1-3 senders each, Zipf-ish
  occurrences, first/last seen over the 180 days), 60 % open, 5 % claimed, 35 % decided.
- **audit trail**: `--audit` hash-chained events (a valid chain, so `verify` checks them all).
- **releases**: two versions of a 50,000-concept local formulary (v2 drops 500 concepts, adds 500),
  5,000 curated mappings into it, 10 % of the review entries aimed at it (some whose text only v2 has).

Then each report runs `--repeat` times as the JSON API runs it (the `mappings.reports` function,
then `orjson.dumps` of its records); the table shows the first (cold) and the median time. Target: < 1 s
each (reported, never asserted). The CSV export of the whole unmapped report is timed too (not a target). The load average and any other benchmark or pytest process running
are recorded before the run: the box is shared. Results: a table on stdout and
`OUT/reports-results.json`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, insert, text

from loaders.local_table import ColumnMap, load_local_table
from mappings import reports
from mappings.audit import GENESIS, _timestamp, event_hash
from mappings.review_queue import ReviewKey, entry_id_for
from mappings.tables import audit_events, mapping_targets, mapping_versions, review_entries, review_senders
from mappings.translation import Match, Rule, Status, Translation
from mappings.usage import UsageCounter, day_number
from terminology.database import create_store_engine, migrate

__all__ = ["TARGET_SECONDS", "main"]

PROJECT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("TERMMAP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
FORMULARY = "https://bench.example.org/fhir/CodeSystem/formulary"
SYSTEMS = [SNOMED, RXNORM, "http://hl7.org/fhir/sid/ndc", FORMULARY,
           *(f"urn:oid:2.16.840.1.113883.3.{n}.7" for n in range(4))]
SENDERS = [f"feed-{n:02d}" for n in range(30)]
PHARMACISTS = [f"pharm.{name}" for name in ("jones", "patel", "garcia", "kim", "okafor")]
DAYS = 180
TARGET_SECONDS = 1.0
WORDS = ("amoxi", "cilin", "peni", "cef", "alex", "doxy", "cycline", "ery", "thro", "mycin", "ibu", "profen",
         "para", "cetamol", "aspi", "rin", "sulfa", "meth", "oxazole", "trim", "cod", "eine", "morph", "ine")
OUTCOMES = ([(Status.MAPPED, rule, 85 / 6) for rule in (Rule.CURATED, Rule.CROSSWALK, Rule.IDENTITY, Rule.INGREDIENT,
                                                         Rule.HISTORICAL, Rule.NEGATION)]
            + [(Status.UNVALIDATED, rule, 7 / 3) for rule in (Rule.LOCAL_TABLE, Rule.LEXICAL, Rule.HISTORICAL)]
            + [(Status.UNMAPPED, None, 8.0)])


def _translation(status: Status, rule: Rule | None) -> Translation:
    matches = () if rule is None else (Match(SNOMED, "1", None, "equivalent", status is Status.MAPPED, rule, None),)
    return Translation(status, {}, matches)


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(WORDS) for _ in range(rng.randint(2, 3)))


# --- the store ------------------------------------------------------------------------------------------------------


@contextmanager
def _store(backend: str, out: Path, keep: bool) -> Iterator[Engine]:
    if backend == "sqlite":
        path = out / "reports-store.db"
        for leftover in out.glob("reports-store.db*"):
            leftover.unlink()
        engine = create_store_engine(f"sqlite:///{path}")
        migrate(engine)
        try:
            yield engine
        finally:
            engine.dispose()
            if not keep:
                for leftover in out.glob("reports-store.db*"):
                    leftover.unlink()
        return
    schema = f"tm_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    engine = create_store_engine(f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}")
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        if not keep:
            with admin.connect() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _bulk(engine: Engine, table, rows: list[dict], batch: int = 20_000) -> None:
    with engine.begin() as connection:
        for start in range(0, len(rows), batch):
            connection.execute(insert(table), rows[start:start + batch])


# --- counts -----------------------------------------------------------------------------------------------------------


def _traffic(rng: random.Random, events: int, today: int) -> list[tuple]:
    """(translation, context, source system, sender, day) for each event, as a request would count it."""
    outcomes = [_translation(status, rule) for status, rule, _ in OUTCOMES]
    weights = [weight for _, _, weight in OUTCOMES]
    pairs = [(sender, system) for sender in SENDERS for system in rng.sample(SYSTEMS, rng.randint(1, 3))]
    pair_weights = [1 / (1 + index) ** 0.6 for index in range(len(pairs))]
    chosen_pairs = rng.choices(pairs, pair_weights, k=events)
    chosen_outcomes = rng.choices(outcomes, weights, k=events)
    contexts = rng.choices(("allergy", "medication"), (0.35, 0.65), k=events)
    days = [today - int(rng.random() ** 1.3 * DAYS) for _ in range(events)]
    return [(chosen_outcomes[i], contexts[i], chosen_pairs[i][1], chosen_pairs[i][0], days[i]) for i in range(events)]


def _count_all(counter: UsageCounter, traffic: list[tuple]) -> float:
    started = time.perf_counter()
    count = counter.count
    for result, context, system, sender, day in traffic:
        count(result, context, source_system=system, sender=sender, day=day)
    return time.perf_counter() - started


def measure_counting(engine: Engine, rng: random.Random, events: int) -> dict[str, Any]:
    """Count `events` through the hot path (timed), then flush them into the store (timed), twice."""
    today = day_number()
    traffic = _traffic(rng, events, today)
    hot = UsageCounter()  # the production call: the day comes from the clock
    started = time.perf_counter()
    for result, context, system, sender, _ in traffic[:200_000]:
        hot.count(result, context, source_system=system, sender=sender)
    clock_ns = (time.perf_counter() - started) / min(events, 200_000) * 1e9

    counter = UsageCounter()
    one_thread = _count_all(counter, traffic)
    again = UsageCounter()
    halves = (traffic[: events // 2], traffic[events // 2:])
    threads = [threading.Thread(target=_count_all, args=(again, half)) for half in halves]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    two_threads = time.perf_counter() - started
    keys = len(counter)
    assert counter.pending() == again.pending() == events

    started = time.perf_counter()
    flushed = counter.flush_to(engine)
    first_flush = time.perf_counter() - started
    started = time.perf_counter()
    again.flush_to(engine)  # the same keys again: every row takes the conflict (update) path
    second_flush = time.perf_counter() - started
    small = UsageCounter()
    for result, context, system, sender, _ in traffic[:10_000]:
        small.count(result, context, source_system=system, sender=sender, day=today)
    started = time.perf_counter()
    small.flush_to(engine)
    interval_flush = time.perf_counter() - started
    assert flushed == events
    return {
        "events": events, "distinct_keys": keys, "count_ns_with_clock": round(clock_ns, 1),
        "count_ns": round(one_thread / events * 1e9, 1), "count_ns_two_threads": round(two_threads / events * 1e9, 1),
        "flush_seconds_insert": round(first_flush, 3), "flush_seconds_update": round(second_flush, 3),
        "flush_seconds_10k_today": round(interval_flush, 4), "stored_translations": 2 * events + 10_000,
    }


# --- review entries, audit events, releases ---------------------------------------------------------------------------


def fill_entries(engine: Engine, rng: random.Random, entries: int, new_terms: list[str]) -> dict[str, int]:
    now = datetime.now(timezone.utc)
    rows, senders, seen = [], [], set()
    for index in range(entries):
        target = rng.choices((SNOMED, RXNORM, FORMULARY), (0.6, 0.3, 0.1))[0]
        system = rng.choice(SYSTEMS)
        if target == FORMULARY and index % 20 == 0 and new_terms:
            words = rng.choice(new_terms)  # a designation only formulary v2 holds
        else:
            words = f"{_word(rng)} {_word(rng)} {rng.randint(1, 999)} mg"
        code = f"L{index:07d}" if rng.random() < 0.8 else None
        context = rng.choice(("allergy", "medication"))
        key = ReviewKey.of(system, code, words, context)
        entry_id = entry_id_for(key)
        if entry_id in seen:
            continue
        seen.add(entry_id)
        first = now - timedelta(days=rng.random() * DAYS)
        last = first + (now - first) * rng.random()
        occurrences = max(1, int(1 / max(rng.random(), 1e-4) ** 0.7))
        state = rng.random()
        status, decision, by, at, claimed_by, expires = "open", None, None, None, None, None
        if state < 0.35:
            status, decision = "decided", rng.choices(("mapped", "no-map", "deferred"), (0.7, 0.2, 0.1))[0]
            by, at = rng.choice(PHARMACISTS), last + timedelta(hours=rng.randint(1, 48))
        elif state < 0.40:
            status, claimed_by = "claimed", rng.choice(PHARMACISTS)
            expires = now + timedelta(minutes=rng.choice((-30, 10)))
        source = {"system": system, **({"code": code} if code else {})}
        rows.append({
            "id": entry_id, "source_system": key.source_system, "source_code": key.source_code,
            "text_norm": key.text_norm, "context": context, "original": {"source": source, "text": words},
            "target_system": target, "reason": rng.choices(("unmapped", "unvalidated", "release-change"),
                                                           (0.7, 0.28, 0.02))[0],
            "status": status, "occurrences": occurrences, "first_seen": first, "last_seen": last,
            "claimed_by": claimed_by, "claim_expires": expires, "decision": decision, "decided_by": by,
            "decided_at": at, "comment": None, "mapping_id": str(uuid.uuid4()) if decision == "mapped" else None,
            "requeue_reason": None, "suggestion": None,
        })
        chosen = rng.sample(SENDERS, rng.choices((1, 2, 3), (0.6, 0.3, 0.1))[0])
        shares = [occurrences // len(chosen)] * len(chosen)
        shares[0] += occurrences - sum(shares)
        for sender, share in zip(chosen, shares):
            if share:
                senders.append({"entry_id": entry_id, "sender": sender, "occurrences": share, "first_seen": first,
                                "last_seen": last})
    _bulk(engine, review_entries, rows)
    _bulk(engine, review_senders, senders)
    return {"review_entries": len(rows), "review_senders": len(senders)}


def fill_audit(engine: Engine, rng: random.Random, events: int) -> int:
    """A valid hash chain of `events` events, written in bulk (as `record_event` would, one by one)."""
    start = datetime.now(timezone.utc) - timedelta(days=DAYS)
    step = timedelta(days=DAYS) / max(events, 1)
    prev, rows = GENESIS, []
    actions = (("mapping.version", "mapping"), ("review.claimed", "review"), ("review.decided", "review"),
               ("review.released", "review"), ("release.activated", "release"), ("key.created", "key"))
    for index in range(events):
        action, subject_type = rng.choices(actions, (0.3, 0.3, 0.3, 0.07, 0.001, 0.029))[0]
        at = start + step * index
        actor = rng.choice(PHARMACISTS) if subject_type in ("mapping", "review") else "cli"
        subject = str(uuid.uuid4())
        code = str(rng.randint(100_000, 99_999_999))
        before = None if index % 3 else {"status": "open", "code": code}
        after = {"decision": "mapped", "targets": [{"system": SNOMED, "code": code, "display": _word(rng)}]}
        digest = event_hash(prev, _timestamp(at), actor, action, subject_type, subject, before, after)
        rows.append({"at": at, "actor": actor, "action": action, "subject_type": subject_type, "subject_id": subject,
                     "before": before, "after": after, "prev_hash": prev, "hash": digest})
        prev = digest
    _bulk(engine, audit_events, rows)
    return events


def fill_releases(engine: Engine, rng: random.Random, work: Path, concepts: int = 50_000,
                  mappings: int = 5_000) -> list[str]:
    """Formulary v1 and v2 (500 dropped, 500 added) and `mappings` curated mappings into v1; returns v2's new terms."""
    codes = [f"F{n:06d}" for n in range(concepts)]
    names = {code: f"{_word(rng)} {_word(rng)} {rng.randint(1, 500)} mg" for code in codes}
    dropped = set(rng.sample(codes[: concepts // 2], 500))
    added = [f"F{n:06d}" for n in range(concepts, concepts + 500)]
    names.update({code: f"{_word(rng)} {_word(rng)} {rng.randint(1, 500)} mg tablet" for code in added})
    columns = ColumnMap.parse("code=code,display=display")
    for version, listed in (("v1", codes), ("v2", [c for c in codes if c not in dropped] + added)):
        path = work / f"formulary-{version}.csv"
        path.write_text("code,display\n" + "".join(f"{c},{names[c]}\n" for c in listed), encoding="utf-8")
        if version == "v2":
            _curate(engine, rng, codes, names, dropped, mappings)
        load_local_table(engine, path, FORMULARY, columns, version=version)
        path.unlink()
    return [names[code] for code in added]


def _curate(engine: Engine, rng: random.Random, codes: list[str], names: dict[str, str], dropped: set[str],
            mappings: int) -> None:
    now = datetime.now(timezone.utc)
    targets = rng.sample(codes[: len(codes) // 2], mappings - 100) + rng.sample(sorted(dropped), 100)
    with engine.begin() as connection:
        for index, code in enumerate(targets):
            row = connection.execute(insert(mapping_versions).values(
                mapping_id=str(uuid.uuid4()), version=1, source_system=SYSTEMS[5], source_code=f"S{index:06d}",
                source_text_norm="", context="allergy", target_system=FORMULARY, decision="mapped",
                author=rng.choice(PHARMACISTS), reason="benchmark", origin="import:benchmark", created_at=now,
            )).inserted_primary_key[0]
            connection.execute(insert(mapping_targets).values(version_row=row, system=FORMULARY, code=code,
                                                              display=names[code], relationship="equivalent"))


# --- timing ---------------------------------------------------------------------------------------------------------


def _timed(engine: Engine, run: Callable[[Any], Any], repeat: int) -> dict[str, Any]:
    times, size = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        with engine.connect() as connection:
            body = orjson.dumps(run(connection))  # as the JSON API answers: the records through orjson
        times.append(time.perf_counter() - started)
        size = len(body)
    return {"first": round(times[0], 3), "median": round(statistics.median(times), 3), "bytes": size}


def _timed_file(engine: Engine, file_format: str, repeat: int) -> dict[str, Any]:
    """The unmapped report as a file, as `GET /v1/reports/unmapped?format=` makes it (pandas at the edge)."""
    from api.report_routes import unmapped_export

    times, size = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        with engine.connect() as connection:
            size = len(unmapped_export(connection, file_format).content)
        times.append(time.perf_counter() - started)
    return {"first": round(times[0], 3), "median": round(statistics.median(times), 3), "bytes": size}


def report_cases(today: date) -> dict[str, Callable[[Any], Any]]:
    month = today - timedelta(days=30)
    return {
        "unmapped: all rows": lambda c: reports.unmapped_report(c),
        "unmapped: sender + last 30 days": lambda c: reports.unmapped_report(c, sender="feed-03", since=month),
        "unmapped: open, first page of 100": lambda c: reports.unmapped_report(c, state="open", limit=100),
        "unmapped: page of 1000 at offset 50000": lambda c: reports.unmapped_report(c, limit=1000, offset=50_000),
        "unmapped: count (for paging)": lambda c: reports.count_unmapped(c, state="open"),
        "coverage: by day, everything": lambda c: reports.coverage_report(c, by="day"),
        "coverage: by week, everything": lambda c: reports.coverage_report(c, by="week"),
        "coverage: by day, one sender, 30 days": lambda c: reports.coverage_report(c, sender="feed-01", since=month),
        "audit: newest 100": lambda c: reports.audit_query(c, limit=100),
        "audit: actor + 30 days": lambda c: reports.audit_query(c, actor="pharm.kim", since=month, limit=100),
        "audit: code search (full scan)": lambda c: reports.audit_query(c, code="12345678", limit=100),
        "audit: verify chain": lambda c: reports.verify_audit(c),
        "release impact (formulary v2 vs v1)": lambda c: reports.release_impact(c, FORMULARY),
    }


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    with _store(backend, args.out, args.keep) as engine:
        started = time.perf_counter()
        counting = measure_counting(engine, rng, args.events)
        new_terms = fill_releases(engine, rng, args.out)
        filled = fill_entries(engine, rng, args.entries, new_terms)
        filled["audit_events"] = fill_audit(engine, rng, args.audit)
        if backend == "postgresql":
            with engine.begin() as connection:
                connection.execute(text("ANALYZE"))
        fill_seconds = round(time.perf_counter() - started, 1)
        cases = report_cases(datetime.now(timezone.utc).date())
        timings = {name: _timed(engine, run, args.repeat) for name, run in cases.items()}
        timings["unmapped: all rows as CSV (export)"] = _timed_file(engine, "csv", args.repeat)
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT count(*) FROM translation_counts")).scalar_one()
    return {"counting": counting, "filled": {**filled, "translation_counts_rows": rows},
            "fill_seconds": fill_seconds, "reports": timings}


def _others() -> list[str]:
    try:
        found = subprocess.run(["pgrep", "-fa", r"benchmarks\.|pytest"], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return []
    return [line for line in found.stdout.splitlines() if str(os.getpid()) != line.split(" ", 1)[0]]


def _print(results: dict[str, Any]) -> None:
    for backend, result in results["backends"].items():
        counting = result["counting"]
        print(f"\n== {backend}: {result['filled']}  (filled in {result['fill_seconds']} s)")
        print(f"counting {counting['events']:,} events into {counting['distinct_keys']:,} keys: "
              f"{counting['count_ns']} ns/count ({counting['count_ns_with_clock']} ns with the clock, "
              f"{counting['count_ns_two_threads']} ns with 2 threads); flush {counting['flush_seconds_insert']} s "
              f"(insert), {counting['flush_seconds_update']} s (update); 10k counts of today "
              f"{counting['flush_seconds_10k_today']} s")
        print(f"{'report':<42} {'first s':>8} {'median s':>9} {'JSON bytes':>12}  target < {TARGET_SECONDS:.0f} s")
        for name, timing in result["reports"].items():
            flag = "" if timing["median"] < TARGET_SECONDS else "  MISSED"
            print(f"{name:<42} {timing['first']:>8.3f} {timing['median']:>9.3f} {timing['bytes']:>12,}{flag}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reports", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--audit", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--out", type=Path, default=PROJECT / "benchmarks" / "out")
    parser.add_argument("--keep", action="store_true", help="keep the stores (SQLite file, PostgreSQL schema)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results: dict[str, Any] = {
        "command": "python -m benchmarks.reports " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "other_processes_before": _others(),
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "target_seconds": TARGET_SECONDS,
        "backends": {},
    }
    for backend in backends:
        results["backends"][backend] = run_backend(backend, args)
    results["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    _print(results)
    print(f"\nload average before: {results['load_average_before']}, after: {results['load_average_after']}; "
          f"other benchmark/pytest processes before: {len(results['other_processes_before'])}")
    target = args.out / "reports-results.json"
    target.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
