"""Candidate search on the demo set: domain-aware ranking, context filtering, brands, and the index's life."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mappings.engine import translate
from mappings.translation import Context, SourceCoding, TranslateRequest
from terminology import candidate_index
from terminology.model import Concept
from terminology.search import query_forms, rank_candidates, search
from tests.conftest import DEMO

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
PENICILLINS = {"373270004", "323389000", "372725003"}  # penicillin class, benzylpenicillin, phenoxymethylpenicillin


def codes(found) -> list[str]:
    return [candidate.concept.code for candidate in found]


def ask(engine, text, system=SNOMED, **options):
    with engine.connect() as connection:
        return search(connection, text, system, **options)


def test_a_misspelt_amoxycilin_ranks_the_amoxicillin_substance_first(demo_store):
    found = ask(demo_store, "Amoxycilin", context="allergy")
    assert codes(found)[0] == "372687004"
    assert found[0].term == "Amoxicillin" and 0 < found[0].score < 100


def test_strength_and_dose_form_do_not_hide_the_substance(demo_sqlite):
    assert codes(ask(demo_sqlite, "Amoxicillin 500mg cap", context="allergy"))[0] == "372687004"


def test_pcn_finds_a_penicillin_concept_in_the_top_five(demo_sqlite):
    assert PENICILLINS & set(codes(ask(demo_sqlite, "PCN", context="allergy", limit=5)))


def test_paracetamol_and_acetaminophen_find_each_other(demo_sqlite):
    assert codes(ask(demo_sqlite, "acetaminophen", context="allergy"))[0] == "387517004"  # Paracetamol
    assert codes(ask(demo_sqlite, "Paracetamol", RXNORM, context="allergy"))[0] == "161"  # acetaminophen


def test_sulfa_drugs_find_the_sulfonamide_class(demo_sqlite):
    assert codes(ask(demo_sqlite, "Sulfa drugs", context="allergy"))[0] == "763875007"


def test_a_salt_form_finds_both_the_salt_and_its_base(demo_sqlite):
    found = codes(ask(demo_sqlite, "Penicillin G Potassium", RXNORM, context="allergy", limit=3))
    assert found[0] == "203133" and "7980" in found  # penicillin G potassium (PIN), penicillin G (IN)


def test_tylenol_a_brand_finds_acetaminophen_through_rxnorm(demo_sqlite):
    assert "387517004" in codes(ask(demo_sqlite, "Tylenol", context="allergy", limit=3))
    assert "161" in codes(ask(demo_sqlite, "Tylenol", RXNORM, context="allergy", limit=3))


def test_a_brand_name_with_a_tradename_link_finds_its_ingredient(demo_sqlite):
    assert codes(ask(demo_sqlite, "Pfizerpen", context="allergy"))[0] == "323389000"  # benzylpenicillin
    assert codes(ask(demo_sqlite, "Pfizerpen", RXNORM, context="allergy"))[0] == "7980"  # penicillin G


def test_without_rxnorm_a_brand_name_is_only_text(sqlite_store):
    from loaders.rf2 import load_rf2

    load_rf2(sqlite_store, DEMO / "snomed")
    assert "387517004" not in codes(ask(sqlite_store, "Tylenol", context="allergy"))


def test_allergy_context_excludes_products(demo_sqlite):
    found = ask(demo_sqlite, "amoxicillin", None, context="allergy", limit=20)
    kinds = {c.concept.kind for c in found if c.concept.system in (SNOMED, RXNORM)}
    assert "372687004" in codes(found)
    assert not kinds & {"SCD", "SBD", "clinical drug"}


def test_medication_context_prefers_products(demo_sqlite):
    medication = ask(demo_sqlite, "Amoxicillin 500 mg tab", RXNORM, context="medication")
    assert codes(medication)[0] == "308192"  # Amoxicillin 500 MG Oral Tablet
    product_first = codes(ask(demo_sqlite, "amoxicillin", context="medication"))
    assert product_first.index("27658006") < product_first.index("372687004")
    assert codes(ask(demo_sqlite, "amoxicillin", context="allergy"))[0] == "372687004"


def test_an_allergy_finding_can_be_a_candidate_in_allergy_context(demo_sqlite):
    assert codes(ask(demo_sqlite, "peanut allergy", context="allergy"))[0] == "91935009"


def test_no_context_searches_every_kind(demo_sqlite):
    found = ask(demo_sqlite, "Allergic drug reaction", limit=3)
    assert codes(found)[0] in {"74069000", "416093006"}  # disorders: neither allergen nor product


def test_context_can_be_the_engines_enum_and_an_unknown_one_is_refused(demo_sqlite):
    assert codes(ask(demo_sqlite, "amoxicillin", context=Context.ALLERGY))[0] == "372687004"
    with pytest.raises(ValueError, match="unknown search context"):
        ask(demo_sqlite, "amoxicillin", context="lab")


def test_blank_text_or_an_unloaded_system_has_no_candidates(demo_sqlite):
    assert ask(demo_sqlite, "   ") == []
    assert ask(demo_sqlite, "amoxicillin", "http://loinc.org") == []


def test_unmapped_translation_suggests_for_its_context(demo_sqlite):
    def suggestions(context: Context) -> list[str]:
        request = TranslateRequest(SourceCoding("urn:example:local", "X1", None), "amoxicilin", SNOMED, context)
        with demo_sqlite.begin() as connection:
            return [s.code for s in translate(connection, request).candidates]

    assert suggestions(Context.ALLERGY)[0] == "372687004"
    assert suggestions(Context.MEDICATION)[0] == "27658006"


def test_rank_candidates_ranks_given_terms_one_per_concept():
    amoxicillin = Concept(SNOMED, "372687004", "Amoxicillin", True, "substance")
    tablet = Concept(RXNORM, "308192", "Amoxicillin 500 MG Oral Tablet", True, "SCD")
    found = [(amoxicillin, "Amoxicillin (substance)"), (amoxicillin, "Amoxicillin"), (tablet, tablet.display)]
    ranked = rank_candidates("Amoxycillin 500mg", found, context="allergy")
    assert [c.concept.code for c in ranked] == ["372687004"]  # one per concept; the tablet is a product
    assert 95 < ranked[0].score < 100  # the core matches; the strength the text adds costs a little


# --- the index ------------------------------------------------------------------------------------------------


def _rf2(folder: Path, concepts: dict[str, str]) -> Path:
    """A tiny RF2 Snapshot: one FSN (substance) and one synonym per concept."""
    terminology = folder / "Snapshot" / "Terminology"
    terminology.mkdir(parents=True)
    rows = ["id\teffectiveTime\tactive\tmoduleId\tdefinitionStatusId"]
    rows += [f"{code}\t20260101\t1\t900000000000207008\t900000000000074008" for code in concepts]
    (terminology / "sct2_Concept_Snapshot_INT_20260101.txt").write_text("\r\n".join(rows) + "\r\n")
    rows = ["id\teffectiveTime\tactive\tmoduleId\tconceptId\tlanguageCode\ttypeId\tterm\tcaseSignificanceId"]
    for n, (code, term) in enumerate(concepts.items()):
        rows.append(f"{n + 1}00011{n % 10}\t20260101\t1\t900000000000207008\t{code}\ten\t900000000000003001\t"
                    f"{term} (substance)\t900000000000448009")
        rows.append(f"{n + 1}00012{n % 10}\t20260101\t1\t900000000000207008\t{code}\ten\t900000000000013009\t"
                    f"{term}\t900000000000448009")
    (terminology / "sct2_Description_Snapshot-en_INT_20260101.txt").write_text("\r\n".join(rows) + "\r\n")
    return folder


def test_the_index_follows_a_release_switch(demo_sqlite, tmp_path):
    from loaders.rf2 import load_rf2

    before = ask(demo_sqlite, "cefditoren", context="allergy")
    assert "1000001008" not in codes(before)
    load_rf2(demo_sqlite, _rf2(tmp_path / "rf2", {"1000001008": "Cefditoren", "108677001": "Cefdinir"}))
    after = ask(demo_sqlite, "cefditoren", context="allergy")
    assert codes(after)[0] == "1000001008" and after[0].term == "Cefditoren"
    assert codes(ask(demo_sqlite, "amoxicillin", context="allergy")) == []  # not in the new release
    with demo_sqlite.connect() as connection:
        active = {r for r in candidate_index.active_releases(connection)}
    cached = {release for kind, release in candidate_index.cached() if release.store == next(iter(active)).store}
    assert {r.system for r in cached} <= {r.system for r in active} and cached <= active  # the old one was dropped


def test_warm_builds_every_active_release_once(demo_sqlite):
    with demo_sqlite.connect() as connection:
        first = candidate_index.warm(connection)
        again = candidate_index.warm(connection)
    assert set(first) == {SNOMED, RXNORM, "https://demo-hospital.example.org/fhir/CodeSystem/allergens",
                          "https://demo-hospital.example.org/fhir/CodeSystem/formulary"}
    assert sum(again.values()) <= sum(first.values())


def test_an_index_keys_designations_by_their_canonical_words(demo_sqlite):
    with demo_sqlite.connect() as connection:
        release = next(r for r in candidate_index.active_releases(connection) if r.system == SNOMED)
        index = candidate_index.release_index(connection, release)
    keys = {index.key(doc) for doc in range(index.size)}
    assert "amoxicillin" in keys and "acetaminophen" in keys  # "Amoxicillin (substance)", "Paracetamol"
    assert candidate_index.designation_key("Peanut - dietary (substance)", "substance") == "peanut | dietary"
    assert candidate_index.doc_forms("peanut | dietary") == ("peanut dietary", "peanut")


def test_the_index_holds_each_designation_under_the_key_designation_key_gives(demo_store):
    from sqlalchemy import select

    from terminology import schema

    d, c = schema.designations, schema.concepts
    with demo_store.connect() as connection:
        for release in candidate_index.active_releases(connection):
            index = candidate_index.release_index(connection, release)
            rows = connection.execute(
                select(d.c.term, d.c.type, c.c.kind)
                .select_from(d.join(c, (c.c.release_id == d.c.release_id) & (c.c.code == d.c.code)))
                .where(d.c.release_id == release.id)
            ).all()
            expected = {candidate_index.designation_key(r.term, r.kind if r.type == "fsn" else None) for r in rows}
            assert {index.key(doc) for doc in range(index.size)} == expected


@settings(max_examples=200)
@given(st.text())
@example("Salt - food (substance)")
@example(" - ")
def test_query_forms_and_designation_keys_never_raise(text: str) -> None:
    for form in query_forms(text):
        assert form.words and form.full
    key = candidate_index.designation_key(text, "substance")
    full, core = candidate_index.doc_forms(key)
    assert bool(core) == bool(full)
