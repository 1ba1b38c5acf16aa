"""JSON responses encoded with orjson (fast, and exact about unicode), and the error shape the JSON API documents."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

__all__ = ["JsonResponse", "ERROR_SCHEMA", "error_responses", "validation_message", "InvalidRequestRoute"]


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


#: Every JSON API error: `{"error": <type>, "message": ...}` (some add fields, e.g. who holds a claim).
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}


def error_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each with `ERROR_SCHEMA`."""
    return {status: {"description": text, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
            for status, text in descriptions.items()}


def validation_message(exc: Any) -> str:
    """FastAPI's / pydantic's validation errors as one message naming each parameter and its problem."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return "invalid request: " + "; ".join(problems)


class InvalidRequestRoute(APIRoute):
    """A parameter FastAPI refuses is a 422 in the API's one error shape (`InvalidRequest`), not `{"detail": ...}`."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return JsonResponse({"error": "InvalidRequest", "message": validation_message(exc)}, status_code=422)

        return handle
