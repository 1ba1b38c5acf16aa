"""Request body limits: a body larger than the service takes is refused with 413 before it is read.

`BodyLimit` (ASGI middleware, inside `RequestLog`, outside the routes and the translate cache lane)
gives every route `Settings.max_body_bytes` (`TERMMAP_MAX_BODY_BYTES`) and the
mappings import route its own `Settings.max_import_bytes` (`TERMMAP_MAX_IMPORT_BYTES`):

- a request whose `Content-Length` is over the limit is answered at once, its body never read;
- a request with a `Content-Length` within the limit costs nothing more than that header check
  (the server never delivers more bytes than the header declares);
- a body without one (chunked) is counted while it streams in: the chunk that passes the limit
  stops the read (`BodyTooLarge`, raised from `receive`), whatever the route has read so far is
  dropped, and the answer is the 413, never what the route made of a cut-short body (GET and
  HEAD bodies, which no route reads, are not counted).

The 413 names the limit and the setting that raises it: JSON `{"error": "PayloadTooLarge", ...}`,
or under `/fhir/` an OperationOutcome (issue `too-long`) like every other FHIR error.
"""
from __future__ import annotations

from starlette.responses import Response

from terminology.settings import Settings

from .fhir.outcome import OutcomeError, outcome_response, version_of_path
from .responses import JsonResponse

__all__ = ["BodyLimit", "BodyTooLarge", "IMPORT_PATH", "too_large", "size_text"]

#: The route whose body is a file of mappings: `max_import_bytes` rather than `max_body_bytes`.
IMPORT_PATH = "/v1/mappings/import"


def size_text(limit: int) -> str:
    """`16 MiB` for whole MiB, `1500 bytes` otherwise."""
    mib = 1024 * 1024
    if limit % mib == 0:
        return f"{limit // mib} MiB"
    if limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit} bytes"


class BodyTooLarge(OutcomeError):
    """Raised from `receive` when a streamed body passes its limit (an `OutcomeError`, so FHIR routes answer
    it with their 413 OperationOutcome instead of logging a bug)."""

    def __init__(self, limit: int, setting: str) -> None:
        self.limit, self.setting = limit, setting
        super().__init__(413, "too-long", _message(limit, setting))


def _message(limit: int, setting: str) -> str:
    what = "the file" if setting == "TERMMAP_MAX_IMPORT_BYTES" else "the request body"
    return (f"{what} is larger than {size_text(limit)} ({limit} bytes), the limit {setting} sets: "
            f"send less at a time{' (split the file)' if what == 'the file' else ''}")


def too_large(path: str, limit: int, setting: str) -> Response:
    """The 413 answer for `path`: an OperationOutcome under /fhir/, else JSON naming the limit and the setting."""
    message = _message(limit, setting)
    headers = {"Connection": "close"}  # the rest of the body is never read: the connection cannot be reused
    if path.startswith("/fhir/"):
        return outcome_response(version_of_path(path), 413, "too-long", message, headers=headers)
    return JsonResponse({"error": "PayloadTooLarge", "message": message, "limit_bytes": limit, "setting": setting},
                        status_code=413, headers=headers)


class BodyLimit:
    """ASGI middleware: 413 for a request body over its limit (see the module docstring)."""

    def __init__(self, app, settings: Settings) -> None:
        self.app = app
        self.max_body = settings.max_body_bytes
        self.max_import = settings.max_import_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == IMPORT_PATH:
            limit, setting = self.max_import, "TERMMAP_MAX_IMPORT_BYTES"
        else:
            limit, setting = self.max_body, "TERMMAP_MAX_BODY_BYTES"
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    await too_large(scope["path"], limit, setting)(scope, receive, send)
                    return
                await self.app(scope, receive, send)  # the server delivers no more than the header declares
                return
        if scope["method"] in ("GET", "HEAD"):  # no route reads their bodies
            await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send, limit, setting)

    async def _counted(self, scope, receive, send, limit: int, setting: str) -> None:
        """A body of unknown length: counted as it arrives, refused at the chunk that passes `limit`."""
        received = 0
        passed = False  # the body went over the limit
        started = False  # a response the client will see has begun
        dropping = False  # the app's answer to a cut-short body, replaced by the 413

        async def counted():
            nonlocal received, passed
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    passed = True
                    raise BodyTooLarge(limit, setting)
            return message

        async def guarded(message):
            nonlocal started, dropping
            if message["type"] == "http.response.start":
                if passed and message["status"] != 413:
                    dropping = True
                    return
                if passed:  # the route's own 413 (a FHIR OperationOutcome): the rest of the body is not wanted
                    message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
                started = True
            elif dropping:
                return
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not passed or started:
                raise
        if passed and not started:
            await too_large(scope["path"], limit, setting)(scope, receive, send)
