"""The one normal form of designations and queries: idempotent, never empties a term, fast path identical."""
from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from terminology import normalise


def _slow(text: str) -> str:
    """The general (Unicode) path, applied to any text."""
    import unicodedata

    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(normalise._PUNCTUATION.sub(" ", folded).split())


@pytest.mark.parametrize("text, expected", [
    ("  Penicillin-G  (Potassium), 500mg!!", "penicillin-g potassium 500mg"),
    ("SULFA DRUGS", "sulfa drugs"),
    ("Amoxicillin 250 MG / Clavulanate 125 MG", "amoxicillin 250 mg / clavulanate 125 mg"),
    ("Pénicilline\u00a0G", "pénicilline g"),
    ("ß", "ss"),
])
def test_terms_fold_case_punctuation_and_spacing(text, expected):
    assert normalise.normalise_term(text) == expected


@given(st.text())
@example("\u00df\u0301")  # casefold gives "ss" + accent; a second NFKC joins them
def test_normalising_twice_changes_nothing(text):
    once = normalise.normalise_term(text)
    assert normalise.normalise_term(once) == once


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_the_ascii_fast_path_equals_the_general_path(text):
    assert normalise.normalise_term(text) == _slow(text)


@given(st.text(min_size=1).filter(lambda t: any(c.isalnum() for c in t)))
def test_a_term_with_a_letter_or_digit_never_normalises_to_nothing(text):
    assert normalise.normalise_term(text) != ""
