"""schemathesis over the whole OpenAPI document: no 5xx, and every answer matches what the document declares.

Every operation of `/openapi.json` is called in-process (ASGI) with an admin key on a copy of the demo
store, on SQLite and on PostgreSQL, with data generated from its declared parameters and bodies, valid and invalid. The checks:
no server error, the status code is one the operation declares, the body matches the schema declared
for that status, and the content type is a declared one. No operation is left out (`/metrics` and the `/ui`
pages are not in the document), and no check is relaxed for any.

CI runs a small, derandomized budget (the same examples every run). To hunt for bugs with a larger one:

    TERMMAP_FUZZ_EXAMPLES=200 .venv/bin/python -m pytest -q -p no:xdist tests/test_openapi_fuzz.py
    TERMMAP_FUZZ_STORE=postgresql ...   # one store only (CI fuzzes over both, SQLite and PostgreSQL)
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from api.app import create_app
from terminology.database import create_store_engine
from tests.conftest import api_key, postgres_demo_store

EXAMPLES = int(os.environ.get("TERMMAP_FUZZ_EXAMPLES", "8"))
#: Stores to fuzz over: sqlite (a copy of the demo store) and postgresql (the demo set in a schema of its own).
STORES = os.environ.get("TERMMAP_FUZZ_STORE", "sqlite,postgresql").split(",")
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
#: The document is read from an app that is never started (building one touches no store); the calls go to
#: `fuzz_app`, the same service over a store of its own.
schema = schemathesis.openapi.from_dict(create_app().openapi())
#: HL7 v2 messages go as they are, like text/plain (schemathesis has no serializer of its own for ER7).
schemathesis.serializer.alias("x-application/hl7-v2+er7", "text/plain")


def _demo_engine(store: str, template, tmp_path_factory) -> Iterator[Engine]:
    if store == "postgresql":
        yield from postgres_demo_store()
        return
    copy = tmp_path_factory.mktemp("fuzz") / "demo.db"
    shutil.copyfile(template, copy)
    engine = create_store_engine(f"sqlite:///{copy}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module", params=STORES)
def fuzz_app(request, _demo_sqlite_template, tmp_path_factory):
    """The app over its own copy of the demo store (the fuzzing writes to it), and an admin key's headers."""
    for engine in _demo_engine(request.param, _demo_sqlite_template, tmp_path_factory):
        app = create_app(engine=engine)
        yield app, {"Authorization": f"Bearer {api_key(engine, 'admin', 'fuzz')}"}
        # schemathesis started the app's lifespan on the first call and keeps it; end it before the store goes.
        asgi.shutdown_lifespans()


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case, fuzz_app):
    app, headers = fuzz_app
    case.call_and_validate(headers=dict(headers), checks=CHECKS, app=app)  # a copy: schemathesis adds to it


# --- what the fuzzing found, as plain regressions --------------------------------------------------------------------


@pytest.mark.parametrize("path, parameter", [
    ("/v1/mappings?offset=18446744073709551616", "offset"),  # was a 500: orjson cannot write it back
    ("/v1/audit?offset=9223372036854775808", "offset"),  # was a 500: SQLite's OFFSET overflowed
    ("/v1/review?offset=9223372036854775808", "offset"),
    ("/v1/reports/unmapped?offset=9223372036854775808", "offset"),
    ("/v1/reports/unmapped?limit=9223372036854775808", "limit"),
])
def test_an_absurd_page_is_a_422_naming_the_parameter(client, path, parameter):
    response = client.get(path)
    assert response.status_code == 422
    assert response.json()["error"] == "InvalidRequest" and parameter in response.json()["message"]


def test_transform_without_target_system_is_an_operation_outcome_like_its_other_errors(client):
    response = client.post("/v1/transform", json={"resourceType": "AllergyIntolerance"})
    assert response.status_code == 422 and response.headers["content-type"].startswith("application/fhir+json")
    assert "target_system" in response.json()["issue"][0]["diagnostics"]


def test_hl7v2_option_errors_are_the_json_api_error_shape(client):
    from api.hl7v2_routes import _EXAMPLE

    missing = client.post("/v1/hl7v2/translate", content=_EXAMPLE, headers={"content-type": "text/plain"})
    assert missing.status_code == 422 and missing.json()["error"] == "InvalidRequest"
    assert "target_system" in missing.json()["message"]
    unknown = client.post("/v1/hl7v2/translate?target_system=http://unknown.example", content=_EXAMPLE,
                          headers={"content-type": "text/plain"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "UnknownTargetSystem"


def test_a_curated_code_a_fhir_code_cannot_hold_is_left_out_of_the_conceptmap_and_said_to_be(client):
    """Was a 500 on GET /fhir/r4/ConceptMap: a sender's code `A  B`, once decided, made the map invalid FHIR."""
    from fhir.resources.R4B.bundle import Bundle

    from tests.conftest import DEMO_LOCAL_SYSTEM

    for code, display in (("A  B", "Penicillin class"), ("PCN2", "\x0c")):  # a display of no visible text too
        answer = client.post("/v1/translate", json={"source": {"system": DEMO_LOCAL_SYSTEM, "code": code},
                                                    "target_system": "http://snomed.info/sct", "context": "allergy"})
        entry = answer.json()["review"]["id"]
        assert client.post(f"/v1/review/{entry}/claim").status_code == 200
        decided = client.post(f"/v1/review/{entry}/decision", json={
            "decision": "mapped", "targets": [{"code": "373270004", "display": display}]})
        assert decided.status_code == 200, decided.text
    for version in ("r4", "r5"):
        found = client.get(f"/fhir/{version}/ConceptMap")
        assert found.status_code == 200, found.text
        (map_,) = [e["resource"] for e in found.json()["entry"]]
        assert [e["code"] for e in map_["group"][0]["element"]] == ["PCN2"]
        assert "1 mapping(s) whose codes a FHIR code cannot hold" in map_["description"]
        if version == "r4":
            Bundle.model_validate(found.json())
    exported = client.get("/v1/mappings/export", params={"format": "csv"})
    assert exported.status_code == 200 and "A  B" in exported.content.decode("utf-8-sig")  # every mapping


_NUL_GETS = ["/v1/review?sender=%00", "/v1/review/%00", "/v1/mappings?source_system=%00", "/v1/mappings/%00/history",
             "/v1/reports/unmapped?sender=%00", "/v1/reports/coverage?sender=%00",
             "/v1/reports/release-impact?system=%00", "/v1/audit?actor=%00"]
_NUL_POSTS = [
    ("/v1/translate", {"source": {"system": "urn:x", "code": "A\x00"}, "target_system": "http://snomed.info/sct",
                       "context": "allergy"}, "source.code"),
    ("/v1/translate", {"text": "x\x00", "sender": "s", "target_system": "http://snomed.info/sct", "context": "allergy"},
     "text"),
    ("/v1/review/claim", {"sender": "\x00"}, "sender"),
]


def test_a_nul_character_is_a_4xx_naming_where_it_is_on_every_store(any_store_client):
    """Was a 500 on PostgreSQL (found by TERMMAP_FUZZ_STORE=postgresql): it refuses NUL in any text value."""
    client = any_store_client
    for path in _NUL_GETS:
        response = client.get(path)
        assert response.status_code == 422 and "NUL" in response.json()["message"], (path, response.text)
    for path, body, field in _NUL_POSTS:
        response = client.post(path, json=body)
        assert response.status_code == 422 and field in response.json()["message"], (path, response.text)
    batch = client.post("/v1/translate/batch", json={"items": [_NUL_POSTS[0][1], {"text": "NKDA", "context": "allergy",
                                                                                  "target_system": "http://snomed.info/sct"}]})
    assert batch.status_code == 200
    assert "NUL" in batch.json()["items"][0]["error"]["message"] and batch.json()["items"][1]["status"] == "mapped"
    transform = client.post("/v1/transform?target_system=http://snomed.info/sct", json={
        "resourceType": "AllergyIntolerance", "code": {"coding": [{"system": "urn:x", "code": "A\x00"}]}})
    assert transform.status_code == 422 and "NUL" in transform.json()["issue"][0]["diagnostics"]
    hl7 = client.post("/v1/hl7v2/translate?target_system=http://snomed.info/sct",
                      content=b"MSH|^~\\&|EHR|HOSP|TM|TM|20250101||ADT^A08|C1|P|2.5\rAL1|1|DA|A\x00B^x^L\r",
                      headers={"content-type": "text/plain"})
    assert hl7.status_code == 400 and b"MSA|AR|C1|" in hl7.content and b"ERR||AL1^1^3|" in hl7.content
    refused = client.post("/v1/transform?target_system=http://snomed.info/sct&x%00=1", json={
        "resourceType": "AllergyIntolerance"})
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("application/fhir+json")
