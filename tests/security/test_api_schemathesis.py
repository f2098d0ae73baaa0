"""Schemathesis over halosync's own OpenAPI: no 5xx for any generated request, every 4xx
explains itself, and no answer ever carries the Halo client secret.

Requests are generated from /openapi.json for every operation, sent with an admin token
of workspace ``acme`` (connected to the in-process simulator, usage imported, Halo
records pulled). ``HALOSYNC_SCHEMATHESIS_EXAMPLES`` raises the examples per operation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok

from tests.web.api.conftest import CLIENT_SECRET, Api

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("HALOSYNC_SCHEMATHESIS_EXAMPLES", "15"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    api = Api(tmp_path_factory.mktemp("schemathesis"))
    assert api.connect().status_code == 200
    api.import_usage()
    api.pull_customers()
    yield api
    api.queue.close()
    api.database.dispose()


def _explains_itself(status: int, body: bytes) -> str | None:
    """What is wrong with a 4xx body, or None when it names the problem."""
    try:
        document: Any = json.loads(body)
    except ValueError:
        return "the body is not JSON"
    detail = document.get("detail") if isinstance(document, dict) else None
    if not isinstance(detail, str) or len(detail.strip()) < 10:
        return f"no readable 'detail' in {document!r}"
    if status == 422 and not document.get("errors"):
        return "a 422 without 'errors' naming where"
    return None


def _operations(api: Api) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the OpenAPI document is invalid: {result.err()}"
        operations.append(result.ok())
    # Resets and revocations last, so the other operations meet a connected workspace.
    return sorted(operations, key=lambda operation: operation.method.upper() == "DELETE")


def test_generated_requests_get_no_5xx_and_every_4xx_explains_itself(world: Api) -> None:
    operations = _operations(world)
    assert len(operations) >= 30
    problems: list[str] = []

    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), ours=st.booleans())
        def check(case: Any, ours: bool) -> None:
            if "workspace" in (case.path_parameters or {}) and ours:
                case.path_parameters["workspace"] = "acme"
            response = case.call(headers={"Authorization": f"Bearer {world.admin}"})
            where = f"{case.method} {case.formatted_path}"
            status = response.status_code
            if status >= 500:
                problems.append(f"{where}: {status} {response.content[:300]!r}")
            elif status >= 400:
                why = _explains_itself(status, response.content)
                if why:
                    problems.append(f"{where}: {status} {why}")
            if CLIENT_SECRET.encode() in response.content:
                problems.append(f"{where}: the client secret is in the answer")

        check()

    assert not problems, "\n".join(sorted(set(problems))[:40])
