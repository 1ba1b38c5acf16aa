"""Every error termmap raises on purpose, as one tree.

    TermmapError
    ├── ConfigurationError        settings that cannot work (bad database URL, ...)
    ├── StoreError                the store cannot be used as it is
    │   ├── StoreNotInitialised   no schema yet: run `termmap init`
    │   └── StoreUnavailable      the database cannot be reached
    ├── LoadError                 a release or table could not be loaded; nothing stored changed
    │   ├── SourceNotFound        the path holds none of the files the loader needs
    │   ├── MalformedRow          a row breaks the format (names file, line and problem)
    │   ├── UnreadableEncoding    bytes that do not decode in the expected encoding
    │   ├── MissingColumn         a required column is not in the header
    │   └── ConflictingRow        the same code twice with different content
    ├── LookupFailure             a question about the store that has no answer
    │   ├── UnknownSystem         a code system the store does not know
    │   └── UnknownConcept        a code the system's active release does not hold
    ├── MappingError              curated mappings
    │   ├── UnknownMapping        no mapping with that id
    │   └── StaleMappingVersion   an edit based on a version someone else has replaced
    ├── InvalidRequest            a request that cannot be answered as asked (names the problem)
    │   └── UnknownTargetSystem   a target system with no loaded release
    └── AccessError               who may do what
        ├── NotAuthenticated      no key, or a key termmap does not know (or revoked)
        └── NotPermitted          a known key whose role does not allow this

Only `api/` turns these into HTTP statuses, FHIR OperationOutcomes or CLI messages.
"""
from __future__ import annotations

from pathlib import Path

__all__ = [
    "TermmapError",
    "ConfigurationError",
    "StoreError",
    "StoreNotInitialised",
    "StoreUnavailable",
    "LoadError",
    "SourceNotFound",
    "MalformedRow",
    "UnreadableEncoding",
    "MissingColumn",
    "ConflictingRow",
    "LookupFailure",
    "UnknownSystem",
    "UnknownConcept",
    "MappingError",
    "UnknownMapping",
    "StaleMappingVersion",
    "InvalidRequest",
    "UnknownTargetSystem",
    "AccessError",
    "NotAuthenticated",
    "NotPermitted",
]


class TermmapError(Exception):
    """Base of every error termmap raises on purpose."""


class ConfigurationError(TermmapError):
    """Settings that cannot work."""


class StoreError(TermmapError):
    """The store cannot be used as it is."""


class StoreNotInitialised(StoreError):
    """The database has no termmap schema yet."""


class StoreUnavailable(StoreError):
    """The database cannot be reached."""


class LoadError(TermmapError):
    """A load failed; the previously active release is untouched."""


class SourceNotFound(LoadError):
    """The path holds none of the files the loader needs."""


class _AtRow(LoadError):
    """A load error that points at one line of one file."""

    def __init__(self, file: Path | str, line: int | None, problem: str) -> None:
        self.file = str(file)
        self.line = line
        self.problem = problem
        where = f"{self.file}, line {line}" if line is not None else self.file
        super().__init__(f"{where}: {problem}")


class MalformedRow(_AtRow):
    """A row that breaks the file's format."""


class UnreadableEncoding(_AtRow):
    """Bytes that do not decode in the file's expected encoding."""


class MissingColumn(_AtRow):
    """A required column is absent from the header."""


class ConflictingRow(_AtRow):
    """The same code appears twice with different content."""


class LookupFailure(TermmapError):
    """A question about the store that has no answer."""


class UnknownSystem(LookupFailure):
    """A code system the store does not know."""

    def __init__(self, system: str) -> None:
        self.system = system
        super().__init__(f"unknown code system {system!r}: no active release is loaded for it")


class UnknownConcept(LookupFailure):
    """A code that the system's active release does not hold."""

    def __init__(self, system: str, code: str) -> None:
        self.system = system
        self.code = code
        super().__init__(f"code {code!r} is not in the active release of {system}")


class MappingError(TermmapError):
    """A problem with curated mappings."""


class UnknownMapping(MappingError):
    """No curated mapping has that id."""

    def __init__(self, mapping_id: str) -> None:
        self.mapping_id = mapping_id
        super().__init__(f"no curated mapping {mapping_id!r}")


class StaleMappingVersion(MappingError):
    """An edit based on a version that someone else has since replaced."""

    def __init__(self, mapping_id: str, based_on: int, current: int, author: str, when: str) -> None:
        self.mapping_id, self.based_on, self.current, self.author, self.when = mapping_id, based_on, current, author, when
        super().__init__(
            f"mapping {mapping_id} was changed by {author} at {when} (now version {current}); "
            f"your edit was based on version {based_on}: reload and edit again"
        )


class InvalidRequest(TermmapError):
    """A request that cannot be answered as asked."""


class UnknownTargetSystem(InvalidRequest):
    """A target system termmap has no release for."""

    def __init__(self, system: str) -> None:
        self.system = system
        super().__init__(
            f"unknown target system {system!r}: no release of it is loaded "
            "(load one with `termmap load`, or name a loaded system)"
        )


class AccessError(TermmapError):
    """Who may do what."""


class NotAuthenticated(AccessError):
    """No API key, or one termmap does not know."""


class NotPermitted(AccessError):
    """A valid API key whose role does not allow the action."""
