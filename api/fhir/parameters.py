"""Operation parameters: read from a GET query string or a POSTed Parameters resource; answered as Parameters.

A POST body is parsed once, with the version's fhir.resources `Parameters` model, so a parameter
of a type FHIR does not allow, a missing name or a malformed embedded resource is a 400 before any
operation runs. The typed getters then say when a parameter has the wrong type for its operation,
or a value that is not a valid FHIR code / uri / string (400: query strings are checked here, as
are string-like values sent under another string type), or is given more than once (422). No
string anywhere in a body or query may hold a control character (FHIR strings may not, and the
store would refuse a NUL). Unknown parameters are ignored, as FHIR servers may.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError

from ..auth import Permission, requires
from .outcome import OutcomeError
from .versions import FHIR_JSON, FhirVersion

__all__ = ["InParams", "read_params", "read_resource", "parameters_response", "resource_response", "STRING_TYPES",
           "add_operation", "PARAMETERS_SCHEMA"]

#: value[x] types whose value is a string: any of them is accepted where a string-like parameter is expected.
STRING_TYPES = ("valueString", "valueCode", "valueUri", "valueUrl", "valueCanonical", "valueId", "valueOid",
                "valueUuid", "valueMarkdown")
_JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
#: Query parameters every FHIR interaction may carry; they are not operation parameters.
_GENERAL = frozenset({"_format", "_pretty", "_summary", "_elements"})
#: What a value of each FHIR primitive kind may look like (FHIR's own regexes; a string must not be blank).
_PATTERNS = {"code": re.compile(r"[^\s]+( [^\s]+)*"), "uri": re.compile(r"\S+"), "string": re.compile(r".*\S.*", re.S)}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _reject_control_characters(value: Any, where: str = "the body") -> None:
    """400 when any string in `value` (a JSON value) holds a control character FHIR strings may not."""
    if isinstance(value, str):
        if _CONTROL.search(value):
            raise OutcomeError(400, "invalid", f"{where} holds a control character: FHIR strings may not")
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_control_characters(key, where)
            _reject_control_characters(item, where)
    elif isinstance(value, list):
        for item in value:
            _reject_control_characters(item, where)


@dataclass(frozen=True, slots=True)
class _Param:
    name: str
    kind: str  # "query", a value[x] key such as "valueCoding", "resource" or "part"
    value: Any  # the query string; the JSON value of value[x]; the parsed resource model; the parts


class InParams:
    """The in-parameters of one operation call, by name."""

    def __init__(self, params: Iterable[_Param], *, via_query: bool) -> None:
        self._params = list(params)
        self.via_query = via_query

    def __contains__(self, name: str) -> bool:
        return any(p.name == name for p in self._params)

    def has_any(self, *names: str) -> bool:
        return any(p.name in names for p in self._params)

    def _all(self, names: tuple[str, ...]) -> list[_Param]:
        return [p for p in self._params if p.name in names]

    def _one(self, names: tuple[str, ...]) -> _Param | None:
        found = self._all(names)
        if len(found) > 1:
            raise OutcomeError(422, "business-rule", f"parameter {_either(names)} is given {len(found)} times; "
                               "it takes one value", expression=found[0].name)
        return found[0] if found else None

    def string(self, *names: str, kind: str = "string") -> str | None:
        """A string-like parameter whose value is a valid FHIR `kind` (code, uri or string), or None when absent."""
        param = self._one(names)
        return None if param is None else _string_value(param, kind)

    def strings(self, *names: str, kind: str = "string") -> list[str]:
        """Every value of a repeatable string-like parameter."""
        return [_string_value(param, kind) for param in self._all(names)]

    def boolean(self, *names: str) -> bool | None:
        param = self._one(names)
        if param is None:
            return None
        if param.kind == "query":
            if param.value in ("true", "false"):
                return param.value == "true"
            raise OutcomeError(400, "invalid", f"parameter {param.name!r} must be true or false, not {param.value!r}",
                               expression=param.name)
        if param.kind == "valueBoolean":
            return bool(param.value)
        raise _wrong_type(param, "valueBoolean")

    def coding(self, *names: str) -> dict[str, Any] | None:
        return self._complex(names, "valueCoding")

    def codeable_concept(self, *names: str) -> dict[str, Any] | None:
        return self._complex(names, "valueCodeableConcept")

    def _complex(self, names: tuple[str, ...], kind: str) -> dict[str, Any] | None:
        param = self._one(names)
        if param is None:
            return None
        if param.kind == "query":
            raise OutcomeError(400, "not-supported", f"parameter {param.name!r} is a {kind[5:]}: it cannot be sent in "
                               "a query string; POST a Parameters resource", expression=param.name)
        if param.kind != kind:
            raise _wrong_type(param, kind)
        return param.value

    def resources(self, *names: str) -> list[Any]:
        """The resources (parsed models) given under `names`."""
        found = []
        for param in self._all(names):
            if param.kind != "resource":
                raise _wrong_type(param, "a resource")
            found.append(param.value)
        return found


def _string_value(param: _Param, kind: str) -> str:
    if param.kind != "query" and param.kind not in STRING_TYPES:
        raise _wrong_type(param, "a string-like value (valueCode, valueUri, valueString ...)")
    value = param.value
    if not isinstance(value, str) or not value.strip():
        raise OutcomeError(400, "invalid", f"parameter {param.name!r} is empty", expression=param.name)
    _reject_control_characters(value, f"parameter {param.name!r}")
    if not _PATTERNS[kind].fullmatch(value):
        raise OutcomeError(400, "invalid", f"parameter {param.name!r} is not a valid FHIR {kind}: {value!r}",
                           expression=param.name)
    return value


def _either(names: tuple[str, ...]) -> str:
    return " / ".join(repr(n) for n in names)


def _wrong_type(param: _Param, expected: str) -> OutcomeError:
    given = "a query string value" if param.kind == "query" else param.kind
    return OutcomeError(400, "invalid", f"parameter {param.name!r} must be {expected}, not {given}",
                        expression=param.name)


def _from_query(request: Request) -> InParams:
    items = request.query_params.multi_items()
    params = [_Param(name, "query", value) for name, value in items if name not in _GENERAL]
    return InParams(params, via_query=True)


def _problems(exc: ValidationError, limit: int = 3) -> str:
    shown = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(part) for part in error.get("loc", ()))
        message = " ".join(str(error.get("msg", "")).split())
        shown.append(f"{where}: {message}" if where else message)
    more = len(exc.errors()) - limit
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def read_resource(body: bytes, content_type: str | None, version: FhirVersion, resource_type: str) -> tuple[Any, dict]:
    """The body as a `resource_type` model (and the JSON it came from); OutcomeError 400/415 otherwise."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media and media not in _JSON_TYPES:
        raise OutcomeError(415, "not-supported", f"the body must be JSON ({_JSON_TYPES[0]} or {_JSON_TYPES[1]}), "
                           f"not {media}")
    if not body.strip():
        raise OutcomeError(400, "structure", f"the body is empty: send a {resource_type} resource")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OutcomeError(400, "structure", f"the body is not JSON: {exc}") from None
    _reject_control_characters(data)
    if not isinstance(data, dict):
        raise OutcomeError(400, "structure", f"the body must be a {resource_type} resource (a JSON object), "
                           f"not a JSON {type(data).__name__.replace('dict', 'object').replace('list', 'array')}")
    if data.get("resourceType") != resource_type:
        raise OutcomeError(400, "structure", f"the body must be a {resource_type} resource, "
                           f"not resourceType {data.get('resourceType')!r}")
    try:
        model = version.model(resource_type).model_validate(data)
    except ValidationError as exc:
        raise OutcomeError(400, "structure", f"the {resource_type} is not valid FHIR {version.fhir_version}: "
                           f"{_problems(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - whatever the parser raises on untrusted input is the input's fault
        raise OutcomeError(400, "structure", f"the {resource_type} cannot be read ({type(exc).__name__}: {exc})") \
            from None
    return model, data


def _from_body(body: bytes, content_type: str | None, version: FhirVersion) -> InParams:
    model, data = read_resource(body, content_type, version, "Parameters")
    params = []
    for raw, parsed in zip(data.get("parameter") or [], model.parameter or []):
        values = [key for key, value in raw.items() if key.startswith("value") and value is not None]
        if values:
            params.append(_Param(raw["name"], values[0], raw[values[0]]))
        elif parsed.resource is not None:
            params.append(_Param(raw["name"], "resource", parsed.resource))
        elif raw.get("part"):
            params.append(_Param(raw["name"], "part", raw["part"]))
        else:
            raise OutcomeError(400, "structure", f"parameter {raw['name']!r} has no value, resource or part",
                               expression=raw["name"])
    return InParams(params, via_query=False)


async def read_params(request: Request, version: FhirVersion) -> InParams:
    """The call's parameters: the query string for GET, the Parameters body for POST."""
    if request.method == "GET":
        return _from_query(request)
    return _from_body(await request.body(), request.headers.get("content-type"), version)


def parameters_response(version: FhirVersion, parameters: list[dict[str, Any]]) -> Response:
    """A Parameters resource (validated by the version's model) as the response."""
    model = version.model("Parameters").model_validate({"resourceType": "Parameters", "parameter": parameters})
    return Response(model.model_dump_json(), media_type=FHIR_JSON)


def resource_response(version: FhirVersion, resource: dict[str, Any], *, status: int = 200,
                      headers: dict[str, str] | None = None) -> Response:
    """Any resource (validated by the version's model of its type) as the response."""
    model = version.model(resource["resourceType"]).model_validate(resource)
    return Response(model.model_dump_json(), status_code=status, media_type=FHIR_JSON, headers=headers)


#: A POSTed Parameters resource, as the OpenAPI describes it (the FHIR model checks the rest).
PARAMETERS_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["resourceType"],
    "properties": {"resourceType": {"type": "string", "enum": ["Parameters"]},
                   "parameter": {"type": "array", "items": {"type": "object", "required": ["name"],
                                                           "properties": {"name": {"type": "string"}}}}},
}


def _operation_doc(method: str, query: dict[str, str]) -> dict[str, Any]:
    """The OpenAPI of one operation's GET (its query parameters) or POST (a Parameters body holding the same)."""
    if method == "GET":
        return {"parameters": [{"name": name, "in": "query", "required": False, "description": description,
                                "schema": {"type": "string"}} for name, description in query.items()]}
    body = {"schema": PARAMETERS_SCHEMA}
    if query:
        body["example"] = {"resourceType": "Parameters", "parameter": [
            {"name": name, "valueString": "..."} for name in list(query)[:2]]}
    return {"requestBody": {"required": True, "content": {FHIR_JSON: body, "application/json": body},
                            "description": "a Parameters resource with the operation's in-parameters: "
                                           + ", ".join(query)}}


def add_operation(router: APIRouter, path: str, endpoint: Any, *, summary: str, operation_id: str,
                  permission: Permission, query: dict[str, str] | None = None) -> None:
    """Route an operation for GET (query string) and POST (Parameters), each with its own OpenAPI id.

    `query` documents the in-parameters a query string may carry (name -> description); a POST takes them
    (and the Coding / CodeableConcept / resource ones a query cannot) in its Parameters body.
    """
    for method in ("GET", "POST"):
        router.add_api_route(path, endpoint, methods=[method], summary=summary,
                             operation_id=f"{operation_id}_{method.lower()}",
                             dependencies=[Depends(requires(permission))],
                             openapi_extra=_operation_doc(method, query or {}))
