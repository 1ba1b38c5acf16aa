"""CodeSystem/$lookup and CodeSystem/$validate-code over the active releases (GET and POST, R4 and R5).

$lookup (system + code, or coding; version, property*) answers name, version, display, every
designation (language, use, value) and the properties `inactive` (boolean), `parent` and `child`
(codes, from is-a: SNOMED CT 116680003, RxNorm `isa`) and `kind` (string: SNOMED CT semantic tag,
RxNorm TTY, local kind). Given `property` parameters, only those come back. An unknown system,
version or code is a 404 OperationOutcome.

$validate-code (url or system + code, or coding / codeableConcept; version, display) answers
result, message, display, code, system, version, inactive and an `issues` OperationOutcome, as the
HL7 terminology ecosystem does: an unknown code, system or version is `result: false` (HTTP 200);
an inactive concept is valid, with a warning; a display that is none of the concept's designations
is `result: false` with an error, or `result: true` with a warning when `lenient-display-validation`
is true. Displays are compared case- and space-insensitively.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from terminology import queries
from terminology.model import Concept, Designation, Release
from terminology.normalise import normalise_term
from terminology.releases import active_release
from terminology.systems import NDC, RXNORM, SNOMED, TERMMAP, canonical_system

from ..auth import Permission
from .outcome import OutcomeError
from .parameters import InParams, add_operation, parameters_response, read_params
from .versions import FhirVersion

__all__ = ["add_codesystem_routes", "fhir_version", "version_matches", "check_version", "SYSTEM_NAMES"]

SYSTEM_NAMES = {SNOMED: "SNOMED CT", RXNORM: "RxNorm", NDC: "NDC"}
#: SNOMED CT namespace in RF2 file names -> the module of its edition (for version URIs).
_SNOMED_EDITIONS = {"INT": "900000000000207008", "US1000124": "731000124108"}
_SNOMED_USE = {"fsn": ("900000000000003001", "Fully specified name"), "synonym": ("900000000000013009", "Synonym")}
_TX_ISSUE = "http://hl7.org/fhir/tools/CodeSystem/tx-issue-type"
PROPERTIES = ("inactive", "parent", "child", "kind")


def fhir_version(release: Release) -> str:
    """The release's version as FHIR names it (SNOMED CT: the edition/version URI when the edition is known)."""
    if release.system == SNOMED and release.effective_date:
        module = _SNOMED_EDITIONS.get(release.version.split()[0])
        if module:
            return f"{SNOMED}/{module}/version/{release.effective_date}"
    return release.version


def version_matches(release: Release, asked: str) -> bool:
    """Whether `asked` names this release: its version, FHIR version, effective date, or (SNOMED CT) its edition."""
    asked = asked.strip()
    if asked in {release.version, fhir_version(release), release.effective_date}:
        return True
    if release.system == SNOMED and asked.startswith(SNOMED + "/"):
        edition, _, date = asked[len(SNOMED) + 1:].partition("/version/")
        module = _SNOMED_EDITIONS.get(release.version.split()[0])
        return (module is None or edition == module) and (not date or date == release.effective_date)
    return False


def check_version(connection: Connection, system: str, asked: str | None) -> Release | None:
    """The active release of `system`; a 404 OutcomeError when `asked` names another version."""
    release = active_release(connection, canonical_system(system))
    if release is not None and asked and not version_matches(release, asked):
        raise OutcomeError(404, "not-found", f"version {asked!r} of {release.system} is not loaded: the active "
                           f"release is {fhir_version(release)!r}", expression="version")
    return release


def _code_and_system(params: InParams, system_names: tuple[str, ...]) -> tuple[str, str, str | None]:
    """(system, code, display) from system + code or from coding; 422 when neither or both."""
    code, system = params.string("code", kind="code"), params.string(*system_names, kind="uri")
    coding = params.coding("coding")
    if code is not None and coding is not None:
        raise OutcomeError(422, "business-rule", "give code (with system) or coding, not both")
    if coding is not None:
        code, system = coding.get("code"), coding.get("system") or system
        display = coding.get("display")
    else:
        display = None
    if not code:
        raise OutcomeError(422, "required", "nothing to look up: give code and system, or coding")
    if not system:
        raise OutcomeError(422, "required", f"code {code!r} needs its system ({' or '.join(system_names)})",
                           expression="system")
    return canonical_system(system), code, display


def _use(system: str, designation: Designation) -> dict[str, str]:
    if system == SNOMED and designation.type in _SNOMED_USE:
        code, display = _SNOMED_USE[designation.type]
        return {"system": SNOMED, "code": code, "display": display}
    return {"system": TERMMAP, "code": designation.type, "display": f"term type {designation.type}"}


def _property(code: str, **value: Any) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"name": "code", "valueCode": code}]
    description = value.pop("description", None)
    parts.append({"name": "value", **value})
    if description:
        parts.append({"name": "description", "valueString": description})
    return {"name": "property", "part": parts}


def lookup(connection: Connection, params: InParams) -> list[dict[str, Any]]:
    """The out-parameters of $lookup."""
    system, code, _display = _code_and_system(params, ("system",))
    release = check_version(connection, system, params.string("version"))
    concept = queries.require_concept(connection, system, code)
    wanted = set(params.strings("property", kind="code")) or set(PROPERTIES)
    out: list[dict[str, Any]] = [
        {"name": "name", "valueString": SYSTEM_NAMES.get(system, system)},
        {"name": "display", "valueString": concept.display},
    ]
    if release is not None:
        out.insert(1, {"name": "version", "valueString": fhir_version(release)})
    for d in queries.designations(connection, system, code):
        out.append({"name": "designation", "part": [
            {"name": "language", "valueCode": d.language},
            {"name": "use", "valueCoding": _use(system, d)},
            {"name": "value", "valueString": d.term},
        ]})
    if "inactive" in wanted:
        out.append(_property("inactive", valueBoolean=not concept.active))
    if "kind" in wanted and concept.kind:
        out.append(_property("kind", valueString=concept.kind))
    if "parent" in wanted:
        out.extend(_property("parent", valueCode=p.code, description=p.display)
                   for p in queries.parents(connection, system, code))
    if "child" in wanted:
        children = queries.inverse_related(connection, system, code, [queries.SNOMED_IS_A, queries.RXNORM_IS_A])
        out.extend(_property("child", valueCode=c.source, description=c.target_display) for c in children)
    return out


# --- $validate-code ----------------------------------------------------------------------------------------


def _issue(severity: str, code: str, tx_type: str, text: str, expression: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code,
                             "details": {"coding": [{"system": _TX_ISSUE, "code": tx_type}], "text": text}}
    if expression:
        issue["expression"] = [expression]
    return issue


def _codings_to_validate(params: InParams) -> tuple[list[dict[str, Any]], str]:
    """The codings to check and the expression path of the input they came from."""
    code, system = params.string("code", kind="code"), params.string("url", "system", kind="uri")
    coding, concept = params.coding("coding"), params.codeable_concept("codeableConcept")
    given = [name for name, value in (("code", code), ("coding", coding), ("codeableConcept", concept))
             if value is not None]
    if len(given) != 1:
        raise OutcomeError(422, "business-rule", "give one (and only one) of code (with url), coding or "
                           f"codeableConcept{'' if not given else ' (got ' + ' and '.join(given) + ')'}")
    if code is not None:
        if not system:
            raise OutcomeError(422, "required", f"code {code!r} needs the code system: give url", expression="url")
        return [{"system": system, "code": code, "display": params.string("display")}], ""
    if coding is not None:
        return [{**coding, "system": coding.get("system") or system,
                 "display": params.string("display") or coding.get("display")}], "Coding"
    codings = [{**c, "system": c.get("system") or system} for c in concept.get("coding") or []]
    if not codings:
        raise OutcomeError(422, "required", "the codeableConcept has no coding to validate")
    return codings, "CodeableConcept.coding"


def _display_ok(connection: Connection, concept: Concept, display: str) -> bool:
    wanted = normalise_term(display)
    terms = [concept.display] + [d.term for d in queries.designations(connection, concept.system, concept.code)]
    return any(normalise_term(term) == wanted for term in terms)


def _validate_one(connection: Connection, coding: dict[str, Any], version: str | None, lenient: bool,
                  where: str) -> tuple[bool, list[dict[str, Any]], dict[str, Any]]:
    """(valid, issues, facts to echo) for one coding."""
    raw_system, code, display = coding.get("system"), coding.get("code"), coding.get("display")
    at = lambda name: f"{where}.{name}" if where else name  # noqa: E731 - FHIRPath of an input element
    if not raw_system or not code:
        problem = _issue("error", "invalid", "invalid-data", "a coding needs a system and a code", where or "code")
        return False, [problem], {}
    system = canonical_system(raw_system)
    release = active_release(connection, system)
    if release is None:
        text = f"A definition for CodeSystem '{raw_system}' could not be found, so the code cannot be validated"
        problem = _issue("error", "not-found", "not-found", text, at("system" if where else "url"))
        return False, [problem], {"system": raw_system}
    facts: dict[str, Any] = {"system": system, "code": code, "version": fhir_version(release)}
    if version and not version_matches(release, version):
        text = f"Version '{version}' of {system} is not loaded: the active release is '{fhir_version(release)}'"
        return False, [_issue("error", "not-found", "not-found", text, at("version"))], facts
    concept = queries.concept(connection, system, code)
    if concept is None:
        text = f"Unknown code '{code}' in the CodeSystem '{system}' version '{fhir_version(release)}'"
        return False, [_issue("error", "code-invalid", "invalid-code", text, at("code"))], facts
    facts["display"] = concept.display
    issues: list[dict[str, Any]] = []
    valid = True
    if not concept.active:
        facts["inactive"] = True
        issues.append(_issue("warning", "business-rule", "code-comment",
                             f"The concept '{code}' is inactive in {system} version '{fhir_version(release)}'; "
                             "its use should be reviewed", at("code")))
    if display and not _display_ok(connection, concept, display):
        text = (f"Wrong Display Name '{display}' for {system}#{code}. Valid display is '{concept.display}' "
                "(or one of its other designations)")
        issues.append(_issue("warning" if lenient else "error", "invalid", "invalid-display", text,
                             at("display")))
        valid = lenient
    return valid, issues, facts


def validate_code(connection: Connection, params: InParams) -> list[dict[str, Any]]:
    """The out-parameters of $validate-code."""
    codings, where = _codings_to_validate(params)
    asked_version = params.string("version")
    lenient = bool(params.boolean("lenient-display-validation"))
    results = []
    for index, coding in enumerate(codings):
        path = f"{where}[{index}]" if where == "CodeableConcept.coding" else where
        results.append(_validate_one(connection, coding, asked_version, lenient, path))
    chosen = next((r for r in results if r[0]), results[0])
    valid, _issues, facts = chosen
    # valid: the chosen coding's issues plus the others' warnings; invalid: every issue
    issues = [i for r in results for i in r[1] if not valid or r is chosen or i["severity"] != "error"]
    out: list[dict[str, Any]] = [{"name": "result", "valueBoolean": valid}]
    messages = [i["details"]["text"] for i in issues if i["severity"] in ("error", "warning")]
    if messages:
        out.append({"name": "message", "valueString": "; ".join(messages)})
    if "display" in facts:
        out.append({"name": "display", "valueString": facts["display"]})
    if where == "CodeableConcept.coding":
        out.append({"name": "codeableConcept", "valueCodeableConcept": params.codeable_concept("codeableConcept")})
    else:
        for name, kind in (("code", "valueCode"), ("system", "valueUri"), ("version", "valueString"),
                           ("inactive", "valueBoolean")):
            if name in facts:
                out.append({"name": name, kind: facts[name]})
    if issues:
        out.append({"name": "issues", "resource": {"resourceType": "OperationOutcome", "issue": issues}})
    return out


def add_codesystem_routes(router: APIRouter, version: FhirVersion) -> None:
    """$lookup and $validate-code under `version`'s prefix."""

    def operation(answer: Callable[[Connection, InParams], list[dict[str, Any]]]):
        async def endpoint(request: Request) -> Response:
            params = await read_params(request, version)

            def work() -> list[dict[str, Any]]:
                with request.app.state.engine.connect() as connection:
                    return answer(connection, params)
            return parameters_response(version, await run_in_threadpool(work))
        return endpoint

    name = version.name.upper()
    add_operation(router, "/CodeSystem/$lookup", operation(lookup), summary=f"CodeSystem $lookup ({name})", permission=Permission.LOOKUP,
                  operation_id=f"fhir_{version.name}_codesystem_lookup", query={
                      "code": "the code to look up (with system)", "system": "its code system (uri)",
                      "version": "the release it must be in", "property": "properties to return (repeatable)"})
    add_operation(router, "/CodeSystem/$validate-code", operation(validate_code),
                  summary=f"CodeSystem $validate-code ({name})", permission=Permission.LOOKUP,
                  operation_id=f"fhir_{version.name}_codesystem_validate_code", query={
                      "url": "the code system (uri; also system)", "code": "the code to validate",
                      "display": "a display to check", "version": "the release it must be in",
                      "lenient-display-validation": "true: a wrong display is a warning"})
