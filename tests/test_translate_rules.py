"""Each translation rule, shown with real codes of the demo set, on SQLite and PostgreSQL.

Validated answers come only from curated mappings, the negation rules and the loaded releases'
own content; everything else is unvalidated or unmapped, keeps the original, and is queued.
"""
from __future__ import annotations

import pytest

from mappings.cache import TranslationCache
from mappings.curated import Decision, Relationship, Target, record_mapping
from mappings.engine import translate
from mappings.review_queue import get_entry
from mappings.translation import Context, Rule, SourceCoding, Status, TranslateRequest
from terminology.errors import InvalidRequest, UnknownTargetSystem
from terminology.systems import NDC, RXNORM, SNOMED
from tests.conftest import DEMO_LOCAL_SYSTEM as LOCAL


def ask(engine, system=None, code=None, display=None, text=None, target=SNOMED, context="allergy", sender="feed",
        cache=None):
    request = TranslateRequest(SourceCoding(system, code, display), text, target, Context(context), sender)
    with engine.begin() as connection:
        return translate(connection, request, cache=cache)


def codes(answer) -> list[tuple[str, str]]:
    return [(m.code, m.rule.value) for m in answer.matches]


def test_a_curated_mapping_answers_validated_with_its_id_and_version(demo_store):
    with demo_store.begin() as connection:
        mapping = record_mapping(
            connection, source_system=LOCAL, source_code="AMOXY", source_text=None, context="allergy",
            target_system=SNOMED, decision=Decision.MAPPED,
            targets=[Target(SNOMED, "372687004", "Amoxicillin", Relationship.EQUIVALENT)],
            author="pharm.jones", reason="misspelt amoxicillin", origin="review:test",
        )
    answer = ask(demo_store, LOCAL, "AMOXY", text="Amoxycilin")
    assert answer.status is Status.MAPPED and answer.review is None
    (match,) = answer.matches
    assert (match.code, match.rule, match.validated) == ("372687004", Rule.CURATED, True)
    assert match.mapping == (mapping.mapping_id, 1)


@pytest.mark.parametrize("text, code", [("NKDA", "409137002"), ("No known drug allergies", "409137002"),
                                        ("No Known Allergies", "716186003"), ("no known food allergy", "429625007")])
def test_no_known_allergy_statements_answer_the_snomed_situation_never_unmapped(demo_store, text, code):
    answer = ask(demo_store, "urn:oid:2.16.840.1.113883.99", "NK1", text=text)
    assert answer.status is Status.MAPPED
    assert codes(answer) == [(code, "negation")]


def test_no_known_latex_allergy_uses_the_concept_the_loaded_edition_holds(demo_store):
    answer = ask(demo_store, LOCAL, "NKLA", text="No Known Latex Allergy")
    assert codes(answer) == [("716184000", "negation")]


def test_an_inactive_snomed_concept_follows_same_as_and_replaced_by_validated(demo_store):
    same_as = ask(demo_store, SNOMED, "127072000", target=SNOMED)
    assert same_as.status is Status.MAPPED
    assert codes(same_as) == [("473011001", "historical")]
    replaced = ask(demo_store, SNOMED, "311980000", target=SNOMED, context="medication")
    assert codes(replaced) == [("410942007", "historical")]
    assert "REPLACED BY" in replaced.matches[0].steps[0]


def test_possibly_equivalent_to_is_unvalidated_and_queued(demo_store):
    answer = ask(demo_store, SNOMED, "74069000", target=SNOMED)
    assert answer.status is Status.UNVALIDATED
    assert sorted(codes(answer)) == [("416093006", "historical"), ("416098002", "historical")]
    assert answer.review is not None and answer.review.status == "open"


def test_rxnorm_and_snomed_translate_both_ways_through_the_rxnconso_crosswalk(demo_store):
    to_snomed = ask(demo_store, RXNORM, "1191", target=SNOMED)
    assert (to_snomed.status, codes(to_snomed)) == (Status.MAPPED, [("387458008", "crosswalk")])
    assert to_snomed.matches[0].release.startswith(RXNORM)
    to_rxnorm = ask(demo_store, SNOMED, "387458008", target=RXNORM)
    assert (to_rxnorm.status, codes(to_rxnorm)) == (Status.MAPPED, [("1191", "crosswalk")])


def test_an_ndc_resolves_to_its_rxnorm_product_and_for_an_allergy_to_the_ingredient(demo_store):
    medication = ask(demo_store, NDC, "00093117201", target=RXNORM, context="medication")
    assert (medication.status, [m.code for m in medication.matches]) == (Status.MAPPED, ["834061"])
    allergy = ask(demo_store, NDC, "0093-1172-01", target=RXNORM, context="allergy")
    assert (allergy.status, codes(allergy)) == (Status.MAPPED, [("7984", "ingredient")])
    assert allergy.matches[0].relationship is Relationship.SOURCE_NARROWER


def test_a_branded_product_recorded_as_an_allergy_means_its_ingredient(demo_store):
    answer = ask(demo_store, RXNORM, "731568", target=RXNORM, context="allergy")  # Bicillin L-A syringe (SBD)
    assert answer.status is Status.MAPPED
    assert [(m.code, m.display, m.rule.value) for m in answer.matches] == [("7980", "penicillin G", "ingredient")]
    as_medication = ask(demo_store, RXNORM, "731568", target=RXNORM, context="medication")
    assert codes(as_medication) == [("731568", "identity")]


def test_a_snomed_product_recorded_as_an_allergy_means_its_active_ingredient(demo_store):
    answer = ask(demo_store, SNOMED, "27658006", target=SNOMED, context="allergy")
    assert (answer.status, codes(answer)) == (Status.MAPPED, [("372687004", "ingredient")])


def test_a_local_tables_own_target_is_unvalidated_until_a_pharmacist_approves_it(demo_store):
    answer = ask(demo_store, LOCAL, "PCN", text="Penicillins")
    assert answer.status is Status.UNVALIDATED
    assert codes(answer) == [("373270004", "local-table")]
    assert answer.review is not None


def test_a_lexical_only_hit_is_unvalidated_and_queued(demo_store):
    answer = ask(demo_store, "urn:oid:2.16.840.1.113883.99", "C-77", text="cefdinir ")
    assert answer.status is Status.UNVALIDATED
    assert codes(answer) == [("108677001", "lexical")]
    with demo_store.connect() as connection:
        assert get_entry(connection, answer.review.id).reason == "unvalidated"


def test_a_typo_is_unmapped_with_ranked_candidates_and_the_original_kept_exactly(demo_store):
    answer = ask(demo_store, LOCAL, "AMOXY", display="Amoxycilin", text="  Amoxycilin 500mg cap ", sender="ed-feed")
    assert answer.status is Status.UNMAPPED and not answer.matches
    assert answer.candidates and answer.candidates[0].code == "372687004"
    assert answer.original == {"source": {"system": LOCAL, "code": "AMOXY", "display": "Amoxycilin"},
                               "text": "  Amoxycilin 500mg cap "}
    with demo_store.connect() as connection:
        entry = get_entry(connection, answer.review.id)
    assert entry.original == answer.original and entry.senders == {"ed-feed": 1}


def test_an_unknown_source_system_is_kept_and_queued_not_an_error(demo_store):
    answer = ask(demo_store, "urn:example:never-loaded", "Z9", text="Zzyzx root")
    assert answer.status is Status.UNMAPPED and answer.review is not None


def test_an_unknown_target_system_is_an_error_that_names_it(demo_store):
    with pytest.raises(UnknownTargetSystem, match="urn:example:nowhere"):
        ask(demo_store, RXNORM, "1191", target="urn:example:nowhere")


def test_a_request_with_neither_code_nor_text_is_refused():
    with pytest.raises(InvalidRequest, match="source.code or text"):
        TranslateRequest(SourceCoding("urn:x", None, None), "  ", SNOMED, Context.ALLERGY)


def test_a_cached_unmapped_answer_still_counts_every_occurrence(demo_sqlite):
    cache = TranslationCache(check_every=60)
    first = ask(demo_sqlite, LOCAL, "IBUF", text="Ibuprofin", cache=cache, sender="a")
    second = ask(demo_sqlite, LOCAL, "IBUF", text="IBUPROFIN", cache=cache, sender="b")
    assert cache.hits == 1 and first.review.id == second.review.id
    assert second.original["text"] == "IBUPROFIN"
    with demo_sqlite.connect() as connection:
        assert get_entry(connection, first.review.id).occurrences == 2


def test_a_curated_decision_is_seen_by_a_cache_once_it_refreshes(demo_sqlite):
    cache = TranslationCache(check_every=0)
    cache.refresh(demo_sqlite)
    assert ask(demo_sqlite, LOCAL, "IBUF", text="Ibuprofin", cache=cache).status is Status.UNMAPPED
    with demo_sqlite.begin() as connection:
        record_mapping(connection, source_system=LOCAL, source_code="IBUF", source_text=None, context="allergy",
                       target_system=SNOMED, decision=Decision.MAPPED,
                       targets=[Target(SNOMED, "387207008", "Ibuprofen")], author="pharm", reason="typo",
                       origin="review:test")
    cache.refresh(demo_sqlite)
    assert codes(ask(demo_sqlite, LOCAL, "IBUF", text="Ibuprofin", cache=cache)) == [("387207008", "curated")]


def test_an_answer_computed_before_an_invalidation_is_not_kept(demo_sqlite):
    cache = TranslationCache(check_every=60)
    request = TranslateRequest(SourceCoding(LOCAL, "IBUF", None), "Ibuprofin", SNOMED, Context.ALLERGY)
    started = cache.generation
    with demo_sqlite.begin() as connection:
        answer = translate(connection, request)
    cache.invalidate()  # a decision committed while that answer was being computed
    cache.put(("k",) * 5, answer, started)
    assert cache.get(("k",) * 5) is None
