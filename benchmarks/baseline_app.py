"""The two floors the translate benchmark measures termmap against, on the same stack (FastAPI + uvicorn).

    uvicorn benchmarks.baseline_app:raw_app      # (a) the ceiling
    uvicorn benchmarks.baseline_app:model_app    # (b) a naive endpoint

- `raw_app` (a): `POST /translate` reads the raw body, parses it with `orjson.loads` and returns a
  constant JSON `Response`. No validation, no model, no encoding: what this stack can do at most.
- `model_app` (b): the same route with the body declared as a pydantic model shaped like termmap's
  translate request (`TranslateIn` in `api.wire`: same fields, limits and context literal), returning
  the same constant as a dict for FastAPI to encode: what a naive FastAPI endpoint costs.

Both answer with `ANSWER`, a termmap-shaped `mapped` answer, so response sizes match termmap's.
Neither touches termmap's code (only `benchmarks` is imported), so the floors move only with the stack.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import FastAPI, Request, Response
from pydantic import BaseModel, Field

__all__ = ["ANSWER", "ANSWER_BYTES", "raw_app", "model_app"]

#: A mapped RxNorm -> SNOMED CT answer, shaped as termmap's `POST /v1/translate` answers.
ANSWER: dict[str, Any] = {
    "status": "mapped",
    "validated": True,
    "original": {"source": {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1191"}},
    "matches": [{
        "system": "http://snomed.info/sct",
        "code": "387458008",
        "display": "Aspirin",
        "relationship": "equivalent",
        "validated": True,
        "rule": "crosswalk",
        "mapping": None,
        "release": "http://www.nlm.nih.gov/research/umls/rxnorm|09022025",
        "steps": ["crosswalk: RXCUI 1191 -> SNOMED CT 387458008 (RXNCONSO:SNOMEDCT_US:PT)"],
    }],
    "candidates": [],
    "review": None,
}
ANSWER_BYTES = orjson.dumps(ANSWER)

raw_app = FastAPI(title="baseline (a): raw body, constant Response")


@raw_app.post("/translate")
async def translate_raw(request: Request) -> Response:
    orjson.loads(await request.body())
    return Response(ANSWER_BYTES, media_type="application/json")


class SourceBody(BaseModel):
    system: Annotated[str, Field(max_length=255)] | None = None
    code: Annotated[str, Field(max_length=128)] | None = None
    display: Annotated[str, Field(max_length=10_000)] | None = None


class TranslateBody(BaseModel):
    """Shaped like termmap's translate request (`api.wire.TranslateIn`)."""

    target_system: Annotated[str, Field(max_length=255)]
    context: Literal["allergy", "medication"]
    source: SourceBody = Field(default_factory=SourceBody)
    text: Annotated[str, Field(max_length=10_000)] | None = None
    sender: Annotated[str, Field(max_length=255)] | None = None


model_app = FastAPI(title="baseline (b): pydantic body model, constant dict")


@model_app.post("/translate")
async def translate_model(body: TranslateBody) -> dict[str, Any]:
    return ANSWER
