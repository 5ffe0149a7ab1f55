from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select

from app.core.auth import Role
from app.core.clock import ManualClock
from app.core.db import Database
from app.people import service as people
from app.people.models import ApiToken
from tests.factories import Factory


async def test_a_token_is_shown_once_and_only_its_hash_is_stored(
    client: httpx.AsyncClient, factory: Factory, db: Database
) -> None:
    alice = await factory.actor(Role.MEMBER)
    created = await client.post("/api/v1/tokens", headers=alice.headers, json={"name": "laptop"})
    assert created.status_code == 201
    secret = created.json()["token"]
    assert secret.startswith("baton_") and len(secret) > 40

    listed = (await client.get("/api/v1/tokens", headers=alice.headers)).json()
    assert all("token" not in t for t in listed)
    # The label and four of the 43 random characters: enough to tell tokens apart.
    assert any(t["prefix"] == secret[:10] for t in listed)

    async with db.transaction() as session:
        stored = (await session.scalars(select(ApiToken))).all()
    assert all(secret not in (t.token_hash, t.prefix, t.name) for t in stored)

    works = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {secret}"})
    assert works.json()["id"] == alice.id


async def test_revoked_and_expired_tokens_stop_working(
    client: httpx.AsyncClient, factory: Factory, clock: ManualClock
) -> None:
    alice = await factory.actor(Role.MEMBER)
    expires = (clock.now() + timedelta(hours=1)).isoformat()
    short = (
        await client.post(
            "/api/v1/tokens", headers=alice.headers, json={"name": "ci", "expires_at": expires}
        )
    ).json()
    short_headers = {"Authorization": f"Bearer {short['token']}"}
    assert (await client.get("/api/v1/users/me", headers=short_headers)).status_code == 200
    clock.advance(hours=1)
    assert (await client.get("/api/v1/users/me", headers=short_headers)).status_code == 401

    other = (await client.post("/api/v1/tokens", headers=alice.headers, json={"name": "x"})).json()
    other_headers = {"Authorization": f"Bearer {other['token']}"}
    revoked = await client.delete(f"/api/v1/tokens/{other['id']}", headers=alice.headers)
    assert revoked.json()["revoked_at"] is not None
    assert (await client.get("/api/v1/users/me", headers=other_headers)).status_code == 401

    past = await client.post(
        "/api/v1/tokens",
        headers=alice.headers,
        json={"name": "old", "expires_at": (clock.now() - timedelta(1)).isoformat()},
    )
    assert past.status_code == 422


async def test_only_admins_issue_or_see_tokens_for_others(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    admin = await factory.actor(Role.ADMIN)
    alice = await factory.actor(Role.MEMBER)
    bob = await factory.actor(Role.MEMBER)
    for_bob = await client.post(
        "/api/v1/tokens", headers=alice.headers, json={"name": "x", "user_id": bob.id}
    )
    assert for_bob.status_code == 403
    peek = await client.get(f"/api/v1/tokens?user_id={bob.id}", headers=alice.headers)
    assert peek.status_code == 403
    steal = await client.get("/api/v1/tokens", headers=bob.headers)
    bob_token_id = steal.json()[0]["id"]
    revoke_other = await client.delete(f"/api/v1/tokens/{bob_token_id}", headers=alice.headers)
    assert revoke_other.status_code == 404

    by_admin = await client.post(
        "/api/v1/tokens", headers=admin.headers, json={"name": "svc", "user_id": bob.id}
    )
    assert by_admin.status_code == 201 and by_admin.json()["user_id"] == bob.id


async def test_a_chosen_bootstrap_token_keeps_only_a_short_prefix(db: Database) -> None:
    chosen = "my-own-bootstrap-token-0123456789abcdef"
    short = "devtoken"
    labelled = "baton_short-chosen"
    for n, secret in enumerate((chosen, short, labelled)):
        async with db.transaction() as session:
            _, issued = await people.ensure_bootstrap_admin(
                session, email=f"admin{n}@example.com", name="Admin", token_secret=secret
            )
        assert issued is not None
        assert issued.secret == secret
        stored = issued.token.prefix
        random_part = secret.removeprefix("baton_")
        shown = stored.removeprefix("baton_") if secret.startswith("baton_") else stored
        assert secret.startswith(stored)
        assert len(shown) <= 4 and len(shown) * 8 <= len(random_part), stored
    async with db.transaction() as session:
        prefixes = (await session.scalars(select(ApiToken.prefix))).all()
    assert sorted(prefixes) == ["baton_s", "d", "my-o"]


async def test_init_issues_a_token_only_when_the_admin_has_none(db: Database) -> None:
    async def init() -> people.IssuedToken | None:
        async with db.transaction() as session:
            _, issued = await people.ensure_bootstrap_admin(
                session, email="admin@example.com", name="Admin", token_secret=None
            )
        return issued

    first = await init()
    assert first is not None and first.secret.startswith("baton_")
    assert await init() is None, "a later start prints no secret"
    async with db.transaction() as session:
        token = await session.get(ApiToken, first.token.id)
        assert token is not None
        token.revoked_at = db.clock.now()
    again = await init()
    assert again is not None and again.secret != first.secret, "no live token: a new one"
