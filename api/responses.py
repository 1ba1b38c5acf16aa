"""JSON responses encoded with orjson (fast, and exact about unicode)."""
from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response

__all__ = ["JsonResponse"]


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
