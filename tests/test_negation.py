"""'No known allergy' statements are recognised in their common spellings, and nothing else is."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings.negation import (
    NEGATION_CONCEPTS,
    Negation,
    negation_for_code,
    recognise_negation,
)


@pytest.mark.parametrize(
    "text, kind",
    [
        ("NKA", Negation.ANY),
        ("No Known Allergies", Negation.ANY),
        ("no known allergy", Negation.ANY),
        ("N.K.A.", Negation.ANY),
        ("Patient has no known allergies", Negation.ANY),
        ("NKDA", Negation.DRUG),
        ("No known drug allergies", Negation.DRUG),
        ("no known medication allergies", Negation.DRUG),
        ("N.K.D.A", Negation.DRUG),
        ("no known food allergy", Negation.FOOD),
        ("NKFA", Negation.FOOD),
        ("No known environmental allergies", Negation.ENVIRONMENT),
        ("No known latex allergy", Negation.LATEX),
        ("  NKLA  ", Negation.LATEX),
    ],
)
def test_common_spellings_of_no_known_allergy_are_recognised(text, kind):
    assert recognise_negation(text) is kind


@pytest.mark.parametrize(
    "text",
    ["Penicillin", "Drug allergy", "Allergy to drug", "known allergies: penicillin", "none", "", None,
     "no known allergies except penicillin", "NKDA penicillin"],
)
def test_allergies_and_ambiguous_text_are_not_negations(text):
    assert recognise_negation(text) is None


def test_each_statement_has_the_documented_snomed_situation():
    codes = {kind: [c.code for c in concepts] for kind, concepts in NEGATION_CONCEPTS.items()}
    assert codes == {
        Negation.ANY: ["716186003"],
        Negation.DRUG: ["409137002"],
        Negation.FOOD: ["429625007"],
        Negation.ENVIRONMENT: ["428607008"],
        Negation.LATEX: ["716184000", "1003774007"],
    }


def test_the_situation_codes_are_recognised_as_negations():
    assert negation_for_code("409137002") is Negation.DRUG
    assert negation_for_code("1003774007") is Negation.LATEX
    assert negation_for_code("91936005") is None  # allergy to penicillin: an allergy, not a negation


@given(st.text(alphabet=st.characters(categories=["L", "N", "P", "Zs"]), max_size=40))
def test_recognising_never_fails_and_only_claims_texts_that_say_no_or_nk(text):
    kind = recognise_negation(text)
    if kind is not None:
        folded = text.casefold()
        assert "no" in folded or "nk" in folded.replace(".", "").replace(" ", "")
