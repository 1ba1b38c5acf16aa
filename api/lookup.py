"""A concept as people and interface engines want to see it: one plain dict for CLI and HTTP."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Connection

from terminology import queries
from terminology.systems import RXNORM, SNOMED, canonical_system

from .auth import Permission, requires
from .params import refuse_nul
from .responses import InvalidRequestRoute, error_responses

__all__ = ["lookup_view", "router"]

router = APIRouter(tags=["terminology"], route_class=InvalidRequestRoute,
                   dependencies=[Depends(requires(Permission.LOOKUP)), Depends(refuse_nul)])


@router.get("/v1/concepts/lookup", responses=error_responses({
    404: "unknown code system, or a code its active release does not hold",
    422: "a parameter missing or unreadable (the message names it)"}))
def lookup(request: Request, system: str, code: str) -> dict:
    """A concept of the active release: display, designations, parents, ingredients, history, crosswalks."""
    with request.app.state.engine.connect() as connection:
        return lookup_view(connection, system, code)

#: Relationship types worth naming in a lookup, by system.
_NAMED_RELATIONSHIPS = {
    SNOMED: {"127489000": "has active ingredient", "762949000": "has precise active ingredient",
             "738774007": "is modification of", "726542003": "has disposition"},
    RXNORM: {"has_ingredient": "has ingredient", "has_ingredients": "has ingredients",
             "has_precise_ingredient": "has precise ingredient", "has_tradename": "has tradename",
             "tradename_of": "tradename of", "consists_of": "consists of", "has_dose_form": "has dose form",
             "ingredient_of": "ingredient of", "has_form": "has form", "form_of": "form of"},
}


def lookup_view(connection: Connection, system: str, code: str) -> dict:
    """Everything `termmap lookup` shows, as plain data."""
    canonical = canonical_system(system)
    concept = queries.require_concept(connection, canonical, code)
    names = _NAMED_RELATIONSHIPS.get(canonical, {})
    rels = [r for r in queries.related(connection, canonical, code) if r.type in names]
    return {
        "system": canonical,
        "code": concept.code,
        "display": concept.display,
        "active": concept.active,
        "kind": concept.kind,
        "designations": [
            {"term": d.term, "type": d.type, "language": d.language, "preferred": d.preferred}
            for d in queries.designations(connection, canonical, code)
        ],
        "parents": [{"code": p.code, "display": p.display} for p in queries.parents(connection, canonical, code)],
        "ingredients": [
            {"code": c.code, "display": c.display, "kind": c.kind}
            for c in queries.ingredients(connection, canonical, code)
        ],
        "relationships": [
            {"type": names[r.type], "code": r.target, "display": r.target_display} for r in rels
        ],
        "historical": [
            {"type": a.type, "code": a.target, "display": a.target_display}
            for a in queries.associations(connection, canonical, code)
        ],
        "crosswalks": [
            {"system": x.other_system, "code": x.other_code, "display": x.other_display, "kind": x.kind}
            for x in queries.crosswalks_from(connection, canonical, code)
        ],
    }
