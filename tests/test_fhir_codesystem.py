"""CodeSystem/$lookup, CodeSystem/$validate-code and metadata, on the demo SNOMED CT and RxNorm releases."""
from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.conftest import DEMO_LOCAL_SYSTEM

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
FHIR_JSON = "application/fhir+json"
SNOMED_VERSION = "http://snomed.info/sct/900000000000207008/version/20250901"
FSN = {"system": SNOMED, "code": "900000000000003001", "display": "Fully specified name"}






def params_of(response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    return response.json()["parameter"]


def value(params: list[dict[str, Any]], name: str) -> Any:
    found = [p for p in params if p["name"] == name]
    assert len(found) == 1, f"{name}: {found}"
    return next(v for k, v in found[0].items() if k.startswith("value") or k == "resource")


def properties(params: list[dict[str, Any]]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for p in params:
        if p["name"] == "property":
            parts = {q["name"]: next(v for k, v in q.items() if k.startswith("value")) for q in p["part"]}
            found.setdefault(parts["code"], []).append(parts["value"])
    return found


def designations(params: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    rows = []
    for p in params:
        if p["name"] == "designation":
            parts = {q["name"]: next(v for k, v in q.items() if k.startswith("value")) for q in p["part"]}
            rows.append((parts["language"], parts["use"], parts["value"]))
    return rows


# --- $lookup -----------------------------------------------------------------------------------------------


def test_lookup_of_a_snomed_code_gives_name_version_display_designations_and_properties(any_store_client) -> None:
    params = params_of(any_store_client.get("/fhir/r4/CodeSystem/$lookup",
                                            params={"system": SNOMED, "code": "91936005"}))
    assert value(params, "name") == "SNOMED CT"
    assert value(params, "version") == SNOMED_VERSION
    assert value(params, "display") == "Allergy to penicillin"
    assert ("en", FSN, "Allergy to penicillin (finding)") in designations(params)
    assert properties(params) == {"inactive": [False], "kind": ["finding"], "parent": ["416098002"]}


def test_lookup_of_an_rxnorm_ingredient_by_coding_over_r5_post(client) -> None:
    body = {"resourceType": "Parameters", "parameter": [{"name": "coding", "valueCoding": {"system": RXNORM,
                                                                                          "code": "7980"}}]}
    response = client.post("/fhir/r5/CodeSystem/$lookup", content=orjson.dumps(body),
                           headers={"Content-Type": FHIR_JSON})
    params = params_of(response)
    assert (value(params, "name"), value(params, "version"), value(params, "display")) == (
        "RxNorm", "09022025", "penicillin G")
    assert properties(params)["kind"] == ["IN"]


def test_lookup_returns_only_the_properties_asked_for(client) -> None:
    params = params_of(client.get("/fhir/r4/CodeSystem/$lookup",
                                  params=[("system", SNOMED), ("code", "416098002"), ("property", "child")]))
    assert properties(params) == {"child": ["91936005"]}


def test_lookup_says_an_inactive_concept_is_inactive(client) -> None:
    params = params_of(client.get("/fhir/r5/CodeSystem/$lookup", params={"system": SNOMED, "code": "74069000"}))
    assert properties(params)["inactive"] == [True]


def test_lookup_accepts_the_loaded_version_in_any_of_its_spellings(client) -> None:
    for version in (SNOMED_VERSION, "20250901", "INT 20250901", f"{SNOMED}/900000000000207008"):
        assert client.get("/fhir/r4/CodeSystem/$lookup",
                          params={"system": SNOMED, "code": "91936005", "version": version}).status_code == 200


@pytest.mark.parametrize(("query", "status", "says"), [
    ({"system": SNOMED, "code": "1234567"}, 404, "'1234567' is not in the active release"),
    ({"system": "http://loinc.org", "code": "1-8"}, 404, "unknown code system 'http://loinc.org'"),
    ({"system": SNOMED, "code": "91936005", "version": f"{SNOMED}/900000000000207008/version/20140731"},
     404, "is not loaded"),
    ({"code": "91936005"}, 422, "needs its system"),
    ({"system": SNOMED}, 422, "nothing to look up"),
])
def test_lookup_failures_are_operation_outcomes(client, query, status: int, says: str) -> None:
    response = client.get("/fhir/r4/CodeSystem/$lookup", params=query)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and says in body["issue"][0]["diagnostics"]


# --- $validate-code ----------------------------------------------------------------------------------------


def validate(client: TestClient, fhir: str = "r4", **query: str) -> list[dict[str, Any]]:
    return params_of(client.get(f"/fhir/{fhir}/CodeSystem/$validate-code", params=query))


def test_validate_code_accepts_a_snomed_code_with_any_of_its_designations_as_display(any_store_client) -> None:
    params = validate(any_store_client, url=SNOMED, code="416098002", display="medication ALLERGY")
    assert value(params, "result") is True
    assert value(params, "display") == "Drug allergy"
    assert value(params, "version") == SNOMED_VERSION


def test_validate_code_accepts_an_rxnorm_code(client) -> None:
    params = validate(client, "r5", url=RXNORM, code="7980", display="penicillin G")
    assert (value(params, "result"), value(params, "code"), value(params, "system")) == (True, "7980", RXNORM)


def test_a_wrong_display_is_an_error_unless_display_validation_is_lenient(client) -> None:
    strict = validate(client, url=SNOMED, code="91936005", display="Penicillin rash")
    assert value(strict, "result") is False
    assert "Wrong Display Name 'Penicillin rash'" in value(strict, "message")
    assert value(strict, "issues")["issue"][0]["severity"] == "error"
    lenient = validate(client, url=SNOMED, code="91936005", display="Penicillin rash",
                       **{"lenient-display-validation": "true"})
    assert value(lenient, "result") is True
    assert value(lenient, "issues")["issue"][0]["severity"] == "warning"


def test_an_inactive_code_is_valid_with_a_warning(client) -> None:
    params = validate(client, url=SNOMED, code="74069000")
    assert (value(params, "result"), value(params, "inactive")) == (True, True)
    assert "inactive" in value(params, "message")


@pytest.mark.parametrize(("query", "says"), [
    ({"url": SNOMED, "code": "1234567"}, "Unknown code '1234567'"),
    ({"url": "http://loinc.org", "code": "1-8"}, "could not be found"),
    ({"url": RXNORM, "code": "7980", "version": "01012001"}, "is not loaded"),
])
def test_what_cannot_be_validated_is_result_false_not_an_error_status(client, query, says: str) -> None:
    params = validate(client, **query)
    assert value(params, "result") is False and says in value(params, "message")


def test_a_codeable_concept_is_valid_when_one_of_its_codings_is(client) -> None:
    concept = {"coding": [{"system": SNOMED, "code": "1234567"}, {"system": SNOMED, "code": "91936005"}]}
    body = {"resourceType": "Parameters", "parameter": [{"name": "codeableConcept", "valueCodeableConcept": concept}]}
    params = params_of(client.post("/fhir/r4/CodeSystem/$validate-code", content=orjson.dumps(body),
                                   headers={"Content-Type": FHIR_JSON}))
    assert value(params, "result") is True and value(params, "codeableConcept") == concept


def test_validate_code_without_a_code_is_a_422(client) -> None:
    response = client.get("/fhir/r4/CodeSystem/$validate-code", params={"url": SNOMED})
    assert response.status_code == 422 and response.json()["resourceType"] == "OperationOutcome"


# --- metadata ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "fhir_version"), [("r4", "4.0.1"), ("r5", "5.0.0")])
def test_metadata_is_a_capability_statement_naming_the_operations(client, version: str, fhir_version: str) -> None:
    response = client.get(f"/fhir/{version}/metadata")
    assert response.status_code == 200 and response.headers["content-type"].startswith(FHIR_JSON)
    statement = response.json()
    assert (statement["resourceType"], statement["kind"], statement["fhirVersion"]) == (
        "CapabilityStatement", "instance", fhir_version)
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert [o["name"] for o in resources["ConceptMap"]["operation"]] == ["translate"]
    assert {i["code"] for i in resources["ConceptMap"]["interaction"]} == {"read", "search-type", "update", "create"}
    assert [o["name"] for o in resources["CodeSystem"]["operation"]] == ["lookup", "validate-code"]
    assert "termmap-review" in statement["rest"][0]["documentation"]


@pytest.mark.parametrize("version", ["r4", "r5"])
def test_terminology_mode_lists_the_active_releases(client, version: str) -> None:
    capabilities = client.get(f"/fhir/{version}/metadata", params={"mode": "terminology"}).json()
    assert capabilities["resourceType"] == "TerminologyCapabilities"
    systems = {s["uri"]: s["version"][0]["code"] for s in capabilities["codeSystem"]}
    assert systems[SNOMED] == SNOMED_VERSION
    assert systems[RXNORM] == "09022025"
    assert DEMO_LOCAL_SYSTEM in systems
    assert capabilities["translation"] == {"needsMap": False}


def test_an_unknown_metadata_mode_is_a_400(client) -> None:
    assert client.get("/fhir/r4/metadata", params={"mode": "everything"}).status_code == 400
