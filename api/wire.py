"""The JSON wire format of translate: msgspec structs in, plain dicts out (fast, and still documented)."""
from __future__ import annotations

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

__all__ = ["SourceIn", "TranslateIn", "BatchIn", "decode_translate", "decode_batch", "to_request", "translation_json",
           "TRANSLATE_SCHEMA", "BATCH_SCHEMA", "WIRE_COMPONENTS"]


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


_translate_decoder = msgspec.json.Decoder(TranslateIn)
_batch_decoder = msgspec.json.Decoder(BatchIn)


(_translate_ref,), WIRE_COMPONENTS = msgspec.json.schema_components(
    [TranslateIn], ref_template="#/components/schemas/{name}"
)
#: OpenAPI request bodies (their component schemas are `WIRE_COMPONENTS`, merged by the app).
TRANSLATE_SCHEMA = {"content": {"application/json": {"schema": _translate_ref}}, "required": True}
BATCH_SCHEMA = {
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["items"],
        "properties": {"items": {"type": "array", "maxItems": 10_000,
                                 "items": {"$ref": "#/components/schemas/TranslateIn"}}},
    }}},
    "required": True,
}


def _problem(exc: msgspec.ValidationError | msgspec.DecodeError) -> InvalidRequest:
    return InvalidRequest(f"invalid translate request: {exc}")


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


def decode_batch(body: bytes, limit: int) -> list[msgspec.Raw]:
    """The raw items of a batch (each decoded on its own so one bad item fails alone)."""
    try:
        items = _batch_decoder.decode(body).items
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidRequest(f"invalid batch: {exc}") from None
    if len(items) > limit:
        raise InvalidRequest(f"a batch holds at most {limit} items; this one has {len(items)}")
    return items


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
