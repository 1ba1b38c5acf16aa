"""Allergen and drug names normalised for comparison: pinned hard cases, table invariants, properties."""
from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from terminology.clinical_text import (
    ABBREVIATIONS,
    PHRASES,
    SPELLING,
    canonical_token,
    core_words,
    key_words,
    normalise_allergen,
    query_variants,
    singular,
    split_qualifier,
    without_tag,
)


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        # strength and dose form are not the allergen
        ("Amoxicillin 500mg cap", "amoxicillin"),
        ("Morphine sulfate 10 mg/ml inj", "morphine"),
        ("metoprolol succinate ER 50 mg", "metoprolol"),
        ("Naproxen sodium 220 MG Oral Tablet", "naproxen"),
        ("nifedipine XL 30mg tabs", "nifedipine"),
        ("Amoxicillin 250 mg/5 ml oral suspension", "amoxicillin"),
        # salts and esters
        ("Penicillin G Potassium", "penicillin g"),
        ("penicillin G benzathine", "penicillin g"),
        ("Diphenhydramine HCl", "diphenhydramine"),
        ("Amlodipine besylate", "amlodipine"),
        # abbreviations
        ("PCN", "penicillin"),
        ("ASA 81mg EC tab", "aspirin"),
        ("APAP", "acetaminophen"),
        ("SMX/TMP", "sulfamethoxazole trimethoprim"),
        ("TMP-SMX", "sulfamethoxazole trimethoprim"),
        ("HCTZ 25 mg", "hydrochlorothiazide"),
        ("MSO4", "morphine"),
        ("MS", "morphine"),
        ("NTG", "nitroglycerin"),
        ("PCN VK", "penicillin v"),
        ("ACEI", "ace inhibitor"),
        ("NSAIDs", "non steroidal anti inflammatory"),
        # British / INN spellings and synonyms
        ("Paracetamol", "acetaminophen"),
        ("Sulphonamides", "sulfonamide"),
        ("Cefalexin", "cephalexin"),
        ("Amoxycillin", "amoxicillin"),
        ("Aluminium hydroxide", "aluminum hydroxide"),
        ("Co-trimoxazole 960 mg tabs", "sulfamethoxazole trimethoprim"),
        ("Glyceryl trinitrate", "nitroglycerin"),
        ("Acetylsalicylic acid", "aspirin"),
        ("Benzylpenicillin", "penicillin g"),
        ("Oestradiol", "estradiol"),
        # classes
        ("Sulfa drugs", "sulfonamide"),
        ("SULFA", "sulfonamide"),
        # plurals
        ("Strawberries", "strawberry"),
        ("PEANUTS", "peanut"),
        ("Allergies to peaches", "allergy peach"),
    ],
)
def test_normalising_an_allergen_name_gives_its_pinned_normal_form(text: str, normal: str) -> None:
    assert normalise_allergen(text) == normal


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Amoxicillin 500mg cap", "amoxicillin"),
        ("Paracetamol", "acetaminophen"),
        ("Penicillin G Potassium", "penicillin G"),
        ("co-trimoxazole", "Sulfamethoxazole / Trimethoprim"),
        ("Sulfa drugs", "Sulfonamides"),
        ("Cefalexin 500 mg capsules", "CEPHALEXIN"),
    ],
)
def test_two_ways_of_writing_one_allergen_normalise_alike(one: str, other: str) -> None:
    assert normalise_allergen(one) == normalise_allergen(other)


def test_a_name_made_only_of_salts_keeps_them() -> None:
    assert normalise_allergen("Sodium chloride 0.9% injection") == "sodium chloride"
    assert normalise_allergen("Potassium") == "potassium"


def test_a_salt_word_before_the_name_is_part_of_the_name() -> None:
    assert normalise_allergen("Calcium channel blockers") == "calcium channel blocker"
    assert normalise_allergen("Calcium salt") == "calcium salt"


def test_food_words_that_are_also_dose_forms_elsewhere_are_kept() -> None:
    assert normalise_allergen("ICE CREAM") == "ice cream"
    assert normalise_allergen("Corn syrup") == "corn syrup"


def test_a_text_of_strength_alone_is_kept_rather_than_emptied() -> None:
    assert normalise_allergen("500 mg") == "500 mg"
    assert normalise_allergen("tab") == "tablet"


def test_an_abbreviation_is_searched_expanded_and_as_written() -> None:
    assert query_variants("PCN") == [(["penicillin"], True), (["pcn"], False)]
    assert (["angiotensin", "converting", "enzyme", "inhibitor"], True) in query_variants("ACEI")


def test_words_keep_strength_and_form_that_the_core_leaves_out() -> None:
    words = key_words("Amoxicillin 500mg cap")
    assert words == ["amoxicillin", "500", "mg", "capsule"]
    assert core_words(words) == ["amoxicillin"]


def test_penicillin_g_is_not_read_as_a_gram() -> None:
    assert core_words(key_words("penicillin G 5 g")) == ["penicillin", "g"]


def test_a_snomed_qualifier_and_semantic_tag_are_split_off() -> None:
    assert without_tag("salt - food (substance)", "substance") == "salt - food"
    assert without_tag("salt - food substance", "substance") == "salt - food"
    assert split_qualifier("salt - food") == ("salt", "food")
    assert split_qualifier("co-trimoxazole") == ("co-trimoxazole", "")


@pytest.mark.parametrize("word", ["allergy", "peach", "glass", "virus", "analysis", "asa", "mso4"])
def test_singular_leaves_singular_words_alone(word: str) -> None:
    assert singular(word) == word


# --- table invariants ------------------------------------------------------------------------------------------


def _table_outputs():
    for value in SPELLING.values():
        yield from value
    for value in PHRASES.values():
        yield from value
    for forms in ABBREVIATIONS.values():
        for form in forms:
            yield from form


@pytest.mark.parametrize("word", sorted(set(_table_outputs())))
def test_every_word_the_tables_produce_is_already_canonical(word: str) -> None:
    assert canonical_token(word) == (word,)


@pytest.mark.parametrize("key", sorted(ABBREVIATIONS))
def test_abbreviation_keys_are_written_as_the_tokeniser_reads_them(key: tuple[str, ...]) -> None:
    assert tuple(part for token in key for part in canonical_token(token)) == key


# --- properties ------------------------------------------------------------------------------------------------

PHARMACY_TOKENS = st.sampled_from([
    "amoxicillin", "500", "mg", "500mg", "tab", "tabs", "cap", "ER", "XL", "hcl", "HCl", "sodium", "potassium",
    "sulfate", "sulphate", "G", "V", "VK", "PCN", "pen", "SMX", "TMP", "co", "trimoxazole", "sulfa", "drugs",
    "MS", "mso4", "10", "mg/ml", "%", "0.5", "inj", "oral", "solution", "the", "of", "to", "-", "/", "(", ")",
    "calcium", "chloride", "paracetamol", "NSAIDs", "ACE", "i", "5", "FU", "unit", "ml", "dietary", "nos",
])
PHARMACY_TEXT = st.lists(PHARMACY_TOKENS, max_size=8).map(" ".join) | st.lists(PHARMACY_TOKENS, max_size=6).map("".join)


@settings(max_examples=400)
@given(st.text() | PHARMACY_TEXT)
@example("\u00df\u0301")  # casefold -> "ss" + accent; a second NFKC joins them
@example("5 hcl mg cat")  # dropping the salt makes "5 mg" a strength on the next pass
@example("sulfa drug drug")
@example("\u00a8")
def test_normalising_twice_changes_nothing(text: str) -> None:
    once = normalise_allergen(text)
    assert normalise_allergen(once) == once


@settings(max_examples=400)
@given(st.text() | PHARMACY_TEXT)
@example("500 mg")
@example("tab")
@example("!!!")
@example("of the")
def test_a_name_that_is_not_blank_never_normalises_to_nothing(text: str) -> None:
    if text.strip():
        assert normalise_allergen(text)


@settings(max_examples=300)
@given(st.text() | PHARMACY_TEXT)
def test_words_of_words_are_the_same_words(text: str) -> None:
    words = key_words(text)
    assert key_words(" ".join(words)) == words
