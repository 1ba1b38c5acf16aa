"""Who may call what: every route checks its role; 401 without a key, 403 with the wrong role."""
from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import ROLE_PERMISSIONS, Role, create_key, key_sha256, list_keys, revoke_key
from mappings.tables import api_keys
from tests.conftest import api_key

OPEN = {"/health", "/ready", "/fhir/r4/metadata", "/fhir/r5/metadata", "/openapi.json", "/docs",
        "/docs/oauth2-redirect", "/redoc"}


def _flatten(routes):
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI keeps included routers whole
        if included is not None:
            yield from _flatten(included.routes)
        else:
            yield route


def _routes(app):
    """(method, path, permission) for every routed endpoint."""
    for route in _flatten(app.routes):
        if not isinstance(route, APIRoute) or "{path:path}" in route.path:
            continue
        needs = [d.call.permission for d in route.dependant.dependencies if hasattr(d.call, "permission")]
        for method in sorted(route.methods):
            yield method, route.path, needs[0] if needs else None


@pytest.fixture
def anonymous(demo_sqlite):
    with TestClient(create_app(engine=demo_sqlite)) as client:
        client.engine = demo_sqlite
        yield client


def test_every_route_but_the_open_ones_declares_a_permission(anonymous):
    undeclared = [(m, p) for m, p, needs in _routes(anonymous.app) if needs is None and p not in OPEN]
    assert undeclared == []


def test_the_whole_route_by_role_matrix(anonymous):
    keys = {role: api_key(anonymous.engine, role.value) for role in Role}
    checked = 0
    for method, path, needs in _routes(anonymous.app):
        if needs is None:
            continue
        url = path.replace("{id}", "no-such-map")
        assert anonymous.request(method, url).status_code == 401, (method, path)
        for role, key in keys.items():
            status = anonymous.request(method, url, headers={"Authorization": f"Bearer {key}"}).status_code
            if needs in ROLE_PERMISSIONS[role]:
                assert status not in (401, 403), (method, path, role)
            else:
                assert status == 403, (method, path, role, status)
            checked += 1
    assert checked >= 4 * 20


def test_open_routes_need_no_key(anonymous):
    assert anonymous.get("/health").status_code == 200
    assert anonymous.get("/ready").status_code == 200
    assert anonymous.get("/fhir/r4/metadata").status_code == 200


def test_a_missing_or_unknown_key_is_401_saying_how_to_authenticate(anonymous):
    missing = anonymous.post("/v1/translate", json={})
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in missing.json()["message"]
    unknown = anonymous.post("/v1/translate", json={}, headers={"Authorization": "Bearer tm_nope"})
    assert unknown.status_code == 401 and "unknown or revoked" in unknown.json()["message"]


def test_the_wrong_role_is_403_naming_the_roles_that_may(anonymous):
    key = api_key(anonymous.engine, "auditor")
    refused = anonymous.post("/v1/translate", json={}, headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 403 and "translator, admin" in refused.json()["message"]
    fhir = anonymous.get("/fhir/r4/ConceptMap/$translate", headers={"Authorization": f"Bearer {key}"})
    assert fhir.status_code == 403 and fhir.json()["resourceType"] == "OperationOutcome"


def test_keys_are_stored_hashed_and_a_revoked_key_stops_working(anonymous):
    with anonymous.engine.begin() as connection:
        record, key = create_key(connection, Role.TRANSLATOR, "interface-engine", "tests")
    with anonymous.engine.connect() as connection:
        stored = connection.execute(api_keys.select().where(api_keys.c.id == record.id)).one()
    assert key not in stored and stored.key_sha256 == key_sha256(key) and key.startswith(stored.prefix)
    anonymous.app.state.keys.ttl = 0
    auth = {"Authorization": f"Bearer {key}"}
    assert anonymous.get("/v1/concepts/lookup?system=rxnorm&code=1191", headers=auth).status_code == 200
    with anonymous.engine.begin() as connection:
        assert revoke_key(connection, record.id)
        assert [k.revoked_at is not None for k in list_keys(connection) if k.id == record.id] == [True]
    assert anonymous.get("/v1/concepts/lookup?system=rxnorm&code=1191", headers=auth).status_code == 401
