"""The translate benchmark's own parts work: wrk reports are read right, the floors answer, batches mix."""
from __future__ import annotations

import shutil
from collections import Counter

import httpx
import orjson
import pytest

from benchmarks.baseline_app import ANSWER
from benchmarks.translate import LOCAL_SYSTEM, batch_items, parse_wrk, run_wrk, serve, translate_body, write_bodies

#: wrk 4.1.0 `--latency` output, as printed (a run against a missing path: every answer a 404).
WRK_REPORT = """\
Running 1s test @ http://127.0.0.1:18082/nope
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.16ms    2.38ms  21.54ms   92.47%
    Req/Sec     3.80k     0.96k    5.30k    80.00%
  Latency Distribution
     50%  365.00us
     75%  711.00us
     90%    2.71ms
     99%    1.05s
  3792 requests in 1.00s, 570.41KB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 3792
Requests/sec:   3779.92
Transfer/sec:    568.59KB
"""

needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


def test_a_wrk_report_gives_rate_percentiles_in_ms_and_every_kind_of_error():
    result = parse_wrk(WRK_REPORT, connections=2)
    assert (result.requests, result.seconds, result.requests_per_second) == (3792, 1.0, 3779.9)
    assert (result.p50_ms, result.p75_ms, result.p90_ms, result.p99_ms) == (0.365, 0.711, 2.71, 1050.0)
    assert (result.non_2xx, result.socket_errors, result.errors) == (3792, 3, 3795)


def test_a_report_without_latency_percentiles_is_refused_not_read_as_zero():
    without = "\n".join(line for line in WRK_REPORT.splitlines() if "%  " not in line)
    with pytest.raises(ValueError, match="not a wrk --latency report"):
        parse_wrk(without, connections=2)


def test_a_batch_mixes_mapped_codes_nkda_texts_and_unmapped_local_codes():
    items = batch_items(["1191", "161"], size=2_000)
    kinds = Counter("local" if i.get("source", {}).get("system") == LOCAL_SYSTEM else "text" if "text" in i
                    else "code" for i in items)
    assert len(items) == 2_000 and kinds["code"] > 1_400 and kinds["text"] > 100 and kinds["local"] > 100
    assert batch_items(["1191", "161"], size=2_000) == items  # the same batch every run


@needs_wrk
def test_the_raw_floor_answers_wrk_with_the_constant(tmp_path):
    bodies = write_bodies(tmp_path / "bodies.jsonl", [translate_body("1191"), translate_body("161")])
    with serve("baseline-a", "benchmarks.baseline_app:raw_app", work=tmp_path) as server:
        assert httpx.post(server.url("/translate"), content=bodies.read_bytes().splitlines()[0]).json() == ANSWER
        result = run_wrk(server.url("/translate"), bodies, connections=1, seconds=1,
                         authorization="Bearer tm_ignored")
    assert result.requests > 50 and result.errors == 0 and 0 < result.p50_ms <= result.p99_ms


def test_the_model_floor_validates_its_body_like_termmap_does(tmp_path):
    with serve("baseline-b", "benchmarks.baseline_app:model_app", work=tmp_path) as server:
        good = httpx.post(server.url("/translate"), content=orjson.dumps(translate_body("1191")),
                          headers={"content-type": "application/json"})
        bad = httpx.post(server.url("/translate"), json={"target_system": "x", "context": "surgery"})
    assert good.status_code == 200 and good.json() == ANSWER
    assert bad.status_code == 422
