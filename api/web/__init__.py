"""Server-rendered pages for pharmacists and auditors under `/ui/` (see `pages` for the routes, `session` for login).

    app.include_router(web.router)   # the pages
    web.mount_static(app)            # /ui/static: the stylesheet and the small keyboard script

Templates and static files ship as package data (`api/web/templates/*.html`, `api/web/static/*`).
"""
from __future__ import annotations

from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .pages import SECURITY_HEADERS, STATIC, router

__all__ = ["router", "mount_static", "STATIC_PATH"]

STATIC_PATH = "/ui/static"


class _WithSecurityHeaders:
    """An ASGI app's responses with `SECURITY_HEADERS` added (and a short, revalidated cache)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers,
                                      (b"cache-control", b"public, max-age=300")]
            await send(message)

        await self.app(scope, receive, sending)


def mount_static(app) -> None:
    """Serve `api/web/static` at `/ui/static` (never a directory listing), with the pages' security headers."""
    app.mount(STATIC_PATH, _WithSecurityHeaders(StaticFiles(directory=STATIC)), name="ui-static")
