"""Time a file of HL7 v2 messages through `termmap hl7 translate`'s code path, against two baselines.

    python -m benchmarks.hl7v2 [--messages 1000] [--segments 5] [--repeat 3] [--unmapped-codes 300]
                               [--seed N] [--out benchmarks/out]

Target (issue 7): a 1,000-message file with 5 AL1 segments each translates in <= 2 s. It is reported,
never asserted, and judged only at that size (other sizes report `n/a`).

**The store.** `python -m api.cli demo` (`termmap demo`, the project's demo set: SNOMED CT RF2, RxNorm
RRF, the allergen and formulary tables) builds a fresh SQLite store in a temporary directory. Every
timed run gets a fresh copy of it, so every run does the same work: the review entries of the file's
unvalidated and unmapped codes are created by the run, then counted again at each repeat of a code.

**The codes** are read from that store and sorted by what the store answers, not guessed: every active
RxNorm concept and every NDC of the RxNorm release, and every code of the demo allergen table, are
translated to SNOMED CT (context allergy, as AL1-3 asks; medication, as RXE-2 asks) in a transaction
that is rolled back. Pools, by the outcome `mappings.hl7v2` gives a field:

- validated: RxNorm / NDC codes (e.g. `1191^aspirin^RXNORM`) and allergen-table codes whose answer is
  mapped to exactly one target (the allergen table's negations, e.g. `NKDA`);
- unvalidated: allergen-table codes sent as local codes (`PCN^Penicillins^L`), answered by the
  table's own SNOMED CT column (rule local-table);
- unmapped: `--unmapped-codes` invented local codes (`X0001^<invented name>^L` or `^99DEM`) plus the
  allergen-table codes the store cannot map; each is drawn many times, so the review queue's
  dedup path (one entry, its occurrences counted up) carries most of them.

**The file** (seeded): `--messages` MLLP-framed messages (`\\x0b ... \\x1c\\r`, as an interface engine's
batch), CR segment separators, 3/4 `ADT^A08` (MSH EVN PID PV1 AL1xM) from `ADTSYS|DEMOHOSP`, 1/4 `RDE^O11`
(MSH PID PV1 AL1xM ORC RXE RXR) from `PHARMSYS|DEMOHOSP`; `--segments` AL1 per message, each drawn
60 % validated / 20 % unvalidated / 20 % unmapped; RXE-2 drawn from every RxNorm / NDC code (whatever
the store answers for it in context medication: mapped, multiple or unmapped). MSH-4 `DEMOHOSP` is
mapped to the demo allergen system (`local_systems`, as TERMMAP_HL7V2_LOCAL_SYSTEMS would), so `L` and
`99DEM` codes are read in it. The target system is SNOMED CT.

**A check run** (untimed, on its own copy) translates the file once as (a) does and records, through
`translate_message`'s `observe` hook, every request the engine was asked, message by message: the
counts per outcome must equal what the generator drew, and those requests are what (c) replays.

**Timed**, `--repeat` rounds; each round runs the four measurements below (the order rotated from
round to round), each on a fresh store copy, with a fresh `TranslationCache` where one is used.
Before the clock starts, each run opens its engine, builds the candidate-search indexes of the copy
(`candidate_index.warm`, as the service does at start-up) and reads the cache's store version
(`TranslationCache.refresh`): a warm worker, not a cold process.

- **(a) hl7 translate** - the loop of `termmap hl7 translate`: read the file, `split_messages`, then
  per message one transaction (`engine.begin()`) around `translate_message` (target SNOMED CT, the
  `local_systems` above), then the translated messages joined back into MLLP frames and written to a
  file. Measured with a `mappings.cache.TranslationCache` (as the service's `POST /v1/hl7v2/translate`
  has; default size) and without one (as the CLI runs today).
- **(b) parse baseline** - read the file, `split_messages`, and `hl7.parse` (python-hl7) of each
  message: the floor of reading the messages at all.
- **(c) engine baseline** - the requests recorded by the check run, message by message, each message
  in one transaction, through `mappings.engine.translate` with a fresh cache: the same codings
  translated without any HL7 around them.

Each figure is wall-clock seconds (`time.perf_counter`) and the process's CPU seconds
(`time.process_time`, steadier when other work shares the machine); the table shows the best and the
median of the rounds; the ratios are (a)/(b) and (a)/(c) of the medians. After each translating run
the copy's review entries are counted (distinct entries, summed occurrences). The load average
(before the run and before each measurement) and any other benchmark or pytest process running are
recorded: the box is shared. Results: a table on stdout and `OUT/hl7v2-results.json`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import hl7
from sqlalchemy import Engine, func, select

from api.cli import DEMO_LOCAL_TABLES
from benchmarks.reports import _others
from mappings.cache import TranslationCache
from mappings.engine import translate
from mappings.hl7v2 import Hl7v2Error, Outcome, split_messages, translate_message
from mappings.tables import review_entries
from mappings.translation import Context, SourceCoding, Status, TranslateRequest, Translation
from terminology import candidate_index
from terminology.database import create_store_engine
from terminology.releases import active_release_ids
from terminology.schema import concepts, crosswalks
from terminology.systems import NDC, RXNORM, SNOMED

__all__ = ["TARGET_SECONDS", "main"]

PROJECT = Path(__file__).resolve().parent.parent
TARGET = SNOMED
TARGET_SECONDS = 2.0
TARGET_SIZE = (1000, 5)  # messages, AL1 segments per message (issue 7)
FACILITY = "DEMOHOSP"
LOCAL_SYSTEM = dict(DEMO_LOCAL_TABLES)["allergens"]
LOCAL_SYSTEMS = {FACILITY: LOCAL_SYSTEM}
AL1_MIX = (("validated", 0.6), ("unvalidated", 0.2), ("unmapped", 0.2))  # pool, share of AL1 fields
ALLERGEN_TYPE = {"drug": "DA", "food": "FA", "environment": "EA"}  # allergen table `kind` -> HL7 table 0127
MEASURES = ("hl7 translate, cache", "hl7 translate, no cache", "parse baseline", "engine baseline")
STEMS = ("zor", "vel", "qua", "tri", "mex", "lor", "dab", "pim", "sul", "ket", "bra", "nox", "fen", "cyl", "dro",
         "gal", "hep", "ix", "jun", "kri")
ENDS = ("azepam", "oxitol", "umab", "idrine", "afen", "oquine", "elast", "ivir", "olone", " extract", " pollen",
        " dye", " resin", " gum", "ase")
FIRST = ("ANNA", "JOHN", "MARIA", "WEI", "FATIMA", "LUCAS", "SARA", "OMAR", "ZOE", "IVAN")
LAST = ("SMITH", "GARCIA", "NGUYEN", "O'BRIEN", "MULLER", "KOWALSKI", "OKAFOR", "TANAKA", "SILVA", "JONES")


@dataclass(frozen=True)
class Coded:
    """A code as a message carries it (CE components 1-3, unescaped) and the outcome the store gives it."""

    code: str
    text: str
    name: str  # coding system name (HL7 table 0396): RXNORM, NDC, L, 99DEM
    allergen_type: str  # AL1-2
    outcome: Outcome


# --- the store ------------------------------------------------------------------------------------------------------


def build_demo_store(work: Path) -> Path:
    """A fresh SQLite store holding the demo set, made by `termmap demo` (`python -m api.cli demo`)."""
    path = work / "demo.db"
    done = subprocess.run([sys.executable, "-m", "api.cli", "demo"], cwd=PROJECT, capture_output=True, text=True,
                          env={**os.environ, "TERMMAP_DATABASE_URL": f"sqlite:///{path}"})
    if done.returncode != 0:
        raise RuntimeError(f"termmap demo failed ({done.returncode}):\n{done.stderr[-4000:]}")
    engine = create_store_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # one file to copy
    engine.dispose()
    return path


def _copy(template: Path, work: Path, name: str) -> Engine:
    path = work / f"{name}.db"
    for leftover in work.glob(f"{name}.db*"):
        leftover.unlink()
    shutil.copyfile(template, path)
    return create_store_engine(f"sqlite:///{path}")


def _drop(engine: Engine) -> None:
    path = Path(engine.url.database)
    engine.dispose()
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()


def _warm(engine: Engine, cache: TranslationCache | None) -> None:
    """What a running worker has before a file arrives: a connection, candidate indexes, the cache's version."""
    with engine.connect() as connection:
        candidate_index.warm(connection)
    if cache is not None:
        cache.refresh(engine)


# --- the codes --------------------------------------------------------------------------------------------------------


def _outcome(answer: Translation) -> Outcome:
    """The outcome `mappings.hl7v2` gives a field with this answer (a field with an empty alternate triplet)."""
    if answer.status is not Status.MAPPED or not answer.matches:
        return Outcome.UNVALIDATED if answer.status is Status.UNVALIDATED else Outcome.UNMAPPED
    return Outcome.MULTIPLE if len(answer.matches) > 1 else Outcome.MAPPED


def _invented(rng: random.Random, count: int) -> list[tuple[str, str, str, str]]:
    """(code, text, coding system name, allergen type) of `count` local codes no table holds."""
    names: set[str] = set()
    found = []
    while len(found) < count:
        name = (rng.choice(STEMS) + rng.choice(STEMS) + rng.choice(ENDS)).capitalize()
        if name in names:
            continue
        names.add(name)
        found.append((f"X{len(found) + 1:04d}", name, rng.choice(("L", "L", "99DEM")), rng.choice(("DA", "FA", "EA", "MA"))))
    return found


def pick_codes(engine: Engine, rng: random.Random, unmapped_codes: int) -> dict[str, list[Coded]]:
    """The pools of AL1 (allergy) and RXE (medication) codes, by what the demo store answers (rolled back)."""
    pools: dict[str, list[Coded]] = {"validated": [], "unvalidated": [], "unmapped": [], "rxe": []}
    with engine.connect() as connection:
        ids = active_release_ids(connection)
        rx, local = ids[RXNORM], ids[LOCAL_SYSTEM]
        drugs = [(code, display, "RXNORM") for code, display in connection.execute(
            select(concepts.c.code, concepts.c.display).where(concepts.c.release_id == rx, concepts.c.active))]
        drugs += [(ndc, display, "NDC") for ndc, display in connection.execute(
            select(crosswalks.c.other_code, concepts.c.display)
            .join(concepts, (concepts.c.release_id == crosswalks.c.release_id) & (concepts.c.code == crosswalks.c.code))
            .where(crosswalks.c.release_id == rx, crosswalks.c.other_system == NDC))]
        table = [(code, display, "L", ALLERGEN_TYPE.get(kind or "", "MA")) for code, display, kind in connection.execute(
            select(concepts.c.code, concepts.c.display, concepts.c.kind).where(concepts.c.release_id == local))]
        systems = {"RXNORM": RXNORM, "NDC": NDC, "L": LOCAL_SYSTEM, "99DEM": LOCAL_SYSTEM}
        pool = {Outcome.MAPPED: "validated", Outcome.UNVALIDATED: "unvalidated", Outcome.UNMAPPED: "unmapped"}

        def coded(code: str, text: str, name: str, allergen_type: str, context: Context) -> Coded:
            request = TranslateRequest(SourceCoding(systems[name], code, text), None, TARGET, context)
            return Coded(code, text, name, allergen_type, _outcome(translate(connection, request)))

        for code, text, name in sorted(drugs):
            allergy = coded(code, text, name, "DA", Context.ALLERGY)
            if allergy.outcome is Outcome.MAPPED:
                pools["validated"].append(allergy)
            pools["rxe"].append(coded(code, text, name, "", Context.MEDICATION))
        for code, text, name, allergen_type in sorted(table) + _invented(rng, unmapped_codes):
            found = coded(code, text, name, allergen_type, Context.ALLERGY)
            if found.outcome in pool:
                pools[pool[found.outcome]].append(found)
        connection.rollback()  # the review entries made while sorting them are not kept
    if not all(pools.values()):
        raise RuntimeError(f"the demo store gave an empty pool: { {k: len(v) for k, v in pools.items()} }")
    return pools


# --- the file ---------------------------------------------------------------------------------------------------------


def _er7(value: str) -> str:
    """`value` escaped for `|^~\\&` ER7."""
    out = value.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\").replace("&", "\\T\\")
    return out.replace("~", "\\R\\")


def _ce(coded: Coded) -> str:
    return f"{_er7(coded.code)}^{_er7(coded.text)}^{coded.name}"


def generate_file(path: Path, rng: random.Random, pools: dict[str, list[Coded]], messages: int,
                  segments: int) -> dict[str, Any]:
    """Write `messages` MLLP-framed messages to `path`; what was drawn (the expected outcome counts)."""
    expected = {outcome.value: 0 for outcome in Outcome}
    kinds, weights = [kind for kind, _ in AL1_MIX], [share for _, share in AL1_MIX]
    frames, al1, rxe = [], 0, 0
    used: dict[str, set[str]] = {"unvalidated": set(), "unmapped": set()}
    for number in range(1, messages + 1):
        pharmacy = number % 4 == 0
        stamp = f"202612{1 + number % 28:02d}{number % 24:02d}{number % 60:02d}00"
        header = (f"MSH|^~\\&|{'PHARMSYS' if pharmacy else 'ADTSYS'}|{FACILITY}|TERMMAP|{FACILITY}|{stamp}||"
                  f"{'RDE^O11^RDE_O11' if pharmacy else 'ADT^A08^ADT_A01'}|MSG{number:07d}|P|2.5.1")
        patient = (f"PID|1||{rng.randint(10**6, 10**7 - 1)}^^^{FACILITY}^MR||{_er7(rng.choice(LAST))}^"
                   f"{rng.choice(FIRST)}||19{rng.randint(30, 99)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}|"
                   f"{rng.choice('FM')}")
        lines = [header] + ([] if pharmacy else [f"EVN|A08|{stamp}"])
        lines += [patient, f"PV1|1|I|WARD{rng.randint(1, 9)}^{rng.randint(100, 499)}^A"]
        for index in range(1, segments + 1):
            kind = rng.choices(kinds, weights)[0]
            coded = rng.choice(pools[kind])
            if kind in used:
                used[kind].add(coded.code)
            expected[coded.outcome.value] += 1
            al1 += 1
            lines.append(f"AL1|{index}|{coded.allergen_type}|{_ce(coded)}|{rng.choice(('MI', 'MO', 'SV'))}|"
                         f"{rng.choice(('Hives', 'Rash', 'Anaphylaxis', 'Nausea', 'Wheezing'))}")
        if pharmacy:
            drug = rng.choice(pools["rxe"])
            expected[drug.outcome.value] += 1
            rxe += 1
            lines += [f"ORC|NW|ORD{number:07d}",
                      f"RXE|^^^{stamp[:8]}^^R|{_ce(drug)}|1||TAB^Tablet^HL70292|||||30|TAB",
                      "RXR|PO^Oral^HL70162"]
        frames.append(b"\x0b" + ("\r".join(lines) + "\r").encode("ascii") + b"\x1c\r")
    data = b"".join(frames)
    path.write_bytes(data)
    return {"messages": messages, "segments_per_message": segments, "bytes": len(data), "al1_fields": al1,
            "rxe_fields": rxe, "distinct_unvalidated_codes": len(used["unvalidated"]),
            "distinct_unmapped_codes": len(used["unmapped"]), "expected": expected}


# --- the measurements -------------------------------------------------------------------------------------------------


def translate_file(engine: Engine, path: Path, out: Path, cache: TranslationCache | None,
                   observe: Callable[[Translation, TranslateRequest], None] | None = None,
                   on_message: Callable[[], None] | None = None) -> dict[str, Any]:
    """`termmap hl7 translate`'s loop: each message of `path` in its own transaction, the result written to `out`."""
    data = path.read_bytes()
    framed = b"\x0b" in data
    written: list[bytes] = []
    counts = {outcome.value: 0 for outcome in Outcome}
    rejected = 0
    for raw in split_messages(data):
        if on_message is not None:
            on_message()
        try:
            with engine.begin() as connection:
                result = translate_message(connection, raw, TARGET, local_systems=LOCAL_SYSTEMS, cache=cache,
                                           observe=observe)
        except Hl7v2Error:
            rejected += 1
            continue
        written.append(result.message)
        for outcome, count in result.counts.items():
            counts[outcome.value] += count
    out.write_bytes(b"".join(b"\x0b" + m + b"\x1c\r" for m in written) if framed else b"\n\n".join(written))
    return {"messages": len(written), "rejected": rejected, "counts": counts}


def parse_file(path: Path) -> dict[str, Any]:
    """Baseline (b): read, split and `hl7.parse` every message."""
    data = path.read_bytes()
    parsed = [hl7.parse(raw.decode("ascii")) for raw in split_messages(data)]
    return {"messages": len(parsed), "segments": sum(len(message) for message in parsed)}


def translate_requests(engine: Engine, per_message: list[list[TranslateRequest]],
                       cache: TranslationCache) -> dict[str, Any]:
    """Baseline (c): the same requests through `mappings.engine.translate`, one transaction per message."""
    counts = {status.value: 0 for status in Status}
    for requests in per_message:
        with engine.begin() as connection:
            for request in requests:
                counts[translate(connection, request, cache=cache).status.value] += 1
    return {"messages": len(per_message), "counts": counts}


def check_run(template: Path, work: Path, path: Path) -> tuple[dict[str, Any], list[list[TranslateRequest]]]:
    """Translate the file once (untimed) and record the engine's requests per message."""
    per_message: list[list[TranslateRequest]] = []
    engine = _copy(template, work, "check")
    try:
        result = translate_file(engine, path, work / "check.hl7", TranslationCache(),
                                observe=lambda _answer, request: per_message[-1].append(request),
                                on_message=lambda: per_message.append([]))
    finally:
        _drop(engine)
    result["requests"] = sum(len(requests) for requests in per_message)
    return result, per_message


def _review_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        entries, occurrences = connection.execute(
            select(func.count(), func.coalesce(func.sum(review_entries.c.occurrences), 0))).one()
    return {"review_entries": int(entries), "review_occurrences": int(occurrences)}


def measure(name: str, template: Path, work: Path, path: Path,
            per_message: list[list[TranslateRequest]]) -> dict[str, Any]:
    """One timed run of measurement `name` (see the module docstring) on a fresh copy of the store."""
    load = [round(x, 2) for x in os.getloadavg()]
    engine = cache = None
    if name != "parse baseline":
        engine = _copy(template, work, "run")
        cache = None if name == "hl7 translate, no cache" else TranslationCache()
        _warm(engine, cache)
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        if name == "parse baseline":
            result = parse_file(path)
        elif name == "engine baseline":
            result = translate_requests(engine, per_message, cache)
        else:
            result = translate_file(engine, path, work / "translated.hl7", cache)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if engine is not None:
            result.update(_review_counts(engine))
        if cache is not None:
            result.update(cache_hits=cache.hits, cache_misses=cache.misses)
    finally:
        if engine is not None:
            _drop(engine)
    return {"measure": name, "seconds": round(wall, 4), "cpu_seconds": round(cpu, 4), "load_average": load, **result}


def summarise(runs: list[dict[str, Any]], messages: int, segments: int) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in MEASURES:
        mine = [run for run in runs if run["measure"] == name]
        summary[name] = {"best": min(r["seconds"] for r in mine),
                         "median": round(statistics.median(r["seconds"] for r in mine), 4),
                         "median_cpu": round(statistics.median(r["cpu_seconds"] for r in mine), 4)}
    parse, engine = summary["parse baseline"]["median"], summary["engine baseline"]["median"]
    for name in MEASURES[:2]:
        median = summary[name]["median"]
        summary[name]["x_parse"] = round(median / parse, 2) if parse else None
        summary[name]["x_engine"] = round(median / engine, 2) if engine else None
        summary[name]["ms_per_message"] = round(median / messages * 1000, 3)
    summary["engine baseline"]["x_parse"] = round(engine / parse, 2) if parse else None
    at_size = (messages, segments) == TARGET_SIZE
    median = summary["hl7 translate, cache"]["median"]
    summary["target"] = {
        "what": f"{TARGET_SIZE[0]:,} messages x {TARGET_SIZE[1]} AL1 in <= {TARGET_SECONDS:g} s (issue 7)",
        "judged_on": "median of (a) hl7 translate, cache",
        "met": (median <= TARGET_SECONDS) if at_size else None,
        "met_without_cache": (summary["hl7 translate, no cache"]["median"] <= TARGET_SECONDS) if at_size else None,
    }
    return summary


def _print(results: dict[str, Any]) -> None:
    file, summary = results["file"], results["summary"]
    print(f"\n{file['messages']:,} messages ({file['bytes']:,} bytes, MLLP), {file['al1_fields']:,} AL1 + "
          f"{file['rxe_fields']:,} RXE fields; drawn: {file['expected']}; distinct unmapped codes "
          f"{file['distinct_unmapped_codes']}, unvalidated {file['distinct_unvalidated_codes']}; "
          f"{results['repeat']} rounds")
    print(f"{'measure':<32} {'best s':>8} {'median s':>9} {'CPU s':>7} {'ms/msg':>7} {'x (b)':>6} {'x (c)':>6}")
    labels = {"hl7 translate, cache": "(a) hl7 translate, cache", "hl7 translate, no cache": "(a) hl7 translate, no cache",
              "parse baseline": "(b) python-hl7 parse", "engine baseline": "(c) engine.translate, cache"}
    for name in MEASURES:
        row = summary[name]
        per = row.get("ms_per_message", round(row["median"] / file["messages"] * 1000, 3))
        x_parse = f"{row['x_parse']:.2f}" if row.get("x_parse") is not None else ""
        x_engine = f"{row['x_engine']:.2f}" if row.get("x_engine") is not None else ""
        print(f"{labels[name]:<32} {row['best']:>8.3f} {row['median']:>9.3f} {row['median_cpu']:>7.3f} {per:>7.3f} "
              f"{x_parse:>6} {x_engine:>6}")
    target = summary["target"]
    verdict = {True: "met", False: "MISSED", None: "n/a at this size"}
    print(f"target {target['what']}: {verdict[target['met']]} with the cache, "
          f"{verdict[target['met_without_cache']]} without")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hl7v2", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=TARGET_SIZE[0])
    parser.add_argument("--segments", type=int, default=TARGET_SIZE[1], help="AL1 segments per message")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--unmapped-codes", type=int, default=300, help="distinct invented unmapped local codes")
    parser.add_argument("--seed", type=int, default=20260107)
    parser.add_argument("--out", type=Path, default=PROJECT / "benchmarks" / "out")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "command": "python -m benchmarks.hl7v2 " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "other_processes_before": _others(),
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "hl7": getattr(hl7, "__version__", "")},
        "target_seconds": TARGET_SECONDS, "target_system": TARGET, "local_systems": LOCAL_SYSTEMS,
        "repeat": args.repeat, "seed": args.seed,
    }
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="termmap-hl7v2-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        template = build_demo_store(work)
        results["store_seconds"] = round(time.perf_counter() - started, 2)
        engine = create_store_engine(f"sqlite:///{template}")
        try:
            pools = pick_codes(engine, rng, args.unmapped_codes)
        finally:
            engine.dispose()
        results["codes"] = {kind: [f"{c.code}^{c.text}^{c.name} -> {c.outcome.value}" for c in pool[:60]]
                            for kind, pool in pools.items()}
        results["codes_in_pool"] = {kind: len(pool) for kind, pool in pools.items()}
        path = work / "messages.hl7"
        results["file"] = generate_file(path, rng, pools, args.messages, args.segments)
        check, per_message = check_run(template, work, path)
        check["matches_expected"] = (check["counts"] == results["file"]["expected"]
                                     and check["messages"] == args.messages and check["rejected"] == 0
                                     and len(per_message) == args.messages)
        results["check"] = check
        if not check["matches_expected"]:
            print(f"warning: the check run disagrees with what was drawn: {check['counts']} vs "
                  f"{results['file']['expected']}", file=sys.stderr)
        runs = []
        for index in range(args.repeat):
            order = MEASURES[index % len(MEASURES):] + MEASURES[:index % len(MEASURES)]
            for name in order:
                runs.append({"round": index + 1, **measure(name, template, work, path, per_message)})
        results["runs"] = runs
    results["summary"] = summarise(runs, args.messages, args.segments)
    results["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    _print(results)
    print(f"\nload average before: {results['load_average_before']}, after: {results['load_average_after']}; "
          f"other benchmark/pytest processes before: {len(results['other_processes_before'])}")
    target = args.out / "hl7v2-results.json"
    target.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
