"""Property-based fuzzing of the OpenAPI spec with schemathesis, on SQLite and PostgreSQL:
every check schemathesis has (``-c all``: no 5xx, status codes, content types, headers
and bodies as documented, invalid data refused, valid data accepted, ``Allow`` …).

Schemathesis generates valid and invalid requests for every operation (DELETE included);
each is sent with an admin token, a tenant's token, an invalid token or none, in turn.
The test checks that at least 1,000 requests were sent per database; it is bounded
(``MAX_EXAMPLES`` per operation and mode) to run in about a minute per database.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks, negative_data_rejection

from suanli.api.app import create_app
from suanli.api.services import ApiSettings, build_services
from suanli.control.service import LoopSettings
from suanli.sites.config import dry_run_sites
from suanli.store.schema import Role
from tests.control.helpers import two_sites
from tests.store.helpers import fresh_database

ADMIN = "admin-token-for-fuzzing-0123456789"
MAX_EXAMPLES = 40
IDEM_KEY = re.compile(r"[\x21-\x7e]{1,128}")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_state(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, object]]:
    if request.param == "sqlite":
        db = str(Path(tmp_path_factory.mktemp("fuzz")) / "fuzz.db")
    else:
        db = fresh_database(request.getfixturevalue("postgres_url"))
    sc = two_sites()
    svc = build_services(
        sc,
        db,
        dry_run_sites(sc, 0.1),
        admin_token=ADMIN,
        loop=LoopSettings(poll_s=0.2, grace_s=0.2),
    )
    tokens = [svc.tenants.issue_token(Role.TENANT, tenant, "fuzz") for tenant in ("lab", "uni")]
    svc.control.start()
    app = create_app(svc, start_control=False)
    try:
        yield {"app": app, "tokens": [ADMIN, *(t for t, _ in tokens)], "keep": {1, 2, 3}}
    finally:
        svc.control.stop()
        svc.db.dispose()


def _auth_header(case: schemathesis.Case, which: int, tokens: list[str]) -> dict[str, str]:
    """The caller's headers (an admin's, a tenant's, an invalid or no token), given to
    schemathesis as the user's own (not generated) so that its auth checks know them."""
    headers = dict(case.headers or {})
    headers.pop("Authorization", None)
    case.headers = headers
    if which < 3:
        return {"Authorization": f"Bearer {tokens[which]}"}
    if which == 3:
        return {"Authorization": "Bearer not-a-token"}
    return {}


def _only_auth_negated(case: schemathesis.Case) -> bool:
    """Whether the case's only invalid part was its generated Authorization header (which
    :func:`_auth_header` replaces, so nothing invalid is left to be refused)."""
    comps = case.meta.components if case.meta is not None else {}
    negated = {
        getattr(loc, "value", loc) for loc, c in comps.items() if c.mode is GenerationMode.NEGATIVE
    }
    if negated != {"header"}:
        return False
    key = (case.headers or {}).get("Idempotency-Key")
    return key is None or (isinstance(key, str) and IDEM_KEY.fullmatch(key) is not None)


def _auth_and_declared_query(case: schemathesis.Case) -> bool:
    """Whether the case's invalid parts include its Authorization header, which
    :func:`_auth_header` replaces: the request sent is then not the negative case
    schemathesis made (it mixes a valid token with the rest; schemathesis's remaining
    "negation" can be a query "with additional properties" that only names declared
    parameters, i.e. valid). Cases that negate other parts without the header are judged."""
    comps = case.meta.components if case.meta is not None else {}
    negated = {
        getattr(loc, "value", loc) for loc, c in comps.items() if c.mode is GenerationMode.NEGATIVE
    }
    return "header" in negated and negated <= {"header", "query"}


def _too_big(case: schemathesis.Case) -> bool:
    """Whether the case's body is over the server's limit: refused with 413 whatever it
    holds (a negative case's schema violation is then not what is judged)."""
    if case.body is None:
        return False
    size = len(json.dumps(case.body, default=str).encode("utf-8"))
    return size > ApiSettings().max_body_bytes


def test_every_check_passes(fuzz_state: dict[str, object]) -> None:
    """Every operation, positive and negative cases, five kinds of caller: every check."""
    load_all_checks()
    checks = list(CHECKS.get_all())
    sent: list[int] = []
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_state["app"])
    tokens: list[str] = fuzz_state["tokens"]  # type: ignore[assignment]
    keep: set[int] = fuzz_state["keep"]  # type: ignore[assignment]
    turn = itertools.count()
    failures: list[str] = []
    for result in schema.get_all_operations():
        op = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=op.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def run(case: schemathesis.Case) -> None:
                auth = _auth_header(case, next(turn) % 5, tokens)
                params = case.path_parameters or {}
                if params.get("token_id") in keep:  # keep the tokens this test uses
                    params["token_id"] = 10_000
                try:
                    skip = (
                        [negative_data_rejection]
                        if _only_auth_negated(case)
                        or _auth_and_declared_query(case)
                        or _too_big(case)
                        else []
                    )
                    response = case.call_and_validate(
                        headers=auth, checks=checks, excluded_checks=skip
                    )
                except (AssertionError, BaseExceptionGroup) as exc:  # the checks' failures
                    failures.append(f"{case.as_curl_command(headers=auth)}\n{exc}")
                    return
                sent.append(response.status_code)

            with contextlib.suppress(Unsatisfiable):  # nothing negative to make (no inputs)
                run()
    kinds = Counter(
        line.strip() for f in failures for line in f.splitlines() if line.startswith("- ")
    )
    assert not failures, f"{len(failures)} failures {dict(kinds)}:\n" + "\n\n".join(failures[:5])
    assert len(sent) >= 1000, f"only {len(sent)} requests"
    assert any(400 <= s < 500 for s in sent) and any(s < 300 for s in sent)
    print(f"schemathesis: {len(sent)} requests, statuses {sorted(set(sent))}")
