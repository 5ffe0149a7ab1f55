"""Baton never sends to private, loopback or link-local addresses unless an operator allows it."""

from __future__ import annotations

import socket

import httpx
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from app.core.clock import ManualClock
from app.core.netguard import BlockedDestination, NetworkPolicy, parse_networks
from app.core.settings import Settings
from app.notify.base import MessageKind, OutboundMessage, SigningKey
from app.notify.webhook import WebhookProvider
from app.people.models import ContactType
from tests.conftest import DEFAULT_NOW
from tests.fakes.webhook import WebhookReceiver
from tests.notify.conftest import Oncall
from tests.paging import Engine, api

BLOCKED = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://api.localhost/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.10/hook",
    "http://[fd00::1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/hook",
    "http://100.64.0.1/hook",
    "http://224.0.0.1/hook",
    "http://0.0.0.0/hook",
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Production's default: no private network allowed."""
    return settings.model_copy(update={"webhook_allowed_networks": ""})


@pytest.mark.parametrize("url", BLOCKED)
async def test_a_private_webhook_url_is_refused_when_saved(
    oncall: Oncall, client: httpx.AsyncClient, url: str
) -> None:
    response = await client.post(
        f"/api/v1/users/{oncall.alice.id}/contact-methods",
        json={"type": "webhook", "address": url},
        headers=oncall.alice.headers,
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "destination_blocked"
    assert body["errors"][0]["loc"] == ["body", "address"]
    assert "address" in body["detail"]


async def test_an_escalation_webhook_target_is_checked_too(
    oncall: Oncall, client: httpx.AsyncClient
) -> None:
    response = await client.patch(
        f"/api/v1/escalation-policies/{oncall.policy['id']}",
        json={
            "steps": [
                {"delay_minutes": 5, "targets": [{"kind": "user", "user_id": oncall.alice.id}]},
                {
                    "delay_minutes": 5,
                    "targets": [{"kind": "webhook", "address": "http://169.254.169.254/x"}],
                },
            ]
        },
        headers=oncall.admin.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "steps", "1", "targets", "0", "address"]
    assert "link-local" in response.json()["detail"]


async def test_changing_an_address_to_a_private_one_is_refused(
    oncall: Oncall, client: httpx.AsyncClient
) -> None:
    created = await api(
        client,
        oncall.alice,
        "POST",
        f"/api/v1/users/{oncall.alice.id}/contact-methods",
        json={"type": "webhook", "address": "https://93.184.215.14/hook"},
    )
    response = await client.patch(
        f"/api/v1/users/{oncall.alice.id}/contact-methods/{created['id']}",
        json={"address": "http://10.0.0.1/hook"},
        headers=oncall.alice.headers,
    )
    assert response.status_code == 422 and response.json()["code"] == "destination_blocked"


async def test_a_stored_url_that_now_points_inside_is_blocked_at_send_time(
    oncall: Oncall, webhook_receiver: WebhookReceiver, engine: Engine, fake_smtp
) -> None:
    """Saved before the guard existed, or a name that moved: checked again when sending, and the
    person's next rule covers them at once."""
    inside = await oncall.contact(oncall.alice, "webhook", webhook_receiver.url_for("/inside"))
    await oncall.contact(oncall.alice, "email", "alice@example.com", after_minutes=3)
    incident = await oncall.fire()
    await engine.tick()
    await engine.tick()
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    await fake_smtp.expect_mail(to="alice@example.com")  # the next rule, brought forward
    [blocked] = [
        n for n in await oncall.notifications(incident) if n["address"] == inside["address"]
    ]
    assert blocked["status"] == "failed"
    assert blocked["last_error"].startswith("blocked by network policy")
    timeline = await oncall.timeline(incident)
    kinds = [e["kind"] for e in timeline]
    assert "notification_blocked" in kinds and "notification_fallthrough" in kinds


class _Answering(AbstractResolver):
    """DNS for names nobody's DNS here knows: every name is ``address``."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=self.address,
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        pass


def _message(url: str) -> OutboundMessage:
    return OutboundMessage(
        contact_type=ContactType.WEBHOOK,
        address=url,
        kind=MessageKind.PAGE,
        subject="s",
        text="t",
        context={"notification_id": 1},
        signing_keys=(SigningKey("whk_test", "secret"),),
    )


async def test_a_name_that_resolves_inside_is_blocked_after_resolution(
    webhook_receiver: WebhookReceiver,
) -> None:
    """DNS rebinding: the name looked public when saved; at send time it answers 127.0.0.1."""
    provider = WebhookProvider(
        ManualClock(DEFAULT_NOW), NetworkPolicy(), resolver=lambda: _Answering("127.0.0.1")
    )
    port = webhook_receiver.url_for("/x").rsplit(":", 1)[1].split("/", 1)[0]
    try:
        result = await provider.send(_message(f"http://hooks.example.com:{port}/rebound"))
    finally:
        await provider.aclose()
    assert result.status.value == "blocked" and "loopback" in result.detail
    webhook_receiver.assert_nothing_sent()


async def test_the_connection_goes_to_the_address_that_was_checked(
    webhook_receiver: WebhookReceiver,
) -> None:
    allowed = NetworkPolicy(parse_networks("127.0.0.0/8"))
    provider = WebhookProvider(
        ManualClock(DEFAULT_NOW), allowed, resolver=lambda: _Answering("127.0.0.1")
    )
    port = webhook_receiver.url_for("/x").rsplit(":", 1)[1].split("/", 1)[0]
    try:
        result = await provider.send(_message(f"http://hooks.example.com:{port}/checked"))
    finally:
        await provider.aclose()
    assert result.ok
    await webhook_receiver.expect_event(path="/checked")


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("127.0.0.53", True),
        ("::ffff:10.0.0.1", True),
        ("100.127.255.255", True),
        ("169.254.169.254", True),
        ("ff02::1", True),
        ("::", True),
        ("192.0.2.1", True),  # documentation range: not globally routed
    ],
)
def test_the_address_classes(address: str, blocked: bool) -> None:
    policy = NetworkPolicy()
    if blocked:
        with pytest.raises(BlockedDestination):
            policy.check_address(address)
    else:
        policy.check_address(address)


def test_only_the_setting_opens_a_private_network() -> None:
    policy = NetworkPolicy(parse_networks("10.20.0.0/16, 127.0.0.0/8"))
    policy.check_address("10.20.3.4")
    policy.check_address("::ffff:127.0.0.1")
    with pytest.raises(BlockedDestination):
        policy.check_address("10.21.0.1")
    with pytest.raises(ValueError, match="not a CIDR"):
        parse_networks("10.0.0.0/8, intranet")
