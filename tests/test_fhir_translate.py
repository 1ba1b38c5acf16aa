"""ConceptMap/$translate over FHIR R4 and R5: answers, provenance, the review queue, and malformed calls."""
from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from mappings.review_queue import get_entry
from mappings.tables import review_entries
from tests.conftest import DEMO_LOCAL_SYSTEM

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
FHIR_JSON = "application/fhir+json"
RXNORM_RELEASE = f"{RXNORM}|09022025"






def parameters(**values: Any) -> dict[str, Any]:
    """A Parameters resource: `name=("valueType", value)` pairs."""
    return {"resourceType": "Parameters",
            "parameter": [{"name": name, kind: value} for name, (kind, value) in values.items()]}


def post(client: TestClient, path: str, body: Any, content_type: str = FHIR_JSON):
    data = body if isinstance(body, (bytes, str)) else orjson.dumps(body)
    return client.post(path, content=data, headers={"Content-Type": content_type})


def params_of(response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body = response.json()
    assert body["resourceType"] == "Parameters"
    return body["parameter"]


def one(params: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [p for p in params if p["name"] == name]
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


def every(params: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [p for p in params if p["name"] == name]


def part(param: dict[str, Any], name: str) -> Any:
    """The value of the part `name` of `param` (its value[x], or the part itself when it has parts)."""
    found = one(param["part"], name)
    return next((v for k, v in found.items() if k.startswith("value")), found)


def provenance(match: dict[str, Any]) -> dict[str, Any]:
    parts = one(match["part"], "termmap-provenance")["part"]
    return {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in parts if p["name"] != "step"}


def open_entries(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(review_entries)).scalar_one()


# --- answers -----------------------------------------------------------------------------------------------


def test_r4_get_answers_a_crosswalked_ingredient_as_a_validated_match_naming_rule_and_release(any_store_client) -> None:
    params = params_of(any_store_client.get("/fhir/r4/ConceptMap/$translate",
                                            params={"system": RXNORM, "code": "1191", "targetsystem": SNOMED}))
    assert one(params, "result")["valueBoolean"] is True
    match = one(params, "match")
    assert part(match, "equivalence") == "equivalent"
    assert part(match, "concept") == {"system": SNOMED, "code": "387458008", "display": "Aspirin"}
    assert part(match, "source") == "https://termmap.dev/fhir/rules/crosswalk"
    assert provenance(match) == {"rule": "crosswalk", "release": RXNORM_RELEASE, "validated": True}


def test_r4_post_of_a_coding_gives_the_same_answer_as_get(client) -> None:
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "coding", "valueCoding": {"system": RXNORM, "code": "1191"}},
        {"name": "targetsystem", "valueUri": SNOMED}]}
    posted = params_of(post(client, "/fhir/r4/ConceptMap/$translate", body))
    got = params_of(client.get("/fhir/r4/ConceptMap/$translate",
                               params={"system": RXNORM, "code": "1191", "targetsystem": SNOMED}))
    assert posted == got


def test_r4_accepts_targetSystem_spelled_as_r5_and_plain_application_json(client) -> None:
    body = parameters(system=("valueUri", RXNORM), code=("valueCode", "1191"), targetSystem=("valueUri", SNOMED))
    params = params_of(post(client, "/fhir/r4/ConceptMap/$translate", body, "application/json; charset=utf-8"))
    assert one(params, "result")["valueBoolean"] is True


def test_r5_get_takes_source_code_and_answers_relationship_and_origin_map(client) -> None:
    params = params_of(client.get("/fhir/r5/ConceptMap/$translate",
                                  params={"sourceSystem": SNOMED, "sourceCode": "387458008", "targetSystem": RXNORM}))
    assert one(params, "result")["valueBoolean"] is True
    match = one(params, "match")
    assert part(match, "relationship") == "equivalent"
    assert part(match, "concept")["code"] == "1191"
    assert part(match, "originMap") == "https://termmap.dev/fhir/rules/crosswalk"
    assert not every(match["part"], "equivalence")


def test_r5_post_of_a_source_coding_with_system_spelled_as_the_spec_does(client) -> None:
    body = parameters(sourceCoding=("valueCoding", {"system": RXNORM, "code": "1191"}),
                      targetSystem=("valueUri", SNOMED))
    params = params_of(post(client, "/fhir/r5/ConceptMap/$translate", body))
    assert part(one(params, "match"), "concept")["code"] == "387458008"
    body = parameters(system=("valueUri", RXNORM), sourceCode=("valueCode", "1191"), targetSystem=("valueUri", SNOMED))
    assert part(one(params_of(post(client, "/fhir/r5/ConceptMap/$translate", body)), "match"),
                "concept")["code"] == "387458008"


def test_nkda_text_translates_to_no_known_drug_allergy(any_store_client) -> None:
    body = parameters(codeableConcept=("valueCodeableConcept", {"text": "NKDA"}), targetsystem=("valueUri", SNOMED))
    params = params_of(post(any_store_client, "/fhir/r4/ConceptMap/$translate", body))
    assert one(params, "result")["valueBoolean"] is True
    match = one(params, "match")
    assert part(match, "concept")["code"] == "409137002"
    assert provenance(match)["rule"] == "negation"


def test_unmapped_code_is_result_false_with_the_original_echoed_and_its_review_entry(any_store_client,
                                                                                     demo_store) -> None:
    body = parameters(coding=("valueCoding", {"system": DEMO_LOCAL_SYSTEM, "code": "ZZZ", "display": "Kiwi"}),
                      targetsystem=("valueUri", SNOMED), sender=("valueString", "ward-7"))
    params = params_of(post(any_store_client, "/fhir/r4/ConceptMap/$translate", body))
    assert one(params, "result")["valueBoolean"] is False
    assert "queued for review" in one(params, "message")["valueString"]
    assert not every(params, "match")
    assert one(params, "termmap-original")["valueCodeableConcept"] == {
        "coding": [{"system": DEMO_LOCAL_SYSTEM, "code": "ZZZ", "display": "Kiwi"}]}
    review = one(params, "termmap-review")
    assert part(review, "status") == "open" and part(review, "reason") == "unmapped"
    with demo_store.connect() as connection:
        entry = get_entry(connection, part(review, "id"))
    assert entry is not None and entry.source_code == "ZZZ" and entry.senders == {"ward-7": 1}


def test_unmapped_text_carries_ranked_candidates_as_suggestions_not_matches(client) -> None:
    body = parameters(codeableConcept=("valueCodeableConcept", {"text": "peanut allergy"}),
                      targetsystem=("valueUri", SNOMED))
    params = params_of(post(client, "/fhir/r4/ConceptMap/$translate", body))
    assert one(params, "result")["valueBoolean"] is False and not every(params, "match")
    candidates = every(one(params, "termmap-review")["part"], "termmap-candidate")
    assert [part(c, "concept")["code"] for c in candidates][0] == "91935009"  # Allergy to peanut
    assert all(isinstance(part(c, "score"), float) for c in candidates)


def test_unvalidated_local_table_answer_is_result_false_with_its_matches_and_why(client) -> None:
    params = params_of(client.get("/fhir/r4/ConceptMap/$translate",
                                  params={"system": DEMO_LOCAL_SYSTEM, "code": "PCN", "targetsystem": SNOMED}))
    assert one(params, "result")["valueBoolean"] is False
    assert "not validated" in one(params, "message")["valueString"]
    match = one(params, "match")
    assert part(match, "concept")["code"] == "373270004"
    assert provenance(match)["rule"] == "local-table" and provenance(match)["validated"] is False
    assert part(one(params, "termmap-review"), "reason") == "unvalidated"
    assert one(params, "termmap-original")


def test_a_codeable_concept_is_answered_by_its_first_mapped_coding_and_the_others_are_not_queued(client,
                                                                                                 demo_sqlite) -> None:
    before = open_entries(demo_sqlite)
    concept = {"coding": [{"system": DEMO_LOCAL_SYSTEM, "code": "ZZZ"}, {"system": RXNORM, "code": "1191"}],
               "text": "aspirin"}
    body = parameters(codeableConcept=("valueCodeableConcept", concept), targetsystem=("valueUri", SNOMED))
    params = params_of(post(client, "/fhir/r4/ConceptMap/$translate", body))
    assert one(params, "result")["valueBoolean"] is True
    assert part(one(params, "match"), "concept")["code"] == "387458008"
    assert open_entries(demo_sqlite) == before


def test_medication_context_is_taken_and_a_bad_one_refused(client) -> None:
    query = {"system": RXNORM, "code": "1191", "targetsystem": SNOMED}
    assert one(params_of(client.get("/fhir/r4/ConceptMap/$translate", params={**query, "context": "medication"})),
               "result")["valueBoolean"] is True
    refused = client.get("/fhir/r4/ConceptMap/$translate", params={**query, "context": "food"})
    assert refused.status_code == 422 and "allergy, medication" in refused.text


# --- errors ------------------------------------------------------------------------------------------------


def outcome_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "error"
    return body["issue"][0]["diagnostics"]


def test_an_unknown_target_system_is_a_404_outcome_naming_it(client) -> None:
    response = client.get("/fhir/r4/ConceptMap/$translate",
                          params={"system": RXNORM, "code": "1191", "targetsystem": "http://loinc.org"})
    assert "http://loinc.org" in outcome_of(response, 404)


_GOOD = [{"name": "system", "valueUri": RXNORM}, {"name": "targetsystem", "valueUri": SNOMED}]
_CODE = {"name": "code", "valueCode": "1191"}


def _with(*parameters: dict[str, Any], good: bool = True) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [*(_GOOD if good else []), *parameters]}


@pytest.mark.parametrize(("body", "status", "says"), [
    (b"{not json", 400, "not JSON"),
    (b"", 400, "empty"),
    (b"\xff\xfe\x00", 400, "not JSON"),
    (b'[{"resourceType": "Parameters"}]', 400, "array"),
    (b'"Parameters"', 400, "not a JSON str"),
    ({"resourceType": "Patient", "id": "p1"}, 400, "not resourceType 'Patient'"),
    ({"parameter": []}, 400, "not resourceType None"),
    ({"resourceType": "Parameters", "parameter": "code"}, 400, "not valid FHIR"),
    (_with({"valueCode": "1191"}, good=False), 400, "not valid FHIR"),
    (_with({"name": "code", "valueCode": "1191", "valueString": "x"}), 400, "not valid FHIR"),
    (_with({"name": "system", "valueUri": 42}, good=False), 400, "not valid FHIR"),
    (_with({"name": "code"}, good=False), 400, "no value"),
    (_with({"name": "tx-resource", "resource": {"resourceType": "Foo"}}), 400, "cannot be read"),
    (_with({"name": "system", "valueString": "not a uri"}, _CODE, good=False), 400, "not a valid FHIR uri"),
    (b'{"resourceType": "Parameters", "parameter": [{"name": "code", "valueCode": "1191\\u0000"}]}',
     400, "control character"),
    (_with({"name": "code", "valueCoding": {"code": "1191"}}), 400, "must be a string-like value"),
    (_with({"name": "coding", "valueString": "1191"}), 400, "must be valueCoding"),
    (_with(_CODE, {"name": "reverse", "valueString": "yes"}), 400, "valueBoolean"),
    (_with(_CODE, {"name": "targetsystem", "valueUri": SNOMED}, good=False), 422, "needs its code system"),
    (_with({"name": "coding", "valueCoding": {"system": RXNORM, "code": "1191"}},
           {"name": "codeableConcept", "valueCodeableConcept": {"text": "aspirin"}}),
     422, "not coding and codeableConcept"),
    (_with(_CODE, {"name": "code", "valueCode": "1192"}), 422, "given 2 times"),
    (_with({"name": "code", "valueCode": "9" * 129}), 422, "at most 128 characters"),
    (_with({"name": "targetsystem", "valueUri": SNOMED}, good=False), 422, "nothing to translate"),
    (_with({"name": "system", "valueUri": RXNORM}, _CODE, good=False), 422, "code system to translate into"),
    (_with({"name": "coding", "valueCoding": {"code": "1191"}}), 422, "has no system"),
    (_with({"name": "codeableConcept", "valueCodeableConcept": {}}), 422, "neither a coding nor text"),
    (_with(_CODE, {"name": "target", "valueUri": "http://example.org/vs/allergens"}), 422, "not value sets"),
    (_with(_CODE, {"name": "dependency", "part": [{"name": "attribute", "valueUri": "x"}]}), 422, "no dependencies"),
])
def test_malformed_parameters_get_an_operation_outcome_never_a_500(client, body, status: int, says: str) -> None:
    response = post(client, "/fhir/r4/ConceptMap/$translate", body)
    assert says in outcome_of(response, status)


def test_a_body_that_is_not_json_by_its_media_type_is_a_415(client) -> None:
    response = post(client, "/fhir/r4/ConceptMap/$translate", b"<Parameters/>", "application/fhir+xml")
    assert "must be JSON" in outcome_of(response, 415)


@pytest.mark.parametrize(("query", "status", "says"), [
    ({"system": RXNORM, "code": "1191", "targetsystem": SNOMED, "reverse": "maybe"}, 400, "true or false"),
    ({"coding": f"{RXNORM}|1191", "targetsystem": SNOMED}, 400, "cannot be sent in a query string"),
    ({"code": "", "system": RXNORM, "targetsystem": SNOMED}, 400, "is empty"),
    ({"code": "1191", "system": "rx norm", "targetsystem": SNOMED}, 400, "not a valid FHIR uri"),
    ({"code": "1191\x00", "system": RXNORM, "targetsystem": SNOMED}, 400, "control character"),
    ({"code": "1191", "targetsystem": SNOMED}, 422, "needs its code system"),
])
def test_malformed_query_strings_get_an_operation_outcome(client, query, status: int, says: str) -> None:
    assert says in outcome_of(client.get("/fhir/r4/ConceptMap/$translate", params=query), status)


def test_r5_names_its_inputs_differently_and_says_so_when_sent_r4_ones(client) -> None:
    response = client.get("/fhir/r5/ConceptMap/$translate",
                          params={"system": RXNORM, "code": "1191", "targetSystem": SNOMED})
    assert "R5 names them sourceCode" in outcome_of(response, 422)


def test_a_source_version_that_is_not_loaded_is_a_404(client) -> None:
    response = client.get("/fhir/r4/ConceptMap/$translate",
                          params={"system": RXNORM, "code": "1191", "version": "01012001", "targetsystem": SNOMED})
    assert "09022025" in outcome_of(response, 404)


def test_unknown_fhir_paths_and_methods_are_operation_outcomes(client) -> None:
    assert "no FHIR R4 interaction" in outcome_of(client.get("/fhir/r4/Patient/1"), 404)
    assert "R4 at /fhir/r4" in outcome_of(client.get("/fhir/stu3/metadata"), 404)
    assert "not supported" in outcome_of(client.delete("/fhir/r5/ConceptMap/$translate"), 405)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
_parameter = st.fixed_dictionaries({"name": st.sampled_from(
    ["code", "system", "coding", "codeableConcept", "targetsystem", "reverse", "url", "context", "tx-resource"])},
    optional={"valueCode": _json, "valueUri": _json, "valueCoding": _json, "valueBoolean": _json,
              "valueCodeableConcept": _json, "resource": _json, "part": _json})
_system = st.sampled_from([RXNORM, SNOMED, DEMO_LOCAL_SYSTEM, "urn:x", "http://loinc.org"])
_code = st.sampled_from(["1191", "387458008", "PCN", "ZZZ"]) | st.text(min_size=1, max_size=8)
_typed_parameter = st.one_of(  # well-typed values in every combination: reaches the engine, not only the parser
    *(st.builds(lambda v, n=name: {"name": n, "valueCode": v}, _code) for name in ("code", "sourceCode", "targetCode")),
    *(st.builds(lambda v, n=name: {"name": n, "valueUri": v}, _system)
      for name in ("system", "sourceSystem", "targetsystem", "targetSystem")),
    *(st.builds(lambda s, c, n=name: {"name": n, "valueCoding": {"system": s, "code": c}}, _system, _code)
      for name in ("coding", "sourceCoding", "targetCoding")),
    st.builds(lambda t: {"name": "codeableConcept", "valueCodeableConcept": {"text": t}}, st.text(max_size=12)),
    st.builds(lambda b: {"name": "reverse", "valueBoolean": b}, st.booleans()),
    st.builds(lambda v: {"name": "context", "valueCode": v}, st.sampled_from(["allergy", "medication", "food"])),
    st.builds(lambda v: {"name": "url", "valueUri": v},
              st.sampled_from(["https://termmap.dev/fhir/ConceptMap/x", "urn:y"])),
)
_bodies = _json | st.fixed_dictionaries({"resourceType": st.just("Parameters"), "parameter": st.lists(
    _parameter | _typed_parameter, max_size=5)})


def test_no_generated_body_makes_translate_answer_500(any_store_client) -> None:
    client = any_store_client
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(body=_bodies, version=st.sampled_from(["r4", "r5"]))
    def never_500(body, version: str) -> None:
        response = post(client, f"/fhir/{version}/ConceptMap/$translate", json.dumps(body).encode())
        assert response.status_code in (200, 400, 404, 415, 422), response.text
        assert response.headers["content-type"].startswith(FHIR_JSON)

    never_500()


def test_no_generated_query_string_makes_translate_answer_500(any_store_client) -> None:
    client = any_store_client
    names = st.sampled_from(["system", "code", "targetsystem", "sourceCode", "sourceSystem", "targetSystem",
                             "targetCode", "reverse", "url", "context", "version", "sender", "coding", "target"])

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(query=st.lists(st.tuples(names, _system | _code | st.text(max_size=10)), max_size=5),
           version=st.sampled_from(["r4", "r5"]))
    def never_500(query, version: str) -> None:
        response = client.get(f"/fhir/{version}/ConceptMap/$translate", params=query)
        assert response.status_code in (200, 400, 404, 422), response.text
        assert response.headers["content-type"].startswith(FHIR_JSON)

    never_500()


def test_a_translate_post_with_the_same_idempotency_key_counts_its_review_entry_once(client):
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "system", "valueUri": DEMO_LOCAL_SYSTEM}, {"name": "code", "valueCode": "IBUF"},
        {"name": "targetsystem", "valueUri": "http://snomed.info/sct"}]}
    headers = {"Idempotency-Key": "fhir-msg-1", "content-type": "application/fhir+json"}
    first = client.post("/fhir/r4/ConceptMap/$translate", content=orjson.dumps(body), headers=headers)
    again = client.post("/fhir/r4/ConceptMap/$translate", content=orjson.dumps(body), headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    review = next(p for p in first.json()["parameter"] if p["name"] == "termmap-review")
    entry_id = next(part["valueString"] for part in review["part"] if part["name"] == "id")
    with client.engine.connect() as connection:
        assert get_entry(connection, entry_id).occurrences == 1
