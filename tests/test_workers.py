"""`termmap serve --workers 2`: a pharmacist's decision and a release switch reach every worker within 1 s.

The service runs as a subprocess on a free loopback port, over SQLite and over PostgreSQL (a schema of
this test's own). Every request goes on a new connection, so the kernel hands them to either worker; the
worker that answered is found through /proc (the process holding the server end of the connection), so
the test knows that both workers answered — and that both answered right — after the change.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine

from terminology.database import create_store_engine, migrate
from tests.conftest import DEMO_LOCAL_SYSTEM, PROJECT, _postgres_store_url, api_key, load_demo, redated_demo_snomed

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")]

SNOMED = "http://snomed.info/sct"
IBUF = {"source": {"system": DEMO_LOCAL_SYSTEM, "code": "IBUF"}, "text": "Ibuprofin", "target_system": SNOMED,
        "context": "allergy", "sender": "ed-feed"}
BENZYLPENICILLIN = {"source": {"system": SNOMED, "code": "323389000"}, "target_system": SNOMED, "context": "allergy"}
WITHIN = 1.0  # seconds: every worker must see a change this long after it was made
CHECK_SECONDS = 0.5  # TERMMAP_CACHE_CHECK_SECONDS of the service under test (its documented default)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _socket_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server's end of the loopback connection from `client_port`."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            return fields[9]
    return None


class Service:
    """`termmap serve --workers 2` over `url`, killed (its whole process group) when the test ends."""

    def __init__(self, url: str, workers: int = 2) -> None:
        self.port = _free_port()
        termmap = Path(sys.executable).with_name("termmap")
        command = [str(termmap)] if termmap.exists() else [sys.executable, "-m", "api.cli"]
        env = dict(os.environ, TERMMAP_DATABASE_URL=url, TERMMAP_CACHE_CHECK_SECONDS=str(CHECK_SECONDS),
                   TERMMAP_WARM_CANDIDATE_INDEX="false", TERMMAP_LOG_LEVEL="WARNING")
        self.process = subprocess.Popen(
            [*command, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)],
            cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.workers = workers

    def request(self, method: str, path: str, body: dict | None = None, key: str | None = None) -> tuple[int, dict, int]:
        """(status, JSON answer, pid of the worker that answered), on a new connection."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"content-type": "application/json"}
            if key:
                headers["Authorization"] = f"Bearer {key}"
            connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            # The connection is still open (keep-alive): find the worker holding its other end.
            pid = self._worker_of(connection.sock.getsockname()[1])
            return response.status, json.loads(answer) if answer else {}, pid
        finally:
            connection.close()

    def _worker_of(self, client_port: int) -> int:
        inode = _socket_inode(self.port, client_port)
        assert inode is not None, "the server's end of the connection is not in /proc/net/tcp"
        target = f"socket:[{inode}]"
        for _attempt in range(3):
            for pid in _descendants(self.process.pid) | {self.process.pid}:
                try:
                    fds = os.listdir(f"/proc/{pid}/fd")
                except OSError:
                    continue
                for fd in fds:
                    try:
                        if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                            return pid
                    except OSError:  # closed meanwhile (another connection)
                        continue
        raise AssertionError(f"no process of the service holds {target}")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"termmap serve exited: {self.process.stdout.read().decode(errors='replace')}")
            try:
                if self.request("GET", "/ready")[0] == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        raise AssertionError("termmap serve was not ready in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.process.stdout.close()


def answers_from_every_worker(service: Service, body: dict, key: str, *, at_least: int = 40,
                              timeout: float = 20) -> list[tuple[int, dict, float]]:
    """Translate `body` on new connections, 8 at a time, until every worker answered (and at least `at_least`
    times): [(pid, answer, seconds since the start)]."""
    started = time.monotonic()
    found: list[tuple[int, dict, float]] = []

    def one(_):
        status, answer, pid = service.request("POST", "/v1/translate", body, key)
        assert status == 200, answer
        return pid, answer, time.monotonic() - started

    with ThreadPoolExecutor(8) as pool:
        while time.monotonic() - started < timeout:
            found.extend(pool.map(one, range(16)))
            if len(found) >= at_least and len({pid for pid, _answer, _at in found}) >= service.workers:
                return found
    workers = {pid for pid, _answer, _at in found}
    raise AssertionError(f"{len(found)} requests in {timeout} s reached only {len(workers)} worker(s): {workers}")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served_store(request, tmp_path_factory) -> Iterator[tuple[Engine, Service]]:
    """(an engine on a demo store, `termmap serve --workers 2` over it), one per backend for this module."""
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path_factory.mktemp('served') / 'served.db'}"])
    else:
        urls = _postgres_store_url()
    for url in urls:
        engine = create_store_engine(url)
        migrate(engine)
        load_demo(engine)
        service = Service(url)
        try:
            service.wait_ready()
            yield engine, service
        finally:
            service.stop()
            engine.dispose()


def test_a_pharmacists_decision_is_seen_by_every_worker_within_a_second(served_store):
    engine, service = served_store
    translator, pharmacist = api_key(engine, "translator"), api_key(engine, "pharmacist", "alice")
    # Every worker has the unmapped answer cached: only the cross-worker version check can make it see the change.
    before = answers_from_every_worker(service, IBUF, translator, timeout=60)  # the second worker may start later
    assert {answer["status"] for _pid, answer, _at in before} == {"unmapped"}
    entry = before[0][1]["review"]["id"]
    assert service.request("POST", f"/v1/review/{entry}/claim", {}, pharmacist)[0] == 200
    status, decided, decider = service.request("POST", f"/v1/review/{entry}/decision", {
        "decision": "mapped", "targets": [{"code": "387207008", "relationship": "equivalent"}]}, pharmacist)
    assert status == 200, decided
    time.sleep(WITHIN)

    after = answers_from_every_worker(service, IBUF, translator)
    workers = {pid for pid, _answer, _at in after}
    assert len(workers) == 2 and decider in workers
    wrong = [(pid, answer["status"]) for pid, answer, _at in after if answer["status"] != "mapped"]
    assert wrong == [], f"answers after {WITHIN} s that are not the decision's: {wrong}"
    for _pid, answer, _at in after:
        [match] = answer["matches"]
        assert (match["code"], match["rule"], match["mapping"]["id"]) == (
            "387207008", "curated", decided["mapping"]["id"])


def test_a_release_switch_is_seen_by_every_worker_within_a_second(served_store, tmp_path):
    from loaders.rf2 import load_rf2

    engine, service = served_store
    translator = api_key(engine, "translator")
    before = answers_from_every_worker(service, BENZYLPENICILLIN, translator, timeout=60)
    assert {(m["code"], m["rule"]) for _pid, a, _at in before for m in a["matches"]} == {("323389000", "identity")}

    load_rf2(engine, redated_demo_snomed(tmp_path))  # switches the active SNOMED CT release when it returns
    time.sleep(WITHIN)

    after = answers_from_every_worker(service, BENZYLPENICILLIN, translator)
    assert len({pid for pid, _answer, _at in after}) == 2
    seen = {(pid, m["code"], m["rule"], m["release"]) for pid, a, _at in after for m in a["matches"]}
    assert {(code, rule, release) for _pid, code, rule, release in seen} == {
        ("373270004", "historical", f"{SNOMED}|INT 20260301")}, seen
