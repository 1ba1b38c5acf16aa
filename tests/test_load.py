"""Under load: 50 interface engines at once, while a new SNOMED CT release is loaded and switched to.

The real service (`termmap serve`, one uvicorn process) runs on a demo store: a SQLite file, or a
PostgreSQL schema of the test's own. Fifty clients each send a fixed plan of 40 requests (single
translations and batches, mapped and unmapped items), and after the first few hundred answers
`termmap load snomed` loads and activates a re-dated release in another process. The plan is fixed,
so every unmapped code is sent a known number of times and its review entry must count exactly that.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import func, select

from mappings.tables import review_entries, review_senders
from terminology.database import create_store_engine
from terminology.model import ReleaseStatus
from terminology.releases import list_releases
from terminology.systems import RXNORM, SNOMED
from tests.conftest import DEMO_LOCAL_SYSTEM, api_key, redated_demo_snomed
from tests.support.service import PROJECT, Service, demo_store_url

pytestmark = pytest.mark.slow

CLIENTS, REQUESTS = 50, 40
UNMAPPED_CODES = [f"LOAD-{n:02d}" for n in range(20)]
BEFORE_THE_LOAD = 10  # each client's first requests go out before the loader starts; the rest after it started
LOAD_AFTER_ANSWERS = 200
TIMEOUT = 120.0  # seconds, for the whole traffic and for the load

MAPPED = {"source": {"system": RXNORM, "code": "1191"}, "target_system": SNOMED, "context": "medication"}
ASPIRIN = "387458008"


def unmapped(code: str, sender: str) -> dict:
    return {"source": {"system": DEMO_LOCAL_SYSTEM, "code": code, "display": f"Local allergen {code}"},
            "target_system": SNOMED, "context": "allergy", "sender": sender}


def plan(client: int) -> list[tuple[str, list[dict]]]:
    """Client `client`'s requests, in order: ("single" | "batch", items)."""
    sender = f"feed-{client % 5}"
    requests = []
    for number in range(client * REQUESTS, (client + 1) * REQUESTS):
        code = UNMAPPED_CODES[number % len(UNMAPPED_CODES)]
        kind = number % 4
        if kind == 0:
            requests.append(("single", [MAPPED]))
        elif kind in (1, 3):
            requests.append(("single", [unmapped(code, sender)]))
        else:
            other = UNMAPPED_CODES[(number * 7) % len(UNMAPPED_CODES)]
            requests.append(("batch", [MAPPED, unmapped(code, sender), unmapped(other, sender), MAPPED,
                                       unmapped(code, sender)]))
    return requests


def expected_occurrences() -> Counter:
    sent = Counter()
    for client in range(CLIENTS):
        for _, items in plan(client):
            sent.update(item["source"]["code"] for item in items if item is not MAPPED)
    return sent


def problem_with(answer: dict, sent: dict) -> str | None:
    """What is wrong with `answer` to `sent`, or None when it is a valid answer."""
    if answer.get("status") not in {"mapped", "unvalidated", "unmapped"}:
        return f"status {answer.get('status')!r}"
    original = {key: sent[key] for key in ("source", "text") if key in sent}
    if answer.get("original") != original:
        return f"original {answer.get('original')!r} is not what was sent ({original!r})"
    if sent is MAPPED:
        if answer["status"] != "mapped" or [m["code"] for m in answer["matches"]] != [ASPIRIN]:
            return f"RxNorm 1191 answered {answer['status']} {answer['matches']!r}"
    elif answer["status"] != "unmapped" or not answer.get("review"):
        return f"an unknown local code answered {answer['status']} without a review entry"
    return None


@dataclass
class Traffic:
    answered: int = 0
    finished_at: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    loader_started: threading.Event = field(default_factory=threading.Event)
    enough_answers: threading.Event = field(default_factory=threading.Event)

    def done(self, failure: str | None) -> None:
        with self.lock:
            self.answered += 1
            self.finished_at.append(time.monotonic())
            if failure:
                self.failures.append(failure)
            if self.answered >= LOAD_AFTER_ANSWERS:
                self.enough_answers.set()


def run_client(service: Service, key: str, client: int, traffic: Traffic) -> None:
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {key}"}, timeout=30.0) as http:
        for number, (kind, items) in enumerate(plan(client)):
            if number == BEFORE_THE_LOAD and not traffic.loader_started.wait(TIMEOUT):
                traffic.done(f"client {client}: the loader never started")
                return
            try:
                if kind == "single":
                    response = http.post("/v1/translate", json=items[0])
                else:
                    response = http.post("/v1/translate/batch", json={"items": items})
            except httpx.HTTPError as exc:
                traffic.done(f"client {client} request {number}: {type(exc).__name__}: {exc}")
                continue
            if response.status_code != 200:
                traffic.done(f"client {client} request {number}: HTTP {response.status_code} {response.text[:300]}")
                continue
            answers = [response.json()] if kind == "single" else response.json()["items"]
            problems = [problem_with(answer, sent) for answer, sent in zip(answers, items, strict=True)]
            problem = next((p for p in problems if p), None)
            traffic.done(f"client {client} request {number}: {problem}" if problem else None)


@dataclass
class Load:
    started: float = 0.0
    finished: float = 0.0
    returncode: int | None = None
    output: str = ""


def load_new_release(database_url: str, release, traffic: Traffic, load: Load) -> None:
    """`termmap load snomed` in another process, once the traffic is well under way."""
    traffic.enough_answers.wait(TIMEOUT)
    command = [sys.executable, "-m", "api.cli", "load", "snomed", str(release)]
    load.started = time.monotonic()
    process = subprocess.Popen(command, cwd=PROJECT, env={**os.environ, "TERMMAP_DATABASE_URL": database_url},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    traffic.loader_started.set()
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    load.finished = time.monotonic()
    load.returncode, load.output = process.returncode, output.decode(errors="replace")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    yield from demo_store_url(request.param, request, tmp_path)


def test_fifty_clients_during_a_release_switch_get_valid_answers_and_every_unmapped_code_is_counted_exactly(
        database_url, tmp_path):
    """2,000 requests from 50 concurrent clients, a SNOMED CT release loaded and activated meanwhile: every
    answer is a 200 with a valid translation, each unmapped code has one review entry counting each time it
    was sent, and the new release ends active (and is the one answering)."""
    engine = create_store_engine(database_url)
    try:
        key = api_key(engine, "translator", "load-test")
        release = redated_demo_snomed(tmp_path)
        traffic, load = Traffic(), Load()
        with Service(database_url, tmp_path / "serve.log") as service:
            loader = threading.Thread(target=load_new_release, args=(database_url, release, traffic, load))
            clients = [threading.Thread(target=run_client, args=(service, key, number, traffic))
                       for number in range(CLIENTS)]
            started = time.monotonic()
            for thread in [loader, *clients]:
                thread.start()
            for thread in [loader, *clients]:
                thread.join(max(1.0, started + 2 * TIMEOUT - time.monotonic()))
            assert not any(thread.is_alive() for thread in [loader, *clients]), "the traffic did not finish in time"
            elapsed = time.monotonic() - started

            assert load.returncode == 0, f"termmap load snomed failed:\n{load.output}"
            assert traffic.failures == [], f"{len(traffic.failures)} bad answers, e.g.\n" + "\n".join(
                traffic.failures[:10])
            assert traffic.answered == CLIENTS * REQUESTS
            during_the_load = sum(load.started <= at <= load.finished for at in traffic.finished_at)
            assert during_the_load > 0, "no answer came while the release was loading: the test proved nothing"

            # The switch reaches the running service: Benzylpenicillin, inactive in the new release, now
            # translates through its REPLACED BY association (within the cache's check interval).
            benzylpenicillin = {"source": {"system": SNOMED, "code": "323389000"}, "target_system": SNOMED,
                                "context": "allergy"}
            deadline, answer = time.monotonic() + 10, None
            with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {key}"},
                              timeout=10.0) as http:
                while time.monotonic() < deadline:
                    answer = http.post("/v1/translate", json=benzylpenicillin).json()
                    if [(m["code"], m["rule"]) for m in answer["matches"]] == [("373270004", "historical")]:
                        break
                    time.sleep(0.2)
                else:
                    pytest.fail(f"the service still answers from the old release: {answer}")

        with engine.connect() as connection:
            snomed = {r.version: r.status for r in list_releases(connection, SNOMED)}
            assert snomed == {"INT 20250901": ReleaseStatus.RETIRED, "INT 20260301": ReleaseStatus.ACTIVE}
            rows = connection.execute(
                select(review_entries.c.source_code, review_entries.c.occurrences, review_entries.c.id)
                .where(review_entries.c.source_system == DEMO_LOCAL_SYSTEM,
                       review_entries.c.source_code.like("LOAD-%"))
            ).all()
            senders = dict(connection.execute(
                select(review_senders.c.entry_id, func.sum(review_senders.c.occurrences))
                .group_by(review_senders.c.entry_id)
            ).all())
        entries_per_code = Counter(row.source_code for row in rows)
        assert set(entries_per_code.values()) == {1}, f"codes with several entries: {entries_per_code}"
        assert {row.source_code: row.occurrences for row in rows} == dict(expected_occurrences())
        assert all(senders.get(row.id) == row.occurrences for row in rows), "sender counts differ from occurrences"
        assert elapsed < TIMEOUT
    finally:
        engine.dispose()
