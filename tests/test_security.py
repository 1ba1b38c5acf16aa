"""Security properties not covered by the route x role walk (tests/test_access.py): CORS stays closed, and no
secret — an API key, its hash, a web session's cookie, a database password — ever reaches a log line.

(Keys stored only as their SHA-256 and shown once: tests/test_access.py and tests/test_cli.py.)
"""
from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.auth import key_sha256
from api.cli import app as cli_app
from api.observability import configure_logging
from api.web.session import LOGIN_COOKIE, SESSION_COOKIE
from terminology.settings import Settings, get_settings
from tests.conftest import DEMO_LOCAL_SYSTEM, _postgres_store_url, api_key

SNOMED = "http://snomed.info/sct"
IBUF = {"source": {"system": DEMO_LOCAL_SYSTEM, "code": "IBUF"}, "text": "Ibuprofin", "target_system": SNOMED,
        "context": "allergy", "sender": "ed-feed"}
PASSWORD = "Pa55-w0rd-never-logged"
EVIL = "https://evil.example.com"


# --- CORS: closed by default ----------------------------------------------------------------------------------------

def _cors_headers(response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.lower().startswith("access-control-")}


@pytest.mark.parametrize("path", ["/v1/translate", "/v1/review", "/fhir/r4/ConceptMap/$translate", "/ui/login",
                                  "/health"])
def test_a_cors_preflight_gets_no_access_control_headers(client, path):
    preflight = client.options(path, headers={"Origin": EVIL, "Access-Control-Request-Method": "POST",
                                              "Access-Control-Request-Headers": "authorization, content-type"})
    assert _cors_headers(preflight) == {}
    assert preflight.status_code >= 400  # nothing answers OPTIONS: no route invites a cross-origin call


def test_a_simple_cross_origin_request_gets_no_access_control_headers(client):
    for answer in (client.get("/health", headers={"Origin": EVIL}),
                   client.get("/ready", headers={"Origin": EVIL}),
                   client.post("/v1/translate", json=IBUF, headers={"Origin": EVIL}),
                   client.get("/v1/review", headers={"Origin": EVIL}),
                   client.get("/ui/login", headers={"Origin": EVIL})):
        assert answer.status_code < 500
        assert _cors_headers(answer) == {}, answer.request.url


# --- no secrets in logs ---------------------------------------------------------------------------------------------

@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    get_settings.cache_clear()


def _secrets_in(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value and value in text]


def _cli(monkeypatch, url: str, log_format: str, *args: str):
    monkeypatch.setenv("TERMMAP_DATABASE_URL", url)
    monkeypatch.setenv("TERMMAP_LOG_FORMAT", log_format)
    get_settings.cache_clear()
    result = CliRunner().invoke(cli_app, ["--verbose", *args])
    get_settings.cache_clear()
    return result


def _field(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]+)"', html).group(1)


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_no_key_hash_or_session_cookie_reaches_the_logs(client, log_format, capsys, monkeypatch, restore_logging,
                                                         tmp_path):
    # A key made on the command line: printed once on standard output, never logged.
    url = client.engine.url.render_as_string(hide_password=False)
    created = _cli(monkeypatch, url, log_format, "keys", "create", "--role", "pharmacist", "--name", "pharm.jones")
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("tm_")
    cli_logs = created.stderr
    listed = _cli(monkeypatch, url, log_format, "keys", "list")
    cli_logs += listed.stderr + listed.stdout

    configure_logging(log_format, "DEBUG")  # every request line, at the most verbose level
    capsys.readouterr()
    translator = api_key(client.engine, "translator", "interface-engine")
    assert client.post("/v1/translate", json=IBUF, headers={"Authorization": f"Bearer {translator}"}).status_code == 200
    wrong = translator[:-4] + "AAAA"
    assert client.post("/v1/translate", json=IBUF, headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
    assert client.get("/v1/review", headers={"Authorization": f"Bearer {key}"}).status_code == 200

    browser = TestClient(client.app)
    form = browser.get("/ui/login")
    login_token = _field(form.text, "login_token")
    assert browser.cookies.get(LOGIN_COOKIE) == login_token
    logged_in = browser.post("/ui/login", data={"login_token": login_token, "key": key}, follow_redirects=False)
    assert logged_in.status_code == 303
    session = browser.cookies.get(SESSION_COOKIE)
    assert session
    queue = browser.get("/ui/queue")
    assert queue.status_code == 200
    csrf = _field(queue.text, "csrf_token")
    refused = browser.post("/ui/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    assert browser.post("/ui/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    failed = browser.post("/ui/login", data={"login_token": _field(browser.get("/ui/login").text, "login_token"),
                                             "key": wrong}, follow_redirects=False)
    assert failed.status_code == 401
    app_logs = capsys.readouterr().err

    assert "POST /v1/translate 401" in app_logs and "ui login: key" in app_logs  # the logs were captured ...
    if log_format == "json":
        assert app_logs.lstrip().startswith("{")
    secrets = {"pharmacist key": key, "its SHA-256": key_sha256(key), "translator key": translator,
               "the translator key's SHA-256": key_sha256(translator), "a wrong key": wrong,
               "the session cookie": session, "the session id's SHA-256": hashlib.sha256(session.encode()).hexdigest(),
               "the CSRF token": csrf, "the login token": login_token}
    assert _secrets_in(app_logs, secrets) == []  # ... and hold none of these
    assert _secrets_in(cli_logs, secrets) == []


@pytest.mark.postgres
@pytest.mark.parametrize("log_format", ["json", "text"])
def test_a_database_password_reaches_neither_logs_nor_output(log_format, capsys, monkeypatch, restore_logging,
                                                             tmp_path):
    for plain in _postgres_store_url():  # trust authentication: the password is accepted, never needed
        url = plain.replace("://postgres@", f"://postgres:{PASSWORD}@", 1)
        assert PASSWORD in url
        said = ""
        for args in (["init"], ["keys", "create", "--role", "admin", "--name", "ops"], ["releases"],
                     ["audit", "verify"], ["backup", str(tmp_path / "pg.dump")]):
            result = _cli(monkeypatch, url, log_format, *args)
            assert result.exit_code == 0, result.output
            said += result.output
        unreachable = url.replace("@127.0.0.1:5432/", "@127.0.0.1:1/", 1)
        down = _cli(monkeypatch, unreachable, log_format, "releases")
        assert down.exit_code == 2 and "cannot reach the store" in down.output
        said += down.output

        configure_logging(log_format, "DEBUG")
        capsys.readouterr()
        for store in (url, unreachable):
            with TestClient(create_app_over(store)) as service:
                service.get("/health")
                ready = service.get("/ready")
                said += ready.text
                service.post("/v1/translate", json=IBUF, headers={"Authorization": "Bearer tm_nothing"})
        said += capsys.readouterr().err
        assert "/ready" in said or "ready" in said
        assert PASSWORD not in said


def create_app_over(url: str):
    from api.app import create_app

    return create_app(Settings(database_url=url, warm_candidate_index=False))


@pytest.mark.parametrize("broken", [f"postgresql+psycopg://ops:{PASSWORD}@db:notaport/termmap",
                                    f"not a url //ops:{PASSWORD}@db"])
def test_a_malformed_database_url_is_refused_naming_it_without_its_password(broken, monkeypatch):
    from terminology.database import create_store_engine
    from terminology.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="is not a database URL") as refused:
        create_store_engine(broken)
    assert PASSWORD not in str(refused.value) and "***" in str(refused.value)
