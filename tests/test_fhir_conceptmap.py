"""ConceptMaps: curated mappings served as ConceptMaps, ConceptMaps imported as curated mappings, inline maps."""
from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from mappings.curated import Decision, count_versions, current_mappings, record_mapping
from tests.conftest import DEMO_LOCAL_SYSTEM, api_key

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
FHIR_JSON = "application/fhir+json"
IMPORTED_URL = "https://demo-hospital.example.org/fhir/ConceptMap/allergens-to-snomed"
#: The id and url termmap gives the map of allergy mappings from the demo allergen list to SNOMED CT.
MAP_ID = "allergy-allergens-bd758a91-to-snomed"
MAP_URL = f"https://termmap.dev/fhir/ConceptMap/{MAP_ID}"






def allergen_map(**overrides: Any) -> dict[str, Any]:
    """An R4 ConceptMap of the demo allergen list to SNOMED CT, as a hospital would upload it."""
    return {
        "resourceType": "ConceptMap", "url": IMPORTED_URL, "version": "1.0", "name": "AllergensToSnomed",
        "status": "active",
        "group": [{"source": DEMO_LOCAL_SYSTEM, "target": SNOMED, "element": [
            {"code": "PCN", "target": [{"code": "373270004", "equivalence": "equivalent"}]},
            {"code": "AMOX", "target": [{"code": "372687004", "equivalence": "wider"}]},
            {"code": "ZZZ", "target": [{"equivalence": "unmatched"}]},
        ]}],
        **overrides,
    }


def as_r5(conceptmap: dict[str, Any]) -> dict[str, Any]:
    """The same map in R5's words: relationships for equivalences, noMap for unmatched."""
    relationship = {"equivalent": "equivalent", "wider": "source-is-narrower-than-target"}
    for group in conceptmap["group"]:
        for element in group["element"]:
            if element["target"][0]["equivalence"] == "unmatched":
                del element["target"]
                element["noMap"] = True
                continue
            for target in element["target"]:
                target["relationship"] = relationship[target.pop("equivalence")]
    return conceptmap


def send(client: TestClient, method: str, path: str, body: Any, **headers: str):
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.request(method, path, content=data, headers={"Content-Type": FHIR_JSON, **headers})


def one(params: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [p for p in params if p["name"] == name]
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


def part(param: dict[str, Any], name: str) -> Any:
    found = one(param["part"], name)
    return next((v for k, v in found.items() if k.startswith("value")), found)


def translated(response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return response.json()["parameter"]


def rule_of(match: dict[str, Any]) -> str:
    return part(one(match["part"], "termmap-provenance"), "rule")


def elements(conceptmap: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["code"]: e for group in conceptmap.get("group", []) for e in group["element"]}


# --- import, then translate --------------------------------------------------------------------------------


def test_an_uploaded_conceptmap_answers_translate_by_its_url_as_curated_and_validated(any_store_client) -> None:
    created = send(any_store_client, "POST", "/fhir/r4/ConceptMap", allergen_map())
    assert created.status_code == 201, created.text
    assert created.headers["location"].endswith(f"/fhir/r4/ConceptMap/{MAP_ID}")
    assert created.headers["x-termmap-mappings-recorded"] == "3"
    stored = created.json()
    assert (stored["id"], stored["url"]) == (MAP_ID, MAP_URL)

    params = translated(any_store_client.get("/fhir/r4/ConceptMap/$translate",
                                             params={"system": DEMO_LOCAL_SYSTEM, "code": "PCN", "url": IMPORTED_URL}))
    assert one(params, "result")["valueBoolean"] is True
    match = one(params, "match")
    assert part(match, "concept")["code"] == "373270004"
    assert part(match, "source") == f"{IMPORTED_URL}|1.0"
    assert rule_of(match) == "curated"


def test_an_import_turns_the_local_tables_unvalidated_answer_into_a_curated_one(client) -> None:
    query = {"system": DEMO_LOCAL_SYSTEM, "code": "PCN", "targetsystem": SNOMED}
    before = translated(client.get("/fhir/r4/ConceptMap/$translate", params=query))
    assert one(before, "result")["valueBoolean"] is False
    send(client, "POST", "/fhir/r4/ConceptMap", allergen_map())
    after = translated(client.get("/fhir/r4/ConceptMap/$translate", params=query))
    assert one(after, "result")["valueBoolean"] is True and rule_of(one(after, "match")) == "curated"
    assert part(one(after, "match"), "source") == f"{IMPORTED_URL}|1.0"


def test_a_no_map_decision_answers_unmatched_with_result_false(client) -> None:
    send(client, "POST", "/fhir/r4/ConceptMap", allergen_map())
    r4 = translated(client.get("/fhir/r4/ConceptMap/$translate",
                               params={"system": DEMO_LOCAL_SYSTEM, "code": "ZZZ", "targetsystem": SNOMED}))
    assert one(r4, "result")["valueBoolean"] is False
    assert part(one(r4, "match"), "equivalence") == "unmatched"
    assert part(one(r4, "match"), "source") == f"{IMPORTED_URL}|1.0"
    r5 = translated(client.get("/fhir/r5/ConceptMap/$translate",
                               params={"system": DEMO_LOCAL_SYSTEM, "sourceCode": "ZZZ", "targetSystem": SNOMED}))
    assert part(one(r5, "match"), "relationship") == "not-related-to"


def test_translate_with_termmaps_own_map_url_answers_only_from_that_map(client) -> None:
    send(client, "POST", "/fhir/r4/ConceptMap", allergen_map())
    mapped = translated(client.get("/fhir/r5/ConceptMap/$translate",
                                   params={"system": DEMO_LOCAL_SYSTEM, "sourceCode": "AMOX", "url": MAP_URL}))
    assert part(one(mapped, "match"), "relationship") == "source-is-narrower-than-target"
    outside = translated(client.get("/fhir/r5/ConceptMap/$translate",
                                    params={"system": DEMO_LOCAL_SYSTEM, "sourceCode": "LATEX", "url": MAP_URL}))
    assert one(outside, "result")["valueBoolean"] is False
    assert MAP_URL in one(outside, "message")["valueString"]
    instance = translated(client.get(f"/fhir/r4/ConceptMap/{MAP_ID}/$translate",
                                     params={"system": DEMO_LOCAL_SYSTEM, "code": "AMOX"}))
    assert part(one(instance, "match"), "equivalence") == "wider"


def test_an_unknown_conceptmap_url_is_a_404(client) -> None:
    query = {"system": DEMO_LOCAL_SYSTEM, "code": "PCN", "url": "http://example.org/ConceptMap/none"}
    response = client.get("/fhir/r4/ConceptMap/$translate", params=query)
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


def test_reverse_translation_finds_the_curated_sources_of_a_target_code(client) -> None:
    send(client, "POST", "/fhir/r4/ConceptMap", allergen_map())
    r4 = translated(client.get("/fhir/r4/ConceptMap/$translate",
                               params={"system": SNOMED, "code": "372687004", "reverse": "true"}))
    assert one(r4, "result")["valueBoolean"] is True
    assert part(one(r4, "match"), "source") == {"system": DEMO_LOCAL_SYSTEM, "code": "AMOX"}
    r5 = translated(client.get("/fhir/r5/ConceptMap/$translate",
                               params={"targetCode": "372687004", "targetSystem": SNOMED,
                                       "sourceSystem": DEMO_LOCAL_SYSTEM}))
    assert part(one(r5, "match"), "source")["code"] == "AMOX"
    assert part(one(r5, "match"), "originMap") == f"{IMPORTED_URL}|1.0"


# --- read, search ------------------------------------------------------------------------------------------


def test_read_and_search_serve_the_current_curated_mappings_in_each_versions_vocabulary(client, demo_sqlite) -> None:
    send(client, "PUT", f"/fhir/r4/ConceptMap/{MAP_ID}", allergen_map())
    with demo_sqlite.begin() as connection:  # a later decision retires AMOX: it leaves the map
        record_mapping(connection, source_system=DEMO_LOCAL_SYSTEM, source_code="AMOX", source_text=None,
                       context="allergy", target_system=SNOMED, decision=Decision.RETIRED, targets=[],
                       author="pharm.lee", reason="duplicate of PCN", origin="api")
    r4 = client.get(f"/fhir/r4/ConceptMap/{MAP_ID}")
    assert r4.status_code == 200 and r4.headers["content-type"].startswith(FHIR_JSON)
    assert r4.json()["version"] == "4"
    assert set(elements(r4.json())) == {"PCN", "ZZZ"}
    assert elements(r4.json())["ZZZ"]["target"][0]["equivalence"] == "unmatched"
    r5 = client.get(f"/fhir/r5/ConceptMap/{MAP_ID}").json()
    assert elements(r5)["ZZZ"]["noMap"] is True
    assert elements(r5)["PCN"]["target"][0]["relationship"] == "equivalent"

    found = client.get("/fhir/r4/ConceptMap", params={"source-system": DEMO_LOCAL_SYSTEM, "target-system": SNOMED})
    bundle = found.json()
    assert (bundle["resourceType"], bundle["type"], bundle["total"]) == ("Bundle", "searchset", 1)
    assert bundle["entry"][0]["resource"]["url"] == MAP_URL
    assert client.get("/fhir/r5/ConceptMap", params={"url": MAP_URL}).json()["total"] == 1
    assert client.get("/fhir/r5/ConceptMap", params={"target-group-system": RXNORM}).json()["total"] == 0


def test_an_unknown_map_id_is_a_404_and_delete_is_not_supported(client) -> None:
    missing = client.get("/fhir/r4/ConceptMap/allergy-nothing-to-snomed")
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"
    assert client.delete(f"/fhir/r4/ConceptMap/{MAP_ID}").status_code == 405


# --- import rules ------------------------------------------------------------------------------------------


def test_put_creates_then_updates_and_an_unchanged_reupload_writes_nothing(client, demo_sqlite) -> None:
    first = send(client, "PUT", f"/fhir/r4/ConceptMap/{MAP_ID}", allergen_map(id=MAP_ID))
    assert first.status_code == 201, first.text
    with demo_sqlite.connect() as connection:
        written = count_versions(connection)
    again = send(client, "PUT", f"/fhir/r5/ConceptMap/{MAP_ID}", as_r5(allergen_map()))
    assert again.status_code == 200, again.text  # the same decisions, said in R5's words
    assert again.headers["x-termmap-mappings-unchanged"] == "3"
    with demo_sqlite.connect() as connection:
        assert count_versions(connection) == written


def test_put_at_another_id_is_refused_naming_where_the_map_belongs(client) -> None:
    response = send(client, "PUT", "/fhir/r4/ConceptMap/my-allergens", allergen_map())
    assert response.status_code == 422
    assert MAP_ID in response.json()["issue"][0]["diagnostics"]
    mismatch = send(client, "PUT", f"/fhir/r4/ConceptMap/{MAP_ID}", allergen_map(id="other"))
    assert mismatch.status_code == 400


def test_an_import_records_author_origin_and_context(client, demo_sqlite) -> None:
    key = api_key(demo_sqlite, "pharmacist", name="pharm.jones")
    send(client, "POST", "/fhir/r4/ConceptMap?context=medication", allergen_map(), Authorization=f"Bearer {key}")
    with demo_sqlite.connect() as connection:
        mappings = current_mappings(connection, source_system=DEMO_LOCAL_SYSTEM, target_system=SNOMED)
    assert {m.context for m in mappings} == {"medication"}
    assert {m.author for m in mappings} == {"pharm.jones"}
    assert {m.origin for m in mappings} == {f"import:conceptmap:{IMPORTED_URL}|1.0"}


def test_a_target_code_the_release_does_not_hold_is_refused_and_nothing_is_stored(client, demo_sqlite) -> None:
    bad = allergen_map()
    bad["group"][0]["element"].append({"code": "EGG", "target": [{"code": "999999999", "equivalence": "equivalent"}]})
    response = send(client, "POST", "/fhir/r4/ConceptMap", bad)
    assert response.status_code == 422
    assert "999999999" in response.json()["issue"][0]["diagnostics"]
    with demo_sqlite.connect() as connection:
        assert count_versions(connection) == 0


@pytest.mark.parametrize(("body", "status"), [
    (b"not json", 400),
    (b"[]", 400),
    ({"resourceType": "Patient"}, 400),
    ({"resourceType": "ConceptMap", "status": "active", "group": [{"element": "PCN"}]}, 400),
    ({"resourceType": "ConceptMap", "status": "active"}, 422),
    ({"resourceType": "ConceptMap", "status": "active", "group": [
        {"source": DEMO_LOCAL_SYSTEM, "element": [{"code": "PCN", "target": [
            {"code": "373270004", "equivalence": "equivalent"}]}]}]}, 422),
    ({"resourceType": "ConceptMap", "status": "active", "group": [
        {"source": DEMO_LOCAL_SYSTEM, "target": SNOMED, "element": [{"code": "PCN"}]}]}, 422),
])
def test_an_unreadable_or_incomplete_conceptmap_is_an_operation_outcome(client, body, status: int) -> None:
    response = send(client, "POST", "/fhir/r4/ConceptMap", body)
    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


# --- inline maps -------------------------------------------------------------------------------------------

TEST_SOURCE = "http://hl7.org/fhir/test/CodeSystem/source"
TEST_TARGET = "http://hl7.org/fhir/test/CodeSystem/target"


def inline_map(version: str) -> dict[str, Any]:
    target = {"code": "code1", "display": "Display 1"}
    target.update({"equivalence": "equivalent"} if version == "r4" else {"relationship": "equivalent"})
    return {"resourceType": "ConceptMap", "url": "http://hl7.org/fhir/test/ConceptMap/full", "version": "0.1.0",
            "status": "active",
            "group": [{"source": TEST_SOURCE, "target": TEST_TARGET,
                       "element": [{"code": "code-1", "target": [target]}]}]}


@pytest.mark.parametrize(("version", "code_name", "system_name"), [("r4", "code", "system"),
                                                                   ("r5", "sourceCode", "system")])
def test_a_tx_resource_conceptmap_answers_this_request_only(client, demo_sqlite, version, code_name,
                                                            system_name) -> None:
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "tx-resource", "resource": inline_map(version)},
        {"name": "url", "valueUri": "http://hl7.org/fhir/test/ConceptMap/full"},
        {"name": system_name, "valueUri": TEST_SOURCE},
        {"name": code_name, "valueCode": "code-1"},
    ]}
    params = translated(send(client, "POST", f"/fhir/{version}/ConceptMap/$translate", body))
    assert one(params, "result")["valueBoolean"] is True
    match = one(params, "match")
    assert part(match, "concept") == {"system": TEST_TARGET, "code": "code1", "display": "Display 1"}
    assert rule_of(match) == "request-conceptmap"
    with demo_sqlite.connect() as connection:
        assert count_versions(connection) == 0
    stored_only = client.get(f"/fhir/{version}/ConceptMap/$translate",
                             params={system_name: TEST_SOURCE, code_name: "code-1",
                                     "url": "http://hl7.org/fhir/test/ConceptMap/full"})
    assert stored_only.status_code == 404  # the inline map was not kept
