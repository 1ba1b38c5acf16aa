"""Faults a hospital's operations will meet: a worker killed mid-batch, PostgreSQL going away and coming
back, a SQLite store that is full or read-only, batches deadlocking on the review queue. In each, a client
gets a clear answer (never a 500 with a traceback), a retry with the same Idempotency-Key counts everything
once, and nothing half-written remains.

The service runs for real (`termmap serve` in a subprocess, `tests.support.service`); PostgreSQL is "stopped"
by a proxy in front of it (`tests.support.tcp_proxy`), never for real: other tests use the same cluster.
"""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from mappings.tables import idempotent_requests, review_entries
from terminology.database import create_store_engine
from terminology.model import ReleaseStatus
from terminology.releases import list_releases
from terminology.systems import RXNORM, SNOMED
from tests.conftest import DEMO_LOCAL_SYSTEM, api_key, redated_demo_snomed
from tests.support.service import PROJECT, Service, demo_store_url
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

MAPPED = {"source": {"system": RXNORM, "code": "1191"}, "target_system": SNOMED, "context": "medication"}


def unmapped(code: str, display: str | None = None) -> dict:
    """An unknown local code (with a display, unless `display` is "": text makes the service search candidates)."""
    source = {"system": DEMO_LOCAL_SYSTEM, "code": code}
    if display != "":
        source["display"] = display or f"Local allergen {code}"
    return {"source": source, "target_system": SNOMED, "context": "allergy", "sender": "fault-test"}


def occurrences(engine, prefix: str) -> dict[str, int]:
    """Review-entry occurrences by code, for the local codes starting with `prefix`."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(review_entries.c.source_code, review_entries.c.occurrences)
            .where(review_entries.c.source_system == DEMO_LOCAL_SYSTEM, review_entries.c.source_code.like(f"{prefix}%"))
        ).all()
    codes = Counter(code for code, _ in rows)
    assert all(count == 1 for count in codes.values()), f"several entries for one code: {codes}"
    return dict(rows)


def authorised(service: Service, key: str, timeout: float = 30.0) -> httpx.Client:
    return httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout)


def assert_store_problem(response: httpx.Response, status: int, error: str, words: str) -> None:
    """`response` is the clear answer to a store problem: its status, a JSON body naming it, Retry-After."""
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert body["error"] == error and words in body["message"].lower(), body
    assert "Traceback" not in response.text
    assert int(response.headers["retry-after"]) > 0


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    yield from demo_store_url(request.param, request, tmp_path)


@pytest.fixture
def postgres_url(request, tmp_path):
    yield from demo_store_url("postgresql", request, tmp_path)


@pytest.fixture
def sqlite_path(request, tmp_path) -> Path:
    url = next(demo_store_url("sqlite", request, tmp_path))
    return Path(make_url(url).database)


# --- a worker killed mid-batch ---------------------------------------------------------------------------------

BATCH = 2_000  # ~3 s of work on SQLite: long enough to be killed in the middle


def _mid_transaction(database_url: str, application_name: str):
    """A probe: True while the service holds a write transaction open (SQLite: the write lock is taken;
    PostgreSQL: its connection's transaction has written)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        def writing() -> bool:
            probe = sqlite3.connect(url.database, timeout=0, isolation_level=None)
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    raise
                return True
            finally:
                probe.close()
        return writing, lambda: None
    engine = create_store_engine(database_url)

    def writing() -> bool:
        with engine.connect() as connection:
            return connection.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name AND backend_xid IS NOT NULL"
            ), {"name": application_name}).scalar_one() > 0
    return writing, engine.dispose


def test_a_worker_killed_mid_batch_then_retried_with_the_same_key_counts_each_entry_once(database_url, tmp_path):
    """SIGKILL while a 2,000-item batch is being written leaves nothing of it; the client's retry with the
    same Idempotency-Key (on the restarted service) answers every item and counts each entry once."""
    application_name = f"termmap-kill-{uuid.uuid4().hex[:8]}"
    service_url = database_url
    if make_url(database_url).get_backend_name() == "postgresql":
        service_url = f"{database_url}&application_name={application_name}"
    engine = create_store_engine(database_url)
    writing, close_probe = _mid_transaction(database_url, application_name)
    key = api_key(engine, "translator", "kill-test")
    items = [unmapped(f"KILL-{n:05d}", "") for n in range(BATCH)]
    body = orjson.dumps({"items": items})
    headers = {"Idempotency-Key": f"kill-{uuid.uuid4().hex}", "content-type": "application/json"}
    first: dict = {}
    try:
        with Service(service_url, tmp_path / "serve.log") as service:
            def send() -> None:
                try:
                    with authorised(service, key, timeout=120) as http:
                        first["response"] = http.post("/v1/translate/batch", content=body, headers=headers)
                except httpx.HTTPError as exc:
                    first["error"] = exc

            sender = threading.Thread(target=send)
            sender.start()
            deadline, seen = time.monotonic() + 60, 0
            while seen < 3:  # three probes in a row: the batch's transaction, not a short flush of counts
                assert sender.is_alive(), f"the batch was answered before it could be killed: {first}"
                assert time.monotonic() < deadline, "the batch never started writing"
                seen = seen + 1 if writing() else 0
                time.sleep(0.02)
            service.kill()
            sender.join(30)
            assert not sender.is_alive()
        assert "response" not in first, "the killed worker answered the batch"

        # Nothing of the killed batch was kept: no entry, no stored answer.
        assert occurrences(engine, "KILL-") == {}
        with engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(idempotent_requests).where(
                idempotent_requests.c.key == headers["Idempotency-Key"])).scalar_one() == 0

        with Service(service_url, tmp_path / "serve-again.log") as service, authorised(service, key) as http:
            retry = http.post("/v1/translate/batch", content=body, headers=headers)
            assert retry.status_code == 200, retry.text[:500]
            assert "idempotent-replayed" not in retry.headers
            answers = retry.json()["items"]
            assert len(answers) == BATCH
            assert all(a["status"] == "unmapped" and a["review"] and a["original"]["source"] == i["source"]
                       for a, i in zip(answers, items, strict=True))
            again = http.post("/v1/translate/batch", content=body, headers=headers)
            assert again.headers["idempotent-replayed"] == "true" and again.content == retry.content

        counted = occurrences(engine, "KILL-")
        assert len(counted) == BATCH and set(counted.values()) == {1}
    finally:
        close_probe()
        engine.dispose()


# --- PostgreSQL stopped and restarted during traffic ---------------------------------------------------------------

def _wait_for(http: httpx.Client, path: str, status: int, seconds: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        response = http.get(path)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


class Outage:
    """Clients sending unmapped items with Idempotency-Keys, recording every answer, until told to stop."""

    CODES = [f"OUT-{n}" for n in range(5)]

    def __init__(self, service: Service, key: str, clients: int = 4) -> None:
        self.service, self.key, self.clients = service, key, clients
        self.stop = threading.Event()
        self.answers: list[tuple[str, dict, httpx.Response | Exception]] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(n,)) for n in range(clients)]

    def _client(self, number: int) -> None:
        with authorised(self.service, self.key, timeout=30) as http:
            sent = 0
            while not self.stop.is_set() and sent < 2000:
                idempotency_key = f"outage-{number}-{sent}"
                item = unmapped(self.CODES[(number + sent) % len(self.CODES)])
                path = "/v1/translate" if sent % 3 else "/v1/translate/batch"
                payload = item if sent % 3 else {"items": [item, MAPPED]}
                try:
                    answer = http.post(path, json=payload, headers={"Idempotency-Key": idempotency_key})
                except httpx.HTTPError as exc:
                    answer = exc
                with self.lock:
                    self.answers.append((idempotency_key, (path, payload), answer))
                sent += 1
                time.sleep(0.05)

    def __enter__(self) -> Outage:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


def test_postgresql_going_away_and_coming_back_is_a_clear_503_and_a_retry_counts_everything_once(
        postgres_url, tmp_path):
    """PostgreSQL "stopped" (a proxy in front of it refusing and cutting connections) and "restarted" under
    traffic: /ready turns 503 and back to 200; requests meanwhile get a 503 naming the unreachable store
    (FHIR: an OperationOutcome), never a 500; a load tried meanwhile fails cleanly; after the clients retry
    with their keys, every request is counted exactly once and no staged release is left."""
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    proxied = postgres_url.replace(f"@{url.host}:{url.port}/", f"@127.0.0.1:{proxy.port}/", 1)
    assert proxied != postgres_url
    engine = create_store_engine(postgres_url)
    key = api_key(engine, "translator", "outage-test")
    release = redated_demo_snomed(tmp_path)
    try:
        with Service(proxied, tmp_path / "serve.log") as service, authorised(service, key) as http:
            assert http.get("/ready").status_code == 200
            with Outage(service, key) as traffic:
                time.sleep(1.0)
                proxy.stop()  # PostgreSQL is "down"
                down = _wait_for(http, "/ready", 503)
                assert down.status_code == 503 and down.json()["ready"] is False
                assert "cannot reach the store" in down.json()["reason"] and down.headers["retry-after"]

                assert_store_problem(http.post("/v1/translate", json=unmapped("DOWN-1")), 503, "StoreUnavailable",
                                     "unreachable")
                fhir = http.get("/fhir/r4/ConceptMap/$translate", params={
                    "system": DEMO_LOCAL_SYSTEM, "code": "DOWN-2", "targetsystem": SNOMED})
                assert fhir.status_code == 503 and fhir.headers["retry-after"]
                assert fhir.headers["content-type"].startswith("application/fhir+json")
                outcome = fhir.json()
                assert outcome["resourceType"] == "OperationOutcome"
                assert outcome["issue"][0]["code"] == "transient" and "store" in outcome["issue"][0]["diagnostics"]

                loader = subprocess.run(
                    [sys.executable, "-m", "api.cli", "load", "snomed", str(release)], cwd=PROJECT,
                    env={**service.env, "TERMMAP_DATABASE_URL": proxied}, capture_output=True, timeout=60)
                assert loader.returncode != 0 and b"cannot reach the store" in loader.stdout + loader.stderr

                time.sleep(0.5)
                proxy.start()  # PostgreSQL is "back"
                up = _wait_for(http, "/ready", 200)
                assert up.status_code == 200 and up.json()["ready"] is True
                time.sleep(1.0)

            statuses = Counter()
            for idempotency_key, (path, payload), answer in traffic.answers:
                assert not isinstance(answer, Exception), f"{idempotency_key}: {answer!r}"
                statuses[answer.status_code] += 1
                if answer.status_code == 200:
                    continue
                assert answer.status_code == 503, f"{idempotency_key}: {answer.status_code} {answer.text[:300]}"
                assert answer.json()["error"] in {"StoreUnavailable", "StoreBusy"} and "store" in answer.text
                assert answer.headers["retry-after"]
            assert statuses[503] > 0, f"no request met the outage: {statuses}"
            assert statuses[200] > 0

            # The clients retry what failed, with the same keys; then every request is counted exactly once.
            for idempotency_key, (path, payload), answer in traffic.answers:
                if answer.status_code != 200:
                    retry = http.post(path, json=payload, headers={"Idempotency-Key": idempotency_key})
                    assert retry.status_code == 200, retry.text[:300]
        sent = Counter(
            (payload if path == "/v1/translate" else payload["items"][0])["source"]["code"]
            for _, (path, payload), _ in traffic.answers
        )
        assert occurrences(engine, "OUT-") == dict(sent)
        assert occurrences(engine, "DOWN-") == {}
        with engine.connect() as connection:
            snomed = {r.version: r.status for r in list_releases(connection, SNOMED)}
            leftovers = [r for r in list_releases(connection) if r.status in (ReleaseStatus.STAGED,
                                                                              ReleaseStatus.FAILED)]
        assert snomed == {"INT 20250901": ReleaseStatus.ACTIVE} and leftovers == [], "the failed load left rows"

        # With PostgreSQL back, the same load goes through.
        loader = subprocess.run([sys.executable, "-m", "api.cli", "load", "snomed", str(release)], cwd=PROJECT,
                                env={**service.env, "TERMMAP_DATABASE_URL": proxied}, capture_output=True,
                                timeout=60)
        assert loader.returncode == 0, (loader.stdout + loader.stderr).decode(errors="replace")
        with engine.connect() as connection:
            snomed = {r.version: r.status for r in list_releases(connection, SNOMED)}
        assert snomed == {"INT 20250901": ReleaseStatus.RETIRED, "INT 20260301": ReleaseStatus.ACTIVE}
    finally:
        proxy.stop()
        engine.dispose()


# --- SQLite: disk full, read-only -----------------------------------------------------------------------------------

def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]


def _app_client(engine, key: str):
    from fastapi.testclient import TestClient

    from api.app import create_app

    client = TestClient(create_app(engine=engine), raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {key}"
    return client


def test_a_full_sqlite_store_answers_507_naming_it_and_keeps_everything_written_before(sqlite_path):
    """With the store's file at its size limit, a batch that needs room gets a 507 saying the store is full
    and counts nothing; what was written before is intact, the file passes `PRAGMA integrity_check`, and
    the same batch succeeds once there is room again."""
    url = f"sqlite:///{sqlite_path}"
    engine = create_store_engine(url)
    key = api_key(engine, "translator", "full-test")
    with _app_client(engine, key) as client:
        before = client.post("/v1/translate/batch", json={"items": [unmapped(f"EARLY-{n}") for n in range(50)]})
        assert before.status_code == 200
    engine.dispose()
    assert occurrences(create_store_engine(url), "EARLY-") == {f"EARLY-{n}": 1 for n in range(50)}

    with sqlite3.connect(sqlite_path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
    full = create_store_engine(url)

    @event.listens_for(full, "connect")
    def _limit(dbapi_connection, _record) -> None:  # the "disk": a few pages more than the store holds now
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 8}")

    batches: list[list[dict]] = []
    with _app_client(full, key) as client:
        for number in range(40):
            batch = [unmapped(f"FILL-{number:02d}-{n:03d}", "x" * 400) for n in range(200)]
            batches.append(batch)
            response = client.post("/v1/translate/batch", json={"items": batch})
            if response.status_code != 200:
                break
        else:
            pytest.fail("the store never filled up")
        assert_store_problem(response, 507, "StoreFull", "full")
        assert client.post("/v1/translate", json=MAPPED).status_code == 200  # reads still work
    full.dispose()

    assert _integrity(sqlite_path) == "ok"
    engine = create_store_engine(url)
    try:
        assert occurrences(engine, "EARLY-") == {f"EARLY-{n}": 1 for n in range(50)}
        filled = occurrences(engine, "FILL-")
        assert filled == {item["source"]["code"]: 1 for batch in batches[:-1] for item in batch}
        with _app_client(engine, key) as client:  # room again: the refused batch goes through, counted once
            assert client.post("/v1/translate/batch", json={"items": batches[-1]}).status_code == 200
        assert occurrences(engine, batches[-1][0]["source"]["code"]) == {batches[-1][0]["source"]["code"]: 1}
    finally:
        engine.dispose()


def test_a_read_only_sqlite_store_still_translates_what_needs_no_write_and_refuses_the_rest_clearly(
        sqlite_path, tmp_path):
    """The service on a store opened read-only (`file:...?mode=ro`): mapped answers still come; an item that
    must be queued for review gets a 503 saying the store is read-only (FHIR: an OperationOutcome), nothing is
    written, and the file is intact afterwards."""
    url = f"sqlite:///{sqlite_path}"
    engine = create_store_engine(url)
    key = api_key(engine, "translator", "read-only-test")
    with _app_client(engine, key) as client:
        assert client.post("/v1/translate", json=unmapped("EARLY-RO")).status_code == 200
    engine.dispose()

    read_only = f"sqlite:///file:{sqlite_path}?mode=ro&uri=true"
    with Service(read_only, tmp_path / "serve.log") as service, authorised(service, key) as http:
        mapped = http.post("/v1/translate", json=MAPPED)
        assert mapped.status_code == 200 and mapped.json()["status"] == "mapped"
        assert_store_problem(http.post("/v1/translate", json=unmapped("RO-1")), 503, "StoreReadOnly", "read-only")
        assert_store_problem(http.post("/v1/translate", json=unmapped("EARLY-RO")), 503, "StoreReadOnly",
                             "read-only")
        assert_store_problem(http.post("/v1/translate/batch", json={"items": [MAPPED, unmapped("RO-2")]}), 503,
                             "StoreReadOnly", "read-only")
        fhir = http.get("/fhir/r5/ConceptMap/$translate", params={
            "sourceSystem": DEMO_LOCAL_SYSTEM, "sourceCode": "RO-3", "targetSystem": SNOMED})
        assert fhir.status_code == 503 and fhir.json()["resourceType"] == "OperationOutcome"
        assert "readonly" in fhir.json()["issue"][0]["diagnostics"].replace("-", "")

    assert _integrity(sqlite_path) == "ok"
    assert not (PROJECT / "file:").exists(), "the `file:` URI was taken for a directory to create"
    engine = create_store_engine(url)
    try:
        assert occurrences(engine, "EARLY-RO") == {"EARLY-RO": 1}
        assert occurrences(engine, "RO-") == {}
    finally:
        engine.dispose()


@pytest.fixture
def small_filesystem(tmp_path) -> Iterator[Path]:
    """A directory on a 1 MiB tmpfs of its own (root only: skipped where mounting is not permitted)."""
    mountpoint = tmp_path / "small-disk"
    mountpoint.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mountpoint)],
                             capture_output=True, text=True, timeout=30) if shutil.which("mount") else None
    if mounted is None or mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip() if mounted else 'no mount(8)'}")
    try:
        yield mountpoint
    finally:
        if subprocess.run(["umount", str(mountpoint)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, timeout=30)


def test_a_sqlite_store_on_a_full_filesystem_answers_507_and_works_again_once_there_is_room(
        sqlite_path, small_filesystem, tmp_path):
    """The real thing: the service's store on a filesystem that fills up. Requests that need room get a 507
    naming the full store, reads go on, the file passes `PRAGMA integrity_check` with everything written
    before intact, and after the filesystem grows the refused batch is answered and counted once."""
    path = small_filesystem / "termmap.db"
    shutil.copyfile(sqlite_path, path)
    url = f"sqlite:///{path}"
    engine = create_store_engine(url)
    key = api_key(engine, "translator", "disk-full-test")
    engine.dispose()
    batches: list[list[dict]] = []
    with Service(url, tmp_path / "serve.log") as service, authorised(service, key) as http:
        assert http.post("/v1/translate/batch", json={"items": [unmapped(f"EARLY-{n}") for n in range(20)]}
                         ).status_code == 200
        for number in range(60):
            batch = [unmapped(f"FILL-{number:02d}-{n:03d}", "x" * 400) for n in range(100)]
            batches.append(batch)
            response = http.post("/v1/translate/batch", json={"items": batch})
            if response.status_code != 200:
                break
        else:
            pytest.fail("the filesystem never filled up")
        assert_store_problem(response, 507, "StoreFull", "full")
        assert http.post("/v1/translate", json=MAPPED).status_code == 200  # reads go on

    assert _integrity(path) == "ok"
    engine = create_store_engine(url)
    try:
        assert occurrences(engine, "EARLY-") == {f"EARLY-{n}": 1 for n in range(20)}
        assert occurrences(engine, "FILL-") == {item["source"]["code"]: 1 for batch in batches[:-1] for item in batch}
    finally:
        engine.dispose()

    subprocess.run(["mount", "-o", "remount,size=16m", str(small_filesystem)], check=True, timeout=30)
    with Service(url, tmp_path / "serve-again.log") as service, authorised(service, key) as http:
        assert http.post("/v1/translate/batch", json={"items": batches[-1]}).status_code == 200
    engine = create_store_engine(url)
    try:
        assert occurrences(engine, f"FILL-{len(batches) - 1:02d}-") == {item["source"]["code"]: 1
                                                                        for item in batches[-1]}
    finally:
        engine.dispose()


# --- deadlocks between concurrent batches (PostgreSQL) ---------------------------------------------------------

@pytest.fixture
def postgres_store(tmp_path):
    from terminology.database import migrate
    from tests.conftest import _postgres_store_url

    for url in _postgres_store_url():
        engine = create_store_engine(url)
        migrate(engine)
        yield engine
        engine.dispose()


def _count(connection, code: str) -> None:
    from mappings.review_queue import ReviewKey, record_occurrence

    record_occurrence(connection, ReviewKey.of(DEMO_LOCAL_SYSTEM, code, None, "allergy"),
                      original={"source": {"system": DEMO_LOCAL_SYSTEM, "code": code}}, target_system=SNOMED,
                      reason="unmapped", sender="deadlock-test")


def test_two_batches_that_deadlock_on_review_entries_are_both_answered_and_each_counted_once(postgres_store):
    """Two batches counting the same two review entries in opposite orders deadlock in PostgreSQL; the
    victim's transaction is rolled back and run again, so both succeed and each entry counts exactly 2."""
    from api.idempotency import run_once

    barrier = threading.Barrier(2, timeout=20)
    attempts = Counter()
    results: dict[str, object] = {}

    def batch(name: str, codes: list[str]):
        def work(connection):
            attempts[name] += 1
            _count(connection, codes[0])
            if attempts[name] == 1:
                barrier.wait()  # both hold their first entry: each now waits for the other's
            _count(connection, codes[1])
            return 200, name.encode()
        return work

    def run(name: str, codes: list[str]) -> None:
        try:
            results[name] = run_once(postgres_store, f"key-{name}", "/v1/translate/batch", name.encode(),
                                     batch(name, codes))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[name] = exc

    threads = [threading.Thread(target=run, args=("a", ["DL-X", "DL-Y"])),
               threading.Thread(target=run, args=("b", ["DL-Y", "DL-X"]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == {"a": (200, b"a", False), "b": (200, b"b", False)}
    assert sorted(attempts.values()) == [1, 2], f"one side should have been the deadlock's victim: {attempts}"
    assert occurrences(postgres_store, "DL-") == {"DL-X": 2, "DL-Y": 2}


def test_a_transaction_aborted_as_a_deadlock_victim_is_run_again_from_scratch(store):
    """What the first attempt wrote is rolled back with it: run again, the work counts once, in the review queue
    and in the translation counts (held until the attempt that commits; none for a replayed answer)."""
    from api.idempotency import run_once
    from api.metrics import Metrics
    from mappings.translation import Status, Translation

    class Deadlock(Exception):
        sqlstate = "40P01"

    attempts = []
    metrics = Metrics(store)
    counts = metrics.pending()

    def work(connection):
        attempts.append(1)
        _count(connection, "VICTIM-1")
        counts.count(Translation(Status.UNMAPPED, {}), "allergy", sender="victim-test")
        if len(attempts) == 1:
            raise OperationalError("UPDATE review_entries ...", {}, Deadlock("deadlock detected"))
        return 200, b"{}"

    assert run_once(store, "victim", "/v1/translate", b"{}", work, counts=counts) == (200, b"{}", False)
    assert len(attempts) == 2 and occurrences(store, "VICTIM-") == {"VICTIM-1": 1}
    assert metrics.usage.pending() == 1
    assert run_once(store, "victim", "/v1/translate", b"{}", work, counts=counts) == (200, b"{}", True)
    assert len(attempts) == 2 and metrics.usage.pending() == 1


# --- how each store failure is named ------------------------------------------------------------------------------

class _DriverError(Exception):
    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(("message", "sqlstate", "status", "error"), [
    ("connection failed: Connection refused", "08001", 503, "StoreUnavailable"),
    ("server closed the connection unexpectedly", None, 503, "StoreUnavailable"),
    ("database or disk is full", None, 507, "StoreFull"),
    ("could not extend file \"base/1/2\": No space left on device", "53100", 507, "StoreFull"),
    ("attempt to write a readonly database", None, 503, "StoreReadOnly"),
    ("cannot execute INSERT in a read-only transaction", "25006", 503, "StoreReadOnly"),
    ("database is locked", None, 503, "StoreBusy"),
    ("deadlock detected", "40P01", 503, "StoreBusy"),
])
def test_each_store_failure_is_answered_with_the_status_and_name_of_what_went_wrong(message, sqlstate, status, error):
    """Unreachable, full, read-only, busy: the client learns which (and when to retry), never a bare 500."""
    from api.outages import classify, store_problem_response

    problem = classify(OperationalError("INSERT ...", {}, _DriverError(message, sqlstate)))
    assert (problem.status, problem.error) == (status, error)
    assert message in problem.message  # the driver's own words, for the operator
    assert "retry" in problem.message or "no write still work" in problem.message  # and what the client can do
    response = store_problem_response(problem)
    assert response.status_code == status and int(response.headers["retry-after"]) > 0


def test_an_error_that_is_not_a_store_failure_is_not_passed_off_as_one():
    from sqlalchemy.exc import IntegrityError

    from api.outages import classify

    assert classify(IntegrityError("INSERT ...", {}, _DriverError("duplicate key", "23505"))) is None
    assert classify(ValueError("a bug")) is None


@pytest.mark.parametrize(("message", "sqlstate", "status"), [
    ("database or disk is full", None, 507), ("server closed the connection unexpectedly", None, 503),
])
def test_the_fhir_routes_answer_a_store_failure_with_the_same_status_as_an_operation_outcome(message, sqlstate, status):
    from sqlalchemy.exc import InterfaceError

    from api.fhir.outcome import _for_exception
    from api.fhir.versions import R4

    for kind in (OperationalError, InterfaceError):
        response = _for_exception(R4, kind("SELECT ...", {}, _DriverError(message, sqlstate)))
        body = orjson.loads(response.body)
        assert response.status_code == status and body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["code"] == "transient" and message in body["issue"][0]["diagnostics"]
