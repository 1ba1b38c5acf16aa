"""HL7 v2 translation: codes rewritten in place, originals kept, unmapped fields flagged, every other byte kept."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from mappings.hl7v2 import FIELDS, Hl7v2Error, split_messages, translate_message
from mappings.tables import review_entries, review_senders, translation_counts
from tests.conftest import DEMO_FORMULARY_SYSTEM, DEMO_LOCAL_SYSTEM, api_key

SCT = "http://snomed.info/sct"
ER7 = {"Content-Type": "x-application/hl7-v2+er7"}
MSH = "MSH|^~\\&|LABSYS|HOSPITAL|TERMMAP|TM|20240101120000||ADT^A01|MSG00001|P|2.5"
TRANSLATED_FIELDS = {(name, number) for name, (number, _) in FIELDS.items()}


def message(*segments: str, msh: str = MSH, separator: str = "\r") -> bytes:
    return separator.join((msh, *segments)).encode()


def post(client, body: bytes, **params):
    params.setdefault("target_system", SCT)
    params.setdefault("local_system", DEMO_LOCAL_SYSTEM)
    params = {name: value for name, value in params.items() if value is not None}
    return client.post("/v1/hl7v2/translate", params=params, content=body, headers=ER7)


def segments(body: bytes) -> list[str]:
    return re.split(r"\r\n|\r|\n", body.decode("latin-1"))


def changes(before: bytes, after: bytes) -> tuple[set[tuple[str, int]], list[str]]:
    """(fields that differ as (segment id, field number), segments added), after checking nothing else moved.

    Output segments are matched to input ones in order; an output segment that does not match the next
    input segment's id is an addition. Separators are compared too (additions use the message's own).
    """
    old, new = segments(before), segments(after)
    changed: set[tuple[str, int]] = set()
    added: list[str] = []
    i = 0
    for segment in new:
        if i < len(old) and segment[:3] == old[i][:3]:
            a, b = old[i].split("|"), segment.split("|")
            changed |= {(segment[:3], n) for n in range(max(len(a), len(b)))
                        if (a[n] if n < len(a) else None) != (b[n] if n < len(b) else None)}
            i += 1
        else:
            added.append(segment)
    assert i == len(old), "input segments missing from the output"
    return changed, added


# --- the core cases -------------------------------------------------------------------------------

def test_a_mapped_al1_gets_the_snomed_code_first_and_the_original_in_the_alternate_triplet(client):
    answer = post(client, message("AL1|1|DA|1191^Aspirin^RXNORM|MO|Hives"))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("x-application/hl7-v2+er7")
    assert segments(answer.content)[1] == "AL1|1|DA|387458008^Aspirin^SCT^1191^Aspirin^RXNORM|MO|Hives"
    assert answer.headers["X-Termmap-Translated"] == "1" and answer.headers["X-Termmap-Mapped"] == "1"


def test_original_first_keeps_the_original_and_puts_the_target_in_the_alternate_triplet(client):
    answer = post(client, message("AL1|1|DA|1191^Aspirin^RXNORM"), original_first="true")
    assert segments(answer.content)[1] == "AL1|1|DA|1191^Aspirin^RXNORM^387458008^Aspirin^SCT"


def test_an_unmapped_al1_keeps_its_original_and_is_followed_by_a_ztm_naming_the_review_entry(client):
    body = message("AL1|1|DA|IBUF^Ibuprofin^L|MO|Rash", "PID|1")
    answer = post(client, body)
    out = segments(answer.content)
    assert out[1] == "AL1|1|DA|IBUF^Ibuprofin^L|MO|Rash"
    ztm = out[2].split("|")
    assert ztm[:3] == ["ZTM", "1", "unmapped"] and ztm[4] == "AL1-3" and len(ztm[3]) == 36
    assert out[3] == "PID|1"
    assert answer.headers["X-Termmap-Unmapped"] == "1" and answer.headers["X-Termmap-Translated"] == "0"


def test_a_local_table_answer_is_unvalidated_and_flagged_with_its_candidate(client):
    out = segments(post(client, message("AL1|1|DA|PCN^Penicillins^L")).content)
    assert out[1] == "AL1|1|DA|PCN^Penicillins^L"
    assert out[2].startswith("ZTM|1|unvalidated|") and out[2].endswith("|AL1-3|" + out[2].split("|")[5])
    assert out[2].split("|")[5].startswith("373270004^")


def test_the_review_entry_records_the_sender_as_msh3_bar_msh4(client):
    post(client, message("AL1|1|DA|IBUF^Ibuprofin^L"))
    with client.engine.connect() as connection:
        senders = {row.sender for row in connection.execute(select(review_senders))}
    assert "LABSYS|HOSPITAL" in senders


def test_flag_nte_adds_an_nte_segment_instead_of_a_ztm(client):
    out = segments(post(client, message("AL1|1|DA|IBUF^Ibuprofin^L"), flag="nte").content)
    assert out[2].startswith("NTE|1||termmap: unmapped AL1-3 review ")


def test_repeated_al1_segments_are_each_translated_and_each_flagged_in_place(client):
    body = message("AL1|1|DA|1191^Aspirin^RXNORM", "AL1|2|DA|IBUF^Ibuprofin^L", "AL1|3|DA|^NKDA",
                   "AL1|4|DA|IBUF^Ibuprofin^L")
    out = segments(post(client, body).content)
    assert [s[:5] for s in out] == ["MSH|^", "AL1|1", "AL1|2", "ZTM|1", "AL1|3", "AL1|4", "ZTM|2"]
    assert out[4].startswith("AL1|3|DA|409137002^")


def test_an_empty_al1_3_is_left_alone_without_a_note(client):
    body = message("AL1|1|DA||MO", "AL1|2|DA")
    answer = post(client, body)
    assert answer.content == body and answer.headers["X-Termmap-Translated"] == "0"


def test_a_message_with_nothing_to_translate_comes_back_unchanged(client):
    body = message("PID|1||123^^^H||Doe^Jane", "PV1|1|I", separator="\n")
    answer = post(client, body)
    assert answer.status_code == 200 and answer.content == body
    assert answer.headers["X-Termmap-Translated"] == "0"


def test_a_field_already_in_the_target_system_is_left_as_it_is(client):
    body = message("AL1|1|DA|387458008^Aspirin^SCT", "RXE||1191^Aspirin^RXNORM^387458008^Aspirin^SCT")
    answer = post(client, body)
    assert answer.content == body and answer.headers["X-Termmap-Already-Coded"] == "2"


def test_an_occupied_alternate_triplet_is_not_overwritten_but_noted(client):
    body = message("RXO|1191^Aspirin^RXNORM^XYZ^Aspirin tab^GPI")
    out = segments(post(client, body).content)
    assert out[1] == "RXO|1191^Aspirin^RXNORM^XYZ^Aspirin tab^GPI"
    assert out[2].startswith("ZTM|1|alternate-occupied||RXO-1|387458008^")


def test_escape_sequences_stay_in_untouched_fields_and_move_intact_with_the_original(client):
    text = r"Aspirin \F\ \S\ \T\ \R\ \E\ tab"
    body = message(r"PID|1||1^^^H||O\T\Brien^J", f"AL1|1|DA|1191^{text}^RXNORM|MO|Hives\\F\\rash")
    out = segments(post(client, body).content)
    assert out[1] == r"PID|1||1^^^H||O\T\Brien^J"
    assert out[2] == f"AL1|1|DA|387458008^Aspirin^SCT^1191^{text}^RXNORM|MO|Hives\\F\\rash"


def test_a_target_display_with_separators_is_written_escaped(client):
    """A curated target into the pharmacy formulary whose name holds `^`, `&`, `|`, `~` and `\\`: written with
    \\S\\ \\T\\ \\F\\ \\R\\ \\E\\, so the field still has exactly six components."""
    from mappings.curated import Decision, Target, record_mapping

    with client.engine.begin() as connection:
        record_mapping(connection, source_system="http://www.nlm.nih.gov/research/umls/rxnorm", source_code="1191",
                       source_text=None, context="allergy", target_system=DEMO_FORMULARY_SYSTEM,
                       decision=Decision.MAPPED, author="tests", reason="escaping", origin="api",
                       targets=[Target(DEMO_FORMULARY_SYSTEM, "ASA325", "ASA 325^tab & co|x~y\\z")])
    out = segments(post(client, message("AL1|1|DA|1191^Aspirin^RXNORM"), target_system=DEMO_FORMULARY_SYSTEM).content)
    assert out[1] == "AL1|1|DA|ASA325^ASA 325\\S\\tab \\T\\ co\\F\\x\\R\\y\\E\\z^L^1191^Aspirin^RXNORM"


def test_latin1_text_is_kept_byte_for_byte_when_msh18_says_8859_1(client):
    msh = MSH + "|||||||8859/1"
    body = "\r".join((msh, "PID|1||1^^^H||Müller^Zoë", "AL1|1|DA|1191^Aspirin (Bayer®)^RXNORM|MO|Übelkeit",
                      "AL1|2|DA|IBUF^Ibuprofén^L")).encode("latin-1")
    answer = post(client, body)
    assert answer.status_code == 200
    out = answer.content.split(b"\r")
    assert out[1] == "PID|1||1^^^H||Müller^Zoë".encode("latin-1")
    assert out[2] == "AL1|1|DA|387458008^Aspirin^SCT^1191^Aspirin (Bayer®)^RXNORM|MO|Übelkeit".encode("latin-1")
    assert out[3] == "AL1|2|DA|IBUF^Ibuprofén^L".encode("latin-1") and out[4].startswith(b"ZTM|1|unmapped|")


@pytest.mark.parametrize("separator", ["\r", "\n", "\r\n"])
def test_segments_separated_by_cr_lf_or_crlf_come_back_with_the_same_separator(client, separator):
    body = message("AL1|1|DA|IBUF^Ibuprofin^L", "AL1|2|DA|1191^Aspirin^RXNORM", separator=separator) + b"\n"
    out = post(client, body).content.decode()
    lines = out[:-1].split(separator)
    assert out.endswith("\n") and lines[2].startswith("ZTM|1|") and lines[3].startswith("AL1|2|DA|387458008^")
    assert out.count(separator) == body.decode().count(separator) + 1


def test_a_utf8_bom_is_kept_on_the_way_out(client):
    body = b"\xef\xbb\xbf" + message("AL1|1|DA|1191^Aspirin^RXNORM")
    out = post(client, body).content
    assert out.startswith(b"\xef\xbb\xbfMSH|") and b"387458008^Aspirin^SCT^1191" in out


def test_a_medication_rxe_with_an_rxnorm_code_is_translated_in_medication_context(client):
    out = segments(post(client, message("RXE||1191^Aspirin^RXNORM|5")).content)
    assert out[1] == "RXE||387458008^Aspirin^SCT^1191^Aspirin^RXNORM|5"


def test_a_first_triplet_in_an_unknown_system_is_translated_from_its_alternate_triplet(client):
    """GPI first, RxNorm second (as in the shared RDE samples): the RxNorm code is the one translated; there is
    no room to rewrite, so the target is listed in a ZTM, and nothing is queued for the GPI code."""
    out = segments(post(client, message("RXO|01220200105^Aspirin 325 mg^GPI^1191^Aspirin^RXNORM|5")).content)
    assert out[1] == "RXO|01220200105^Aspirin 325 mg^GPI^1191^Aspirin^RXNORM|5"
    assert out[2].split("|")[:3] == ["ZTM", "1", "alternate-occupied"] and out[2].endswith("|RXO-1|387458008^Aspirin^SCT")
    with client.engine.connect() as connection:
        queued = {row.source_code for row in connection.execute(select(review_entries.c.source_code))}
    assert "01220200105" not in queued


def test_a_first_triplet_in_a_known_system_is_translated_even_when_the_alternate_would_map(client):
    out = segments(post(client, message("RXO|IBUF^Ibuprofin^L^1191^Aspirin^RXNORM|5")).content)
    assert out[2].split("|")[2] == "unmapped"


@pytest.mark.parametrize(("allergen_type", "category"), [
    ("DA", "medication"), ("FA^Food allergy^HL70127", "food"), ("EA", "environment"), ("MA", "MA"), ("", None),
])
def test_the_allergen_type_is_kept_on_the_review_entry_as_its_category(client, allergen_type, category):
    answer = post(client, message(f"AL1|1|{allergen_type}|IBUF^Ibuprofin^L|MO|Rash"))
    entry = segments(answer.content)[2].split("|")[3]
    with client.engine.connect() as connection:
        original = connection.execute(select(review_entries.c.original).where(review_entries.c.id == entry)).scalar_one()
    assert original.get("category") == category
    assert original["source"] == {"system": DEMO_LOCAL_SYSTEM, "code": "IBUF", "display": "Ibuprofin"}


def test_the_local_system_of_l_codes_comes_from_the_sending_facility_setting(demo_sqlite):
    """TERMMAP_HL7V2_LOCAL_SYSTEMS names each facility's local system: PCN from HOSPITAL is the demo allergen
    table's (a local-table candidate), the same code from another facility is not."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from terminology.settings import Settings

    settings = Settings(hl7v2_local_systems={"HOSPITAL": DEMO_LOCAL_SYSTEM}, warm_candidate_index=False)
    with TestClient(create_app(settings, engine=demo_sqlite)) as client:
        client.headers["Authorization"] = f"Bearer {api_key(demo_sqlite, 'translator')}"
        ours = segments(client.post("/v1/hl7v2/translate", params={"target_system": SCT}, headers=ER7,
                                    content=message("AL1|1|DA|PCN^Penicillins^L")).content)
        other = message("AL1|1|DA|PCN^Penicillins^L", msh=MSH.replace("|HOSPITAL|", "|CLINIC|"))
        theirs = segments(client.post("/v1/hl7v2/translate", params={"target_system": SCT}, headers=ER7,
                                      content=other).content)
    assert ours[2].startswith("ZTM|1|unvalidated|") and ours[2].split("|")[5].startswith("373270004^")
    assert theirs[2].startswith("ZTM|1|unmapped|")
    with demo_sqlite.connect() as connection:
        systems = {row.source_system for row in connection.execute(select(review_entries.c.source_system))}
    assert {DEMO_LOCAL_SYSTEM, "urn:termmap:local:CLINIC"} <= systems


def test_the_metrics_count_hl7v2_translations_by_sender(client):
    post(client, message("AL1|1|DA|1191^Aspirin^RXNORM", "AL1|2|DA|IBUF^Ibuprofin^L"))
    client.app.state.metrics.usage.flush_to(client.engine)  # what the background flusher does every 2 s
    with client.engine.connect() as connection:
        rows = connection.execute(select(translation_counts.c.sender, translation_counts.c.status,
                                         translation_counts.c.count)).all()
    assert sorted(rows) == [("LABSYS|HOSPITAL", "mapped", 1), ("LABSYS|HOSPITAL", "unmapped", 1)]


def test_a_decision_made_by_another_worker_is_seen_by_the_next_message(client):
    """The decision is written straight into the store, as another worker (or host) would: this worker's cache
    only learns of it by checking the store's version, as the translate routes do."""
    from mappings.curated import Decision, Target, record_mapping

    client.app.state.cache.check_every = 0  # check at every request (0.5 s by default)
    body = message("AL1|1|DA|IBUF^Ibuprofin^L")
    assert post(client, body).headers["X-Termmap-Unmapped"] == "1"  # now cached as unmapped
    with client.engine.begin() as connection:
        record_mapping(connection, source_system=DEMO_LOCAL_SYSTEM, source_code="IBUF", source_text=None,
                       context="allergy", target_system=SCT, decision=Decision.MAPPED, author="other-worker",
                       reason="misspelt ibuprofen", origin="api", targets=[Target(SCT, "387207008", "Ibuprofen")])
    assert segments(post(client, body).content)[1] == "AL1|1|DA|387207008^Ibuprofen^SCT^IBUF^Ibuprofin^L"


def test_two_messages_sharing_codes_in_opposite_orders_do_not_deadlock(demo_store):
    """Each message translates its fields in the review queue's lock order, whatever their order in the message:
    the second transaction waits for the first instead of both waiting for each other (PostgreSQL would end
    one as a deadlock victim)."""
    from tests.support.interleaving import in_opposite_orders

    if demo_store.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: it cannot deadlock on row locks")

    def send(connection, codes, observe):
        body = message(*(f"AL1|{n}|DA|{code}^Unknown {code}^L" for n, code in enumerate(codes, 1)))
        translate_message(connection, body, SCT, local_system=DEMO_LOCAL_SYSTEM, observe=observe)

    assert in_opposite_orders(demo_store, send) == ([], {"DLA": 2, "DLB": 2})


# --- errors -----------------------------------------------------------------------------------------

def test_broken_msh2_is_rejected_with_an_ack_ar_naming_msh_2(client):
    answer = post(client, b"MSH|^~|LABSYS|HOSPITAL|||20240101||ADT^A01|CTRL42|P|2.5\rAL1|1|DA|1191^Aspirin^RXNORM")
    assert answer.status_code == 400
    ack = answer.content.decode().split("\r")
    assert ack[0].startswith("MSH|^~\\&|TERMMAP|") and "|ACK|" in ack[0]
    assert ack[1].startswith("MSA|AR|CTRL42|")
    assert ack[2].startswith("ERR||MSH^1^2|102^")


def test_a_body_without_msh_is_rejected_with_an_ack_ar(client):
    answer = post(client, b"PID|1||123\rAL1|1|DA|1191^Aspirin^RXNORM")
    assert answer.status_code == 400 and b"\rMSA|AR|" in answer.content and b"\rERR||MSH^1^0|" in answer.content


def test_an_idempotency_key_replays_the_first_answer_without_counting_again(client):
    body = message("AL1|1|DA|IBUF^Ibuprofin^L")
    first = client.post("/v1/hl7v2/translate", params={"target_system": SCT}, content=body,
                        headers={**ER7, "Idempotency-Key": "hl7-1"})
    second = client.post("/v1/hl7v2/translate", params={"target_system": SCT}, content=body,
                         headers={**ER7, "Idempotency-Key": "hl7-1"})
    assert second.content == first.content and second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["X-Termmap-Unmapped"] == "1"
    with client.engine.connect() as connection:
        counts = [row.occurrences for row in connection.execute(select(review_senders))]
    assert counts == [1]


def test_the_core_raises_an_error_naming_segment_and_field(demo_sqlite):
    with demo_sqlite.begin() as connection, pytest.raises(Hl7v2Error) as raised:
        translate_message(connection, b"MSH|^~\\&&|A|B", SCT)
    assert (raised.value.segment, raised.value.field_number) == ("MSH", 2)


# --- only additions ------------------------------------------------------------------------------------

def test_the_only_differences_are_the_translated_fields_and_the_added_z_segments(client):
    body = message(r"PID|1||1^^^H||O\T\Brien^J", "AL1|1|DA|1191^Aspirin^RXNORM|MO|Hives~Rash",
                   "AL1|2|FA|IBUF^Ibuprofin^L", "RXE||1191^Aspirin^RXNORM|5||mg", "OBX|1|ST|x||y\\E\\")
    changed, added = changes(body, post(client, body).content)
    assert changed == {("AL1", 3), ("RXE", 2)}
    assert [a[:14] for a in added] == ["ZTM|1|unmapped"]


def test_the_only_additions_check_catches_a_modified_field_and_a_dropped_segment():
    body = message("PID|1||1^^^H||Doe^J", "AL1|1|DA|1191^Aspirin^RXNORM")
    tampered = message("PID|1||1^^^H||Doe^K", "AL1|1|DA|1191^Aspirin^RXNORM")
    assert changes(body, tampered)[0] == {("PID", 5)}
    with pytest.raises(AssertionError):
        changes(body, message("PID|1||1^^^H||Doe^J"))


# --- shared samples --------------------------------------------------------------------------------

def _samples(shared_data: Path) -> list[Path]:
    return sorted(p for p in (shared_data / "hl7v2").glob("*/*.hl7"))


def test_every_shared_sample_is_accepted_and_keeps_every_untouched_segment_byte_identical(client, shared_data):
    samples = _samples(shared_data)
    assert len(samples) >= 50
    for path in samples:
        body = path.read_bytes()
        answer = post(client, body)
        assert answer.status_code == 200, (path.name, answer.content[:300])
        out = answer.content
        assert out.startswith(b"\xef\xbb\xbf") == body.startswith(b"\xef\xbb\xbf"), path.name
        changed, added = changes(body, out)
        assert changed <= TRANSLATED_FIELDS, (path.name, changed)
        assert all(a.startswith("ZTM|") for a in added), (path.name, added)
        # untouched segments: byte-identical, separators included
        kept = [s for s in re.split(rb"(?<=\r\n)|(?<=\r)(?!\n)|(?<=\n)", out) if not s.startswith(b"ZTM|")]
        original = re.split(rb"(?<=\r\n)|(?<=\r)(?!\n)|(?<=\n)", body)
        assert len(kept) == len(original), path.name
        for before, after in zip(original, kept):
            if before[:3].lstrip(b"\xef\xbb\xbf")[:3] not in {n.encode() for n in FIELDS} or before == after:
                assert before == after, path.name


def test_a_shared_sample_maps_once_a_pharmacist_has_decided_its_local_code(client, shared_data):
    """LinuxForHealth's ADT^A03 sends `1605^acetaminophen^L` in two AL1 segments: first both are flagged with one
    review entry (counted twice); after the pharmacist's decision the same message comes back mapped in place."""
    path = shared_data / "hl7v2" / "linuxforhealth-hl7v2-fhir-converter" / \
        "HL7ADTMessageTest__testAdtA03AllSegmentsNoGroupsPresent__L254.hl7"
    body = path.read_bytes()
    first = segments(post(client, body, local_system=None).content)
    notes = [s.split("|") for s in first if s.startswith("ZTM|")]
    assert [n[2] for n in notes] == ["unmapped", "unmapped"] and notes[0][3] == notes[1][3]
    entry = notes[0][3]
    with client.engine.connect() as connection:
        row = connection.execute(select(review_entries).where(review_entries.c.id == entry)).one()
    assert (row.source_system, row.source_code, row.occurrences) == ("urn:termmap:local:unknown", "1605", 2)

    assert client.post(f"/v1/review/{entry}/claim").status_code == 200
    decided = client.post(f"/v1/review/{entry}/decision", json={
        "decision": "mapped", "targets": [{"code": "387517004", "relationship": "equivalent"}],
        "comment": "local 1605 is paracetamol"})
    assert decided.status_code == 200, decided.text

    second = post(client, body, local_system=None)
    assert second.headers["X-Termmap-Mapped"] == "2"
    changed, added = changes(body, second.content)
    assert changed == {("AL1", 3)} and added == []
    assert [s for s in segments(second.content) if s.startswith("AL1")] == \
        ["AL1|1||387517004^Paracetamol^SCT^1605^acetaminophen^L"] * 2


# --- files -------------------------------------------------------------------------------------------

def test_split_messages_reads_mllp_frames_and_blank_line_separated_messages():
    one, two = message("AL1|1|DA|A"), message("AL1|1|DA|B")
    assert split_messages(b"\x0b" + one + b"\x1c\r\x0b" + two + b"\x1c\r") == [one, two]
    assert split_messages(one + b"\n\n" + two + b"\n") == [one, two]


def test_the_cli_translates_each_message_of_an_mllp_file_into_out_dir(demo_sqlite, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from api.cli import app
    from terminology.settings import get_settings

    monkeypatch.setenv("TERMMAP_DATABASE_URL", str(demo_sqlite.url))
    get_settings.cache_clear()
    one, two = message("AL1|1|DA|1191^Aspirin^RXNORM"), message("AL1|1|DA|IBUF^Ibuprofin^L")
    source = tmp_path / "in.hl7"
    source.write_bytes(b"\x0b" + one + b"\x1c\r\x0b" + b"PID|1" + b"\x1c\r\x0b" + two + b"\x1c\r")
    try:
        result = CliRunner().invoke(app, ["hl7", "translate", str(source), "--target-system", SCT,
                                          "--local-system", DEMO_LOCAL_SYSTEM, "--out", str(tmp_path / "out")])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    written = split_messages((tmp_path / "out" / "in.hl7").read_bytes())
    assert len(written) == 2 and b"387458008^Aspirin^SCT^1191" in written[0] and b"\rZTM|1|unmapped|" in written[1]
    assert "rejected" in result.output


def test_an_unknown_target_system_is_404_and_writes_nothing(client):
    answer = post(client, message("AL1|1|DA|IBUF^Ibuprofin^L"), target_system="http://example.org/nothing")
    assert answer.status_code == 404
    with client.engine.connect() as connection:
        assert list(connection.execute(select(review_senders))) == []
