"""A load killed halfway (SIGKILL) leaves the previous release active and intact; the next load cleans up."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from loaders.local_table import ColumnMap, load_local_table
from terminology import queries, schema
from terminology.database import create_store_engine
from terminology.model import ReleaseStatus
from terminology.releases import list_releases

SYSTEM = "https://hospital.example.org/fhir/CodeSystem/allergens"
COLUMNS = ColumnMap(code="code", display="display")

pytestmark = pytest.mark.slow


def _write_table(path: Path, rows: int) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("code,display\n")
        handle.write("PCN,Penicillins\nSULFA,Sulfa drugs\nLTX,Latex\n")
        for number in range(rows):
            handle.write(f"X{number:07d},Local allergen number {number}\n")
    return path


def _staged_rows(engine) -> int:
    with engine.connect() as connection:
        staged = [r for r in list_releases(connection, SYSTEM) if r.status is ReleaseStatus.STAGED]
        if not staged:
            return 0
        return connection.execute(
            select(func.count()).select_from(schema.concepts).where(schema.concepts.c.release_id == staged[0].id)
        ).scalar_one()


def test_a_load_killed_halfway_leaves_the_previous_release_active_and_intact(store_url, tmp_path):
    engine = create_store_engine(store_url)
    first = load_local_table(engine, _write_table(tmp_path / "v1.csv", 0), SYSTEM, COLUMNS, version="v1")
    big = _write_table(tmp_path / "v2.csv", 300_000)

    env = {**os.environ, "TERMMAP_DATABASE_URL": store_url, "TERMMAP_LOAD_BATCH_SIZE": "2000"}
    command = [sys.executable, "-m", "api.cli", "load", "local", str(big), "--system", SYSTEM,
               "--columns", "code=code,display=display", "--version", "v2"]
    loader = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while _staged_rows(engine) < 10_000:  # several batches committed: the load is well under way
            assert loader.poll() is None, f"the load ended before it could be killed:\n{loader.stdout.read().decode()}"
            assert time.monotonic() < deadline, "the load never got going"
            time.sleep(0.05)
        loader.send_signal(signal.SIGKILL)
        loader.wait(timeout=10)
    finally:
        if loader.poll() is None:
            loader.kill()
    assert loader.returncode == -signal.SIGKILL

    with engine.connect() as connection:
        statuses = {r.version: r.status for r in list_releases(connection, SYSTEM)}
        assert statuses == {"v1": ReleaseStatus.ACTIVE, "v2": ReleaseStatus.STAGED}
        assert queries.concept(connection, SYSTEM, "PCN").display == "Penicillins"
        assert queries.concept(connection, SYSTEM, "X0000001") is None
        active_rows = connection.execute(
            select(func.count()).select_from(schema.concepts).where(schema.concepts.c.release_id == first.release.id)
        ).scalar_one()
        assert active_rows == 3

    # The next load of the same system purges the dead load's rows before it starts.
    load_local_table(engine, _write_table(tmp_path / "v3.csv", 10), SYSTEM, COLUMNS, version="v3")
    with engine.connect() as connection:
        statuses = {r.version: r.status for r in list_releases(connection, SYSTEM)}
        assert statuses == {"v1": ReleaseStatus.RETIRED, "v2": ReleaseStatus.FAILED, "v3": ReleaseStatus.ACTIVE}
        assert connection.execute(select(func.count()).select_from(schema.concepts)).scalar_one() == 3 + 13
    engine.dispose()
