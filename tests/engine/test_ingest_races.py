"""Senders that retry in parallel: the same new alert arriving many times at once."""

from __future__ import annotations

import asyncio

import httpx

from tests.engine.conftest import Setup
from tests.paging import api, integration


async def test_the_same_new_alert_at_once_from_many_senders_is_one_incident(
    client: httpx.AsyncClient, setup: Setup
) -> None:
    """On PostgreSQL the losers of the insert race retry; the retry must not reuse objects of
    the rolled-back transaction (it answered 500 when it did)."""
    key = (await integration(client, setup.admin, setup.service["id"], kind="generic"))["key"]
    for round_number in range(3):
        body = {"summary": f"disk full {round_number}", "dedup_key": f"disk-{round_number}"}
        answers = await asyncio.gather(
            *(
                client.post(
                    "/api/v1/integrations/generic",
                    json=body,
                    headers={"Authorization": f"Bearer {key}"},
                )
                for _ in range(8)
            )
        )
        assert [a.status_code for a in answers] == [202] * 8, [a.text for a in answers]
        assert len({a.json()["incidents"][0] for a in answers}) == 1
    incidents = await api(client, setup.admin, "GET", "/api/v1/incidents?state=triggered")
    assert len(incidents["items"]) == 3
