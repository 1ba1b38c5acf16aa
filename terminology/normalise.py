"""Compare-ready text: the one normal form used for designations in the store and for queries."""
from __future__ import annotations

import re
import unicodedata

__all__ = ["normalise_term", "semantic_tag"]

_PUNCTUATION = re.compile(r"[^\w\s%./+-]+", re.UNICODE)
#: The same folding for plain ASCII text, as a translate table (no regex, no NFKC: both are identities there).
_ASCII_FOLD = {
    code: " " for code in range(128)
    if not (chr(code).isalnum() or chr(code) == "_" or chr(code).isspace() or chr(code) in "%./+-")
}
_SEMANTIC_TAG = re.compile(r"\s\(([^()]+)\)\s*$")


def normalise_term(text: str) -> str:
    """NFKC, casefolded, punctuation other than `% . / + -` turned to spaces, single-spaced.

    Idempotent, and never empties a text that has a letter or digit in it.
    """
    if text.isascii():
        return " ".join(text.lower().translate(_ASCII_FOLD).split())
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    spaced = _PUNCTUATION.sub(" ", folded)
    return " ".join(spaced.split())


def semantic_tag(fsn: str) -> str | None:
    """The SNOMED CT semantic tag of a fully specified name: `Penicillin (substance)` -> `substance`."""
    match = _SEMANTIC_TAG.search(fsn)
    return match.group(1) if match else None
