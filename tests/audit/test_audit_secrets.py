"""No secret reaches an audit row: tokens, integration keys and signing secrets, webhook signing
keys, calendar feed tokens, verification codes, nor their hashes."""

from __future__ import annotations

import re

import httpx

from app.audit.entities import AUDITED_TABLES, REDACTED, is_secret_column
from app.core.auth import Role
from app.core.db import Base, Database
from app.core.security import hash_secret
from app.notify.console import ConsoleProvider
from tests.audit.helpers import audit_dump, audit_rows
from tests.factories import Factory


async def test_no_secret_is_ever_written_to_the_audit_log(
    client: httpx.AsyncClient, factory: Factory, db: Database, console: ConsoleProvider
) -> None:
    admin = await factory.actor(Role.ADMIN)
    headers = admin.headers
    secrets: list[str] = []

    async def post(path: str, body: object = None) -> dict:
        response = await client.post(f"/api/v1{path}", headers=headers, json=body)
        assert response.status_code < 300, f"{path}: {response.text}"
        return response.json()

    token = await post("/tokens", {"name": "ci"})
    secrets += [token["token"], hash_secret(token["token"])]

    team = await factory.team()
    service = await post("/services", {"name": "checkout", "team_id": team.id})
    grafana_secret = "grafana-hmac-" + "s3cr3t" * 4
    integration = await post(
        f"/services/{service['id']}/integrations",
        {"kind": "grafana", "name": "grafana", "signing_secret": grafana_secret},
    )
    secrets += [integration["key"], hash_secret(integration["key"]), grafana_secret]

    webhook = await post(
        f"/users/{admin.id}/contact-methods",
        {"type": "webhook", "address": "https://hook-user:hunter2pass@hooks.example.com/in"},
    )
    secrets.append("hunter2pass")
    base = f"/users/{admin.id}/contact-methods/{webhook['id']}"
    secrets.append((await post(f"{base}/webhook-key"))["signing_key"])
    secrets.append((await post(f"{base}/webhook-key/rotate"))["signing_key"])

    feed = await post("/calendar-feeds", {"user_id": admin.id})
    secrets += [feed["token"], hash_secret(feed["token"])]

    phone = await post(
        f"/users/{admin.id}/contact-methods", {"type": "sms", "address": "+15555550199"}
    )
    phone_base = f"/users/{admin.id}/contact-methods/{phone['id']}"
    await post(f"{phone_base}/send-verification")
    match = re.search(r"code is (\d{6})", console.sent[-1].message.text)
    assert match is not None
    code = match.group(1)
    wrong = "000000" if code != "000000" else "111111"
    refused = await client.post(
        f"/api/v1{phone_base}/verify", headers=headers, json={"code": wrong}
    )
    assert refused.status_code == 422  # the failed attempt is kept, yet writes no record
    await post(f"{phone_base}/verify", {"code": code})
    secrets.append(code)

    dump = await audit_dump(db)
    assert len(await audit_rows(db)) >= 8
    leaked = [s for s in secrets if s in dump]
    assert leaked == []
    assert REDACTED in dump  # the secret columns are there, as "[redacted]"
    rows = await audit_rows(db)
    assert "webhook_key" in {r.entity_type for r in rows}
    public = {spec.entity.value: spec.public for spec in AUDITED_TABLES.values()}
    for row in rows:
        for side in (row.before or {}, row.after or {}):
            for name, value in side.items():
                if is_secret_column(name) and name not in public.get(row.entity_type, ()):
                    assert value in (REDACTED, None), (row.entity_type, name)
    actions = [(r.entity_type, r.action) for r in await audit_rows(db, "contact_method")]
    assert ("contact_method", "verified") in actions
    assert ("contact_method", "updated") not in actions, "sending or trying a code is no change"


def test_every_secret_column_of_an_audited_table_is_redacted_by_its_name() -> None:
    """The safety net is the column name: list the secret-looking columns, so a new one that
    does not look secret is a deliberate decision."""
    secret_columns = {
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        if table.name in AUDITED_TABLES
        for column in table.columns
        if is_secret_column(column.name)
    }
    assert {
        "api_tokens.token_hash",
        "api_tokens.prefix",
        "integrations.key_hash",
        "integrations.key_prefix",
        "integrations.signing_secret",
        "calendar_feeds.token_hash",
        "calendar_feeds.prefix",
        "contact_methods.verification_code_hash",
    } <= secret_columns
    assert not is_secret_column("signing_timestamp_header")
    assert not is_secret_column("address") and not is_secret_column("name")
