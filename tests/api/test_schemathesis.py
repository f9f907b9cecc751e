"""Property-based fuzzing of the OpenAPI spec with schemathesis: no request gets a 5xx.

Schemathesis generates valid and invalid requests for every operation; each is sent
with an admin token, a tenant's token, an invalid token or none, in turn. The last
test checks that at least 1,000 requests were sent.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from suanli.api.app import create_app
from suanli.api.services import build_services
from suanli.control.service import LoopSettings
from suanli.sites.config import dry_run_sites
from suanli.store.schema import Role
from tests.control.helpers import two_sites

ADMIN = "admin-token-for-fuzzing-0123456789"
MAX_EXAMPLES = 40
SENT: list[int] = []


@pytest.fixture(scope="module")
def fuzz_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    db = Path(tmp_path_factory.mktemp("fuzz")) / "fuzz.db"
    sc = two_sites()
    svc = build_services(
        sc,
        str(db),
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


def _auth_header(case: schemathesis.Case, which: int, tokens: list[str]) -> None:
    headers = dict(case.headers or {})
    headers.pop("Authorization", None)
    if which < 3:
        headers["Authorization"] = f"Bearer {tokens[which]}"
    elif which == 3:
        headers["Authorization"] = "Bearer not-a-token"
    case.headers = headers


def test_no_request_gets_a_server_error(fuzz_state: dict[str, object]) -> None:
    """Every operation, positive and negative cases, five kinds of caller: never a 5xx."""
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
                _auth_header(case, next(turn) % 5, tokens)
                params = case.path_parameters or {}
                if params.get("token_id") in keep:  # keep the tokens this test uses
                    params["token_id"] = 10_000
                response = case.call()
                SENT.append(response.status_code)
                if response.status_code >= 500:
                    failures.append(f"{case.as_curl_command()} -> {response.text}")

            with contextlib.suppress(Unsatisfiable):  # nothing negative to make (no inputs)
                run()
    assert not failures, "\n".join(failures[:5])
    assert len(SENT) >= 1000, f"only {len(SENT)} requests"
    assert any(400 <= s < 500 for s in SENT) and any(s < 300 for s in SENT)
    print(f"schemathesis: {len(SENT)} requests, statuses {sorted(set(SENT))}")
