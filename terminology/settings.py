"""One `Settings`, read from `TERMMAP_*` environment variables (or a `.env` file) and validated once."""
from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TERMMAP_", env_file=".env", extra="ignore")

    #: SQLite file (embedded default) or `postgresql+psycopg://user@host:5432/db`.
    database_url: str = "sqlite:///termmap.db"
    #: Rows per bulk insert batch (and per commit) while loading a release.
    load_batch_size: int = Field(default=50_000, ge=100)
    #: Dialect whose language refset picks SNOMED CT preferred terms: en-US or en-GB.
    snomed_language: str = Field(default="en-US", pattern="^en-(US|GB)$")
    #: `json` for structured logs, `text` for people.
    log_format: str = Field(default="text", pattern="^(json|text)$")
    log_level: str = "INFO"
    #: How often (seconds) each worker checks the store for curated decisions and release switches.
    cache_check_seconds: float = Field(default=0.5, ge=0)
    #: Translation answers each worker keeps (least recently stored dropped first); 0 turns the cache off.
    cache_entries: int = Field(default=200_000, ge=0)
    #: Build the candidate-search indexes in the background when the service starts.
    warm_candidate_index: bool = True
    #: HL7 v2: the local code system of each sending facility (MSH-4 namespace id -> system URI), as JSON,
    #: e.g. `{"HOSPITAL": "urn:oid:2.16.840.1.113883.3.1234"}`; `L` / `99zzz` codes of a facility not
    #: listed are read as `urn:termmap:local:<MSH-4>`.
    hl7v2_local_systems: dict[str, str] = Field(default_factory=dict)
    #: Largest request body (bytes) any route takes; a larger one is refused with 413 before it is read
    #: (by its Content-Length, or while a chunked body streams in). The import route has its own limit.
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    #: Largest file (bytes) `POST /v1/mappings/import` takes (CSV, XLSX or ConceptMap), refused with 413 above it.
    max_import_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    #: Most items one `POST /v1/translate/batch` may hold; a larger batch is refused with 413.
    max_batch_items: int = Field(default=10_000, ge=1)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built once."""
    return Settings()
