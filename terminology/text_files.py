"""Text files from outside (CSV/TSV exports): what their bytes say before any is decoded.

An EHR export saved as "Unicode" is often UTF-16 without a byte-order mark; read as UTF-8 or an
8-bit encoding it decodes without error into letters separated by NULs. `first_nul` finds the
first NUL byte (no text termmap stores may hold one) and says which UTF-16 the file likely is:
in UTF-16-LE an ASCII letter's NUL is its second byte (odd offset), in UTF-16-BE its first.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NulByte", "first_nul"]


@dataclass(frozen=True, slots=True)
class NulByte:
    """Where the first NUL byte is (line from 1, byte of that line from 1) and the encoding it suggests."""

    line: int
    column: int
    likely_encoding: str  # utf-16-le | utf-16-be


def first_nul(data: bytes) -> NulByte | None:
    """The first NUL byte of `data`, or None when it has none."""
    at = data.find(b"\x00")
    if at < 0:
        return None
    return NulByte(1 + data.count(b"\n", 0, at), at - data.rfind(b"\n", 0, at), "utf-16-le" if at % 2 else "utf-16-be")
