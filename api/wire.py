"""The JSON wire format of translate: msgspec structs in, plain dicts out (fast, and still documented)."""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec

from mappings.translation import (
    Context,
    Match,
    SourceCoding,
    TranslateRequest,
    Translation,
)
from terminology.errors import InvalidRequest

__all__ = ["SourceIn", "TranslateIn", "BatchIn", "BatchTooLarge", "decode_translate", "decode_batch", "to_request",
           "translation_json", "TRANSLATE_SCHEMA", "BATCH_SCHEMA", "wire_components"]


#: Limits that match the store's columns: a longer value is refused with 422, never stored cut.
System = Annotated[str, msgspec.Meta(max_length=255)]
Code = Annotated[str, msgspec.Meta(max_length=128)]
Text = Annotated[str, msgspec.Meta(max_length=10_000)]


class SourceIn(msgspec.Struct, omit_defaults=True):
    system: System | None = None
    code: Code | None = None
    display: Text | None = None


class TranslateIn(msgspec.Struct, omit_defaults=True):
    """One entry to translate: `source.code` or `text` (or both); never neither."""

    target_system: System
    context: Literal["allergy", "medication"]
    source: SourceIn = msgspec.field(default_factory=SourceIn)
    text: Text | None = None
    sender: System | None = None


class BatchIn(msgspec.Struct):
    items: list[msgspec.Raw]


class _BatchShape(msgspec.Struct):
    items: msgspec.Raw  # the array's bytes, checked to be JSON, no element built


_translate_decoder = msgspec.json.Decoder(TranslateIn)
_batch_decoder = msgspec.json.Decoder(BatchIn)
_shape_decoder = msgspec.json.Decoder(_BatchShape)


(_translate_ref,), _TRANSLATE_COMPONENTS = msgspec.json.schema_components(
    [TranslateIn], ref_template="#/components/schemas/{name}"
)


def wire_components(max_batch_items: int) -> dict[str, Any]:
    """The OpenAPI component schemas of the request bodies, the batch's `maxItems` being the app's limit
    (`Settings.max_batch_items`)."""
    return _TRANSLATE_COMPONENTS | {"TranslateBatch": {
        "type": "object", "required": ["items"],
        "properties": {"items": {"type": "array", "maxItems": max_batch_items,
                                 "items": {"$ref": "#/components/schemas/TranslateIn"}}},
    }}


#: OpenAPI request bodies (their component schemas are `wire_components(...)`, merged by the app).
TRANSLATE_SCHEMA = {"content": {"application/json": {"schema": _translate_ref}}, "required": True}
BATCH_SCHEMA = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/TranslateBatch"}}},
                "required": True}


class BatchTooLarge(InvalidRequest):
    """A batch holding more items than the service takes at once (answered 413)."""

    def __init__(self, limit: int, count: int | None) -> None:
        self.limit, self.count = limit, count
        has = f"this one has {count}" if count is not None else "this one has more"
        super().__init__(f"a batch holds at most {limit} items (the limit TERMMAP_MAX_BATCH_ITEMS sets); "
                         f"{has}: split it")


def _problem(exc: msgspec.ValidationError | msgspec.DecodeError) -> InvalidRequest:
    return InvalidRequest(f"invalid translate request: {exc}")


#: What msgspec's RecursionError means for a body: JSON nested deeper than the interpreter's recursion limit.
_TOO_DEEP = "the JSON is nested too deeply (a translate request is at most a few levels deep)"


def to_request(item: TranslateIn) -> TranslateRequest:
    return TranslateRequest(
        source=SourceCoding(item.source.system, item.source.code, item.source.display),
        text=item.text,
        target_system=item.target_system,
        context=Context(item.context),
        sender=item.sender,
    )


def decode_translate(body: bytes) -> TranslateRequest:
    """A translate request from JSON bytes; `InvalidRequest` naming the problem otherwise."""
    try:
        return to_request(_translate_decoder.decode(body))
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _problem(exc) from None
    except RecursionError:
        raise InvalidRequest(f"invalid translate request: {_TOO_DEEP}") from None


#: A body with this many commas per allowed item could hold far more items than the limit, each built as an
#: object (~60 bytes: 16 MiB of `1,1,1,...` would take 450 MB); such a body has its items counted first.
_COMMAS_PER_ITEM = 64
#: The structural tokens (brackets, braces, strings, top-level commas) counting may look at per allowed item.
_TOKENS_PER_ITEM = 64
_TOP_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]')
_DEEP_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def decode_batch(body: bytes, limit: int) -> list[msgspec.Raw]:
    """The raw items of a batch (each decoded on its own so one bad item fails alone); `BatchTooLarge` for
    more than `limit` items, found before they are built when the body could hold far more."""
    try:
        if body.count(b",") >= _COMMAS_PER_ITEM * limit + 1000:
            _count_items(memoryview(_shape_decoder.decode(body).items), limit)
        items = _batch_decoder.decode(body).items
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidRequest(f"invalid batch: {exc}") from None
    except RecursionError:
        raise InvalidRequest(f"invalid batch: {_TOO_DEEP}") from None
    if len(items) > limit:
        raise BatchTooLarge(limit, len(items))
    return items


def _count_items(array: memoryview, limit: int) -> None:
    """`BatchTooLarge` once the JSON array (already checked to be JSON) shows more than `limit` elements;
    `InvalidRequest` when it holds more JSON values than `limit` translate requests would (time stays bounded)."""
    depth, commas, position = 0, 0, 0
    for _ in range(_TOKENS_PER_ITEM * limit + 100_000):
        found = (_TOP_TOKEN if depth == 1 else _DEEP_TOKEN).search(array, position)
        if found is None:
            return
        position, first = found.end(), array[found.start()]
        if first in b"[{":
            depth += 1
        elif first in b"]}":
            depth -= 1
        elif first == ord(","):  # only met at depth 1: between two items
            commas += 1
            if commas >= limit:
                raise BatchTooLarge(limit, None)
    raise InvalidRequest(f"invalid batch: it holds more JSON values than {limit} translate requests would")


def _match_json(match: Match) -> dict[str, Any]:
    return {
        "system": match.system,
        "code": match.code,
        "display": match.display,
        "relationship": match.relationship.value,
        "validated": match.validated,
        "rule": match.rule.value,
        "mapping": {"id": match.mapping[0], "version": match.mapping[1]} if match.mapping else None,
        "release": match.release,
        "steps": list(match.steps),
    }


def translation_json(result: Translation) -> dict[str, Any]:
    """The answer as the JSON API documents it."""
    body: dict[str, Any] = {
        "status": result.status.value,
        "validated": result.validated,
        "original": result.original,
        "matches": [_match_json(m) for m in result.matches],
        "candidates": [
            {"system": c.system, "code": c.code, "display": c.display, "score": c.score} for c in result.candidates
        ],
        "review": {"id": result.review.id, "status": result.review.status} if result.review else None,
    }
    if result.message:
        body["message"] = result.message
    if result.decision:
        body["decision"] = result.decision
    return body
