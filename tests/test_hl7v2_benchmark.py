"""The HL7 v2 benchmark runs end to end at a tiny size (no timing is asserted: speed lives in benchmarks/)."""
from __future__ import annotations

import json

from benchmarks import hl7v2


def test_hl7v2_benchmark_translates_every_message(tmp_path, capsys):
    assert hl7v2.main(["--messages", "20", "--segments", "5", "--repeat", "1", "--unmapped-codes", "30",
                       "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "hl7v2-results.json").read_text(encoding="utf-8"))

    for key in ("command", "started", "finished", "load_average_before", "load_average_after",
                "other_processes_before", "machine", "file", "codes_in_pool", "check", "runs", "summary"):
        assert key in results, key
    generated = results["file"]["messages"]
    assert generated == 20 and results["file"]["al1_fields"] == 100
    assert results["check"]["matches_expected"], results["check"]

    runs = {run["measure"]: run for run in results["runs"]}
    assert set(runs) == set(hl7v2.MEASURES)
    for name in ("hl7 translate, cache", "hl7 translate, no cache"):
        run = runs[name]
        assert run["messages"] == generated and run["rejected"] == 0
        assert run["counts"]["mapped"] > 0 and run["counts"]["unmapped"] > 0
        assert run["counts"] == results["file"]["expected"]
        assert 0 < run["review_entries"] <= run["review_occurrences"]
    assert runs["parse baseline"]["messages"] == runs["engine baseline"]["messages"] == generated
    assert runs["hl7 translate, cache"]["cache_hits"] > 0

    summary = results["summary"]
    for name in hl7v2.MEASURES:
        assert {"best", "median", "median_cpu"} <= set(summary[name])
    assert {"x_parse", "x_engine", "ms_per_message"} <= set(summary["hl7 translate, cache"])
    assert summary["target"]["met"] is None  # judged only at 1,000 x 5
    assert "(a) hl7 translate, cache" in capsys.readouterr().out
