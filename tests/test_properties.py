"""Properties over generated data: exchange round trips of any curated set, and batch answers in their own slots.

(Text normalisation's idempotence and one CSV cell's round trip are stated in test_normalise.py and
test_exchange.py; these are the whole-file and whole-API properties.)

    ConceptMap   any set of current curated mappings (codes, text-only sources, displays in any script,
                 every relationship, no-map decisions), exported as FHIR R4 ConceptMaps and imported
                 into a fresh store, gives the same current mappings
    CSV          the same for the whole-file CSV export and import (retired mappings included)
    batch        POST /v1/translate/batch answers item i in slot i (its `original` echoes item i), and an
                 invalid item gets an `error` naming its own index, whatever else the batch holds
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest
from fhir.resources.R4B.conceptmap import ConceptMap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from api.exchange_routes import export_file, import_file
from mappings.curated import Decision, Relationship, Target, current_mappings, mapping_groups, record_mapping
from mappings.exchange_conceptmap import export_conceptmap, read_conceptmap
from mappings.exchange_table import import_sheet
from terminology.database import create_store_engine, migrate
from terminology.normalise import normalise_term
from terminology.systems import RXNORM, SNOMED
from tests.conftest import DEMO_FORMULARY_SYSTEM, DEMO_LOCAL_SYSTEM, api_key

#: CI's budget; `TERMMAP_PROPERTY_EXAMPLES=500` for a longer hunt by hand.
EXAMPLES = int(os.environ.get("TERMMAP_PROPERTY_EXAMPLES", "25"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# --- generated curated mappings ----------------------------------------------------------------------------------

#: Any character a sender or a pharmacist may type: every script, symbols, emoji; not NUL or a lone surrogate.
_ANY_CHAR = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
#: A code as local tables and terminologies write them: no whitespace (FHIR's `code` allows single inner spaces).
_CODE = st.text(st.characters(blacklist_categories=("Cs", "Z", "C")), min_size=1, max_size=20)
#: A code FHIR's `code` type cannot hold (repeated inner whitespace): kept by termmap, left out of ConceptMaps.
_SPACED_CODE = st.builds(lambda a, b: f"{a}  {b}", _CODE, _CODE)
_DISPLAY = st.none() | st.text(_ANY_CHAR, min_size=1, max_size=40) | st.sampled_from(["\x0c", "\xa0", " \u2003 "])
_TEXT = st.text(_ANY_CHAR, min_size=1, max_size=40).filter(lambda t: normalise_term(t) != "")
_TARGET = st.builds(lambda code, display, relationship: (code, display, relationship),
                    _CODE | _SPACED_CODE, _DISPLAY, st.sampled_from(list(Relationship)))


@st.composite
def _mapping(draw) -> dict:
    source_system, context = draw(st.sampled_from([(DEMO_LOCAL_SYSTEM, "allergy"), (DEMO_FORMULARY_SYSTEM, "medication"),
                                                   ("", "allergy")]))
    target_system = draw(st.sampled_from([SNOMED, RXNORM]))
    # A source named by no system can only be text (as senders that give no system send it).
    code = None if not source_system else draw(st.none() | _CODE | _SPACED_CODE)
    text = draw(_TEXT) if code is None else None
    decision = draw(st.sampled_from([Decision.MAPPED, Decision.MAPPED, Decision.NO_MAP]))
    targets = []
    if decision is Decision.MAPPED:
        drawn = draw(st.lists(_TARGET, min_size=1, max_size=3, unique_by=lambda t: t[0]))
        targets = [Target(target_system, c, d, r) for c, d, r in drawn]
    return {"source_system": source_system, "source_code": code, "source_text": text, "context": context,
            "target_system": target_system, "decision": decision, "targets": targets,
            "retire": draw(st.booleans()) and draw(st.booleans())}


_MAPPINGS = st.lists(_mapping(), min_size=1, max_size=8)


@pytest.fixture(scope="module")
def empty_store_file(tmp_path_factory) -> Path:
    """A migrated, empty SQLite store, copied for each example (migrating once is what keeps this fast)."""
    path = tmp_path_factory.mktemp("empty") / "empty.db"
    engine = create_store_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@contextmanager
def _stores(template: Path, count: int) -> Iterator[list[Engine]]:
    with tempfile.TemporaryDirectory() as folder:
        engines = []
        for n in range(count):
            copy = Path(folder) / f"store{n}.db"
            shutil.copyfile(template, copy)
            engines.append(create_store_engine(f"sqlite:///{copy}"))
        try:
            yield engines
        finally:
            for engine in engines:
                engine.dispose()


def _curate(engine: Engine, mappings: list[dict], *, retire: bool) -> None:
    with engine.begin() as connection:
        for m in mappings:
            fields = {k: v for k, v in m.items() if k != "retire"}
            record_mapping(connection, **fields, author="pharm.gen", reason="generated", origin="review:property")
            if retire and m["retire"]:
                record_mapping(connection, **(fields | {"decision": Decision.RETIRED, "targets": []}),
                               author="pharm.gen", reason="withdrawn", origin="review:property")


def _fhir_codes(mapping) -> bool:
    """No code of the mapping has repeated whitespace (what a FHIR `code` cannot hold)."""
    return all("  " not in code for code in [mapping.source_code, *(t.code for t in mapping.targets)])


def _state(engine: Engine, *, retired: bool = True, fhir_only: bool = False) -> list[tuple]:
    """The current mappings as comparable values (no ids, authors, times; displays as the import reads cells:
    trimmed, empty meaning none)."""
    with engine.connect() as connection:
        return sorted(
            (m.source_system, m.source_code, m.source_text_norm, m.context, m.target_system, m.decision.value,
             tuple(sorted((t.system, t.code, (t.display or "").strip(), Relationship(t.relationship).value)
                          for t in m.targets)))
            for m in current_mappings(connection) if (retired or m.decision is not Decision.RETIRED)
            and (_fhir_codes(m) or not fhir_only)
        )


def _group_of(resource: dict) -> tuple[str, str, str]:
    context = resource["extension"][0]["valueCode"]
    source, target = resource["title"].split(" mappings from ", 1)[1].split(" to ", 1)
    return source, target, context


@PROPERTY
@given(_MAPPINGS)
def test_any_curated_set_survives_a_conceptmap_export_and_import(empty_store_file, mappings):
    with _stores(empty_store_file, 2) as (curated, fresh):
        _curate(curated, mappings, retire=True)
        with curated.connect() as connection:
            maps = [export_conceptmap(connection, source_system=s, target_system=t, context=c)
                    for s, t, c in mapping_groups(connection)]
        for resource in maps:
            ConceptMap.model_validate(resource)  # a valid R4 ConceptMap, whatever the codes and displays hold
            if not resource.get("group"):
                continue  # every mapping of the group is retired: a ConceptMap states what holds, so nothing
            with fresh.begin() as connection:
                read = read_conceptmap(orjson.dumps(resource))
                report = import_sheet(connection, read.sheet, file="map.json", author="pharm.b")
            assert report.written and not report.invalid, report.as_json()
        # A ConceptMap states what holds (retired left out) and what FHIR codes can say; its description
        # names how many mappings it had to leave out.
        assert _state(fresh) == _state(curated, retired=False, fhir_only=True)
        with curated.connect() as connection:
            unsayable = [m for m in current_mappings(connection) if m.decision is not Decision.RETIRED
                         and not _fhir_codes(m)]
        for resource in maps:
            left_out = sum((m.source_system, m.target_system, m.context) == _group_of(resource) for m in unsayable)
            said = f" {left_out} mapping(s) whose codes a FHIR code cannot hold"
            assert (said in resource["description"]) if left_out else ("whose codes" not in resource["description"])


@PROPERTY
@given(_MAPPINGS)
def test_any_curated_set_survives_a_csv_export_and_import(empty_store_file, mappings):
    with _stores(empty_store_file, 2) as (curated, fresh):
        _curate(curated, mappings, retire=True)
        with curated.connect() as connection:
            exported = export_file(connection, "csv")
        with fresh.begin() as connection:
            report = import_file(connection, exported.content, format="csv", filename=exported.filename,
                                 author="pharm.b")
        assert report.written and not report.invalid, report.as_json()
        assert _state(fresh) == _state(curated)


# --- batch answers in their own slots ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def batch_client(_demo_sqlite_template, tmp_path_factory):
    """The service over its own copy of the demo store, with a translator key (one app for every example)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    copy = tmp_path_factory.mktemp("batch") / "demo.db"
    shutil.copyfile(_demo_sqlite_template, copy)
    engine = create_store_engine(f"sqlite:///{copy}")
    with TestClient(create_app(engine=engine)) as client:
        client.headers["Authorization"] = f"Bearer {api_key(engine, 'translator')}"
        yield client
    engine.dispose()


_KNOWN = [  # (item, its status on the demo set)
    ({"source": {"system": RXNORM, "code": "1191"}, "target_system": SNOMED, "context": "medication"}, "mapped"),
    ({"text": "NKDA", "target_system": SNOMED, "context": "allergy"}, "mapped"),
    ({"source": {"system": DEMO_LOCAL_SYSTEM, "code": "PCN"}, "text": "Penicillins", "target_system": SNOMED,
      "context": "allergy"}, "unvalidated"),  # the local table's own target column: queued for a pharmacist
]
_STATUS_OF = {orjson.dumps(item): status for item, status in _KNOWN}
_INVALID = [  # each answered with an `error` in its slot
    {"target_system": SNOMED, "context": "allergy"},  # neither source.code nor text
    {"source": {"code": "X"}, "target_system": SNOMED, "context": "diet"},
    {"source": {"code": 7}, "target_system": SNOMED, "context": "allergy"},
    {"source": {"code": "9" * 129}, "target_system": SNOMED, "context": "allergy"},
    {"source": {"code": "X"}, "target_system": "http://unknown.example/system", "context": "allergy"},
    [], 7, "text", None,
]
_UNMAPPED = st.builds(
    lambda code, text, sender: {"source": {"system": DEMO_LOCAL_SYSTEM, "code": code}, "text": text,
                                "target_system": SNOMED, "context": "allergy", **({"sender": sender} if sender else {})},
    st.text(st.characters(blacklist_categories=("Cs", "Z", "C")), min_size=1, max_size=12),
    st.text(_ANY_CHAR, min_size=1, max_size=30),
    st.none() | st.sampled_from(["ed-feed", "pharmacy-feed"]))
_ITEM = st.sampled_from([item for item, _ in _KNOWN]) | st.sampled_from(_INVALID) | _UNMAPPED


@st.composite
def _batch(draw) -> list:
    items = draw(st.lists(_ITEM, min_size=1, max_size=25))
    # Duplicates: some items again, at other places.
    for item in draw(st.lists(st.sampled_from(items), max_size=5)):
        items.insert(draw(st.integers(0, len(items))), item)
    return items


def _valid(item) -> bool:
    return isinstance(item, dict) and not any(item == bad for bad in _INVALID if isinstance(bad, dict))


def _expected_original(item: dict) -> dict:
    original = {"source": dict(item.get("source", {}))}
    if "text" in item:
        original["text"] = item["text"]
    return original


@settings(PROPERTY, max_examples=max(1, EXAMPLES * 4 // 5))
@given(_batch())
def test_a_batch_answers_each_item_in_its_own_slot_and_bad_items_alone(batch_client, items):
    response = batch_client.post("/v1/translate/batch", json={"items": items})
    assert response.status_code == 200, response.text
    answers = response.json()["items"]
    assert len(answers) == len(items)
    for index, (item, answer) in enumerate(zip(items, answers)):
        if _valid(item):
            assert "error" not in answer, (index, item, answer)
            assert answer["original"] == _expected_original(item), (index, item, answer)
            known = _STATUS_OF.get(orjson.dumps(item))
            assert answer["status"] == known if known else answer["status"] in ("mapped", "unvalidated", "unmapped"), \
                (index, item, answer)
        else:
            assert set(answer) == {"error"}, (index, item, answer)
            assert answer["error"]["index"] == index and answer["error"]["message"], (index, item, answer)
