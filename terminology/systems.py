"""Canonical code-system URIs and the names senders use for them."""
from __future__ import annotations

__all__ = ["SNOMED", "RXNORM", "NDC", "TERMMAP", "canonical_system", "is_local", "RRF_SAB_SYSTEMS"]

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
#: termmap's own CodeSystem (tags such as `unvalidated`).
TERMMAP = "https://termmap.dev/fhir/CodeSystem/termmap"

_ALIASES = {
    "sct": SNOMED,
    "snomed": SNOMED,
    "snomedct": SNOMED,
    "snomed-ct": SNOMED,
    "snomedct_us": SNOMED,
    "snm": SNOMED,
    "rxnorm": RXNORM,
    "rxcui": RXNORM,
    "ndc": NDC,
}

#: RxNorm RRF source abbreviations (SAB) whose codes termmap keeps as crosswalks, by canonical URI.
RRF_SAB_SYSTEMS = {
    "SNOMEDCT_US": SNOMED,
    "RXNORM": RXNORM,
    "MTHSPL": "http://fdasis.nlm.nih.gov",
    "ATC": "http://www.whocc.no/atc",
    "DRUGBANK": "https://go.drugbank.com",
    "VANDF": "http://va.gov/terminology/vandf",
    "MMSL": "urn:oid:2.16.840.1.113883.6.253",
    "NDDF": "urn:oid:2.16.840.1.113883.6.208",
    "USP": "https://www.usp.org",
    "GS": "urn:oid:2.16.840.1.113883.6.162",
    "MMX": "urn:oid:2.16.840.1.113883.6.252",
}


def canonical_system(system: str) -> str:
    """The canonical URI for a system name or URI; an unknown URI comes back unchanged.

    Versioned SNOMED edition URIs (`http://snomed.info/sct/731000124108/version/...`) are
    still SNOMED CT: the edition is a release property, not another code system.
    """
    cleaned = system.strip()
    if cleaned.startswith(SNOMED):
        return SNOMED
    return _ALIASES.get(cleaned.casefold(), cleaned)


def is_local(system: str) -> bool:
    """True for a system that is not one of the standard ones termmap loads releases for."""
    return canonical_system(system) not in {SNOMED, RXNORM, NDC}
