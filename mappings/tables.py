"""Tables of the mapping layer: curated mapping versions, the review queue, idempotent requests.

They share the store's `MetaData` so one alembic history migrates everything. Curated mappings
are append-only: a change is a new row in `mapping_versions` (with its targets), never an update.
"""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from terminology.schema import metadata

__all__ = ["mapping_versions", "mapping_targets", "review_entries", "review_senders", "api_keys", "audit_events", "translation_counts", "idempotent_requests",
           "web_sessions"]

mapping_versions = Table(
    "mapping_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("mapping_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source_system", String(255), nullable=False),
    Column("source_code", String(128), nullable=False),  # '' for a text-only mapping
    Column("source_text_norm", Text, nullable=False),  # '' when the code alone identifies the source
    Column("context", String(16), nullable=False),
    Column("target_system", String(255), nullable=False),
    Column("decision", String(16), nullable=False),  # mapped | no-map | retired
    Column("author", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    Column("origin", String(255), nullable=False),  # review:<entry id>, import:<file or ConceptMap url>, api
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("mapping_id", "version"),
    Index(None, "source_system", "source_code", "context", "target_system"),
    Index(None, "source_system", "source_text_norm", "context", "target_system"),
)

mapping_targets = Table(
    "mapping_targets",
    metadata,
    Column("version_row", Integer, ForeignKey("mapping_versions.id"), nullable=False),
    Column("system", String(255), nullable=False),
    Column("code", String(128), nullable=False),
    Column("display", Text),
    Column("relationship", String(40), nullable=False),
    Index(None, "version_row"),
    Index(None, "system", "code"),
)

review_entries = Table(
    "review_entries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("source_system", String(255), nullable=False),  # '' when the sender named none
    Column("source_code", String(128), nullable=False),  # '' when only text came
    Column("text_norm", Text, nullable=False),
    Column("context", String(16), nullable=False),
    Column("original", JSON, nullable=False),  # the first request's source + text exactly as received
    Column("target_system", String(255), nullable=False),
    Column("reason", String(16), nullable=False),  # unmapped | unvalidated
    Column("status", String(16), nullable=False),  # open | claimed | decided
    Column("occurrences", Integer, nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    # Curation: who holds it (a lease that expires), what was decided, by whom, why.
    Column("claimed_by", String(255)),
    Column("claim_expires", DateTime(timezone=True)),
    Column("decision", String(16)),  # mapped | no-map | deferred
    Column("decided_by", String(255)),
    Column("decided_at", DateTime(timezone=True)),
    Column("comment", Text),
    Column("mapping_id", String(36)),  # the curated mapping a `mapped` / `no-map` decision wrote
    # Set when a release change re-queued the entry: why, and the replacement it suggests.
    Column("requeue_reason", Text),
    Column("suggestion", JSON),
    # Not a unique constraint: the id *is* a function of this key (uuid5), so the primary key already
    # makes it unique; a second unique index let concurrent upserts deadlock on PostgreSQL.
    Index(None, "source_system", "source_code", "text_norm", "context"),
    Index(None, "status", "occurrences"),
)

review_senders = Table(
    "review_senders",
    metadata,
    Column("entry_id", String(36), ForeignKey("review_entries.id"), nullable=False),
    Column("sender", String(255), nullable=False),
    Column("occurrences", Integer, nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    UniqueConstraint("entry_id", "sender"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("role", String(16), nullable=False),  # translator | pharmacist | auditor | admin
    Column("prefix", String(16), nullable=False),  # the key's first characters, to recognise it in lists
    Column("key_sha256", String(64), nullable=False, unique=True),  # the key itself is never stored
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),  # e.g. mapping.version, review.decided, release.activated, key.created
    Column("subject_type", String(32), nullable=False),  # mapping | review | release | key
    Column("subject_id", String(255), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index(None, "actor", "at"),
    Index(None, "subject_type", "subject_id"),
    Index(None, "at"),
)

translation_counts = Table(
    "translation_counts",
    metadata,
    # Aggregated, never one row per translation: workers add their in-memory counts every few seconds.
    Column("day", Date, primary_key=True),
    Column("source_system", String(255), primary_key=True),  # '' when the sender named none
    Column("sender", String(255), primary_key=True),  # '' when unnamed
    Column("context", String(16), primary_key=True),
    Column("status", String(16), primary_key=True),  # mapped | unvalidated | unmapped
    Column("rule", String(16), primary_key=True),  # rule of the first match, or 'none'
    Column("count", Integer, nullable=False),
    Index(None, "day"),
)

idempotent_requests = Table(
    "idempotent_requests",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("route", String(255), primary_key=True),
    Column("body_sha256", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: Logged-in browsers of the pharmacist and auditor pages (api.web.session), shared by every worker and host.
#: Times are POSIX seconds (the expiry arithmetic is all there is to them).
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_sha256", String(64), primary_key=True),  # the cookie's id is never stored, only its hash
    Column("key_id", String(36), nullable=False, index=True),
    Column("key_name", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created", Float, nullable=False),
    Column("last_seen", Float, nullable=False, index=True),
    Column("key_checked", Float, nullable=False),
    Column("flashes", JSON, nullable=False),  # [[kind, message], ...] shown once on the next page
)
