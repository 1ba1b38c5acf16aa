"""Every response carries a request id; errors and slow requests are logged at INFO, the rest at DEBUG."""
from __future__ import annotations

import asyncio
import logging

import pytest

from api.observability import RequestLog


def _app(status: int, pause: float = 0.0):
    async def app(scope, receive, send):
        if pause:
            await asyncio.sleep(pause)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def _call(app, headers=()) -> list[dict]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/translate", "headers": list(headers)}
    asyncio.run(app(scope, receive, send))
    return sent


def _request_id(sent: list[dict]) -> str:
    return dict(sent[0]["headers"])[b"x-request-id"].decode()


def test_a_request_id_is_made_when_none_came_and_echoed_when_one_did():
    made = {_request_id(_call(RequestLog(_app(200)))) for _ in range(3)}
    assert len(made) == 3 and all(len(i) == 32 and int(i, 16) >= 0 for i in made)
    assert _request_id(_call(RequestLog(_app(200)), [(b"x-request-id", b"hl7-msg-42")])) == "hl7-msg-42"


@pytest.mark.parametrize(("status", "pause", "level"), [
    (200, 0.0, logging.DEBUG), (404, 0.0, logging.INFO), (500, 0.0, logging.INFO), (200, 0.05, logging.INFO)])
def test_errors_and_slow_requests_are_logged_at_info_the_rest_at_debug(caplog, status, pause, level):
    with caplog.at_level(logging.DEBUG, logger="termmap.requests"):
        _call(RequestLog(_app(status, pause), slow_seconds=0.01), [(b"x-request-id", b"r1")])
    (record,) = caplog.records
    assert record.levelno == level and record.fields["status"] == status and record.fields["request_id"] == "r1"
