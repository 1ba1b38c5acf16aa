"""The real service (`termmap serve`) in a subprocess on a free loopback port, always stopped afterwards."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

PROJECT = Path(__file__).resolve().parents[2]

__all__ = ["Service", "free_port", "demo_store_url"]


def free_port() -> int:
    """A loopback port nobody listens on (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Service:
    """`termmap serve` on `database_url`; use as a context manager (the process is killed on the way out).

    Its output goes to `log` (a file, so a chatty server never blocks on a full pipe).
    """

    def __init__(self, database_url: str, log: Path, *, env: dict[str, str] | None = None,
                 start_timeout: float = 30.0) -> None:
        self.database_url, self.log, self.start_timeout = database_url, log, start_timeout
        self.env = {**os.environ, "TERMMAP_DATABASE_URL": database_url, "TERMMAP_WARM_CANDIDATE_INDEX": "false",
                    "TERMMAP_LOG_LEVEL": "WARNING", **(env or {})}
        self.process: subprocess.Popen | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Service:
        self.port = free_port()
        command = [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(command, cwd=PROJECT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"termmap serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"termmap serve did not answer within {self.start_timeout} s:\n{self.output()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup (a crashed worker)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not gone within 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def output(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return ""

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def demo_store_url(kind: str, request, tmp_path: Path) -> Iterator[str]:
    """The URL of a store holding the demo set, for a service in another process: a SQLite file (a copy of
    the session's demo template) or a PostgreSQL schema of this test's own (dropped afterwards)."""
    from terminology.database import create_store_engine, migrate
    from tests.conftest import _postgres_store_url, load_demo

    if kind == "sqlite":
        path = tmp_path / "store" / "termmap.db"
        path.parent.mkdir()
        shutil.copyfile(request.getfixturevalue("_demo_sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    for url in _postgres_store_url():
        engine = create_store_engine(url)
        migrate(engine)
        load_demo(engine)
        engine.dispose()
        yield url
