"""Curated mappings as SKOS mapping triples, in Turtle (rdflib).

One triple per (mapping, target) of every current `mapped` mapping:

    <source concept IRI>  skos:exactMatch | skos:broadMatch | skos:narrowMatch | skos:relatedMatch  <target concept IRI>

from the target's relationship (SKOS names what the *target* is to the source):

    equivalent                       skos:exactMatch
    source-is-narrower-than-target   skos:broadMatch     (the target is broader)
    source-is-broader-than-target    skos:narrowMatch    (the target is narrower)
    related-to                       skos:relatedMatch
    not-related-to                   no triple: SKOS has no "does not match"

Concept IRIs:

    SNOMED CT   http://snomed.info/id/{code}
    RxNorm      http://purl.bioontology.org/ontology/RXNORM/{code}
    any other   {system URI without a trailing /}/{code, percent-encoded}   e.g. https://hospital.example.org/fhir/CodeSystem/allergens/PCN

Not triples, by design: `no-map` and `retired` mappings (SKOS states matches, not their absence),
and text-only mappings (their source has no concept to name). A triple does not carry the
mapping's context: export one context at a time when allergy and medication mappings must stay
apart (the same triple from both contexts is one triple in RDF).
"""
from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from rdflib import Graph, Namespace, URIRef
from rdflib.namespace import SKOS
from sqlalchemy import Connection

from terminology.systems import RXNORM, SNOMED, canonical_system

from .curated import CuratedMapping, Decision, Relationship, current_mappings

__all__ = ["SNOMED_IRI", "RXNORM_IRI", "SKOS_PREDICATE", "concept_iri", "skos_graph", "export_skos"]

SNOMED_IRI = "http://snomed.info/id/"
RXNORM_IRI = "http://purl.bioontology.org/ontology/RXNORM/"

SKOS_PREDICATE = {
    Relationship.EQUIVALENT: SKOS.exactMatch,
    Relationship.SOURCE_NARROWER: SKOS.broadMatch,
    Relationship.SOURCE_BROADER: SKOS.narrowMatch,
    Relationship.RELATED: SKOS.relatedMatch,
}


def concept_iri(system: str, code: str) -> URIRef:
    """The IRI of concept `code` of `system` (see the module docstring)."""
    system = canonical_system(system)
    if system == SNOMED:
        return URIRef(SNOMED_IRI + quote(code, safe=""))
    if system == RXNORM:
        return URIRef(RXNORM_IRI + quote(code, safe=""))
    return URIRef(f"{system.rstrip('/')}/{quote(code, safe='')}")


def skos_graph(mappings: Sequence[CuratedMapping]) -> Graph:
    """The SKOS mapping triples of `mappings` (current versions), prefixes bound for readable Turtle."""
    graph = Graph()
    graph.bind("skos", SKOS)
    graph.bind("sct", Namespace(SNOMED_IRI))
    graph.bind("rxnorm", Namespace(RXNORM_IRI))
    for mapping in mappings:
        if mapping.decision is not Decision.MAPPED or not mapping.source_code:
            continue
        source = concept_iri(mapping.source_system, mapping.source_code)
        for target in mapping.targets:
            predicate = SKOS_PREDICATE.get(Relationship(target.relationship))
            if predicate is not None:
                graph.add((source, predicate, concept_iri(target.system, target.code)))
    return graph


def export_skos(
    connection: Connection,
    *,
    source_system: str | None = None,
    target_system: str | None = None,
    context: str | None = None,
) -> str:
    """Turtle of the current curated mappings (filtered when asked)."""
    mappings = current_mappings(
        connection,
        source_system=canonical_system(source_system) if source_system else None,
        target_system=canonical_system(target_system) if target_system else None,
        context=context or None,
    )
    return skos_graph(mappings).serialize(format="turtle")
