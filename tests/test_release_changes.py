"""A new release re-queues the curated mappings it makes doubtful, suggests replacements, and repoints nothing."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from loaders.rf2 import load_rf2
from loaders.rxnorm_rrf import load_rxnorm
from mappings.curated import Decision, Relationship, Target, current_mappings, record_mapping
from mappings.engine import translate
from mappings.release_changes import REQUEUE_REASON, requeue_after_release
from mappings.review_queue import ReviewKey, entry_id_for, record_occurrence
from mappings.tables import audit_events, review_entries
from mappings.translation import Context, SourceCoding, Status, TranslateRequest
from tests.conftest import DEMO, DEMO_FORMULARY_SYSTEM, DEMO_LOCAL_SYSTEM
from tests.conftest import redated_demo_snomed as snomed_release

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NEW_SNOMED = f"{SNOMED}|INT 20260301"
REPLACED_BY = "900000000000526001"


def rxnorm_release(tmp_path: Path) -> Path:
    """The demo RxNorm release as of 10062025 with (invented) RXCUI 834061 retired and remapped to 834102."""
    source = DEMO / "rxnorm" / "RxNorm_demo_09022025"
    release = tmp_path / "RxNorm_demo_10062025"
    (release / "rrf").mkdir(parents=True)
    (release / "Readme_Demo_10062025.txt").write_text("RxNorm demo release 10062025 (test fixture)\n")
    for path in (source / "rrf").iterdir():
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        if path.name == "RXNCONSO.RRF":
            lines = [line for line in lines if not line.startswith("834061|")]
        if path.name == "RXNCUI.RRF":
            lines.append("834061|RXNORM_20AA_251006F|RXNORM_20AA_251006F|1|834102|\n")
        (release / "rrf" / path.name).write_text("".join(lines), encoding="utf-8", newline="")
    return release


def curate(connection, code, text, targets, *, system=DEMO_LOCAL_SYSTEM, context="allergy", target_system=SNOMED,
           decision=Decision.MAPPED):
    return record_mapping(connection, source_system=system, source_code=code, source_text=text, context=context,
                          target_system=target_system, decision=decision, targets=targets, author="pharm.a",
                          reason="reviewed", origin="review:test")


def entry(connection, system, code, text, context="allergy"):
    return connection.execute(select(review_entries).where(
        review_entries.c.id == entry_id_for(ReviewKey.of(system, code, text, context)))).first()


def events(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(audit_events).where(audit_events.c.action == "review.requeued")).scalar_one()


@pytest.fixture
def snomed_curated(demo_store, tmp_path):
    """The demo set with curated allergy mappings to SNOMED CT, then the 20260301 SNOMED CT release loaded."""
    with demo_store.begin() as connection:
        curate(connection, "PENG", None, [Target(SNOMED, "323389000", "Benzylpenicillin")])
        curate(connection, "PCN", None, [Target(SNOMED, "373270004", "Penicillin class")])
        curate(connection, None, "Ampicilin", [Target(SNOMED, "387170002", "Ampicillin", Relationship.RELATED)])
        curate(connection, "ZZZ", None, [], decision=Decision.NO_MAP)
    load_rf2(demo_store, snomed_release(tmp_path))
    return demo_store


def test_a_target_made_inactive_is_requeued_with_its_replacement_and_the_mapping_is_not_repointed(snomed_curated):
    engine = snomed_curated
    with engine.begin() as connection:
        report = requeue_after_release(connection, "snomed")
    assert (report.release, report.checked, report.already_queued) == (NEW_SNOMED, 3, 0)
    assert sorted((r.source_code or r.source_text_norm, [(t.code, t.why) for t in r.targets]) for r in report.requeued) \
        == [("PENG", [("323389000", "inactive")]), ("ampicilin", [("387170002", "not in release")])]
    with engine.connect() as connection:
        peng = entry(connection, DEMO_LOCAL_SYSTEM, "PENG", None)
        ampicilin = entry(connection, DEMO_LOCAL_SYSTEM, None, "AMPICILIN")
        [mapping] = [m for m in current_mappings(connection) if m.source_code == "PENG"]
        answer = translate(connection, TranslateRequest(SourceCoding(DEMO_LOCAL_SYSTEM, "PENG"), None, SNOMED,
                                                        Context.ALLERGY))
    assert (peng.status, peng.reason, peng.occurrences, peng.mapping_id) == ("open", REQUEUE_REASON, 0,
                                                                             mapping.mapping_id)
    assert peng.requeue_reason == (f"release {NEW_SNOMED}: target 323389000 (Benzylpenicillin) is inactive; "
                                   "suggested: REPLACED BY 373270004 Substance with penicillin structure and "
                                   "antibacterial mechanism of action")
    assert peng.suggestion["replacements"] == [
        {"for": "323389000", "system": SNOMED, "code": "373270004", "association": "REPLACED BY", "active": True,
         "display": "Substance with penicillin structure and antibacterial mechanism of action"}]
    assert peng.suggestion["mapping_version"] == 1 and peng.original == {"source": {"system": DEMO_LOCAL_SYSTEM,
                                                                                     "code": "PENG"}}
    assert ampicilin.requeue_reason.endswith("target 387170002 (Ampicillin) is not in the release")
    assert ampicilin.suggestion["replacements"] == []
    # Nothing silently repointed: the mapping is as curated, and translate still answers it.
    assert (mapping.version, [t.code for t in mapping.targets]) == (1, ["323389000"])
    assert answer.status is Status.MAPPED and [m.code for m in answer.matches] == ["323389000"]
    assert answer.matches[0].rule.value == "curated"
    assert events(engine) == 2


def test_running_it_again_requeues_nothing_new_even_after_a_pharmacist_decided(snomed_curated):
    engine = snomed_curated
    with engine.begin() as connection:
        requeue_after_release(connection, SNOMED)
    with engine.begin() as connection:
        again = requeue_after_release(connection, SNOMED)
        connection.execute(update(review_entries).values(status="decided", decided_by="pharm.b"))
    assert (again.requeued, again.already_queued) == ((), 2)
    with engine.begin() as connection:
        third = requeue_after_release(connection, SNOMED)
        peng = entry(connection, DEMO_LOCAL_SYSTEM, "PENG", None)
    assert third.requeued == () and peng.status == "decided"
    assert events(engine) == 2


def test_an_entry_from_translate_is_reopened_its_count_kept_and_its_claim_released(snomed_curated):
    engine = snomed_curated
    key = ReviewKey.of(DEMO_LOCAL_SYSTEM, "PENG", None, "allergy")
    with engine.begin() as connection:
        record_occurrence(connection, key, original={"source": {"code": "PENG"}}, target_system=SNOMED,
                          reason="unmapped", sender="ed-feed")
        connection.execute(update(review_entries).values(status="claimed", claimed_by="pharm.c"))
        requeue_after_release(connection, SNOMED)
        peng = entry(connection, DEMO_LOCAL_SYSTEM, "PENG", None)
    assert (peng.status, peng.reason, peng.claimed_by, peng.occurrences) == ("open", REQUEUE_REASON, None, 1)
    assert peng.original == {"source": {"code": "PENG"}}  # as first received


def test_a_retired_rxcui_is_requeued_with_its_remapping(demo_store, tmp_path):
    with demo_store.begin() as connection:
        curate(connection, "100101", None, [Target(RXNORM, "834061", "penicillin V potassium 250 MG Oral Tablet")],
               system=DEMO_FORMULARY_SYSTEM, context="medication", target_system=RXNORM)
    load_rxnorm(demo_store, rxnorm_release(tmp_path))
    with demo_store.begin() as connection:
        report = requeue_after_release(connection, RXNORM)
        requeued = entry(connection, DEMO_FORMULARY_SYSTEM, "100101", None, "medication")
    [item] = report.requeued
    assert [(t.code, t.why, [(r.association, r.code, r.active) for r in t.replacements]) for t in item.targets] == [
        ("834061", "retired", [("REMAPPED TO", "834102", True)])]
    assert requeued.requeue_reason.startswith(f"release {RXNORM}|10062025: target 834061")
    assert "is retired; suggested: REMAPPED TO 834102 penicillin V potassium 500 MG" in requeued.requeue_reason


def test_a_system_without_a_release_or_without_doubtful_mappings_requeues_nothing(demo_sqlite):
    with demo_sqlite.begin() as connection:
        curate(connection, "PCN", None, [Target(SNOMED, "373270004", None)])
        assert requeue_after_release(connection, "http://loinc.org").release is None
        report = requeue_after_release(connection, SNOMED)
    assert (report.checked, report.requeued) == (1, ())
    assert report.summary() == f"release changes ({SNOMED}|INT 20250901): 1 curated mapping(s) checked, " \
                               "0 re-queued for review, 0 already queued"


def test_termmap_load_says_what_the_new_release_requeued(demo_sqlite, tmp_path, monkeypatch):
    from api.cli import app
    from terminology.settings import get_settings

    with demo_sqlite.begin() as connection:
        curate(connection, "PENG", None, [Target(SNOMED, "323389000", "Benzylpenicillin")])
    monkeypatch.setenv("TERMMAP_DATABASE_URL", demo_sqlite.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["load", "snomed", str(snomed_release(tmp_path))])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert f"release changes ({NEW_SNOMED}): 1 curated mapping(s) checked, 1 re-queued for review" in result.output
    assert f"{DEMO_LOCAL_SYSTEM} PENG (allergy) -> 323389000 inactive: REPLACED BY 373270004" in result.output
