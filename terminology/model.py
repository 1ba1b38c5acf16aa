"""Plain, frozen records the store hands out; database rows are converted to these at its edge."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "ReleaseStatus",
    "Release",
    "Concept",
    "Designation",
    "Relationship",
    "Association",
    "Crosswalk",
    "SkippedRow",
    "LoadReport",
]


class ReleaseStatus(str, enum.Enum):
    STAGED = "staged"
    ACTIVE = "active"
    RETIRED = "retired"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Release:
    id: int
    system: str
    version: str
    effective_date: str | None
    checksum: str
    status: ReleaseStatus
    loaded_at: datetime
    activated_at: datetime | None
    source: str
    files: dict[str, str] = field(default_factory=dict)
    row_counts: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How answers name this release: `system|version`."""
        return f"{self.system}|{self.version}"


@dataclass(frozen=True, slots=True)
class Concept:
    system: str
    code: str
    display: str
    active: bool
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class Designation:
    term: str
    type: str
    language: str
    preferred: bool


@dataclass(frozen=True, slots=True)
class Relationship:
    """`source <type> target`, e.g. SCD has_ingredient IN, or concept 116680003 (is a) parent."""

    source: str
    type: str
    target: str
    target_display: str | None = None


@dataclass(frozen=True, slots=True)
class Association:
    """A historical link from an inactive or retired code: SAME AS, REPLACED BY, RXNCUI remap..."""

    source: str
    type: str
    target: str
    target_display: str | None = None


@dataclass(frozen=True, slots=True)
class Crosswalk:
    """An authoritative pairing from a release: RXCUI <-> SNOMED CT code, RXCUI <-> NDC, map refset rows."""

    code: str
    other_system: str
    other_code: str
    other_display: str | None
    kind: str


@dataclass(frozen=True, slots=True)
class SkippedRow:
    file: str
    line: int
    problem: str


@dataclass
class LoadReport:
    """What one load did: the release, rows written per table, and every row it skipped."""

    release: Release | None
    already_loaded: bool = False
    rows: dict[str, int] = field(default_factory=dict)
    skipped: list[SkippedRow] = field(default_factory=list)
    seconds: float = 0.0
