"""The FastAPI application: built by `create_app()`, one engine per process, settings read once."""
from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from mappings.cache import TranslationCache
from mappings.usage import UsageFlusher
from terminology import candidate_index
from terminology.database import create_store_engine, require_current_schema
from terminology.errors import (
    InvalidRequest,
    NotAuthenticated,
    NotPermitted,
    StoreError,
    TermmapError,
    UnknownConcept,
    UnknownSystem,
    UnknownTargetSystem,
)
from terminology.releases import list_releases
from terminology.settings import Settings, get_settings

from . import curation_routes, exchange_routes, hl7v2_routes, lookup, report_routes, transform, translate_routes, web
from .auth import KeyVerifier, Permission, requires
from .limits import BodyLimit
from .metrics import Metrics
from .observability import RequestLog
from .outages import register_outage_answers
from .responses import JsonResponse
from .wire import wire_components

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

#: Domain errors -> HTTP status; anything else a TermmapError is 400.
STATUS_FOR: dict[type[TermmapError], int] = {
    NotAuthenticated: 401,
    NotPermitted: 403,
    UnknownTargetSystem: 404,
    UnknownSystem: 404,
    UnknownConcept: 404,
    InvalidRequest: 422,
    StoreError: 503,
}


def _status(exc: TermmapError) -> int:
    for kind, status in STATUS_FOR.items():
        if isinstance(exc, kind):
            return status
    return 400


def _warm_in_background(engine: Engine) -> None:
    """Build the candidate-search indexes of the active releases without delaying start-up."""

    def warm() -> None:
        try:
            with engine.connect() as connection:
                seconds = candidate_index.warm(connection)
            logger.info("candidate indexes ready: %s", seconds)
        except Exception:  # noqa: BLE001 - the first search builds them instead
            logger.warning("warming the candidate indexes failed; the first search will build them", exc_info=True)

    threading.Thread(target=warm, name="warm-candidate-index", daemon=True).start()


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The service, on `engine` (default: one made from `settings.database_url`)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = engine or create_store_engine(settings.database_url)
        app.state.metrics = Metrics(app.state.engine)
        app.state.cache = TranslationCache(
            check_every=settings.cache_check_seconds, max_entries=settings.cache_entries
        )
        app.state.keys = KeyVerifier(app.state.engine)
        if settings.warm_candidate_index:
            _warm_in_background(app.state.engine)
        # Coverage counts: added to the store every 2 s and at shutdown (see mappings.usage on what can be lost).
        app.state.usage_flusher = UsageFlusher(app.state.metrics.usage, app.state.engine, every=2.0).start()
        try:
            yield
        finally:
            app.state.usage_flusher.stop()
            if engine is None:
                app.state.engine.dispose()

    app = FastAPI(
        title="termmap",
        version="0.1.0",
        summary="Allergy and medication terminology mapping that never drops what it cannot map.",
        lifespan=lifespan,
    )

    @app.exception_handler(TermmapError)
    async def _domain_error(request: Request, exc: TermmapError) -> JsonResponse:
        status = _status(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JsonResponse({"error": type(exc).__name__, "message": str(exc)}, status_code=status, headers=headers)

    register_outage_answers(app)  # the store unreachable, read-only or full: 503 / 507 naming it, with Retry-After

    app.add_middleware(translate_routes.CachedTranslateLane)  # inside RequestLog: its answers get a request id
    app.add_middleware(BodyLimit, settings=settings)  # 413 for an oversized body, the cache lane's included
    app.add_middleware(RequestLog)
    app.include_router(translate_routes.router)
    app.include_router(lookup.router)
    app.include_router(transform.router)
    app.include_router(hl7v2_routes.router)
    app.include_router(exchange_routes.router)
    app.include_router(curation_routes.router)
    app.include_router(report_routes.router)
    app.include_router(web.router)  # /ui/: pages for pharmacists and auditors (session login, not bearer keys)
    web.mount_static(app)
    from .fhir import add_fhir_routes
    add_fhir_routes(app)

    @app.get("/metrics", tags=["operations"], include_in_schema=False,
             dependencies=[Depends(requires(Permission.REPORTS))])
    def metrics(request: Request) -> Response:
        return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health", tags=["operations"])
    def health() -> dict:
        """The process is up (says nothing about the store)."""
        return {"status": "ok"}

    @app.get("/ready", tags=["operations"])
    def ready(request: Request) -> JsonResponse:
        """The store is reachable and migrated; lists the active release of each system."""
        try:
            require_current_schema(request.app.state.engine)
            with request.app.state.engine.connect() as connection:
                active = [r for r in list_releases(connection) if r.status.value == "active"]
        except (StoreError, OperationalError) as exc:
            return JsonResponse({"ready": False, "reason": str(exc)}, status_code=503)
        return JsonResponse({
            "ready": True,
            "releases": [{"system": r.system, "version": r.version, "id": r.id} for r in active],
        })

    def openapi() -> dict:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            spec = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            spec.setdefault("components", {}).setdefault("schemas", {}).update(
                wire_components(settings.max_batch_items))
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi
    return app
