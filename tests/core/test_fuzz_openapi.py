"""Schemathesis over the app's own OpenAPI document: no input gives a 500, and every answer
matches what the document says (status codes, bodies, the error shape).

The fuzzer runs in a worker thread; each generated request goes to the app on the test's own
event loop (where its database lives) through the in-process ASGI transport. The engine is off
and the routes that would send something real (a test message, a verification code) are left
out, so nothing leaves the process. Examples per operation are few and the seed is fixed:
this is a regression net in ``make test`` (about a minute), not a search. A deeper run:
``BATON_FUZZ_EXAMPLES=100 pytest tests/core/test_fuzz_openapi.py --timeout 1500``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode

from app.core.auth import Role
from app.core.settings import Settings
from tests.conftest import PUBLIC_URL
from tests.factories import Factory

pytestmark = pytest.mark.slow

EXAMPLES_PER_MODE = int(os.environ.get("BATON_FUZZ_EXAMPLES", "8"))
CHECKS = [not_a_server_error, response_schema_conformance]
# Operations that would really send something if they succeeded: left out of the fuzz run
# (their inputs are covered by their own tests).
SENDING_OPERATIONS = {
    ("POST", "/api/v1/users/{user_id}/contact-methods/{method_id}/test"),
    ("POST", "/api/v1/users/{user_id}/contact-methods/{method_id}/send-verification"),
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The fuzzer guesses keys and tokens by the hundred from one address: locking it out would
    # turn every later answer into a 429. And no private target is allowed: the network guard
    # as production has it.
    return settings.model_copy(
        update={"auth_failure_limit": "100000/1m", "webhook_allowed_networks": ""}
    )


def _path_parameters(operation: Any) -> list[str]:
    return re.findall(r"\{([^}]+)\}", operation.path)


async def _seed(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """A little of everything with small ids, so generated ids sometimes hit real rows."""
    team = (
        await client.post("/api/v1/teams", headers=headers, json={"name": "ops", "kind": "ops"})
    ).json()
    service = (
        await client.post(
            "/api/v1/services", headers=headers, json={"name": "api", "team_id": team["id"]}
        )
    ).json()
    created = await client.post(
        f"/api/v1/services/{service['id']}/integrations",
        headers=headers,
        json={"kind": "generic", "name": "gen"},
    )
    key = created.json()["key"]
    await client.post(
        "/api/v1/integrations/generic",
        headers={"Authorization": f"Bearer {key}"},
        json={"summary": "disk full", "details": {"host": "db1"}},
    )
    await client.post(
        "/api/v1/schedules",
        headers=headers,
        json={"name": "primary", "team_id": team["id"], "time_zone": "UTC"},
    )


async def test_no_generated_request_gets_a_500_or_an_undocumented_answer(
    app, settings: Settings, client: httpx.AsyncClient, factory: Factory
) -> None:
    assert app.state.engine is None, "with the engine off nothing is sent"
    assert settings.webhook_allowed_networks == "", "the network guard allows no private target"
    seeder = await factory.actor(Role.ADMIN)
    await _seed(client, seeder.headers)
    spec = (await client.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(spec)
    loop = asyncio.get_running_loop()
    operations = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) not in SENDING_OPERATIONS:
            operations.append(operation)

    def on_loop(coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=60)

    async def send(kwargs: dict[str, Any]) -> httpx.Response:
        request: dict[str, Any] = {
            "method": kwargs["method"],
            "url": kwargs["url"],
            "headers": kwargs.get("headers"),
            "params": kwargs.get("params"),
        }
        if kwargs.get("cookies"):  # the API takes none; httpx deprecates passing them empty
            request["cookies"] = kwargs["cookies"]
        if "json" in kwargs:
            request["json"] = kwargs["json"]
        data = kwargs.get("data")
        if isinstance(data, bytes | str):
            request["content"] = data
        elif data is not None:
            request["data"] = data
        return await client.request(**request)

    def fuzz(
        operation: Any, mode: GenerationMode, headers: dict[str, str], **fixed: Any
    ) -> list[str]:
        failures: list[str] = []

        @given(case=operation.as_strategy(generation_mode=mode, **fixed))
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_MODE,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            kwargs = case.as_transport_kwargs(base_url=PUBLIC_URL, headers=headers)
            response = on_loop(send(kwargs))
            try:
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as exc:
                failures.append(f"{operation.method.upper()} {operation.path} ({mode}):\n{exc}")

        # Unsatisfiable: nothing to get wrong in this mode (no parameters, no body).
        with contextlib.suppress(Unsatisfiable):
            run()
        return failures

    def fuzz_all() -> list[str]:
        found: list[str] = []
        for operation in operations:
            # A fresh admin each: an operation that deleted or demoted its own user, or revoked
            # its token, must not leave the next ones answering 401 only.
            headers = on_loop(factory.actor(Role.ADMIN)).headers
            # Generated ids mostly name nothing: one round sends valid bodies to the seeded
            # rows (id 1 of each kind) too.
            seeded = {name: "1" for name in _path_parameters(operation)}
            found += fuzz(operation, GenerationMode.POSITIVE, headers)
            if seeded:
                found += fuzz(operation, GenerationMode.POSITIVE, headers, path_parameters=seeded)
            found += fuzz(operation, GenerationMode.NEGATIVE, headers)
        return found

    failures = await asyncio.to_thread(fuzz_all)
    assert not failures, "\n\n".join(failures[:30]) + f"\n\n{len(failures)} failures in all"
