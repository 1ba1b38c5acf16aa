"""Guards on query and path parameters, so odd values are a 422 naming them, never a database error.

`MAX_OFFSET`: 2**53 - 1 is the largest integer every JSON client reads exactly; it fits SQLite's and
PostgreSQL's 64-bit LIMIT / OFFSET, and orjson writes it back in the page's echo. No store pages that far.

`refuse_nul`: a NUL character (`%00`) is never text termmap stores or searches, and PostgreSQL refuses it in
any text value (a `DataError`, which would be a 500); a router depends on it to refuse it up front.
"""
from __future__ import annotations

from fastapi import Request

from terminology.errors import InvalidRequest

__all__ = ["MAX_OFFSET", "refuse_nul"]

#: The largest `offset` (and unbounded `limit`) a paged route accepts.
MAX_OFFSET = 2**53 - 1


def refuse_nul(request: Request) -> None:
    """`InvalidRequest` naming the first query or path parameter that holds a NUL character."""
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        if "\x00" in name or (isinstance(value, str) and "\x00" in value):
            raise InvalidRequest(f"parameter {name.replace(chr(0), '%00')!r} holds a NUL character (%00), "
                                 "which no termmap text may")
