"""`POST /v1/hl7v2/translate`: an HL7 v2 (ER7) message back with its allergy and medication codes translated.

What changes in the message is `mappings.hl7v2`'s docstring. Answers:

    200  the message (same encoding, separators and BOM as sent), `x-application/hl7-v2+er7`,
         with X-Termmap-Translated (fields rewritten) and X-Termmap-Mapped / -Unvalidated /
         -Unmapped / -Multiple / -Alternate-Occupied / -Already-Coded / -Skipped counts.
         A message with nothing to translate comes back byte-identical (X-Termmap-Translated: 0).
    400  the message cannot be read (no MSH, broken MSH-1/MSH-2): an HL7 ACK,
         `MSH` / `MSA|AR|<control id>` / `ERR||<segment>^1^<field>|102^Data type error^HL70357|E||||<why>`
    404  target_system with no loaded release (JSON, as every other route)
    422  an Idempotency-Key reused with another message or options (JSON)

One message is one transaction (its review-queue counts included). Idempotency-Key is honoured
through `api.idempotency.run_once`; the stored answer is a JSON envelope with the counts and the
message in base64 (the store keeps text, and a latin-1 message is not UTF-8).
"""
from __future__ import annotations

import base64
from datetime import datetime, timezone
from functools import partial
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from mappings.hl7v2 import Hl7v2Error, Outcome, translate_message

from .auth import Permission, requires
from .idempotency import run_once
from .params import refuse_nul
from .responses import InvalidRequestRoute, error_responses

__all__ = ["router", "ER7", "ack_for", "COUNT_HEADERS"]

router = APIRouter(tags=["hl7v2"], dependencies=[Depends(requires(Permission.TRANSLATE)), Depends(refuse_nul)],
                   route_class=InvalidRequestRoute)

ER7 = "x-application/hl7-v2+er7"
ROUTE = "/v1/hl7v2/translate"
COUNT_HEADERS = {f"X-Termmap-{o.value.title()}": o for o in Outcome}

_EXAMPLE = ("MSH|^~\\&|EHR|HOSPITAL|TERMMAP|TM|20250101120000||ADT^A08|MSG0001|P|2.5\r"
            "AL1|1|DA|1191^Aspirin^RXNORM|SV|Hives\r")
_REQUEST_BODY = {
    "required": True,
    "content": {ER7: {"schema": {"type": "string"}, "example": _EXAMPLE},
                "text/plain": {"schema": {"type": "string"}, "example": _EXAMPLE}},
    "description": "One HL7 v2 message (ER7); segments separated by CR, LF or CRLF.",
}
_RESPONSES = {
    200: {"description": "the message with translated fields and ZTM/NTE notes", "content": {ER7: {}}},
    400: {"description": "unreadable message: an HL7 ACK (MSA AR) with an ERR segment", "content": {ER7: {}}},
    **error_responses({404: "target_system has no loaded release",
                       422: "a missing or invalid option, or an Idempotency-Key reused with another message"}),
}


@router.post(ROUTE, openapi_extra={"requestBody": _REQUEST_BODY}, responses=_RESPONSES, response_class=Response)
async def translate_hl7v2(
    request: Request,
    target_system: Annotated[str, Query(description="e.g. http://snomed.info/sct")],
    local_system: Annotated[str | None, Query(
        description="The system of `L` / `99zzz` codes (default: the sending facility's, from "
                    "TERMMAP_HL7V2_LOCAL_SYSTEMS, else urn:termmap:local:<MSH-4>)")] = None,
    original_first: Annotated[bool, Query(description="Keep the original in 1-3, the target in 4-6")] = False,
    flag: Annotated[Literal["ztm", "nte"], Query(description="How unmapped fields are flagged")] = "ztm",
) -> Response:
    """Translate AL1-3, IAM-3 (allergy) and RXE-2, RXO-1, RXD-2, RXA-5 (medication) into `target_system`.

    Validated targets go in the first triplet, the original moving to the alternate one;
    unmapped and unvalidated fields are kept exactly and followed by a ZTM (or NTE) segment
    naming the review-queue entry. Send an `Idempotency-Key` to make retries safe.
    """
    body = await request.body()
    state = request.app.state
    metrics = state.metrics

    counts = metrics.pending()

    def observe(result, translated) -> None:
        counts.count(result, translated.context.value, source_system=translated.source.system,
                     sender=translated.sender)

    state.cache.refresh(state.engine)  # decisions and release switches made on other workers, as translate does

    def work(connection) -> tuple[int, bytes]:
        result = translate_message(connection, body, target_system, local_system=local_system,
                                   local_systems=state.settings.hl7v2_local_systems, original_first=original_first,
                                   flag=flag, cache=state.cache, observe=observe)
        headers = {name: result.counts[outcome] for name, outcome in COUNT_HEADERS.items()}
        headers["X-Termmap-Translated"] = result.translated
        return 200, orjson.dumps({"headers": headers, "message": base64.b64encode(result.message).decode()})

    keyed = orjson.dumps({"target_system": target_system, "local_system": local_system,
                          "original_first": original_first, "flag": flag}) + b"\n" + body
    key = request.headers.get("idempotency-key")
    try:
        with metrics.time("hl7v2"):
            status, payload, replayed = await run_in_threadpool(
                partial(run_once, state.engine, key, ROUTE, keyed, work, counts=counts))
    except Hl7v2Error as exc:
        return Response(ack_for(exc), status_code=400, media_type=ER7)
    envelope = orjson.loads(payload)
    headers = {name: str(value) for name, value in envelope["headers"].items()}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(base64.b64decode(envelope["message"]), status_code=status, media_type=ER7, headers=headers)


def ack_for(error: Hl7v2Error, now: datetime | None = None) -> bytes:
    """An application-reject ACK (MSA AR) for an unreadable message, with an ERR naming segment and field."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d%H%M%S")
    why = _text(str(error))
    control = _text(error.control_id)
    segments = [
        f"MSH|^~\\&|TERMMAP|TERMMAP|||{stamp}||ACK|{control or 'TERMMAP'}-ACK|P|2.5",
        f"MSA|AR|{control}|{why}",
        f"ERR||{error.segment}^1^{error.field_number}|102^Data type error^HL70357|E||||{why}",
    ]
    return ("\r".join(segments) + "\r").encode("utf-8")


def _text(value: str) -> str:
    """`value` safe inside an ERR/MSA field with the standard encoding characters."""
    out = value.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\").replace("&", "\\T\\")
    return out.replace("~", "\\R\\").replace("\r", " ").replace("\n", " ")
