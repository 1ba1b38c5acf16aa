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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built once."""
    return Settings()
