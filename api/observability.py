"""Request ids and structured (JSON) logs: one line per request with id, route, status and duration.

Errors (4xx, 5xx) and slow requests are logged at INFO, the others at DEBUG: at INFO, a line for
every request would cost more than answering a cached translation (the latency histogram and the
translation counters in `/metrics` count every request).
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time

__all__ = ["RequestLog", "JsonFormatter", "configure_logging", "SLOW_SECONDS"]

logger = logging.getLogger("termmap.requests")


class JsonFormatter(logging.Formatter):
    """Log records as one JSON object per line (codes and counts, never patients' free text)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time (test runners swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(log_format: str, level: str) -> None:
    """Root logging to stderr, as JSON lines or plain text."""
    handler = _CurrentStderr()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


#: A request taking longer than this is logged at INFO even when it succeeds.
SLOW_SECONDS = 1.0


class RequestLog:
    """ASGI middleware: takes or makes an `X-Request-ID`, echoes it, logs the request when it ends."""

    def __init__(self, app, slow_seconds: float = SLOW_SECONDS) -> None:
        self.app = app
        self.slow_seconds = slow_seconds

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value.decode()
                break
        if not request_id:
            request_id = os.urandom(16).hex()  # 32 hex digits like uuid4().hex, at a quarter of the cost
        started = time.perf_counter()
        status = 500

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            level = logging.INFO if status >= 400 or seconds >= self.slow_seconds else logging.DEBUG
            if logger.isEnabledFor(level):
                logger.log(level, "%s %s %s", scope["method"], scope["path"], status, extra={"fields": {
                    "request_id": request_id, "method": scope["method"], "path": scope["path"], "status": status,
                    "ms": round(seconds * 1000, 3)}})
