"""`termmap` on the command line: init, load, releases, lookup and search, with clear errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.auth import list_keys
from api.cli import app
from terminology.database import create_store_engine
from terminology.settings import get_settings

runner = CliRunner()
SYSTEM = "https://hospital.example.org/fhir/CodeSystem/allergens"


@pytest.fixture
def cli(store_url, monkeypatch):
    """Run `termmap ...` against this test's store (SQLite and PostgreSQL)."""
    monkeypatch.setenv("TERMMAP_DATABASE_URL", store_url)
    get_settings.cache_clear()

    def run(*args: str, ok: bool = True):
        result = runner.invoke(app, list(args))
        if ok:
            assert result.exit_code == 0, result.output
        return result

    yield run
    get_settings.cache_clear()


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_init_is_idempotent(cli):
    assert "store ready" in cli("init").output
    assert "store ready" in cli("init").output


def test_a_local_table_loads_and_a_second_identical_load_says_it_is_already_loaded(cli, tmp_path):
    table = _write(tmp_path / "allergens.csv", "CODE,NAME,SYN\nPCN,Penicillins,PCN|Penicillin\nASA,Aspirin,\n")
    first = cli("load", "local", str(table), "--system", SYSTEM, "--columns", "code=CODE,display=NAME,synonyms=SYN")
    assert "loaded" in first.output and "concepts" in first.output
    again = cli("load", "local", str(table), "--system", SYSTEM, "--columns", "code=CODE,display=NAME,synonyms=SYN")
    assert "already loaded" in again.output
    view = json.loads(cli("lookup", SYSTEM, "PCN", "--json").output)
    assert view["display"] == "Penicillins"
    assert {d["term"] for d in view["designations"]} == {"Penicillins", "PCN", "Penicillin"}
    releases = json.loads(cli("releases", "--json").output)
    assert [(r["system"], r["status"]) for r in releases] == [(SYSTEM, "active")]


def test_a_malformed_table_fails_naming_file_and_line_and_changes_nothing(cli, tmp_path):
    good = _write(tmp_path / "v1.csv", "code,display\nPCN,Penicillins\n")
    cli("load", "local", str(good), "--system", SYSTEM)
    bad = _write(tmp_path / "v2.csv", "code,display\nPCN,Penicillin G\nSULFA,Sulfa\nPCN,Penicillin V\n")
    failed = cli("load", "local", str(bad), "--system", SYSTEM, ok=False)
    assert failed.exit_code == 1
    assert "v2.csv" in failed.output and "line 4" in failed.output
    assert "previously active release is unchanged" in failed.output
    assert json.loads(cli("lookup", SYSTEM, "PCN", "--json").output)["display"] == "Penicillins"


def test_lookup_of_an_unknown_code_says_so(cli, tmp_path):
    cli("load", "local", str(_write(tmp_path / "t.csv", "code,display\nPCN,Penicillins\n")), "--system", SYSTEM)
    missing = cli("lookup", SYSTEM, "NOPE", ok=False)
    assert missing.exit_code == 2 and "'NOPE' is not in the active release" in missing.output


def test_search_ranks_resembling_terms_and_marks_them_as_suggestions(cli, tmp_path):
    table = _write(tmp_path / "t.csv", "code,display\nAMOX,Amoxicillin\nAMP,Ampicillin\nASA,Aspirin\n")
    cli("load", "local", str(table), "--system", SYSTEM)
    rows = [line for line in cli("search", "amoxycilin", "--system", SYSTEM).output.splitlines() if SYSTEM[:20] in line]
    assert rows and "AMOX " in rows[0] and "Amoxicillin" in rows[0]
    assert not any("Aspirin" in row for row in rows)


@pytest.mark.shared_data
def test_shared_snomed_sample_loads_and_lookup_shows_display_and_parents(cli, shared_data):
    release = shared_data / "snomed-rf2" / "tx-ecosystem-int-20250909"
    cli("load", "snomed", str(release))
    view = json.loads(cli("lookup", "snomed", "128045006", "--json").output)
    assert view["display"] == "Cellulitis"
    assert view["kind"] == "disorder"
    assert {"code": "64572001", "display": "Disease"} in view["parents"]
    assert "Cellulitis (disorder)" in {d["term"] for d in view["designations"]}


def _rrf_from_ingredient_export(export: list[dict], out: Path) -> Path:
    """RRF rows (RXNCONSO, RXNREL, RXNSAT) for the real RxNorm content of the ingredient JSON export."""
    out.mkdir()
    atoms, relations, attributes = [], [], []
    counter = iter(range(1, 10**7))

    def atom(node: dict) -> None:
        atoms.append(f"{node['RXCUI']}|ENG||||||A{next(counter)}|||{node['RXCUI']}|RXNORM|{node['TTY']}|"
                     f"{node['RXCUI']}|{node['Name']}||N|4096|")

    def relate(source: dict, rela: str, target: dict) -> None:  # source RELA target -> RXCUI1=target, RXCUI2=source
        relations.append(f"{target['RXCUI']}||CUI|RO|{source['RXCUI']}||CUI|{rela}|R{next(counter)}||RXNORM||||N||")

    for ingredient in export:
        atom(ingredient)
        for scdc in ingredient.get("SCDCs", []):
            atom(scdc)
            relate(scdc, "has_ingredient", ingredient)
            for scd in scdc.get("SCDs", []):
                atom(scd)
                relate(scd, "consists_of", scdc)
                for sbd in scd.get("SBDs", []):
                    atom(sbd)
                    relate(sbd, "tradename_of", scd)
                    for brand in sbd.get("BNs", []):
                        atom(brand)
                        relate(sbd, "has_ingredient", brand)
                    for ndc in sbd.get("NDCs", []):
                        attributes.append(f"{sbd['RXCUI']}|||A{next(counter)}|AUI|{sbd['RXCUI']}||||NDC|RXNORM|{ndc}|N|4096|")
    for name, rows in (("RXNCONSO.RRF", atoms), ("RXNREL.RRF", relations), ("RXNSAT.RRF", attributes)):
        (out / name).write_text("\n".join(dict.fromkeys(rows)) + "\n", encoding="utf-8")
    return out


@pytest.mark.shared_data
def test_real_rxnorm_products_show_their_ingredients_on_lookup(cli, shared_data, tmp_path):
    export = json.loads((shared_data / "rxnorm-rrf" / "rxnorm-ingredients-json" / "P.json").read_text())
    penicillin_v = next(i for i in export if i["Name"] == "penicillin V")
    scd = penicillin_v["SCDCs"][0]["SCDs"][0]
    cli("load", "rxnorm", str(_rrf_from_ingredient_export([penicillin_v], tmp_path / "rrf")))
    view = json.loads(cli("lookup", "rxnorm", scd["RXCUI"], "--json").output)
    assert view["display"] == scd["Name"] and view["kind"] == "SCD"
    assert [(i["code"], i["display"]) for i in view["ingredients"]] == [(penicillin_v["RXCUI"], "penicillin V")]


def test_keys_create_prints_the_key_alone_on_the_last_line_and_stores_only_its_hash(cli):
    output = cli("keys", "create", "--role", "pharmacist", "--name", "pharm.jones").output
    key = output.strip().splitlines()[-1]
    assert key.startswith("tm_") and " " not in key
    listed = cli("keys", "list").output
    assert "pharm.jones" in listed and "pharmacist" in listed and key not in listed


def test_keys_revoke_revokes_once_and_says_when_there_is_nothing_to_revoke(cli, store_url):
    cli("keys", "create", "--role", "auditor", "--name", "audit.lee")
    engine = create_store_engine(store_url)
    with engine.connect() as connection:
        (record,) = list_keys(connection)
    engine.dispose()
    assert f"revoked {record.id}" in cli("keys", "revoke", record.id).output
    again = cli("keys", "revoke", record.id, ok=False)
    assert again.exit_code == 2 and "no active key" in again.output


def test_keys_create_refuses_an_unknown_role(cli):
    refused = cli("keys", "create", "--role", "superuser", ok=False)
    assert refused.exit_code != 0 and "superuser" in refused.output
