"""The FastAPI application: built by `create_app()`, one engine per process, settings read once."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, ORJSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from terminology.database import create_store_engine, require_current_schema
from terminology.errors import StoreError, TermmapError, UnknownConcept, UnknownSystem
from terminology.releases import list_releases
from terminology.settings import Settings, get_settings

from .lookup import lookup_view

__all__ = ["create_app"]

#: Domain errors -> HTTP status; anything else a TermmapError is 400.
STATUS_FOR: dict[type[TermmapError], int] = {UnknownSystem: 404, UnknownConcept: 404, StoreError: 503}


def _status(exc: TermmapError) -> int:
    for kind, status in STATUS_FOR.items():
        if isinstance(exc, kind):
            return status
    return 400


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The service, on `engine` (default: one made from `settings.database_url`)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = engine or create_store_engine(settings.database_url)
        try:
            yield
        finally:
            if engine is None:
                app.state.engine.dispose()

    app = FastAPI(
        title="termmap",
        version="0.1.0",
        summary="Allergy and medication terminology mapping that never drops what it cannot map.",
        default_response_class=ORJSONResponse,
        lifespan=lifespan,
    )

    @app.exception_handler(TermmapError)
    async def _domain_error(request: Request, exc: TermmapError) -> JSONResponse:
        return ORJSONResponse({"error": type(exc).__name__, "message": str(exc)}, status_code=_status(exc))

    @app.get("/health", tags=["operations"])
    def health() -> dict:
        """The process is up (says nothing about the store)."""
        return {"status": "ok"}

    @app.get("/ready", tags=["operations"])
    def ready(request: Request) -> ORJSONResponse:
        """The store is reachable and migrated; lists the active release of each system."""
        try:
            require_current_schema(request.app.state.engine)
            with request.app.state.engine.connect() as connection:
                active = [r for r in list_releases(connection) if r.status.value == "active"]
        except (StoreError, OperationalError) as exc:
            return ORJSONResponse({"ready": False, "reason": str(exc)}, status_code=503)
        return ORJSONResponse({
            "ready": True,
            "releases": [{"system": r.system, "version": r.version, "id": r.id} for r in active],
        })

    @app.get("/v1/concepts/lookup", tags=["terminology"])
    def lookup(request: Request, system: str, code: str) -> dict:
        """A concept of the active release: display, designations, parents, ingredients, history, crosswalks."""
        with request.app.state.engine.connect() as connection:
            return lookup_view(connection, system, code)

    return app
