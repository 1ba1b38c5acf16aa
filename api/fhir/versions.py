"""The two FHIR versions termmap speaks: R4 (4.0.1, built with fhir.resources' R4B models) and R5 (5.0.0).

R4B's models are used for the R4 wire format: Parameters, ConceptMap (with `equivalence`),
OperationOutcome, Bundle, CapabilityStatement and TerminologyCapabilities are the same in R4 and R4B.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = ["FhirVersion", "R4", "R5", "VERSIONS", "FHIR_JSON"]

#: The media type of every FHIR answer.
FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True, slots=True)
class FhirVersion:
    name: str  # the path segment: "r4" | "r5"
    fhir_version: str  # CapabilityStatement.fhirVersion
    package: str  # where its fhir.resources models live

    @property
    def prefix(self) -> str:
        return f"/fhir/{self.name}"

    @property
    def is_r4(self) -> bool:
        return self.name == "r4"

    def model(self, resource_type: str) -> type[Any]:
        """The fhir.resources class of `resource_type` (e.g. "ConceptMap") for this version."""
        return _model(self.package, resource_type)


@cache
def _model(package: str, resource_type: str) -> type[Any]:
    return getattr(importlib.import_module(f"{package}.{resource_type.lower()}"), resource_type)


R4 = FhirVersion("r4", "4.0.1", "fhir.resources.R4B")
R5 = FhirVersion("r5", "5.0.0", "fhir.resources")
VERSIONS = (R4, R5)
