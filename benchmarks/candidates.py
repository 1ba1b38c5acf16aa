"""Candidate search, measured: recall against pharmacists' mappings, and speed at release scale.

    python -m benchmarks.candidates [--scale 1.0] [--out benchmarks/out] [--skip-speed] [--skip-quality]

**Quality.** VA VistA's GMR ALLERGIES file (`../shared/data/local-tables/vista-allergies/gmr_allergies.csv`)
gives allergen NAMEs that pharmacists mapped to SNOMED CT (`coded_mappings` `SCT:<id>`). The SNOMED CT
samples that hold those concepts (wci-us-20150301-mini, wci-int-20140731-mini, tx-ecosystem-int-20250909)
are three releases of one system, and only one release of a system can be active; so they are merged
into one Snapshot (the union of Concept, Description and Language rows, the row with the latest
effectiveTime winning for an id that is in several) under OUT/work and loaded into one store
(OUT/candidates-vista.db; rebuilt when the samples change). For every VistA entry with an SCT mapping
whose concept is in that store, `search(name, SNOMED, context="allergy", limit=10)` is asked, and
recall@1 / recall@5 of the pharmacist's concept are reported (target: recall@5 >= 90 %).

Each miss (not in the top 5) gets one kind, the first that fits, from heuristics on the name and the
expected concept's designations (their canonical words, `clinical_text.key_words`):

    abbreviation  the name has a clinical_text.ABBREVIATIONS key, or a token of 2-4 letters that is in
                  none of the expected concept's designations (an acronym, e.g. "FD&C")
    brand         a word of the name is an RxNorm brand (BN) when RxNorm is loaded, or the name shares
                  no word with any designation and has a capitalised word ending in a registered mark
    salt          the name or the expected designations hold a salt / ester word the other lacks
    misspelling   a word of the name is not a word of the store but within rapidfuzz ratio 80 of a
                  word of an expected designation
    class         the expected concept is broader or narrower than the name: every word of its best
                  designation is in the name (or the reverse), or it is a "Product containing" class
    other         none of the above (a synonym the release lacks, different naming)

**Speed.** A release-sized store: the generator's RF2 (and RxNorm) files at `--scale` (generated under
OUT if absent, `python -m benchmarks.generate`) loaded into a fresh migrated SQLite store: the same
store `benchmarks.translate` uses, OUT/translate-store-scale-{scale}.db, built once and reused. In a fresh
child process: the index builds (SNOMED CT, RxNorm, RxNorm brands), the RSS the indexes cost (RSS after
the builds, with the store connection closed, minus RSS before), then p50/p95 per query, target SNOMED CT,
top 10, over the 874 VistA names (context allergy) and `--sampled` synonyms of the store's SNOMED CT
release (no context), as written, with a typo, a word truncated, the words shuffled, or "500mg tab"
appended; for those, whether the concept they came from is in the top 10 / first (the synthetic release
repeats many terms over many concepts, so a few cannot be). Every query is also asked without a target
system (SNOMED CT and RxNorm indexes, one query in four). The machine is shared: before the speed run
the benchmark waits (polling each minute, up to `--wait` minutes) until no other `benchmarks.` or
`pytest` process runs and the 1-minute load average is below 1.5, and records the load averages.

Results: tables on stdout, `OUT/candidates-results.json`. Targets are reported, never asserted.
"""
from __future__ import annotations

import argparse
import csv
import ctypes
import gc
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.generate import DEFAULT_SEED

__all__ = ["merge_snapshots", "vista_cases", "evaluate", "classify_miss", "speed", "main"]

PROJECT = Path(__file__).resolve().parent.parent
SHARED = PROJECT.parent / "shared" / "data"
VISTA = SHARED / "local-tables" / "vista-allergies" / "gmr_allergies.csv"
SAMPLES = ("wci-us-20150301-mini", "wci-int-20140731-mini", "tx-ecosystem-int-20250909")
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
TARGETS = {"recall_at_5": 0.90, "p95_ms": 50.0, "build_seconds": 60.0}
MISS_KINDS = ("abbreviation", "brand", "salt", "misspelling", "class", "other")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------------------
# Quality: the VistA answer key against the merged SNOMED CT samples

_RF2_KINDS = {
    "concept": re.compile(r"^sct2_Concept_(Snapshot_)?.*\.txt$"),
    "description": re.compile(r"^sct2_Description_(Snapshot)?.*\.txt$"),
    "language": re.compile(r"^der2_cRefset_Language(Snapshot)?.*\.txt$"),
}
_MERGED_NAMES = {
    "concept": "Snapshot/Terminology/sct2_Concept_Snapshot_INT_20250909.txt",
    "description": "Snapshot/Terminology/sct2_Description_Snapshot-en_INT_20250909.txt",
    "language": "Snapshot/Refset/Language/der2_cRefset_LanguageSnapshot-en_INT_20250909.txt",
}


def _rf2_files(folder: Path, kind: str) -> list[Path]:
    return sorted(p for p in folder.rglob("*.txt") if _RF2_KINDS[kind].match(p.name) and "Full" not in p.name)


def merge_snapshots(folders: list[Path], target: Path) -> Path:
    """One RF2 Snapshot from several: per component id, the row with the latest effectiveTime (later folder on ties)."""
    for kind, name in _MERGED_NAMES.items():
        header: str | None = None
        rows: dict[str, tuple[str, str]] = {}
        for folder in folders:
            for path in _rf2_files(folder, kind):
                with open(path, encoding="utf-8", newline="") as handle:
                    first = handle.readline().rstrip("\r\n")
                    header = header or first
                    for line in handle:
                        line = line.rstrip("\r\n")
                        if not line:
                            continue
                        component, effective = line.split("\t", 2)[:2]
                        if component not in rows or effective >= rows[component][0]:
                            rows[component] = (effective, line)
        out = target / name
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", encoding="utf-8", newline="") as handle:
            handle.write((header or "") + "\r\n")
            for _, line in rows.values():
                handle.write(line + "\r\n")
    return target


def _samples_signature(folders: list[Path]) -> str:
    parts = []
    for folder in folders:
        for kind in _RF2_KINDS:
            for path in _rf2_files(folder, kind):
                stat = path.stat()
                parts.append(f"{path.relative_to(SHARED)}:{stat.st_size}:{int(stat.st_mtime)}")
    return "|".join(parts)


def ensure_vista_store(out: Path) -> Path:
    """The store holding the merged SNOMED CT samples (built when absent or when the samples changed)."""
    from loaders.rf2 import load_rf2
    from terminology.database import create_store_engine, migrate

    folders = [SHARED / "snomed-rf2" / name for name in SAMPLES]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing or not VISTA.exists():
        raise SystemExit(f"needs the shared samples: {', '.join(missing) or VISTA}")
    store = out / "candidates-vista.db"
    stamp = store.with_suffix(".json")
    signature = _samples_signature(folders)
    if store.exists() and stamp.exists() and json.loads(stamp.read_text()).get("samples") == signature:
        return store
    merged = merge_snapshots(folders, out / "work" / "vista-snomed-merged")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    engine = create_store_engine(f"sqlite:///{store}")
    try:
        migrate(engine)
        report = load_rf2(engine, merged)
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    for lock in store.parent.glob(store.name + ".load-*.lock"):
        lock.unlink(missing_ok=True)
    stamp.write_text(json.dumps({"samples": signature, "built": _now(), "rows": report.rows}, indent=2) + "\n")
    return store


@dataclass(frozen=True)
class Case:
    ien: str
    name: str
    expected: tuple[str, ...]  # SCT codes present in the store


def vista_cases(connection) -> tuple[list[Case], int]:
    """VistA entries with an SCT mapping whose concept is in the store; and how many entries have an SCT mapping."""
    from terminology import queries

    cases, with_sct = [], 0
    with open(VISTA, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            codes = [m.strip()[4:].strip() for m in row["coded_mappings"].split("|") if m.strip().startswith("SCT:")]
            if not codes:
                continue
            with_sct += 1
            present = tuple(code for code in codes if queries.concept(connection, SNOMED, code) is not None)
            if present:
                cases.append(Case(row["ien"], row["name"], present))
    return cases, with_sct


def classify_miss(connection, case: Case, vocabulary: set[str], brands) -> str:
    """The kind of a miss (see the module docstring), from the name and the expected concept's designations."""
    from rapidfuzz import fuzz

    from terminology import queries
    from terminology.clinical_text import ABBREVIATIONS, SALTS, key_words

    name_words = set(key_words(case.name))
    raw = re.findall(r"[A-Za-z]+", case.name)
    designations = [d.term for code in case.expected for d in queries.designations(connection, SNOMED, code)]
    expected_words = [set(key_words(re.sub(r"\s*\([^()]*\)\s*$", "", term))) for term in designations]
    every_expected = set().union(*expected_words) if expected_words else set()
    acronyms = [token for token in raw if 2 <= len(token) <= 4 and token.isupper()
                and not set(key_words(token)) & (every_expected | vocabulary)]
    if acronyms or any(key[0] in name_words and set(key) <= name_words for key in ABBREVIATIONS):
        return "abbreviation"
    if any(brand.expand(list(key_words(case.name))) for brand in brands) or (
        not name_words & every_expected and re.search(r"[®™]", case.name)
    ):
        return "brand"
    if (name_words & SALTS) != (every_expected & SALTS) and (name_words & SALTS or every_expected & SALTS):
        return "salt"
    for word in name_words - vocabulary:
        if any(fuzz.ratio(word, other) >= 80 for other in every_expected):
            return "misspelling"
    best = max(expected_words, key=lambda words: len(words & name_words), default=set())
    if best and (best <= name_words or name_words <= best) or any(
        "product" in words and "containing" in words for words in expected_words
    ):
        return "class"
    return "other"


def evaluate(store: Path, *, limit: int = 10) -> dict:
    """Recall@1 and @5 of the pharmacists' concepts over the VistA cases, and the misses by kind."""
    from terminology import candidate_index
    from terminology.database import create_store_engine
    from terminology.search import search

    engine = create_store_engine(f"sqlite:///{store}")
    try:
        with engine.connect() as connection:
            cases, with_sct = vista_cases(connection)
            releases = candidate_index.active_releases(connection)
            snomed = [r for r in releases if r.system == SNOMED]
            vocabulary = set(candidate_index.release_index(connection, snomed[0]).vocab) if snomed else set()
            brands = [candidate_index.brand_index(connection, r) for r in releases if r.system == RXNORM]
            at1 = at5 = 0
            misses, ranks = [], Counter()
            for case in cases:
                found = search(connection, case.name, SNOMED, limit=limit, context="allergy")
                codes = [c.concept.code for c in found]
                rank = next((i + 1 for i, code in enumerate(codes) if code in case.expected), None)
                ranks[rank or 0] += 1
                at1 += rank == 1
                at5 += rank is not None and rank <= 5
                if rank is None or rank > 5:
                    misses.append({
                        "ien": case.ien, "name": case.name, "expected": list(case.expected),
                        "expected_display": [queries_display(connection, code) for code in case.expected],
                        "rank": rank, "kind": classify_miss(connection, case, vocabulary, brands),
                        "top": [f"{c.concept.code} {c.concept.display} ({c.score:g})" for c in found[:3]],
                    })
    finally:
        engine.dispose()
    n = len(cases)
    return {
        "entries_with_sct": with_sct,
        "cases": n,
        "recall_at_1": round(at1 / n, 4) if n else None,
        "recall_at_5": round(at5 / n, 4) if n else None,
        "hits_at_1": at1,
        "hits_at_5": at5,
        "rank_histogram": {str(k): v for k, v in sorted(ranks.items())},
        "misses_by_kind": {kind: sum(m["kind"] == kind for m in misses) for kind in MISS_KINDS},
        "misses": misses,
    }


def queries_display(connection, code: str) -> str:
    from terminology import queries

    found = queries.concept(connection, SNOMED, code)
    return found.display if found else code


# --------------------------------------------------------------------------------------------------
# Speed: a release-sized store


def ensure_scale_store(out: Path, scale: float, seed: int) -> tuple[Path, dict]:
    """A SQLite store with the generated RF2 and RxNorm releases at `scale`: the translate benchmark's, built once."""
    from benchmarks.translate import ensure_store

    store, built = ensure_store(out, scale, seed)
    return store, {**built, "store": store.name}


def _trim() -> None:
    """Return freed heap to the OS (glibc), so that RSS shows what is held, not what was once used."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    return rng.choice([word[:i] + word[i + 1:], word[:i] + word[i + 1] + word[i] + word[i + 2:],
                       word[:i] + rng.choice("aeiou") + word[i + 1:]])


STYLES = ("exact", "typo", "truncated", "shuffled", "with strength")


@dataclass(frozen=True)
class SpeedQuery:
    text: str
    context: str | None
    group: str  # "vista" or one of STYLES
    expected: str | None  # the concept a sampled designation came from


def speed_queries(connection, count: int, seed: int = 7) -> list[SpeedQuery]:
    """VistA names (context allergy), and designations of the store's SNOMED CT release as senders might
    write them (no context: every kind of concept), each with the concept it came from."""
    with open(VISTA, encoding="utf-8", newline="") as handle:
        names = [row["name"] for row in csv.DictReader(handle)]
    rng = random.Random(seed)
    total = connection.exec_driver_sql("SELECT max(rowid) FROM designations").scalar() or 0
    rows = connection.exec_driver_sql(
        "SELECT d.term, d.code FROM designations d JOIN releases r ON r.id = d.release_id "
        f"WHERE r.status = 'active' AND r.system = '{SNOMED}' AND d.type <> 'fsn' "
        f"AND d.rowid % {max(1, total // (count * 4))} = 0"
    ).all()
    sampled = rng.sample(rows, min(count, len(rows)))
    queries = [SpeedQuery(name, "allergy", "vista", None) for name in names]
    for i, (term, code) in enumerate(sampled):
        words = term.split()
        style = STYLES[i % len(STYLES)]
        longest = max(range(len(words)), key=lambda k: len(words[k])) if words else 0
        if style == "typo" and words:
            words[longest] = _typo(words[longest], rng)
        elif style == "truncated" and words:
            words[longest] = words[longest][: max(4, len(words[longest]) * 2 // 3)]
        elif style == "shuffled":
            rng.shuffle(words)
        elif style == "with strength":
            words += ["500mg", "tab"]
        queries.append(SpeedQuery(" ".join(words), None, style, code))
    return queries


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def speed(store: Path, sampled: int) -> dict:
    """Index build, its RSS, and per-query latency, measured in this process (run it in a fresh one)."""
    from terminology import candidate_index
    from terminology.database import create_store_engine
    from terminology.search import search

    url = f"sqlite:///{store}"
    engine = create_store_engine(url)
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1").all()
        releases = candidate_index.active_releases(connection)
        queries = speed_queries(connection, sampled)
    engine.dispose()
    gc.collect()
    _trim()
    before = _rss_mb()
    builds = {}
    engine = create_store_engine(url)
    with engine.connect() as connection:
        for release in releases:
            started = time.perf_counter()
            index = candidate_index.release_index(connection, release)
            builds[release.system] = {"seconds": round(time.perf_counter() - started, 2), "designations": index.size,
                                      "words": len(index.words), "array_mb": round(index.nbytes() / 2**20, 1)}
            if release.system == RXNORM:
                started = time.perf_counter()
                brands = candidate_index.brand_index(connection, release)
                builds["rxnorm brands"] = {"seconds": round(time.perf_counter() - started, 2),
                                           "brand_names": len(brands.ingredients)}
    engine.dispose()  # closes the connection and its SQLite page cache (up to 256 MB, not the index's)
    gc.collect()
    _trim()
    after = _rss_mb()
    engine = create_store_engine(url)
    timed: list[tuple[SpeedQuery, float, list[str]]] = []
    every_system = []
    with engine.connect() as connection:
        for query in queries[:20]:  # warm: statement caches, first numpy calls
            search(connection, query.text, SNOMED, limit=10, context=query.context)
        for query in queries:
            started = time.perf_counter()
            found = search(connection, query.text, SNOMED, limit=10, context=query.context)
            timed.append((query, (time.perf_counter() - started) * 1000, [c.concept.code for c in found]))
        for query in queries[::4]:
            started = time.perf_counter()
            search(connection, query.text, None, limit=10, context=query.context)
            every_system.append((time.perf_counter() - started) * 1000)
    engine.dispose()
    latencies = [ms for _, ms, _ in timed]
    groups = {}
    for group in ("vista", *STYLES):
        rows = [(q, ms, codes) for q, ms, codes in timed if q.group == group]
        if not rows:
            continue
        entry = {"queries": len(rows), "p50_ms": round(_percentile([ms for _, ms, _ in rows], 0.5), 2),
                 "p95_ms": round(_percentile([ms for _, ms, _ in rows], 0.95), 2),
                 "answered": sum(bool(codes) for _, _, codes in rows)}
        if group != "vista":
            entry["source_in_top_10"] = sum(q.expected in codes for q, _, codes in rows)
            entry["source_first"] = sum(bool(codes) and codes[0] == q.expected for q, _, codes in rows)
        groups[group] = entry
    return {
        "queries": len(timed),
        "p50_ms": round(_percentile(latencies, 0.50), 2),
        "p95_ms": round(_percentile(latencies, 0.95), 2),
        "p99_ms": round(_percentile(latencies, 0.99), 2),
        "max_ms": round(max(latencies), 2),
        "mean_ms": round(statistics.fmean(latencies), 2),
        "groups": groups,
        "every_system_p50_ms": round(_percentile(every_system, 0.50), 2),
        "every_system_p95_ms": round(_percentile(every_system, 0.95), 2),
        "builds": builds,
        "index_rss_mb": round(after - before, 1),
        "rss_before_mb": round(before, 1),
        "rss_after_build_mb": round(after, 1),
    }


# --------------------------------------------------------------------------------------------------
# Machine hygiene


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _others() -> list[str]:
    found = subprocess.run(["pgrep", "-fa", r"benchmarks\.|pytest"], capture_output=True, text=True).stdout
    mine = {os.getpid(), os.getppid()}
    return [line for line in found.splitlines() if line and int(line.split()[0]) not in mine
            and "benchmarks.candidates" not in line]


def wait_for_quiet(minutes: float) -> dict:
    """Poll each minute until no other benchmark or test run is seen and load1 < 1.5 (at most `minutes`)."""
    started = time.monotonic()
    while True:
        others, load = _others(), _load_average()
        if (not others and load[0] < 1.5) or time.monotonic() - started >= minutes * 60:
            return {"waited_s": round(time.monotonic() - started), "quiet": not others and load[0] < 1.5,
                    "others": others, "load_average": load}
        print(f"waiting for a quiet machine: load {load}, {len(others)} other run(s)", file=sys.stderr, flush=True)
        time.sleep(60)


# --------------------------------------------------------------------------------------------------


def format_quality(quality: dict) -> str:
    lines = [
        f"VistA allergens with an SCT mapping: {quality['entries_with_sct']}; concept in the merged samples: "
        f"{quality['cases']}",
        f"recall@1 {quality['recall_at_1']:.1%} ({quality['hits_at_1']}/{quality['cases']})   "
        f"recall@5 {quality['recall_at_5']:.1%} ({quality['hits_at_5']}/{quality['cases']})   "
        f"target recall@5 >= {TARGETS['recall_at_5']:.0%}",
        "",
        f"{'miss kind':<13} {'count':>5}",
    ]
    lines += [f"{kind:<13} {count:>5}" for kind, count in quality["misses_by_kind"].items()]
    if quality["misses"]:
        lines += ["", f"{'kind':<12} {'name':<34} {'expected':<40} {'rank':>4}  top candidate"]
        for miss in quality["misses"]:
            expected = f"{miss['expected'][0]} {miss['expected_display'][0]}"[:40]
            top = miss["top"][0] if miss["top"] else "-"
            lines.append(f"{miss['kind']:<12} {miss['name'][:34]:<34} {expected:<40} {miss['rank'] or '-':>4}  {top}")
    return "\n".join(lines)


def format_speed(result: dict) -> str:
    s = result
    builds = ", ".join(f"{system.rsplit('/', 1)[-1]} {b['seconds']:.1f} s" for system, b in s["builds"].items())
    lines = [
        f"queries {s['queries']} (target SNOMED CT, top 10): p50 {s['p50_ms']:.1f} ms  p95 {s['p95_ms']:.1f} ms  "
        f"p99 {s['p99_ms']:.1f} ms  max {s['max_ms']:.1f} ms  (target p95 <= {TARGETS['p95_ms']:.0f} ms)",
        f"{'group':<14} {'queries':>7} {'p50 ms':>7} {'p95 ms':>7} {'answered':>8} {'source in top 10':>16} "
        f"{'first':>6}",
    ]
    for group, g in s["groups"].items():
        lines.append(f"{group:<14} {g['queries']:>7} {g['p50_ms']:>7.1f} {g['p95_ms']:>7.1f} {g['answered']:>8} "
                     f"{g.get('source_in_top_10', '-'):>16} {g.get('source_first', '-'):>6}")
    lines += [
        f"every system (SNOMED CT + RxNorm): p50 {s['every_system_p50_ms']:.1f} ms  "
        f"p95 {s['every_system_p95_ms']:.1f} ms",
        f"index build: {builds} (target <= {TARGETS['build_seconds']:.0f} s each)",
        f"index RSS: {s['index_rss_mb']:.0f} MB (RSS {s['rss_before_mb']:.0f} -> {s['rss_after_build_mb']:.0f} MB, "
        f"store connection closed)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.candidates", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=PROJECT / "benchmarks" / "out")
    parser.add_argument("--sampled", type=int, default=500, help="store designations among the speed queries")
    parser.add_argument("--wait", type=float, default=30.0, help="minutes to wait for a quiet machine")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--child-speed", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(PROJECT))
    if args.child_speed:
        print(json.dumps(speed(args.child_speed, args.sampled)))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"command": " ".join(["python -m benchmarks.candidates", *(argv or sys.argv[1:])]),
                     "started": _now(), "scale": args.scale, "seed": args.seed, "targets": TARGETS,
                     "machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                                 "platform": platform.platform()}}
    if not args.skip_quality:
        store = ensure_vista_store(args.out)
        results["quality"] = quality = evaluate(store)
        results["quality"]["store"] = store.name
        print(format_quality(quality), flush=True)
    if not args.skip_speed:
        store, built = ensure_scale_store(args.out, args.scale, args.seed)
        hygiene = wait_for_quiet(args.wait)
        child = subprocess.run([sys.executable, "-m", "benchmarks.candidates", "--child-speed", str(store),
                                "--sampled", str(args.sampled)], cwd=PROJECT, capture_output=True, text=True)
        if child.returncode:
            sys.stderr.write(child.stderr)
            raise SystemExit(f"the speed run failed ({child.returncode})")
        measured = json.loads(child.stdout.strip().splitlines()[-1])
        results["speed"] = {**measured, "store": built, "load_average_before": hygiene["load_average"],
                            "load_average_after": _load_average(), "quiet_before": hygiene["quiet"],
                            "waited_s": hygiene["waited_s"], "other_runs_before": hygiene["others"]}
        print("", format_speed(measured),
              f"load average before {hygiene['load_average']} (quiet: {hygiene['quiet']}), after {_load_average()}",
              sep="\n", flush=True)
    results["finished"] = _now()
    path = args.out / "candidates-results.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
