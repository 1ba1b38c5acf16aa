"""POST /v1/transform appends target codings to FHIR resources and changes nothing else."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from mappings.curated import Decision, Relationship, Target, record_mapping
from mappings.resource_transform import PROVENANCE_URL, REVIEW_ENTRY_URL
from mappings.review_queue import get_entry
from terminology.systems import RXNORM, SNOMED, TERMMAP

from .conftest import DEMO_FORMULARY_SYSTEM, DEMO_LOCAL_SYSTEM

ATC = "http://www.whocc.no/atc"
UNVALIDATED_TAG = {"system": TERMMAP, "code": "unvalidated", "display": "termmap could not validate a mapping"}
COUNTS = ("mapped", "unvalidated", "unmapped", "already-coded", "skipped")


# ---------------------------------------------------------------- the diff the key test rests on


class Number(str):
    """A JSON number as written, so 1.50 and 1.5 (or 1 and 1.0) differ as they do in FHIR."""


def parse(raw: bytes | str) -> Any:
    return json.loads(raw, parse_float=Number, parse_int=Number)


def only_additions(before: Any, after: Any, path: str = "") -> list[str]:
    """Paths where `after` is not `before` plus added keys and appended list elements."""
    if isinstance(before, dict):
        if not isinstance(after, dict):
            return [f"{path or '$'}: was an object"]
        problems = [f"{_at(path, key)}: removed" for key in before if key not in after]
        kept = [key for key in after if key in before]
        if kept != [key for key in before if key in after]:
            problems.append(f"{path or '$'}: keys reordered")
        for key in before:
            if key in after:
                problems += only_additions(before[key], after[key], _at(path, key))
        return problems
    if isinstance(before, list):
        if not isinstance(after, list):
            return [f"{path or '$'}: was a list"]
        if len(after) < len(before):
            return [f"{path or '$'}: lost {len(before) - len(after)} element(s)"]
        return [p for index, item in enumerate(before) for p in only_additions(item, after[index], f"{path}[{index}]")]
    if type(before) is not type(after) or before != after:
        return [f"{path or '$'}: {before!r} became {after!r}"]
    return []


def additions(before: Any, after: Any, path: str = "") -> list[str]:
    """Paths of what `after` adds to `before` (added keys, appended elements); assumes `only_additions` is empty."""
    found: list[str] = []
    if isinstance(before, dict):
        for key in after:
            found += [_at(path, key)] if key not in before else additions(before[key], after[key], _at(path, key))
    elif isinstance(before, list):
        found += [f"{path}[{index}]" for index in range(len(before), len(after))]
        for index, item in enumerate(before):
            found += additions(item, after[index], f"{path}[{index}]")
    return found


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


#: Where the documented additions may appear: codings and extensions of the translated concepts, meta.tag.
_CONCEPT = r"(code|substance|medicationCodeableConcept|concept|vaccineCode|itemCodeableConcept)"
DOCUMENTED = re.compile(
    rf"^(.*\.)?{_CONCEPT}\.(coding|extension)(\[\d+\])?$"
    r"|^(.*\.resource\.)?meta(\.tag(\[\d+\])?)?$"
)


def test_only_additions_accepts_appended_codings_tags_and_extensions():
    before = parse(b'{"resourceType":"AllergyIntolerance","code":{"coding":[{"system":"a","code":"1"}],"text":"x"}}')
    after = copy.deepcopy(before)
    after["code"]["coding"].append({"system": "b", "code": "2"})
    after["code"]["extension"] = [{"url": "u", "valueString": "v"}]
    after["meta"] = {"tag": [UNVALIDATED_TAG]}
    assert only_additions(before, after) == []
    assert additions(before, after) == ["code.coding[1]", "code.extension", "meta"]
    assert all(DOCUMENTED.match(p) for p in additions(before, after))


def test_only_additions_reports_every_kind_of_change():
    before = parse(b'{"a":{"x":1,"y":2},"list":[{"c":"1"},{"c":"2"}],"n":1.50,"t":"text"}')
    after = parse(b'{"a":{"y":2,"x":1},"list":[{"c":"0"},{"c":"1"},{"c":"2"}],"n":1.5,"t":"text "}')
    assert only_additions(before, after) == [
        "a: keys reordered",
        "list[0].c: '1' became '0'",
        "list[1].c: '2' became '1'",
        "n: '1.50' became '1.5'",
        "t: 'text' became 'text '",
    ]
    assert only_additions({"a": [1, 2]}, {"a": [1]}) == ["a: lost 1 element(s)"]
    assert only_additions({"a": 1, "b": 2}, {"b": 2}) == ["a: removed"]


# ---------------------------------------------------------------- fixtures and helpers


def post(client, body: Any, target: str = SNOMED, headers: dict | None = None, **params):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/v1/transform", params={"target_system": target, **params}, content=raw,
                       headers={"Content-Type": "application/fhir+json", **(headers or {})})


def counts(response) -> dict[str, int]:
    return {name: int(response.headers[f"X-Termmap-{name.title()}"]) for name in COUNTS}


def allergy(*codings: dict, text: str | None = None, **extra) -> dict:
    code: dict[str, Any] = {"coding": list(codings)}
    if text is not None:
        code["text"] = text
    return {"resourceType": "AllergyIntolerance", "id": "a1", "code": code,
            "patient": {"reference": "Patient/p1"}, **extra}


def provenance(coding: dict) -> dict[str, Any]:
    (extension,) = [e for e in coding["extension"] if e["url"] == PROVENANCE_URL]
    return {e["url"]: next(v for k, v in e.items() if k.startswith("value")) for e in extension["extension"]}


def review_id(concept: dict) -> str:
    (extension,) = [e for e in concept["extension"] if e["url"] == REVIEW_ENTRY_URL]
    return extension["valueString"]


def entry(engine, entry_id: str):
    with engine.connect() as connection:
        return get_entry(connection, entry_id)


# ---------------------------------------------------------------- the key test: only additions, on real bundles


def _samples() -> list[Path]:
    from .conftest import SHARED_DATA

    fhir = SHARED_DATA / "fhir"
    return sorted((fhir / "synthea-r4-bundles").glob("*.json")) + [fhir / "ips-examples" / "bundle-minimal.json"]


KINDS = {"AllergyIntolerance", "MedicationRequest", "MedicationStatement", "Medication"}


def assert_only_documented_additions(raw: bytes, response, target: str) -> list[str]:
    """The answer is `raw` plus additions at the documented places only; returns their paths."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    before, after = parse(raw), parse(response.content)
    assert only_additions(before, after) == []
    added = additions(before, after)
    assert [p for p in added if not DOCUMENTED.match(p)] == []

    counted = counts(response)
    review_extensions = [p for p in added if re.search(r"\.extension(\[\d+\])?$", p)]
    assert len(review_extensions) == counted["unvalidated"] + counted["unmapped"]
    assert len([p for p in added if re.search(r"\.coding(\[\d+\])?$", p)]) >= counted["mapped"] + counted["unvalidated"]
    for old, new in zip(before["entry"], after["entry"]):
        if old["resource"]["resourceType"] not in KINDS:
            assert new == old  # other entries pass through untouched
    for p in added:
        node = _get(after, p)
        if re.search(r"\.coding\[\d+\]$", p):
            assert set(provenance(node)) >= {"rule", "relationship", "validated"}
            assert node["system"] in (target, SNOMED)  # SNOMED: a negation has no RxNorm concept
        elif re.search(r"\.extension\[\d+\]$", p):
            assert node["url"] == REVIEW_ENTRY_URL
        elif p.endswith(".meta"):
            assert node == {"tag": [UNVALIDATED_TAG]}
        elif re.search(r"\.meta\.tag(\[\d+\])?$", p):
            assert node in (UNVALIDATED_TAG, [UNVALIDATED_TAG])
    return added


@pytest.mark.shared_data
@pytest.mark.parametrize("target", [SNOMED, RXNORM], ids=["to-snomed", "to-rxnorm"])
@pytest.mark.parametrize("sample", ["Kermit_Trantow", "Reyna_Ziemann", "Judson_Eichmann", "Blair_Conroy",
                                    "bundle-minimal"])
def test_a_real_bundle_comes_back_with_only_additions_at_the_documented_places(shared_data, client, sample, target):
    (path,) = [p for p in _samples() if p.name.startswith(sample)]
    raw = path.read_bytes()
    response = post(client, raw, target, headers={"X-Termmap-Sender": "synthea"})
    added = assert_only_documented_additions(raw, response, target)
    counted = counts(response)
    if sample == "bundle-minimal" and target == SNOMED:
        assert counted["already-coded"] == 2 and added == []  # its allergy and medication are SNOMED-coded
    else:
        assert added, "allergies and medications coded in another system get something added"
    looked_at = sum(1 for e in parse(raw)["entry"] if e["resource"]["resourceType"] in KINDS - {"MedicationStatement"})
    assert sum(counted.values()) >= looked_at


@pytest.mark.shared_data
@pytest.mark.parametrize("target", [SNOMED, RXNORM], ids=["to-snomed", "to-rxnorm"])
def test_bulk_export_allergies_in_a_bundle_come_back_with_only_additions(shared_data, client, target):
    """One AllergyIntolerance per allergen code of the 1000-patient export, each line's bytes as exported."""
    lines, codes = [], set()
    for line in (shared_data / "fhir/synthea-bulk-ndjson/1000-patients/AllergyIntolerance.000.ndjson").open("rb"):
        code = json.loads(line)["code"]["coding"][0]["code"]
        if code not in codes:
            codes.add(code)
            lines.append(line.strip())
    raw = b'{"resourceType":"Bundle","type":"collection","entry":[' + \
        b",".join(b'{"resource":' + line + b"}" for line in lines) + b"]}"
    response = post(client, raw, target)
    assert_only_documented_additions(raw, response, target)
    after = response.json()
    if target == SNOMED:
        appended = {e["resource"]["code"]["coding"][0]["code"]: e["resource"]["code"]["coding"][1]["code"]
                    for e in after["entry"] if len(e["resource"]["code"]["coding"]) > 1}
        assert appended == {"1191": "387458008", "5640": "387207008", "29046": "386873009", "25037": "108677001"}
        assert counts(response)["mapped"] == 4


def _get(document: Any, path: str) -> Any:
    node = document
    for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        node = node[key] if key else node[int(index)]
    return node


# ---------------------------------------------------------------- what gets appended


def test_allergy_to_an_rxnorm_ingredient_gets_its_snomed_substance_appended(client, demo_sqlite):
    sent = allergy({"system": RXNORM, "code": "1191", "display": "aspirin"}, text="Aspirin (rash 2019)")
    response = post(client, sent)
    assert response.status_code == 200, response.text
    assert counts(response) == {"mapped": 1, "unvalidated": 0, "unmapped": 0, "already-coded": 0, "skipped": 0}
    got = response.json()
    original, appended = got["code"]["coding"]
    assert original == sent["code"]["coding"][0]
    assert got["code"]["text"] == "Aspirin (rash 2019)"
    assert {k: appended[k] for k in ("system", "code", "display")} == \
        {"system": SNOMED, "code": "387458008", "display": "Aspirin"}
    assert provenance(appended) == {"rule": "crosswalk", "relationship": "equivalent", "validated": True,
                                    "release": provenance(appended)["release"]}
    assert "meta" not in got and "extension" not in got["code"]


def test_an_unmapped_local_code_gets_a_review_tag_and_extension_and_keeps_its_text(client, demo_sqlite):
    text = "  Amoxycilin — hives ×2 (per mum) "
    sent = allergy({"system": DEMO_LOCAL_SYSTEM, "code": "AMOXY", "display": "Amoxycilin"}, text=text,
                   meta={"tag": [{"system": "https://example.org/tags", "code": "feed-a"}]})
    response = post(client, sent, headers={"X-Termmap-Sender": "ed-feed"})
    assert response.status_code == 200, response.text
    assert counts(response)["unmapped"] == 1
    got = response.json()
    assert got["code"]["coding"] == sent["code"]["coding"]
    assert got["code"]["text"] == text
    assert got["meta"]["tag"] == [sent["meta"]["tag"][0], UNVALIDATED_TAG]
    queued = entry(demo_sqlite, review_id(got["code"]))
    assert (queued.source_code, queued.context, queued.occurrences, queued.senders) == \
        ("AMOXY", "allergy", 1, {"ed-feed": 1})
    assert queued.original == {"source": {"system": DEMO_LOCAL_SYSTEM, "code": "AMOXY", "display": "Amoxycilin"},
                               "text": text}


def test_an_unvalidated_local_table_target_is_appended_marked_unvalidated_and_queued(client, demo_sqlite):
    response = post(client, allergy({"system": DEMO_LOCAL_SYSTEM, "code": "PCN", "display": "Penicillins"}))
    assert counts(response)["unvalidated"] == 1
    got = response.json()
    appended = got["code"]["coding"][1]
    assert (appended["system"], appended["code"]) == (SNOMED, "373270004")
    assert provenance(appended)["rule"] == "local-table" and provenance(appended)["validated"] is False
    assert got["meta"] == {"tag": [UNVALIDATED_TAG]}
    assert entry(demo_sqlite, review_id(got["code"])).reason == "unvalidated"


def test_a_medication_request_scd_gets_the_pharmacists_snomed_product_for_medication_context(client, demo_sqlite):
    with demo_sqlite.begin() as connection:
        mapping = record_mapping(
            connection, source_system=RXNORM, source_code="308192", source_text=None, context="medication",
            target_system=SNOMED, decision=Decision.MAPPED,
            targets=[Target(SNOMED, "27658006", "Amoxicillin-containing product", Relationship.SOURCE_NARROWER)],
            author="pharmacist-1", reason="formulary review", origin="test",
        )
    sent = {"resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "308192",
                                                      "display": "Amoxicillin 500 MG Oral Tablet"}],
                                          "text": "Amoxicillin 500 MG Oral Tablet"},
            "subject": {"reference": "Patient/p1"}}
    response = post(client, sent)
    assert counts(response)["mapped"] == 1
    got = response.json()
    assert only_additions(sent, got) == []
    appended = got["medicationCodeableConcept"]["coding"][1]
    assert (appended["code"], appended["display"]) == ("27658006", "Amoxicillin-containing product")
    assert provenance(appended) == {"rule": "curated", "relationship": "source-is-narrower-than-target",
                                    "validated": True, "release": f"curated mapping {mapping.mapping_id} v1",
                                    "mapping": mapping.mapping_id, "mappingVersion": 1}


def test_a_medication_request_scd_without_a_snomed_equivalent_is_not_reduced_to_an_ingredient(client, demo_sqlite):
    sent = {"resourceType": "MedicationRequest", "id": "m2", "status": "active", "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "834061"}]},
            "subject": {"reference": "Patient/p1"}}
    got = post(client, sent).json()
    assert got["medicationCodeableConcept"]["coding"] == sent["medicationCodeableConcept"]["coding"]
    assert entry(demo_sqlite, review_id(got["medicationCodeableConcept"])).context == "medication"


def test_a_concept_already_coded_in_the_target_system_is_left_as_it_is(client):
    sent = allergy({"system": DEMO_LOCAL_SYSTEM, "code": "PCN"},
                   {"system": "http://snomed.info/sct/731000124108", "code": "91936005"})
    response = post(client, sent)
    assert response.json() == sent
    assert counts(response)["already-coded"] == 1


def test_the_first_coding_of_a_loaded_system_is_the_one_translated(client, demo_sqlite):
    sent = allergy({"system": ATC, "code": "N02BA01", "display": "acetylsalicylic acid"},
                   {"system": RXNORM, "code": "1191"})
    got = post(client, sent).json()
    assert got["code"]["coding"][2]["code"] == "387458008"


def test_with_no_loaded_system_the_first_coding_and_the_text_are_queued(client, demo_sqlite):
    sent = allergy({"system": ATC, "code": "J01CA04"}, {"system": "urn:oid:2.16.840.1.113883.2.4.4.7", "code": "1"},
                   text="amoxicilline")
    got = post(client, sent).json()
    assert entry(demo_sqlite, review_id(got["code"])).original == \
        {"source": {"system": ATC, "code": "J01CA04"}, "text": "amoxicilline"}


def test_reaction_substances_contained_medications_and_r5_concepts_are_translated(client):
    sent = {
        "resourceType": "MedicationStatement", "id": "ms1", "status": "recorded",
        "contained": [{"resourceType": "Medication", "id": "med",
                       "code": {"coding": [{"system": RXNORM, "code": "29046"}]}}],
        "medication": {"concept": {"coding": [{"system": DEMO_FORMULARY_SYSTEM, "code": "ZZZ"}], "text": "?"}},
        "subject": {"reference": "Patient/p1"},
    }
    response = post(client, sent)
    got = response.json()
    assert only_additions(sent, got) == []
    assert got["contained"][0]["code"]["coding"][1]["code"] == "386873009"  # lisinopril
    assert review_id(got["medication"]["concept"])
    assert got["meta"] == {"tag": [UNVALIDATED_TAG]} and "meta" not in got["contained"][0]
    assert counts(response)["mapped"] == 1 and counts(response)["unmapped"] == 1

    reacted = allergy({"system": SNOMED, "code": "91936005"},
                      reaction=[{"substance": {"coding": [{"system": RXNORM, "code": "5640"}]},
                                 "manifestation": [{"coding": [{"system": SNOMED, "code": "271807003"}]}]}])
    got = post(client, reacted).json()
    assert got["reaction"][0]["substance"]["coding"][1]["code"] == "387207008"  # ibuprofen
    assert got["reaction"][0]["manifestation"] == reacted["reaction"][0]["manifestation"]


def test_transforming_an_answer_again_adds_nothing(client):
    sent = allergy({"system": DEMO_LOCAL_SYSTEM, "code": "AMOXY"}, text="Amoxycilin")
    once = post(client, sent).json()
    twice = post(client, once).json()
    assert twice == once
    mapped = post(client, allergy({"system": RXNORM, "code": "1191"})).json()
    assert post(client, mapped).json() == mapped


def test_numbers_and_text_come_back_exactly_as_written(client):
    raw = ('{"resourceType":"AllergyIntolerance","id":"a1","extension":[{"url":"https://example.org/x",'
           '"valueDecimal":1.50},{"url":"https://example.org/y","valueDecimal":1e2},'
           '{"url":"https://example.org/z","valueInteger64":123456789012345678901234567890}],'
           '"code":{"coding":[{"system":"' + RXNORM + '","code":"1191"}],"text":"Pénicilline \\u00e9 ✓"},'
           '"patient":{"reference":"Patient/p1"}}').encode()
    response = post(client, raw)
    assert b"1.50" in response.content and b"1e2" in response.content
    assert b"123456789012345678901234567890" in response.content
    assert only_additions(parse(raw), parse(response.content)) == []
    assert response.json()["code"]["text"] == "Pénicilline é ✓"


# ---------------------------------------------------------------- Bundles, transactions and idempotency


def test_a_bundle_passes_its_patient_entry_through_untouched(client):
    patient = {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "id": "p1", "meta": {"tag": []},
                                                      "name": [{"family": "Test", "given": ["A"]}]},
               "request": {"method": "POST", "url": "Patient"}}
    bundle = {"resourceType": "Bundle", "type": "transaction",
              "entry": [patient, {"fullUrl": "urn:uuid:a1", "resource": allergy({"system": DEMO_LOCAL_SYSTEM,
                                                                                 "code": "AMOXY"})}]}
    got = post(client, bundle).json()
    assert got["entry"][0] == patient
    assert list(got["entry"][0]["resource"]) == list(patient["resource"])
    assert got["entry"][1]["resource"]["meta"] == {"tag": [UNVALIDATED_TAG]}


def test_the_same_body_twice_with_one_idempotency_key_counts_the_review_entry_once(client, demo_sqlite):
    body = allergy({"system": DEMO_LOCAL_SYSTEM, "code": "AMOXY"}, text="Amoxycilin")
    first = post(client, body, headers={"Idempotency-Key": "k-1"})
    again = post(client, body, headers={"Idempotency-Key": "k-1"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content and counts(again) == counts(first)
    assert again.headers["content-type"].startswith("application/fhir+json")
    queued = review_id(first.json()["code"])
    assert entry(demo_sqlite, queued).occurrences == 1

    post(client, body, headers={"Idempotency-Key": "k-2"})
    assert entry(demo_sqlite, queued).occurrences == 2


def test_an_idempotency_key_reused_with_another_target_system_is_refused(client):
    body = allergy({"system": DEMO_LOCAL_SYSTEM, "code": "AMOXY"})
    assert post(client, body, headers={"Idempotency-Key": "k"}).status_code == 200
    refused = post(client, body, RXNORM, headers={"Idempotency-Key": "k"})
    assert refused.status_code == 422
    assert refused.json()["issue"][0]["code"] == "conflict"


def test_a_malformed_entry_fails_the_whole_bundle_and_counts_nothing(client, demo_sqlite):
    good = allergy({"system": DEMO_LOCAL_SYSTEM, "code": "AMOXY"}, text="Amoxycilin")
    bad = allergy({"system": RXNORM, "code": 1191})
    response = post(client, {"resourceType": "Bundle", "type": "collection",
                             "entry": [{"resource": good}, {"resource": bad}]})
    assert response.status_code == 422
    assert "entry[1].resource.code.coding[0].code" in response.json()["issue"][0]["diagnostics"]
    unmapped = post(client, good).json()
    assert entry(demo_sqlite, review_id(unmapped["code"])).occurrences == 1  # the failed body counted nothing


def test_the_sender_query_parameter_wins_over_the_header(client, demo_sqlite):
    got = post(client, allergy({"system": DEMO_LOCAL_SYSTEM, "code": "AMOXY"}), sender="lab-feed",
               headers={"X-Termmap-Sender": "ed-feed"}).json()
    assert entry(demo_sqlite, review_id(got["code"])).senders == {"lab-feed": 1}


# ---------------------------------------------------------------- refusals: 400 / 404 / 422, never 500


@pytest.mark.parametrize("body, status, code", [
    (b"", 400, "invalid"),
    (b"not json", 400, "invalid"),
    (b"\xff\xfe{}", 400, "invalid"),
    (b'{"resourceType":"AllergyIntolerance","id":"a","id":"b"}', 400, "invalid"),
    (b'{"resourceType":"AllergyIntolerance","x":NaN}', 400, "invalid"),
    (b"[" * 50_000, 400, "invalid"),
    (b"[]", 422, "structure"),
    (b'"AllergyIntolerance"', 422, "structure"),
    (b'{"id":"x"}', 422, "structure"),
    (b'{"resourceType":7}', 422, "structure"),
    (b'{"resourceType":"Patient","id":"p"}', 422, "not-supported"),
    (b'{"resourceType":"AllergyIntolerance","code":"penicillin"}', 422, "structure"),
    (b'{"resourceType":"AllergyIntolerance","code":{"coding":{"code":"1"}}}', 422, "structure"),
    (b'{"resourceType":"AllergyIntolerance","code":{"coding":["1191"]}}', 422, "structure"),
    (b'{"resourceType":"AllergyIntolerance","code":{"text":["x"]}}', 422, "structure"),
    (b'{"resourceType":"AllergyIntolerance","code":{"text":"x"},"meta":[]}', 422, "structure"),
    (b'{"resourceType":"AllergyIntolerance","code":{"text":"x\\ud800"}}', 400, "invalid"),
    (b'{"resourceType":"AllergyIntolerance","reaction":{"substance":{}}}', 422, "structure"),
    (b'{"resourceType":"MedicationRequest","medication":"x"}', 422, "structure"),
    (b'{"resourceType":"Bundle","entry":{}}', 422, "structure"),
    (b'{"resourceType":"Bundle","entry":[{"resource":[]}]}', 422, "structure"),
    (b'{"resourceType":"Bundle","entry":[null]}', 422, "structure"),
])
def test_a_bad_body_is_refused_with_an_operation_outcome(client, body, status, code):
    response = post(client, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == code and outcome["issue"][0]["diagnostics"]


def test_an_unknown_target_system_is_404_naming_it(client):
    response = post(client, allergy({"system": RXNORM, "code": "1191"}), "http://example.org/no-such-system")
    assert response.status_code == 404
    assert "http://example.org/no-such-system" in response.json()["issue"][0]["diagnostics"]


def test_a_missing_target_system_is_422(client):
    response = client.post("/v1/transform", content=json.dumps(allergy({"system": RXNORM, "code": "1191"})))
    assert response.status_code == 422


def test_a_bundle_with_nothing_to_translate_comes_back_unchanged(client):
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    response = post(client, bundle)
    assert response.json() == bundle
    assert sum(counts(response).values()) == 0


def test_two_bundles_sharing_codes_in_opposite_orders_do_not_deadlock(demo_store):
    """A document's concepts are translated in the review queue's lock order, whatever their order in it: the
    second transaction waits for the first instead of both waiting for each other (PostgreSQL would end one
    as a deadlock victim)."""
    from mappings.resource_transform import transform
    from tests.support.interleaving import in_opposite_orders

    if demo_store.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: it cannot deadlock on row locks")

    def send(connection, codes, observe):
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/1"},
                          "code": {"coding": [{"system": DEMO_LOCAL_SYSTEM, "code": code}]}}} for code in codes]}
        transform(connection, bundle, SNOMED, "deadlock-test", observe=observe)

    assert in_opposite_orders(demo_store, send) == ([], {"DLA": 2, "DLB": 2})
