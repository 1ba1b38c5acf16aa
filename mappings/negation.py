""""No known allergy" statements: recognised in their common spellings, answered with SNOMED CT situations.

These are statements about the absence of allergies, not allergies to a substance: they must
never come back unmapped, and never be matched lexically to a substance such as "drug".

| statement | recognised as (after case and punctuation folding) | SNOMED CT situation |
|---|---|---|
| no known allergy | NKA, No known allergies, No allergies known | 716186003 |
| no known drug allergy | NKDA, NKMA, No known drug / medication allergies | 409137002 |
| no known food allergy | NKFA, No known food allergies | 429625007 |
| no known environmental allergy | NKEA, No known environmental allergies | 428607008 |
| no known latex allergy | NKLA, No known latex allergy | 716184000 (International); 1003774007 where the loaded edition has it |

A leading "patient has" / "pt has" / "has" is ignored; nothing else is guessed.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = ["Negation", "NegationConcept", "NEGATION_CONCEPTS", "recognise_negation", "negation_for_code"]


class Negation(str, enum.Enum):
    ANY = "no-known-allergy"
    DRUG = "no-known-drug-allergy"
    FOOD = "no-known-food-allergy"
    ENVIRONMENT = "no-known-environmental-allergy"
    LATEX = "no-known-latex-allergy"


@dataclass(frozen=True, slots=True)
class NegationConcept:
    code: str
    display: str


#: The SNOMED CT situation for each statement; latex lists the International concept first.
NEGATION_CONCEPTS: dict[Negation, tuple[NegationConcept, ...]] = {
    Negation.ANY: (NegationConcept("716186003", "No known allergy"),),
    Negation.DRUG: (NegationConcept("409137002", "No known drug allergy"),),
    Negation.FOOD: (NegationConcept("429625007", "No known food allergy"),),
    Negation.ENVIRONMENT: (NegationConcept("428607008", "No known environmental allergy"),),
    Negation.LATEX: (
        NegationConcept("716184000", "No known latex allergy"),
        NegationConcept("1003774007", "No known latex allergy"),
    ),
}

_ALLERGY = r"allerg(?:y|ies|ic reactions?)"
_PATTERNS: tuple[tuple[Negation, re.Pattern[str]], ...] = (
    (Negation.DRUG, re.compile(rf"^(?:nkda|nkma|no known (?:drug|medication|medicine)s? {_ALLERGY})$")),
    (Negation.FOOD, re.compile(rf"^(?:nkfa|no known food {_ALLERGY})$")),
    (Negation.ENVIRONMENT, re.compile(rf"^(?:nkea|no known environmental {_ALLERGY})$")),
    (Negation.LATEX, re.compile(rf"^(?:nkla|no known latex {_ALLERGY})$")),
    (Negation.ANY, re.compile(rf"^(?:nka|no known {_ALLERGY}|no {_ALLERGY} known|no known history of {_ALLERGY})$")),
)
_LEAD_IN = re.compile(r"^(?:patient has|pt has|has)\s+")
_NOISE = re.compile(r"[^a-z ]+")

_BY_CODE = {concept.code: kind for kind, concepts in NEGATION_CONCEPTS.items() for concept in concepts}


def _fold(text: str) -> str:
    folded = _NOISE.sub(" ", text.casefold().replace(".", ""))
    return _LEAD_IN.sub("", " ".join(folded.split()))


def recognise_negation(text: str | None) -> Negation | None:
    """Which "no known allergy" statement `text` is, or None when it is not one."""
    if not text:
        return None
    folded = _fold(text)
    for kind, pattern in _PATTERNS:
        if pattern.match(folded):
            return kind
    return None


def negation_for_code(code: str) -> Negation | None:
    """The statement a SNOMED CT situation code stands for, or None."""
    return _BY_CODE.get(code)
