"""The cached-translate lane answers exactly as the route would, and hands everything else to the route."""
from __future__ import annotations

import asyncio

import orjson
import pytest

from api.translate_routes import CachedTranslateLane
from terminology.systems import RXNORM, SNOMED
from tests.conftest import DEMO_LOCAL_SYSTEM as LOCAL
from tests.conftest import api_key

ASPIRIN = orjson.dumps({"source": {"system": RXNORM, "code": "1191"}, "target_system": SNOMED,
                        "context": "medication"})
TYPO = orjson.dumps({"source": {"system": LOCAL, "code": "IBUF", "display": "Ibuprofin"}, "target_system": SNOMED,
                     "context": "allergy"})


def through_lane(client, body: bytes, headers: dict[str, str], method: str = "POST",
                 path: str = "/v1/translate") -> tuple[list[dict], bytes | None]:
    """(what the lane sent, the body the route behind it received, or None when the lane answered)."""
    reached: dict[str, bytes] = {}

    async def route(scope, receive, send):
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        reached["body"] = b"".join(chunks)
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    incoming = [{"type": "http.request", "body": body[:7], "more_body": True},
                {"type": "http.request", "body": body[7:], "more_body": False}]
    sent: list[dict] = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "app": client.app,
             "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()]}
    asyncio.run(CachedTranslateLane(route)(scope, receive, send))
    return sent, reached.get("body")


@pytest.fixture
def translator(client) -> dict[str, str]:
    """Headers with a translator key the app has already checked (so it is remembered)."""
    headers = {"Authorization": f"Bearer {api_key(client.engine, 'translator')}", "Content-Type": "application/json"}
    assert client.post("/v1/translate", content=ASPIRIN, headers=headers).status_code == 200
    return headers


def test_a_cached_validated_answer_is_the_routes_answer_byte_for_byte(client, translator):
    by_route = client.post("/v1/translate", content=ASPIRIN, headers={**translator, "Idempotency-Key": "k1"})
    sent, reached = through_lane(client, ASPIRIN, translator)
    assert reached is None
    start, body = sent
    assert start["status"] == 200 and body["body"] == by_route.content
    assert dict(start["headers"]) == {b"content-length": by_route.headers["content-length"].encode(),
                                      b"content-type": by_route.headers["content-type"].encode()}
    metrics = client.get("/metrics").text
    assert 'termmap_translations_total{context="medication",rule="crosswalk",status="mapped"} 3.0' in metrics


def test_through_the_whole_app_a_cached_answer_keeps_its_bytes_and_gets_a_request_id(client, translator):
    first = client.post("/v1/translate", content=ASPIRIN, headers=translator)
    again = client.post("/v1/translate", content=ASPIRIN, headers={**translator, "X-Request-ID": "msg-7"})
    assert again.content == first.content and again.headers["x-request-id"] == "msg-7"


@pytest.mark.parametrize("case", ["no key", "unknown key", "idempotency key", "invalid body", "unmapped",
                                  "role may not translate", "another path", "another method"])
def test_the_lane_hands_the_route_whatever_it_would_not_answer_from_the_cache(client, translator, case):
    headers, body, method, path = dict(translator), ASPIRIN, "POST", "/v1/translate"
    if case == "no key":
        del headers["Authorization"]
    elif case == "unknown key":
        headers["Authorization"] = "Bearer tm_nope"
    elif case == "idempotency key":
        headers["Idempotency-Key"] = "msg-1"
    elif case == "invalid body":
        body = b'{"source": {"code": 1191}'
    elif case == "unmapped":  # cached too, but every occurrence must be counted on its review entry
        body = TYPO
        assert client.post("/v1/translate", content=body, headers=headers).json()["status"] == "unmapped"
    elif case == "role may not translate":
        headers["Authorization"] = f"Bearer {api_key(client.engine, 'auditor')}"
        assert client.post("/v1/translate", content=body, headers=headers).status_code == 403  # now remembered
    elif case == "another path":
        path = "/v1/translate/batch"
    else:
        method = "PUT"
    sent, reached = through_lane(client, body, headers, method, path)
    assert reached == body and sent[0]["status"] == 299
