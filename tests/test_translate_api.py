"""`POST /v1/translate` and `/v1/translate/batch` as interface engines call them."""
from __future__ import annotations

import pytest

from mappings.review_queue import get_entry
from terminology.systems import RXNORM, SNOMED
from tests.conftest import DEMO_LOCAL_SYSTEM as LOCAL

TYPO = {"source": {"system": LOCAL, "code": "IBUF", "display": "Ibuprofin"}, "text": "Ibuprofin tabs",
        "target_system": SNOMED, "context": "allergy"}


@pytest.fixture
def client(any_store_client):
    return any_store_client


def occurrences(client, review_id):
    with client.engine.connect() as connection:
        return get_entry(connection, review_id)


def test_a_mapped_answer_names_its_rule_release_and_relationship(client):
    response = client.post("/v1/translate", json={"source": {"system": RXNORM, "code": "1191"},
                                                  "target_system": SNOMED, "context": "medication"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "mapped" and body["validated"] is True and body["review"] is None
    (match,) = body["matches"]
    assert match["code"] == "387458008" and match["rule"] == "crosswalk" and match["validated"] is True
    assert match["relationship"] == "equivalent" and match["release"].startswith(RXNORM + "|")
    assert body["original"] == {"source": {"system": RXNORM, "code": "1191"}}
    assert response.headers["x-request-id"]


def test_an_unmapped_answer_keeps_the_original_and_suggests_without_matching(client):
    body = client.post("/v1/translate", json={**TYPO, "sender": "ed-feed"}).json()
    assert body["status"] == "unmapped" and body["validated"] is False and body["matches"] == []
    assert body["original"] == {"source": TYPO["source"], "text": TYPO["text"]}
    assert body["candidates"][0]["code"] == "387207008" and "score" in body["candidates"][0]
    assert body["review"]["status"] == "open"


def test_the_same_unmapped_entry_from_two_senders_is_one_entry_with_two_occurrences(client):
    first = client.post("/v1/translate", json={**TYPO, "sender": "pharmacy-feed"}).json()
    second = client.post("/v1/translate", json={**TYPO, "sender": "ed-feed"}).json()
    assert first["review"]["id"] == second["review"]["id"]
    entry = occurrences(client, first["review"]["id"])
    assert entry.occurrences == 2 and entry.senders == {"pharmacy-feed": 1, "ed-feed": 1}


def test_the_same_idempotency_key_twice_counts_once_and_replays_the_answer(client):
    headers = {"Idempotency-Key": "msg-0001"}
    first = client.post("/v1/translate", json={**TYPO, "sender": "a"}, headers=headers)
    again = client.post("/v1/translate", json={**TYPO, "sender": "a"}, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert occurrences(client, first.json()["review"]["id"]).occurrences == 1


def test_the_same_idempotency_key_with_another_body_is_refused(client):
    client.post("/v1/translate", json=TYPO, headers={"Idempotency-Key": "msg-0002"})
    refused = client.post("/v1/translate", json={**TYPO, "text": "other"}, headers={"Idempotency-Key": "msg-0002"})
    assert refused.status_code == 422
    assert "msg-0002" in refused.json()["message"] and "different body" in refused.json()["message"]


@pytest.mark.parametrize("body, says", [
    (b"{not json", "invalid translate request"),
    (b'{"target_system": "http://snomed.info/sct", "context": "allergy"}', "source.code or text"),
    (b'{"source": {"code": "X"}, "target_system": "http://snomed.info/sct", "context": "diet"}', "context"),
    (b'{"source": {"code": 7}, "target_system": "http://snomed.info/sct", "context": "allergy"}', "source.code"),
    (b'[]', "invalid translate request"),
    (b'{"source": {"code": "' + b"9" * 129 + b'"}, "target_system": "http://snomed.info/sct", "context": "allergy"}',
     "length <= 128"),
])
def test_a_malformed_request_gets_422_naming_the_problem(client, body, says):
    response = client.post("/v1/translate", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert says in response.json()["message"]


def test_an_unknown_target_system_is_404_naming_it(client):
    response = client.post("/v1/translate", json={**TYPO, "target_system": "urn:example:nowhere"})
    assert response.status_code == 404 and "urn:example:nowhere" in response.json()["message"]


def test_a_batch_answers_in_order_and_an_invalid_item_fails_alone(client):
    items = [
        {"source": {"system": RXNORM, "code": "1191"}, "target_system": SNOMED, "context": "medication"},
        {"target_system": SNOMED, "context": "allergy"},
        {"text": "NKDA", "target_system": SNOMED, "context": "allergy"},
        {**TYPO, "target_system": "urn:example:nowhere"},
        TYPO,
    ]
    answers = client.post("/v1/translate/batch", json={"items": items}).json()["items"]
    assert [a.get("status") or a["error"]["type"] for a in answers] == [
        "mapped", "InvalidRequest", "mapped", "UnknownTargetSystem", "unmapped"]
    assert answers[2]["matches"][0]["code"] == "409137002"
    assert answers[1]["error"]["index"] == 1


def test_a_batch_over_the_limit_is_refused_whole_with_413_naming_the_setting(client):
    response = client.post("/v1/translate/batch", json={"items": [TYPO] * 10_001})
    assert response.status_code == 413 and "at most 10000" in response.json()["message"]
    assert "TERMMAP_MAX_BATCH_ITEMS" in response.text


def test_metrics_count_translations_by_status_rule_and_context(client):
    client.post("/v1/translate", json={"source": {"system": RXNORM, "code": "1191"}, "target_system": SNOMED,
                                       "context": "medication"})
    client.post("/v1/translate", json=TYPO)
    text = client.get("/metrics").text
    assert 'termmap_translations_total{context="medication",rule="crosswalk",status="mapped"} 1.0' in text
    assert 'termmap_translations_total{context="allergy",rule="none",status="unmapped"} 1.0' in text
    assert "termmap_review_entries_open 1.0" in text
    assert "termmap_request_seconds_bucket" in text


def test_ready_lists_the_active_releases(client):
    body = client.get("/ready").json()
    assert body["ready"] is True
    assert {r["system"] for r in body["releases"]} >= {SNOMED, RXNORM, LOCAL}
