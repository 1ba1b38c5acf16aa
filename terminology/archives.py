"""Zip archives from outside (XLSX workbooks are zips): refused before inflating when they would inflate too far.

An XLSX of a few hundred kilobytes can hold a sheet that inflates to gigabytes (a "zip bomb":
deflate shrinks repeated bytes about a thousandfold). `inflation_problem` reads only the zip's
central directory — the sizes every member declares, which Python's `zipfile` never inflates
beyond — and names the problem when the whole would inflate to more than `MAX_INFLATED_BYTES`,
when a large member inflates more than `MAX_RATIO` times its stored size (real sheets inflate
ten to twenty times), or when there are more than `MAX_MEMBERS` members.
Used by the local table loader and the mappings import, before openpyxl opens the workbook.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

__all__ = ["inflation_problem", "MAX_INFLATED_BYTES", "MAX_RATIO", "RATIO_CHECKED_FROM", "MAX_MEMBERS"]

#: Most bytes all members together may inflate to.
MAX_INFLATED_BYTES = 512 * 1024 * 1024
#: Most a member of at least `RATIO_CHECKED_FROM` inflated bytes may inflate, relative to its stored size.
MAX_RATIO = 100
RATIO_CHECKED_FROM = 8 * 1024 * 1024
#: Most members a workbook may have (a real one has a few dozen).
MAX_MEMBERS = 10_000

_MIB = 1024 * 1024


def inflation_problem(source: bytes | Path) -> str | None:
    """Why the zip `source` (its bytes, or a path) must not be inflated, or None (also None when it is not a zip:
    the reader then says what it is not)."""
    try:
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return None
    if len(members) > MAX_MEMBERS:
        return f"the workbook holds {len(members)} files; a real one holds a few dozen (at most {MAX_MEMBERS})"
    total = 0
    for member in members:
        total += member.file_size
        if member.file_size >= RATIO_CHECKED_FROM and member.file_size > MAX_RATIO * max(member.compress_size, 1):
            return (f"{member.filename} would inflate from {_size(member.compress_size)} to "
                    f"{_size(member.file_size)} ({member.file_size // max(member.compress_size, 1)} times; "
                    f"a real sheet is at most {MAX_RATIO} times): refused as a zip bomb, nothing was inflated")
    if total > MAX_INFLATED_BYTES:
        return (f"the workbook would inflate to {_size(total)}, more than {_size(MAX_INFLATED_BYTES)}: "
                "refused before inflating it; save the table as CSV or split it")
    return None


def _size(count: int) -> str:
    return f"{count / _MIB:.1f} MiB" if count >= _MIB else f"{count} bytes"
