"""Streaming reader for delimited release files: one row at a time, with its line number.

Raises `MalformedRow` (wrong column count), `UnreadableEncoding` (bytes that do not decode)
and `MissingColumn` (header without a required column), each naming the file and line.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from terminology.errors import MalformedRow, MissingColumn, UnreadableEncoding

from .progress import NullProgress, Progress

__all__ = ["DelimitedFile", "read_rows"]

_PROGRESS_EVERY = 20_000


@dataclass(frozen=True)
class DelimitedFile:
    """How a file is laid out: separator, column count, header and encoding."""

    separator: str
    columns: int
    header: Sequence[str] | None = None  # the exact header the format has, checked when given
    encoding: str = "utf-8"
    trailing_separator: bool = False  # RRF rows end with `|`


def _open(source: Path | tuple[str, IO[bytes], int]) -> tuple[str, IO[bytes], int]:
    if isinstance(source, tuple):
        return source
    return str(source), open(source, "rb"), os.path.getsize(source)


def read_rows(
    source: Path | tuple[str, IO[bytes], int],
    layout: DelimitedFile,
    progress: Progress | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """Yield `(line number, fields)` for every data row of `source`.

    `source` is a path, or `(name, binary stream, size)` for a member of a zip. Blank lines
    are passed over; LF and CRLF line ends are both accepted; a UTF-8 BOM is dropped.
    """
    progress = progress or NullProgress()
    name, stream, size = _open(source)
    progress.start_file(Path(name).name, size)
    expected = layout.columns + (1 if layout.trailing_separator else 0)
    pending_bytes = pending_rows = 0
    try:
        for number, raw in enumerate(stream, 1):
            pending_bytes += len(raw)
            try:
                line = raw.decode(layout.encoding)
            except UnicodeDecodeError as exc:
                raise UnreadableEncoding(
                    name, number, f"bytes at column {exc.start + 1} are not valid {layout.encoding}"
                ) from None
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split(layout.separator)
            if number == 1 and layout.header is not None:
                _check_header(name, fields, layout)
                continue
            if len(fields) != expected:
                found = len(fields) - (1 if layout.trailing_separator else 0)
                raise MalformedRow(name, number, f"expected {layout.columns} columns, found {found}")
            if layout.trailing_separator:
                fields.pop()
            pending_rows += 1
            if pending_rows >= _PROGRESS_EVERY:
                progress.advance(pending_bytes, pending_rows)
                pending_bytes = pending_rows = 0
            yield number, fields
    finally:
        progress.advance(pending_bytes, pending_rows)
        progress.end_file()
        stream.close()


def _check_header(name: str, fields: list[str], layout: DelimitedFile) -> None:
    assert layout.header is not None
    got = [field.strip() for field in fields]
    missing = [column for column in layout.header if column not in got]
    if missing:
        raise MissingColumn(name, 1, f"header lacks column(s) {', '.join(missing)}; found {', '.join(got)}")
    if got[: len(layout.header)] != list(layout.header):
        raise MalformedRow(name, 1, f"header columns out of order: expected {', '.join(layout.header)}")
