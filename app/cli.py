"""The ``baton`` command."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import httpx
import uvicorn

from app.audit import service as audit_service
from app.audit import terminal
from app.audit.entities import EntityType
from app.audit.models import ActorKind
from app.core.clock import SystemClock
from app.core.db import Database, make_engine
from app.core.declarative import Action, ApplyReport, ConfigFileError
from app.core.logging import configure_logging
from app.core.migrations import downgrade as run_downgrade
from app.core.migrations import upgrade, upgrade_url
from app.core.pagination import PageParams
from app.core.settings import InsecureSettingsError, Settings, load_settings
from app.declarative.apply import apply_config, load_config_file
from app.people.service import IssuedToken, ensure_bootstrap_admin, get_user_by_email, issue_token
from app.schedules.terminal import UnknownSchedule, oncall_report, parse_instant
from app.wiring import wire

T = TypeVar("T")


def _settings() -> Settings:
    return load_settings()


def _os_user() -> str:
    """Who runs this command on the host, as the audit log names them."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's numeric user)
        return f"uid {os.getuid()}"


def _run(work: Callable[[Database], Awaitable[T]], settings: Settings | None = None) -> T:
    settings = settings or _settings()

    async def runner() -> T:
        db = Database(
            make_engine(
                settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms
            ),
            SystemClock(),
        )
        db.network_policy = settings.network_policy
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(runner())


@click.group(help="Baton: on-call rotations, paging and incident management.")
def main() -> None:
    wire()


@main.command(help="Serve the HTTP API and, unless disabled, the engine.")
@click.option("--host", default=None, help="Listen address (BATON_HOST).")
@click.option("--port", type=int, default=None, help="Listen port (BATON_PORT).")
@click.option("--workers", type=int, default=None, help="Processes to run (BATON_WORKERS).")
@click.option("--no-engine", is_flag=True, help="API only: do not run paging jobs here.")
@click.option("--migrate", "migrate_first", is_flag=True, help="Upgrade the schema first.")
def serve(
    host: str | None, port: int | None, workers: int | None, no_engine: bool, migrate_first: bool
) -> None:
    # Worker processes read their settings from the environment, so options go there too.
    for name, value in (("HOST", host), ("PORT", port), ("WORKERS", workers)):
        if value is not None:
            os.environ[f"BATON_{name}"] = str(value)
    if no_engine:
        os.environ["BATON_ENGINE_ENABLED"] = "false"
    settings = _settings()
    try:
        # Before anything starts, so a container says why in one line, not a worker traceback.
        settings.check_production_safety()
    except InsecureSettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if migrate_first:
        upgrade_url(settings.database_url)
    configure_logging(settings.log_level, settings.log_format)
    click.echo(
        f"Baton is listening on http://{settings.host}:{settings.port}"
        + (f" with {settings.workers} processes" if settings.workers > 1 else ""),
        err=True,
    )
    uvicorn.run(
        "app.main:create_app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
        proxy_headers=True,
    )


@main.command(help="Exit 0 if the local server answers /healthz (for container health checks).")
@click.option("--timeout", default=3.0, show_default=True)
def healthcheck(timeout: float) -> None:
    settings = _settings()
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    try:
        response = httpx.get(f"http://{host}:{settings.port}/healthz", timeout=timeout)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"unhealthy: {exc}") from None
    if response.status_code != 200:
        raise click.ClickException(f"unhealthy: HTTP {response.status_code}")
    click.echo("ok")


@main.command(help="Upgrade the database schema (to the latest revision by default).")
@click.argument("revision", default="head")
def migrate(revision: str) -> None:
    settings = _settings()

    async def work(db: Database) -> None:
        await upgrade(db.engine, revision)

    _run(work, settings)
    click.echo(f"database schema is at {revision}", err=True)


@main.command(help="Downgrade the database schema to REVISION ('base' removes everything).")
@click.argument("revision")
@click.confirmation_option(prompt="Downgrading can drop data. Continue?")
def downgrade(revision: str) -> None:
    async def work(db: Database) -> None:
        await run_downgrade(db.engine, revision)

    _run(work)
    click.echo(f"database schema is at {revision}", err=True)


@main.command(
    help="Create the first admin if needed. Its API token is printed once, when it is made; "
    "`baton token create` makes another."
)
@click.option("--email", default=None, help="The admin's e-mail (BATON_BOOTSTRAP_ADMIN_EMAIL).")
@click.option("--name", default=None, help="The admin's name.")
def init(email: str | None, name: str | None) -> None:
    settings = _settings()
    preset = settings.bootstrap_token.get_secret_value() if settings.bootstrap_token else None
    admin_email = (email or settings.bootstrap_admin_email).strip().lower()

    async def work(db: Database) -> IssuedToken | None:
        async with db.transaction() as session:
            audit_service.act_as(session, audit_service.Actor.cli(_os_user()))
            _, issued = await ensure_bootstrap_admin(
                session,
                email=admin_email,
                name=name or settings.bootstrap_admin_name,
                token_secret=preset,
            )
        return issued

    issued = _run(work, settings)
    if preset is not None:
        # The operator chose it and has it; a console (or a CI log) is no place to repeat it.
        click.echo(f"Admin {admin_email} uses the token in BATON_BOOTSTRAP_TOKEN.", err=True)
    elif issued is not None:
        click.echo(f"Admin token: {issued.secret}")
        users_url = f"{settings.public_url}/api/v1/users"
        click.echo(f"Try: curl -H 'Authorization: Bearer {issued.secret}' {users_url}")
        click.echo("It is shown only now. `baton token create` makes another.", err=True)
    else:
        click.echo(
            f"Admin {admin_email} already has an API token (printed when it was made). "
            f"Another: baton token create --email {admin_email}",
            err=True,
        )
    click.echo(
        f"Web UI: open {settings.public_url}/ and sign in by pasting an API token, or ask for a "
        f"sign-in link for {admin_email} (or any user's e-mail address): with no e-mail "
        "provider configured the link is printed on the console running `baton serve`.",
        err=True,
    )


@main.command(help="Make the database match a declarative YAML file (idempotent).")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--prune", is_flag=True, help="Delete what an earlier apply created and the file no longer has."
)
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option(
    "--by",
    default=None,
    help="Who applies, for the audit log (default: the login name; in CI, say the committer).",
)
def apply(file: Path, prune: bool, dry_run: bool, by: str | None) -> None:
    try:
        config = load_config_file(file)
    except ConfigFileError as exc:
        raise click.ClickException(str(exc)) from None

    class _DryRun(Exception):
        pass

    async def work(db: Database) -> ApplyReport:
        report = ApplyReport()
        try:
            async with db.transaction() as session:
                report = await apply_config(
                    session, config, prune=prune, by=by or _os_user(), source=str(file)
                )
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        return report

    try:
        report = _run(work)
    except ConfigFileError as exc:
        raise click.ClickException(str(exc)) from None
    for change in report.changes:
        if change.action is not Action.UNCHANGED:
            click.echo(change.describe())
    prefix = "dry run: would apply" if dry_run else "applied"
    click.echo(f"{prefix} {file}: {report.summary()}", err=True)


@main.group(help="API tokens.")
def token() -> None:
    pass


@token.command("create", help="Issue an API token for a user (shown once).")
@click.option("--email", required=True)
@click.option("--name", default="cli")
def token_create(email: str, name: str) -> None:
    async def work(db: Database) -> str:
        async with db.transaction() as session:
            audit_service.act_as(session, audit_service.Actor.cli(_os_user()))
            user = await get_user_by_email(session, email)
            if user is None:
                raise click.ClickException(f"no user with e-mail {email}")
            return (await issue_token(session, user.id, name)).secret

    click.echo(_run(work))


@main.command(help="Print who is on call (responders, shadows, until when) now or --at a time.")
@click.argument("schedule", required=False)
@click.option("--at", "at_text", default=None, help="ISO 8601 time (UTC without an offset).")
def oncall(schedule: str | None, at_text: str | None) -> None:
    try:
        at = parse_instant(at_text) if at_text else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None

    async def work(db: Database) -> str:
        async with db.transaction() as session:
            return await oncall_report(session, schedule, at or db.clock.now())

    try:
        click.echo(_run(work))
    except UnknownSchedule as exc:
        raise click.ClickException(str(exc)) from None


@main.command(help="Print who changed which configuration (the audit log), newest first.")
@click.option("--entity", "entity_type", default=None, help="user, team, service, layer, ...")
@click.option("--entity-id", type=int, default=None)
@click.option("--user", "actor", default=None, help="Changes by this user (e-mail or id).")
@click.option(
    "--kind",
    "actor_kind",
    type=click.Choice(["user", "apply", "cli", "system"]),
    default=None,
    help="Changes by people, `baton apply`, other commands, or Baton itself.",
)
@click.option("--action", default=None, help="created, updated, deleted, revoked, applied, ...")
@click.option("--since", default=None, help="ISO 8601 time (UTC without an offset).")
@click.option("--until", default=None, help="ISO 8601 time (UTC without an offset).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def audit(
    entity_type: str | None,
    entity_id: int | None,
    actor: str | None,
    actor_kind: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    if entity_type is not None and entity_type not in set(EntityType):
        choices = ", ".join(sorted(EntityType))
        raise click.BadParameter(f"not one of {choices}", param_hint="--entity")
    instants = {}
    for option, value in (("--since", since), ("--until", until)):
        try:
            instants[option] = parse_instant(value) if value else None
        except (ValueError, OverflowError) as exc:
            raise click.BadParameter(str(exc), param_hint=option) from None

    async def work(db: Database) -> list[str]:
        async with db.transaction() as session:
            actor_user_id = None
            if actor is not None:
                if actor.isdigit():
                    actor_user_id = int(actor)
                else:
                    user = await get_user_by_email(session, actor)
                    if user is None:
                        raise click.BadParameter(
                            f"no user with e-mail {actor}", param_hint="--user"
                        )
                    actor_user_id = user.id
            criteria = audit_service.AuditFilter(
                actor_user_id=actor_user_id,
                actor_kind=ActorKind(actor_kind) if actor_kind else None,
                entity_type=EntityType(entity_type) if entity_type else None,
                entity_id=entity_id,
                action=action,
                since=instants["--since"],
                until=instants["--until"],
            )
            records, _ = await audit_service.list_records(
                session, criteria, PageParams(limit=limit, after_id=None)
            )
            line = terminal.record_json if as_json else terminal.record_line
            return [line(r) for r in records]

    lines = _run(work)
    for line in lines:
        click.echo(line)
    if not lines and not as_json:
        click.echo("no audit records match", err=True)


# ------------------------------------------------------------------- incidents, through the API


def _api_call(method: str, path: str, url: str | None, token: str | None, **kwargs: Any) -> Any:
    """Incident commands go through the HTTP API, as the person whose token is used."""
    base = (url or _settings().public_url).rstrip("/")
    if not token:
        raise click.ClickException("an API token is needed: --token or BATON_TOKEN")
    try:
        response = httpx.request(
            method,
            f"{base}{path}",
            timeout=30,
            headers={"Authorization": f"Bearer {token}"},
            **kwargs,
        )
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach Baton at {base}: {exc}") from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise click.ClickException(f"{response.status_code}: {detail}")
    return response.json() if response.content else None


_url_option = click.option(
    "--url",
    envvar="BATON_URL",
    default=None,
    help="Baton's URL (BATON_URL; default BATON_PUBLIC_URL).",
)
_token_option = click.option(
    "--token", envvar="BATON_TOKEN", default=None, help="Your API token (BATON_TOKEN)."
)


def _incident_line(incident: dict[str, Any]) -> str:
    return (
        f"#{incident['id']:<6} {incident['state']:<12} {incident['urgency']:<4} "
        f"{incident['created_at'][:16]}  {incident['title']}"
    )


@main.command(help="List incidents (open ones by default).")
@click.option("--all", "show_all", is_flag=True, help="Include resolved incidents.")
@click.option("--mine", is_flag=True, help="Only incidents assigned to me.")
@click.option("--service", "service_id", type=int, default=None)
@_url_option
@_token_option
def incidents(
    show_all: bool, mine: bool, service_id: int | None, url: str | None, token: str | None
) -> None:
    params: dict[str, Any] = {"limit": 100, "assigned_to_me": mine}
    if not show_all:
        params["state"] = ["triggered", "acknowledged"]
    if service_id is not None:
        params["service_id"] = service_id
    page = _api_call("GET", "/api/v1/incidents", url, token, params=params)
    for incident in page["items"]:
        click.echo(_incident_line(incident))
    if not page["items"]:
        click.echo("no incidents")


@main.command(help="Acknowledge an incident: escalation stops.")
@click.argument("incident_id", type=int)
@_url_option
@_token_option
def ack(incident_id: int, url: str | None, token: str | None) -> None:
    click.echo(
        _incident_line(
            _api_call("POST", f"/api/v1/incidents/{incident_id}/acknowledge", url, token)
        )
    )


@main.command(help="Resolve an incident, optionally with a note.")
@click.argument("incident_id", type=int)
@click.option("--note", default="", help="What fixed it.")
@_url_option
@_token_option
def resolve(incident_id: int, note: str, url: str | None, token: str | None) -> None:
    click.echo(
        _incident_line(
            _api_call(
                "POST", f"/api/v1/incidents/{incident_id}/resolve", url, token, json={"note": note}
            )
        )
    )


if __name__ == "__main__":
    sys.exit(main())
