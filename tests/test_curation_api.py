"""The curation API: pharmacists work the review queue and edit curated mappings over HTTP, never in place."""
from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from api import curation_routes
from mappings.tables import audit_events, mapping_targets, mapping_versions, review_entries
from tests.conftest import DEMO_LOCAL_SYSTEM, api_key

SNOMED = "http://snomed.info/sct"
IBUF = {"source": {"system": DEMO_LOCAL_SYSTEM, "code": "IBUF"}, "text": "Ibuprofin", "target_system": SNOMED,
        "context": "allergy", "sender": "ed-feed"}
IBUPROFEN = {"code": "387207008", "relationship": "equivalent"}


def _as(client, role: str = "pharmacist", name: str | None = None) -> dict[str, str]:
    """Headers authenticating as a new key of `role` named `name`."""
    return {"Authorization": f"Bearer {api_key(client.engine, role, name or f'{role}-key')}"}


def _queued(client, body=None) -> str:
    """Translate an entry nothing maps (so it is queued); returns its review entry id."""
    answer = client.post("/v1/translate", json=body or IBUF).json()
    assert answer["status"] == "unmapped"
    return answer["review"]["id"]


def _count(engine, table) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def _mapped(client, alice) -> dict:
    """IBUF queued, claimed and decided by `alice`: the decision's mapping."""
    entry_id = _queued(client)
    assert client.post(f"/v1/review/{entry_id}/claim", headers=alice).status_code == 200
    decided = client.post(f"/v1/review/{entry_id}/decision", headers=alice,
                          json={"decision": "mapped", "targets": [IBUPROFEN], "comment": "misspelt ibuprofen"})
    assert decided.status_code == 200, decided.text
    return decided.json()["mapping"]


def test_a_decision_turns_the_next_translate_of_that_entry_into_validated_curated(any_store_client):
    client = any_store_client
    client.app.state.cache.check_every = 3600  # only the decision's own invalidation can make this worker see it
    alice = _as(client, name="alice")
    before = client.post("/v1/translate", json=IBUF).json()
    assert before["status"] == "unmapped" and before["review"]["status"] == "open"

    claimed = client.post("/v1/review/claim", headers=alice)
    assert claimed.status_code == 200 and claimed.json()["id"] == before["review"]["id"]
    assert claimed.json()["claimed_by"] == "alice" and claimed.json()["original"] == before["original"]
    decided = client.post(f"/v1/review/{before['review']['id']}/decision", headers=alice,
                          json={"decision": "mapped", "targets": [IBUPROFEN], "comment": "misspelt ibuprofen"})
    assert decided.status_code == 200, decided.text
    mapping = decided.json()["mapping"]
    assert decided.json()["entry"]["status"] == "decided" and decided.json()["entry"]["decided_by"] == "alice"
    assert (mapping["version"], mapping["author"], mapping["origin"]) == (1, "alice", f"review:{before['review']['id']}")

    after = client.post("/v1/translate", json=IBUF).json()
    assert after["status"] == "mapped" and after["validated"] is True
    [match] = after["matches"]
    assert (match["code"], match["rule"]) == ("387207008", "curated")
    assert match["mapping"] == {"id": mapping["id"], "version": 1}


def test_claim_next_answers_204_when_nothing_is_claimable(client):
    assert client.post("/v1/review/claim", headers=_as(client)).status_code == 204


def test_claim_next_takes_only_entries_matching_the_filters(client):
    alice = _as(client, name="alice")
    _queued(client)
    medication = _queued(client, IBUF | {"context": "medication"})
    assert client.post("/v1/review/claim", headers=alice, json={"sender": "pharmacy-feed"}).status_code == 204
    taken = client.post("/v1/review/claim", headers=alice, json={"context": "medication"})
    assert taken.status_code == 200 and taken.json()["id"] == medication


def test_claiming_an_entry_someone_else_holds_is_409_naming_the_holder_and_until_when(client):
    entry_id = _queued(client)
    held = client.post(f"/v1/review/{entry_id}/claim", headers=_as(client, name="alice")).json()
    refused = client.post(f"/v1/review/{entry_id}/claim", headers=_as(client, name="bob"))
    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "EntryHeld" and "claimed by alice until" in body["message"]
    assert body["claimed_by"] == "alice" and body["claim_expires"] == held["claim_expires"]


def test_only_the_holder_decides_and_only_an_admin_may_override(client):
    entry_id = _queued(client)
    client.post(f"/v1/review/{entry_id}/claim", headers=_as(client, name="alice"))
    bob = _as(client, name="bob")
    refused = client.post(f"/v1/review/{entry_id}/decision", headers=bob, json={"decision": "deferred"})
    assert refused.status_code == 409 and refused.json()["error"] == "NotClaimHolder"
    not_admin = client.post(f"/v1/review/{entry_id}/decision", headers=bob,
                            json={"decision": "deferred", "override": True})
    assert not_admin.status_code == 403 and "only an admin" in not_admin.json()["message"]
    admin = client.post(f"/v1/review/{entry_id}/decision", headers=_as(client, "admin", "head-pharmacist"),
                        json={"decision": "deferred", "override": True, "comment": "alice is on leave"})
    assert admin.status_code == 200 and admin.json()["entry"]["decided_by"] == "head-pharmacist"


@pytest.mark.parametrize(("body", "problem"), [
    ({"decision": "mapped"}, "needs at least one target"),
    ({"decision": "mapped", "targets": [{"code": "999999999"}]}, "999999999: not in the active release"),
    ({"decision": "mapped", "targets": [{"code": "387207008", "relationship": "same"}]}, "relationship"),
    ({"decision": "approve"}, "decision"),
    ({"decision": "no-map", "colour": "red"}, "colour"),
    ({}, "decision: Field required"),
])
def test_a_decision_that_cannot_be_recorded_is_422_naming_the_problem(client, body, problem):
    alice = _as(client, name="alice")
    entry_id = _queued(client)
    client.post(f"/v1/review/{entry_id}/claim", headers=alice)
    refused = client.post(f"/v1/review/{entry_id}/decision", headers=alice, json=body)
    assert refused.status_code == 422
    assert refused.json()["error"] in ("InvalidDecision", "InvalidRequest") and problem in refused.json()["message"]


def test_an_unknown_entry_or_mapping_is_404(client):
    for method, path in (("GET", "/v1/review/nope"), ("POST", "/v1/review/nope/claim"),
                         ("GET", "/v1/mappings/nope"), ("GET", "/v1/mappings/nope/history")):
        answer = client.request(method, path, headers=_as(client))
        assert answer.status_code == 404 and answer.json()["error"] in ("UnknownEntry", "UnknownMapping")


def test_an_entry_shows_what_was_received_its_senders_state_and_ranked_candidates(client):
    entry_id = _queued(client)
    client.post("/v1/translate", json=IBUF | {"sender": "pharmacy-feed", "text": "IBUPROFIN"})
    entry = client.get(f"/v1/review/{entry_id}", headers=_as(client, "auditor")).json()
    assert entry["original"] == {"source": {"system": DEMO_LOCAL_SYSTEM, "code": "IBUF"}, "text": "Ibuprofin"}
    assert entry["senders"] == {"ed-feed": 1, "pharmacy-feed": 1} and entry["occurrences"] == 2
    assert entry["status"] == "open" and entry["decision"] is None and entry["mapping"] is None
    top = entry["candidates"][0]
    assert top["code"] == "387207008" and top["score"] > 80 and top["parents"]


def test_the_queue_lists_entries_by_priority_with_counts_by_status(client):
    alice = _as(client, name="alice")
    first = _queued(client)
    for _ in range(2):
        second = _queued(client, IBUF | {"source": {"system": DEMO_LOCAL_SYSTEM, "code": "ZZ1"}, "text": "zzyzx"})
    client.post(f"/v1/review/{first}/claim", headers=alice)
    listing = client.get("/v1/review", headers=alice).json()
    assert [e["id"] for e in listing["entries"]] == [second, first]
    assert listing["total"] == 2 and listing["counts"] == {"open": 1, "claimed": 1, "decided": 0}
    claimed = client.get("/v1/review", params={"status": "claimed"}, headers=alice).json()
    assert [e["id"] for e in claimed["entries"]] == [first] and claimed["total"] == 1
    assert client.get("/v1/review", params={"text": "zzy"}, headers=alice).json()["total"] == 1
    assert client.get("/v1/review", params={"limit": 1, "offset": 1}, headers=alice).json()["entries"][0]["id"] == first
    bad = client.get("/v1/review", params={"limit": "many"}, headers=alice)
    assert bad.status_code == 422 and bad.json()["error"] == "InvalidRequest" and "limit" in bad.json()["message"]


def test_release_and_reopen_put_the_entry_back_in_the_queue(client):
    alice = _as(client, name="alice")
    entry_id = _queued(client)
    client.post(f"/v1/review/{entry_id}/claim", headers=alice)
    released = client.post(f"/v1/review/{entry_id}/release", headers=alice)
    assert released.status_code == 200 and released.json()["status"] == "open"
    client.post(f"/v1/review/{entry_id}/claim", headers=alice)
    client.post(f"/v1/review/{entry_id}/decision", headers=alice, json={"decision": "deferred"})
    again = client.post(f"/v1/review/{entry_id}/claim", headers=alice)
    assert again.status_code == 409 and again.json()["error"] == "WrongState"
    reopened = client.post(f"/v1/review/{entry_id}/reopen", headers=alice, json={"comment": "ward replied"})
    assert reopened.status_code == 200 and reopened.json()["status"] == "open"


def test_claim_decide_and_reopen_write_audit_events_naming_the_key(client):
    alice = _as(client, name="alice")
    entry_id = _queued(client)
    client.post(f"/v1/review/{entry_id}/claim", headers=alice)
    client.post(f"/v1/review/{entry_id}/decision", headers=alice, json={"decision": "mapped", "targets": [IBUPROFEN]})
    client.post(f"/v1/review/{entry_id}/reopen", headers=alice)
    with client.engine.connect() as connection:
        events = connection.execute(
            select(audit_events.c.action, audit_events.c.actor, audit_events.c.subject_type)
            .where(audit_events.c.actor == "alice").order_by(audit_events.c.seq)
        ).all()
    assert [tuple(e) for e in events] == [("review.claimed", "alice", "review"), ("mapping.version", "alice", "mapping"),
                                          ("review.decided", "alice", "review"), ("review.reopened", "alice", "review")]


def test_a_retried_decision_with_the_same_idempotency_key_is_recorded_once(client):
    alice = _as(client, name="alice")
    entry_id = _queued(client)
    client.post(f"/v1/review/{entry_id}/claim", headers=alice)
    body = {"decision": "mapped", "targets": [IBUPROFEN]}
    retry = alice | {"Idempotency-Key": "decision-1"}
    first = client.post(f"/v1/review/{entry_id}/decision", headers=retry, json=body)
    second = client.post(f"/v1/review/{entry_id}/decision", headers=retry, json=body)
    assert first.status_code == second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true" and second.json() == first.json()
    assert _count(client.engine, mapping_versions) == 1


# --- curated mappings ---------------------------------------------------------------------------


def test_a_mapping_carries_its_version_as_its_etag(client):
    mapping = _mapped(client, _as(client, name="alice"))
    read = client.get(f"/v1/mappings/{mapping['id']}", headers=_as(client, "auditor"))
    assert read.status_code == 200 and read.headers["etag"] == '"1"'
    assert read.json()["targets"] == [{"system": SNOMED, "code": "387207008", "display": "Ibuprofen",
                                       "relationship": "equivalent"}]
    listed = client.get("/v1/mappings", params={"code": "IBUF"}, headers=_as(client, "auditor")).json()
    assert [m["id"] for m in listed["mappings"]] == [mapping["id"]] and listed["total"] == 1


def test_a_stale_edit_gets_412_naming_who_changed_it_and_when(any_store_client):
    client = any_store_client
    mapping = _mapped(client, _as(client, name="alice"))
    url = f"/v1/mappings/{mapping['id']}"
    bob = client.put(url, headers=_as(client, name="bob") | {"If-Match": '"1"'},
                     json={"decision": "mapped", "targets": [IBUPROFEN | {"relationship": "source-is-narrower-than-target"}],
                           "reason": "the local code is narrower"})
    assert bob.status_code == 200 and bob.headers["etag"] == '"2"' and bob.json()["author"] == "bob"
    carol = client.put(url, headers=_as(client, name="carol") | {"If-Match": '"1"'}, json={"decision": "no-map"})
    assert carol.status_code == 412
    body = carol.json()
    assert body["error"] == "StaleMappingVersion" and "changed by bob at" in body["message"]
    assert (body["changed_by"], body["current_version"], body["based_on"]) == ("bob", 2, 1)
    assert body["changed_at"].startswith(bob.json()["created_at"][:19])


def test_changing_a_mapping_without_if_match_is_428_and_a_malformed_one_422(client):
    mapping = _mapped(client, _as(client, name="alice"))
    bob = _as(client, name="bob")
    for method, path, body in (("PUT", f"/v1/mappings/{mapping['id']}", {"decision": "no-map"}),
                               ("POST", f"/v1/mappings/{mapping['id']}/retire", {})):
        missing = client.request(method, path, headers=bob, json=body)
        assert missing.status_code == 428 and "If-Match" in missing.json()["message"]
        weak = client.request(method, path, headers=bob | {"If-Match": 'W/"1"'}, json=body)
        assert weak.status_code == 422
    assert _count(client.engine, mapping_versions) == 1


def test_history_lists_every_version_in_order_retire_is_a_version_and_nothing_is_deleted(any_store_client):
    client = any_store_client
    mapping = _mapped(client, _as(client, name="alice"))
    url = f"/v1/mappings/{mapping['id']}"
    entries_before = _count(client.engine, review_entries)
    client.put(url, headers=_as(client, name="bob") | {"If-Match": '"1"'},
               json={"decision": "no-map", "reason": "allergy to the excipient, not ibuprofen"})
    retired = client.post(f"{url}/retire", headers=_as(client, name="carol") | {"If-Match": '"2"'},
                          json={"reason": "local code withdrawn"})
    assert retired.status_code == 200 and retired.json()["decision"] == "retired" and retired.headers["etag"] == '"3"'
    again = client.post(f"{url}/retire", headers=_as(client, name="carol") | {"If-Match": '"3"'})
    assert again.status_code == 409 and again.json()["error"] == "MappingRetired"

    versions = client.get(f"{url}/history", headers=_as(client, "auditor")).json()["versions"]
    assert [(v["version"], v["decision"], v["author"], v["origin"]) for v in versions] == [
        (1, "mapped", "alice", f"review:{versions[0]['origin'].split(':', 1)[1]}"),
        (2, "no-map", "bob", "api"), (3, "retired", "carol", "api")]
    assert [v["reason"] for v in versions] == [
        "misspelt ibuprofen", "allergy to the excipient, not ibuprofen", "local code withdrawn"]
    assert all(v["created_at"] for v in versions)
    assert _count(client.engine, mapping_versions) == 3 and _count(client.engine, mapping_targets) == 1
    assert _count(client.engine, review_entries) == entries_before
    # retired: translation no longer answers from the mapping; the entry is queued again
    assert client.post("/v1/translate", json=IBUF).json()["status"] == "unmapped"


def test_a_put_mapping_answers_the_next_translate_at_once(client):
    client.app.state.cache.check_every = 3600
    mapping = _mapped(client, _as(client, name="alice"))
    assert client.post("/v1/translate", json=IBUF).json()["status"] == "mapped"
    client.put(f"/v1/mappings/{mapping['id']}", headers=_as(client, name="bob") | {"If-Match": '"1"'},
               json={"decision": "no-map"})
    answer = client.post("/v1/translate", json=IBUF).json()
    assert answer["status"] == "unmapped" and answer["decision"] == "no-map"


# --- who may ------------------------------------------------------------------------------------


def _curation_routes():
    for route in curation_routes.router.routes:
        if isinstance(route, APIRoute):
            for method in route.methods:
                yield method, route.path


def test_an_auditor_can_read_everything_here_but_gets_403_on_every_change(client):
    mapping = _mapped(client, _as(client, name="alice"))
    with client.engine.connect() as connection:
        entry_id = connection.execute(select(review_entries.c.id)).scalar_one()
    auditor = _as(client, "auditor")
    changes = 0
    for method, path in _curation_routes():
        url = path.replace("{id}", mapping["id"] if path.startswith("/v1/mappings") else entry_id)
        answer = client.request(method, url, headers=auditor | {"If-Match": '"1"'}, json={})
        if method == "GET":
            assert answer.status_code == 200, (method, path, answer.text)
        else:
            assert answer.status_code == 403, (method, path)
            assert "the auditor role may not curate" in answer.json()["message"]
            changes += 1
    assert changes == 7
    assert _count(client.engine, mapping_versions) == 1


def test_a_translator_may_neither_read_nor_change_the_queue(client):
    translator = _as(client, "translator")
    assert client.get("/v1/review", headers=translator).status_code == 403
    assert client.post("/v1/review/claim", headers=translator).status_code == 403
