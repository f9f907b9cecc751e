"""Hardening (issue 19) through the HTTP API, on SQLite and PostgreSQL: bounded dates and
times, no control characters in text parameters, the last admin token, token entropy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from suanli.control.service import LoopSettings
from tests.api.conftest import Api, bearer, running_api
from tests.store.helpers import fresh_database

JOB = {"profile": "dl-training", "hours_on_reference": 0.01, "command": "sleep 1"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def dbapi(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    """The API on a fresh database of each kind."""
    if request.param == "sqlite":
        url = str(Path(tmp_path_factory.mktemp("hard")) / "hard.db")
    else:
        url = fresh_database(request.getfixturevalue("postgres_url"))
    yield from running_api(url, 30.0, LoopSettings(poll_s=0.1, grace_s=0.2))


INSIDE = [
    "2000-01-01T00:00:00+14:00",  # the least (as written)
    "2000-01-01T00:00:00Z",
    "2000-01-01T00:00:01-12:00",  # just inside
    "2199-12-31T23:59:59-14:00",  # just inside
    "2199-12-31T23:59:59.999999-23:59",  # the greatest (as written)
    "2199-12-31T23:59:59.999999Z",
]
OUTSIDE = [
    "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:00:00+14:00",
    "1999-12-31T23:59:59.999999Z",
    "1999-12-31T23:59:59-14:00",
    "2200-01-01T00:00:00Z",
    "2200-01-01T00:00:00+14:00",
]


@pytest.mark.parametrize("deadline", OUTSIDE)
def test_a_time_out_of_range_is_refused_naming_the_field(dbapi: Api, deadline: str) -> None:
    c = dbapi.client
    r = c.post("/v1/jobs", json={**JOB, "deadline": deadline}, headers=dbapi.lab)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "body.deadline" and "2000" in r.json()["error"]
    f = {"version": 1, "profile": "dl-training", "resources": {"accelerators": "H100:1"}}
    f |= {"work": {"hours": 0.01}, "run": "true", "deadline": deadline}
    r = c.post("/v1/jobs", json=f, headers=dbapi.lab)
    assert r.status_code == 422 and r.json()["field"] == "deadline", r.text


def test_every_boundary_time_is_stored_and_listed_back(dbapi: Api) -> None:
    c = dbapi.client
    ids = []
    for deadline in INSIDE:
        r = c.post("/v1/jobs", json={**JOB, "deadline": deadline}, headers=dbapi.lab)
        assert r.status_code == 201, (deadline, r.text)
        ids.append(r.json()["id"])
    for who in (dbapi.lab, dbapi.admin):
        r = c.get("/v1/jobs?limit=1000", headers=who)
        assert r.status_code == 200, r.text
        assert set(ids) <= {j["id"] for j in r.json()["jobs"]}
        assert c.get("/v1/jobs?tenant=lab", headers=who).status_code == 200
        for i in ids:
            assert c.get(f"/v1/jobs/{i}", headers=who).status_code == 200
            assert c.get(f"/v1/jobs/{i}/why", headers=who).status_code == 200
            assert c.get(f"/v1/jobs/{i}/events", headers=who).status_code == 200
        assert c.get("/v1/dashboard", headers=who).status_code == 200
    for i in ids:
        c.post(f"/v1/jobs/{i}/cancel", headers=dbapi.lab)


def test_a_time_stored_before_times_were_bounded_still_lists(dbapi: Api) -> None:
    """A deadline far out of range already in the database: listing it answers 200."""
    from sqlalchemy import update

    from suanli.store.schema import jobs

    c = dbapi.client
    job = c.post("/v1/jobs", json=JOB, headers=dbapi.uni).json()
    with dbapi.services.db.write() as conn:
        row = conn.execute(jobs.select().where(jobs.c.id == job["id"])).first()
        assert row is not None
        spec = {**row._mapping["spec"], "deadline_at": 1e15}  # the year 31690
        conn.execute(update(jobs).where(jobs.c.id == job["id"]).values(spec=spec))
    for who in (dbapi.uni, dbapi.admin):
        r = c.get("/v1/jobs", headers=who)
        assert r.status_code == 200, r.text
        assert c.get(f"/v1/jobs/{job['id']}", headers=who).status_code == 200
    c.post(f"/v1/jobs/{job['id']}/cancel", headers=dbapi.uni)


@pytest.mark.parametrize("bad", ["\x00", "lab\x00", "a\nb", "\x1b[31m", "x\x7f"])
def test_control_characters_in_text_parameters_are_refused(dbapi: Api, bad: str) -> None:
    c = dbapi.client
    for who in (dbapi.admin, dbapi.lab):
        r = c.get("/v1/jobs", params={"tenant": bad}, headers=who)
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "query.tenant"
    enc = quote(bad, safe="")
    for path in (f"/v1/tenants/{enc}", f"/v1/sites/{enc}"):
        r = c.get(path, headers=dbapi.admin)
        assert r.status_code in (404, 422), r.text
    r = c.post("/v1/tenants", json={"id": "ok", "name": f"N{bad}"}, headers=dbapi.admin)
    assert r.status_code == 422 and r.json()["field"] == "body.name", r.text
    r = c.post("/v1/tenants/lab/tokens", json={"label": bad}, headers=dbapi.admin)
    assert r.status_code == 422 and r.json()["field"] == "body.label", r.text
    r = c.post("/v1/jobs", json={**JOB, "profile": bad}, headers=dbapi.lab)
    assert r.status_code == 422 and r.json()["field"] == "body.profile", r.text
    r = c.get("/v1/jobs", params={"tenant": "lab"}, headers=dbapi.admin)
    assert r.status_code == 200


# -- tokens: the last admin, rotation, entropy -------------------------------------------------


def _admin_ids(c: object, admin: dict[str, str]) -> list[int]:
    toks = c.get("/v1/tokens", headers=admin).json()  # type: ignore[attr-defined]
    return [t["id"] for t in toks if t["role"] == "admin" and t["revoked_at"] is None]


def test_the_last_admin_token_cannot_be_revoked(dbapi: Api) -> None:
    c = dbapi.client
    (only,) = _admin_ids(c, dbapi.admin)
    r = c.delete(f"/v1/tokens/{only}", headers=dbapi.admin)
    assert r.status_code == 409, r.text
    assert r.json()["field"] == "token_id" and "last active admin token" in r.json()["error"]
    assert c.get("/v1/tokens", headers=dbapi.admin).status_code == 200  # still works


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "rotate.db")
    return fresh_database(request.getfixturevalue("postgres_url"))


def _start(url: str, token: str | None) -> object:
    from suanli.api.services import build_services
    from suanli.sites.config import dry_run_sites
    from tests.control.helpers import two_sites

    sc = two_sites()
    return build_services(sc, url, dry_run_sites(sc, 1.0), admin_token=token)


OLD = "first-admin-token-Abc-0123456789xyz"
NEW = "second-admin-token-Xyz-9876543210abc"


def test_a_new_admin_token_at_start_replaces_the_old_one(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from fastapi.testclient import TestClient

    from suanli.api.app import create_app
    from suanli.errors import InputError

    first = _start(db_url, OLD)
    first.db.dispose()  # type: ignore[attr-defined]
    with caplog.at_level("WARNING", logger="suanli.serve"):
        svc = _start(db_url, NEW)
    assert "admin token rotated" in caplog.text
    with TestClient(create_app(svc, start_control=False)) as c:  # type: ignore[arg-type]
        assert c.get("/v1/tokens", headers=bearer(OLD)).status_code == 401
        toks = c.get("/v1/tokens", headers=bearer(NEW)).json()
        admins = [t for t in toks if t["role"] == "admin"]
        assert [t["revoked_at"] is None for t in admins] == [False, True]
        assert all(t["label"] == "bootstrap" for t in admins)
    svc.db.dispose()  # type: ignore[attr-defined]
    again = _start(db_url, NEW)  # the same token again: nothing changes
    again.db.dispose()  # type: ignore[attr-defined]
    with pytest.raises(InputError, match="was revoked"):
        _start(db_url, OLD)  # a revoked token is not brought back


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("aaaaaaaaaaaaaaaa", "shorter than 32"),
        ("a" * 40, "fewer than 8 distinct"),
        ("0123456789" * 4, "repeated"),
        ("abcdefghijklmnopqrstuvwxyzABCDEFGH", "sequence"),
        ("12345678901234567890123498765432", "bits of entropy"),
        ("abc def ghi jkl mno pqr stu vwx yz", "blanks"),
    ],
)
def test_a_weak_admin_token_is_refused(tmp_path: Path, token: str, why: str) -> None:
    from tests.api.test_cli_serve import SCENARIO, run_serve

    db = str(tmp_path / "d.db")  # a bad policy too: a server that took the token stops anyway
    text = run_serve("--scenario", SCENARIO, "--dry-run", "--policy", "no", "--db", db, token=token)
    assert "admin token too weak" in text and why in text, text
    assert not (tmp_path / "d.db").exists()


def test_generated_tokens_are_strong() -> None:
    from suanli.api.services import weak_token_reason
    from suanli.store.tenants import new_token

    assert all(weak_token_reason(new_token()) is None for _ in range(200))


# -- the database URL: --db, $SUANLI_DB, --db-file, $SUANLI_DB_FILE ------------------------------


def _serve(args: list[str], env: dict[str, str]) -> tuple[str, str]:
    """``suanli serve`` with a bad policy (so it stops after reading its inputs): (the
    InputError's text, everything it wrote)."""
    from typer.testing import CliRunner

    from suanli.cli import app
    from suanli.errors import InputError
    from tests.api.test_cli_serve import SCENARIO

    full = ["serve", "--scenario", SCENARIO, "--dry-run", "--policy", "nope", *args]
    result = CliRunner().invoke(app, full, env={"SUANLI_ADMIN_TOKEN": OLD, **env})
    assert isinstance(result.exception, InputError), result.output
    return str(result.exception), result.output


def test_the_database_url_comes_from_a_file_or_the_environment(tmp_path: Path) -> None:
    secret = tmp_path / "db-url"
    secret.write_text("mysql://u:hunter2@h/db\n")
    text, out = _serve(["--db-file", str(secret)], {})
    assert "unsupported database 'mysql'" in text and "command line" not in out
    text, out = _serve([], {"SUANLI_DB_FILE": str(secret)})
    assert "unsupported database 'mysql'" in text
    text, out = _serve([], {"SUANLI_DB": "mysql://u:hunter2@h/db"})
    assert "unsupported database 'mysql'" in text and "command line" not in out
    text, _ = _serve(["--db-file", str(secret), "--db", "x.db"], {})
    assert "give one of --db" in text
    text, _ = _serve(["--db-file", str(tmp_path / "none")], {})
    assert "cannot read" in text and "--db-file" in text
    (tmp_path / "empty").write_text("\n")
    assert "empty" in _serve(["--db-file", str(tmp_path / "empty")], {})[0]


def test_a_password_on_the_command_line_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="suanli.serve"):
        text, _ = _serve(["--db", "mysql://u:hunter2@h/db"], {})
    assert "unsupported database" in text
    assert "password is on the command line" in caplog.text and "hunter2" not in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="suanli.serve"):
        _serve(["--db", str(tmp_path / "plain.db")], {})
        _serve([], {"SUANLI_DB": "mysql://u:hunter2@h/db"})
    assert "password" not in caplog.text


# -- OpenAPI conformance ------------------------------------------------------------------------


def test_options_and_405_list_every_method_of_the_path(dbapi: Api) -> None:
    c = dbapi.client
    for path, methods in (
        ("/v1/jobs", "GET, POST"),
        ("/v1/tenants", "GET, POST"),
        ("/v1/jobs/1", "GET"),
        ("/v1/tokens/1", "DELETE"),
    ):
        for method in ("OPTIONS", "PUT"):
            r = c.request(method, path, headers=dbapi.admin)
            assert r.status_code == 405 and r.headers["Allow"] == methods, (path, r.headers)


def test_the_schema_says_what_the_server_does(dbapi: Api) -> None:
    c = dbapi.client
    doc = c.get("/openapi.json").json()
    one_of = doc["components"]["schemas"]["JobIn"]["oneOf"]
    assert [b["required"] for b in one_of] == [["hours_on_reference"], ["work_pflop"]]
    submit = doc["paths"]["/v1/jobs"]["post"]["responses"]
    assert {"200", "201", "401", "403", "422", "429", "503"} <= set(submit)
    assert "409" in doc["paths"]["/v1/tokens/{token_id}"]["delete"]["responses"]
    for path, ops in doc["paths"].items():
        for op in ops.values():
            if path.startswith("/v1/"):
                assert {"401", "422", "429", "503"} <= set(op["responses"]), path


def test_an_integral_float_is_an_integer(dbapi: Api) -> None:
    c = dbapi.client
    r = c.post("/v1/jobs", json={**JOB, "priority": -648.0, "gang": 2.0}, headers=dbapi.lab)
    assert r.status_code == 201, r.text
    assert r.json()["priority"] == -648 and r.json()["gang"] == 2
    c.post(f"/v1/jobs/{r.json()['id']}/cancel", headers=dbapi.lab)
    for bad in (-648.5, True, "5"):
        r = c.post("/v1/jobs", json={**JOB, "priority": bad}, headers=dbapi.lab)
        assert r.status_code == 422 and r.json()["field"] == "body.priority", r.text


def test_an_unknown_query_parameter_is_refused_naming_it(dbapi: Api) -> None:
    r = dbapi.client.get("/v1/jobs?tennant=lab", headers=dbapi.admin)
    assert r.status_code == 422 and r.json()["field"] == "query.tennant", r.text
    assert "tenant" in r.json()["hint"]
    assert dbapi.client.get("/v1/jobs?tenant=lab&limit=5", headers=dbapi.admin).status_code == 200
