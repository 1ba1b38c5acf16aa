"""What a translation is asked and what it answers: plain values, no I/O."""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

from terminology.errors import InvalidRequest

from .curated import Relationship

__all__ = [
    "Context",
    "Status",
    "Rule",
    "SourceCoding",
    "TranslateRequest",
    "Match",
    "Suggestion",
    "ReviewRef",
    "Translation",
    "normalise_ndc",
]


class Context(str, enum.Enum):
    ALLERGY = "allergy"
    MEDICATION = "medication"


class Status(str, enum.Enum):
    MAPPED = "mapped"  # every match is validated (curated, negation, authoritative release content)
    UNVALIDATED = "unvalidated"  # matches exist, at least one not validated: queued for review
    UNMAPPED = "unmapped"  # no match: original kept, candidates suggested, queued for review


class Rule(str, enum.Enum):
    """The rules, in the order they are tried. Each match names the one that produced it."""

    CURATED = "curated"
    NEGATION = "negation"
    HISTORICAL = "historical"
    CROSSWALK = "crosswalk"
    INGREDIENT = "ingredient"
    IDENTITY = "identity"
    LOCAL_TABLE = "local-table"
    LEXICAL = "lexical"


@dataclass(frozen=True, slots=True)
class SourceCoding:
    system: str | None = None
    code: str | None = None
    display: str | None = None


@dataclass(frozen=True, slots=True)
class TranslateRequest:
    source: SourceCoding
    text: str | None
    target_system: str
    context: Context
    sender: str | None = None
    #: What the sender said the entry is, kept on the review entry for the pharmacist: the FHIR
    #: AllergyIntolerance category (medication | food | environment | biologic) or the sender's own word.
    category: str | None = None

    def __post_init__(self) -> None:
        if not (self.source.code and self.source.code.strip()) and not (self.text and self.text.strip()) \
                and not (self.source.display and self.source.display.strip()):
            raise InvalidRequest("a translate request needs source.code or text (or source.display): none was given")
        if not self.target_system or not self.target_system.strip():
            raise InvalidRequest("target_system is required")
        for name, value in (("source.system", self.source.system), ("source.code", self.source.code),
                            ("source.display", self.source.display), ("text", self.text),
                            ("target_system", self.target_system), ("sender", self.sender),
                            ("category", self.category)):
            if value and "\x00" in value:  # no stored text may hold one (PostgreSQL refuses it)
                raise InvalidRequest(f"{name} holds a NUL character (\\u0000), which no termmap text may")

    @property
    def words(self) -> str | None:
        """The sender's own words: `text`, else the source display."""
        return self.text if self.text and self.text.strip() else self.source.display

    def original(self) -> dict[str, Any]:
        """The request's source and text exactly as received (None fields left out)."""
        source = {k: v for k, v in (("system", self.source.system), ("code", self.source.code),
                                    ("display", self.source.display)) if v is not None}
        original: dict[str, Any] = {"source": source}
        if self.text is not None:
            original["text"] = self.text
        if self.category is not None:
            original["category"] = self.category
        return original


@dataclass(frozen=True, slots=True)
class Match:
    system: str
    code: str
    display: str | None
    relationship: Relationship
    validated: bool
    rule: Rule
    release: str | None  # `system|version` of the release that provided it, or the rule set's name
    mapping: tuple[str, int] | None = None  # curated mapping (id, version)
    steps: tuple[str, ...] = ()  # how it was reached, e.g. ("historical: SAME AS 123", "crosswalk: RXNCONSO:SNOMEDCT_US:PT")


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A ranked candidate: a suggestion for a reviewer, never a match."""

    system: str
    code: str
    display: str
    score: float


@dataclass(frozen=True, slots=True)
class ReviewRef:
    id: str
    status: str


@dataclass(frozen=True, slots=True)
class Translation:
    status: Status
    original: dict[str, Any]
    matches: tuple[Match, ...] = ()
    candidates: tuple[Suggestion, ...] = ()
    review: ReviewRef | None = None
    message: str | None = None
    decision: str | None = field(default=None)  # a curated `no-map` says so here

    @property
    def validated(self) -> bool:
        return self.status is Status.MAPPED


_NDC_10 = re.compile(r"^(\d{4,5})-(\d{3,4})-(\d{1,2})$")


def normalise_ndc(code: str) -> str:
    """An NDC as the 11-digit form RxNorm keeps (5-4-2 without hyphens); other text comes back stripped.

    Hyphenated 10-digit NDCs (4-4-2, 5-3-2, 5-4-1) are zero-padded in the short segment.
    """
    cleaned = code.strip()
    match = _NDC_10.match(cleaned)
    if match:
        labeler, product, package = match.groups()
        return labeler.zfill(5) + product.zfill(4) + package.zfill(2)
    digits = cleaned.replace("-", "")
    return digits if digits.isdigit() and len(digits) == 11 else cleaned
