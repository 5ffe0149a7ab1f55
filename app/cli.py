"""The ``baton`` command."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
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


class ApiError(click.ClickException):
    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient  # unreachable, or a 5xx: asking again later may work


def _api_call(method: str, path: str, url: str | None, token: str | None, **kwargs: Any) -> Any:
    """Incident and deploy commands go through the HTTP API, as the person whose token is
    used."""
    base = (url or _settings().public_url).rstrip("/")
    if not token:
        raise click.ClickException("an API token is needed: --token or BATON_TOKEN")
    try:
        response = httpx.request(
            method,
            f"{base}{path}",
            timeout=30,
            # The user agent tells Baton a deploy came from this command (its source: cli).
            headers={"Authorization": f"Bearer {token}", "User-Agent": "baton-cli"},
            **kwargs,
        )
    except httpx.HTTPError as exc:
        raise ApiError(f"cannot reach Baton at {base}: {exc}", transient=True) from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise ApiError(f"{response.status_code}: {detail}", transient=response.status_code >= 500)
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


# ------------------------------------------------------------------- deploys, through the API

_DEPLOY_STATUSES = ("started", "succeeded", "failed", "rolled_back")
_DURATION_PART = re.compile(r"(\d+)([smh])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """``30s``, ``10m``, ``1h`` or sums of them (``1h30m``), in seconds."""
    cleaned = text.strip().lower()
    parts = _DURATION_PART.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise ValueError(f"{text!r} is not a duration like 30s, 10m or 1h")
    return float(sum(int(n) * _UNIT_SECONDS[u] for n, u in parts))


class _Duration(click.ParamType):
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class WatchClock:
    """How ``baton deploy watch`` tells time and waits; tests hand in one that only pretends,
    as the click context's ``obj`` (``CliRunner().invoke(main, ..., obj=clock)``)."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class WatchError(click.ClickException):
    """The watch could not get a verdict: a pipeline must tell this from "suspect" (1)."""

    exit_code = 2


def _deploy_line(deployment: dict[str, Any]) -> str:
    """The id first, so a script takes it with ``cut -d' ' -f1``."""
    line = (
        f"{deployment['id']} {deployment['service_name']} {deployment['version']} "
        f"{deployment['status']}"
    )
    return f"{line} in {deployment['environment']}" if deployment["environment"] else line


def _service_reference(service: str) -> str | int:
    return int(service) if service.isdigit() else service


def _id_by_name(
    path: str, what: str, reference: str, url: str | None, token: str | None, **params: Any
) -> int:
    """An id given as is, or the id of the one ``what`` of that name (case-insensitive)."""
    if reference.isdigit():
        return int(reference)
    query: dict[str, Any] = {"limit": 100, **params}
    while True:
        page = _api_call("GET", path, url, token, params=query)
        for item in page["items"]:
            if item["name"].lower() == reference.lower():
                return int(item["id"])
        if not page.get("next_cursor"):
            raise click.ClickException(f"404: {what} {reference!r} not found")
        query["cursor"] = page["next_cursor"]


def _service_id(reference: str, url: str | None, token: str | None) -> int:
    return _id_by_name("/api/v1/services", "service", reference, url, token, q=reference)


@main.group(
    invoke_without_command=True,
    help="Record a deploy (baton deploy --service S --version V), or follow one: "
    "`baton deploy watch ID` is a gate for a pipeline, `baton deploy finish ID` reports how it "
    "ended. The deploy's id is the first word printed.",
)
@click.option("--service", default=None, help="The service's name (or id).")
@click.option("--version", "version_", default=None, help="What was deployed: a tag, a build.")
@click.option("--commit", "commit_sha", default="", help="The commit SHA.")
@click.option(
    "--status",
    type=click.Choice(_DEPLOY_STATUSES),
    default="succeeded",
    show_default=True,
    help="`started` opens a deploy that `baton deploy finish` ends.",
)
@click.option("--environment", default="", help="production, staging, ... (empty: unnamed).")
@click.option("--deployer", default="", help="Who deployed: a Baton user's e-mail, or a name.")
@click.option(
    "--external-id",
    default=None,
    help="The pipeline's id for this deploy (e.g. the run id): sending it again changes nothing.",
)
@click.option("--summary", default="", help="One line on what changed.")
@click.option("--repository-url", default="", help="The repository the commit is in.")
@click.option("--link", "links", multiple=True, help="A URL to show with the deploy (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print Baton's answer as JSON.")
@_url_option
@_token_option
@click.pass_context
def deploy(
    ctx: click.Context,
    service: str | None,
    version_: str | None,
    commit_sha: str,
    status: str,
    environment: str,
    deployer: str,
    external_id: str | None,
    summary: str,
    repository_url: str,
    links: tuple[str, ...],
    as_json: bool,
    url: str | None,
    token: str | None,
) -> None:
    if ctx.invoked_subcommand is not None:
        if service is not None or version_ is not None:
            raise click.UsageError(
                f"--service and --version record a deploy; `{ctx.invoked_subcommand}` takes none"
            )
        return
    if service is None or version_ is None:
        raise click.UsageError(
            "recording a deploy needs --service and --version "
            "(or a command: `baton deploy watch ID`, `baton deploy finish ID`)"
        )
    body: dict[str, Any] = {
        "service": _service_reference(service),
        "version": version_,
        "status": status,
        "environment": environment,
        "deployer": deployer,
        "summary": summary,
        "commit_sha": commit_sha,
        "repository_url": repository_url,
        "links": [{"href": link} for link in links],
    }
    if external_id is not None:
        body["external_id"] = external_id
    made = _api_call("POST", "/api/v1/deployments", url, token, json=body)
    click.echo(json.dumps(made) if as_json else _deploy_line(made))


@deploy.command("finish", help="Report how a started deploy ended.")
@click.argument("deployment_id", type=int)
@click.option(
    "--status", type=click.Choice(_DEPLOY_STATUSES[1:]), default="succeeded", show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Print Baton's answer as JSON.")
@_url_option
@_token_option
def deploy_finish(
    deployment_id: int, status: str, as_json: bool, url: str | None, token: str | None
) -> None:
    done = _api_call(
        "PATCH", f"/api/v1/deployments/{deployment_id}", url, token, json={"status": status}
    )
    click.echo(json.dumps(done) if as_json else _deploy_line(done))


def _verdict_report(deployment_id: int, answer: dict[str, Any]) -> list[str]:
    lines = [f"deploy {deployment_id}: {answer['verdict']}"]
    for incident in answer["incidents"]:
        lines.append(
            f"  #{incident['incident_id']:<6} {incident['state']:<12} {incident['verdict']:<9} "
            f"{incident['minutes_after_deploy']} min after the deploy  {incident['title']}"
        )
    return lines


@deploy.command(
    "watch",
    help="Wait while the pager watches a deploy: exit 1 as soon as an incident makes it suspect "
    "(or it failed), 0 if it is still clean after --for (or when its watch window closes), "
    "2 if Baton cannot say.",
)
@click.argument("deployment_id", type=int)
@click.option(
    "--for", "period", type=_Duration(), required=True, help="How long to watch: 30s, 10m, 1h."
)
@click.option(
    "--interval", type=_Duration(), default="15s", show_default=True, help="Time between checks."
)
@click.option("--json", "as_json", is_flag=True, help="Print the last verdict as JSON.")
@_url_option
@_token_option
@click.pass_context
def deploy_watch(
    ctx: click.Context,
    deployment_id: int,
    period: float,
    interval: float,
    as_json: bool,
    url: str | None,
    token: str | None,
) -> None:
    if interval < 1:
        raise click.BadParameter("at least 1s", param_hint="--interval")
    clock = ctx.obj if isinstance(ctx.obj, WatchClock) else WatchClock()
    deadline = clock.monotonic() + period
    path = f"/api/v1/deployments/{deployment_id}/verdict"
    checked = False
    while True:
        try:
            answer = _api_call("GET", path, url, token)
        except click.ClickException as exc:
            # A wrong id or token ends the watch at once; Baton being briefly unreachable (or
            # restarting behind a proxy) after a first answer does not, while time is left.
            transient = isinstance(exc, ApiError) and exc.transient
            if not checked or not transient or clock.monotonic() >= deadline:
                raise WatchError(exc.message) from None
            click.echo(f"deploy {deployment_id}: {exc.message}; trying again", err=True)
        else:
            checked = True
            if answer["verdict"] != "clean":
                _print_verdict(deployment_id, answer, as_json)
                ctx.exit(1)
            if clock.monotonic() >= deadline or not answer["watching"]:
                _print_verdict(deployment_id, answer, as_json)
                return
            click.echo(f"deploy {deployment_id}: clean so far", err=True)
        clock.sleep(max(0.0, min(interval, deadline - clock.monotonic())))


def _print_verdict(deployment_id: int, answer: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(answer))
    else:
        for line in _verdict_report(deployment_id, answer):
            click.echo(line)


# ------------------------------------------------------------------- metrics, through the API

_AGO = re.compile(r"(\d+)([hdw])")
_AGO_HOURS = {"h": 1, "d": 24, "w": 24 * 7}


def parse_since(text: str, now: datetime) -> datetime:
    """``30d``, ``12h``, ``2w`` before ``now``, or an ISO 8601 instant (UTC without an
    offset)."""
    found = _AGO.fullmatch(text.strip().lower())
    if found:
        return now - timedelta(hours=int(found.group(1)) * _AGO_HOURS[found.group(2)])
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a time like 30d, 12h, 2w nor an ISO 8601 time"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f} min"


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.0f}%"


def report_table(report: dict[str, Any]) -> list[str]:
    """A service's metrics as two aligned columns."""
    incidents, dora = report["incidents"], report["dora"]
    mtta, mttr = incidents["mtta"], incidents["mttr"]
    lead, recovery = dora["change_lead_time"], dora["recovery_time"]

    def band(name: str) -> str:
        return f" ({report['dora'][name]})" if report["dora"][name] else ""

    rows = [
        ("service", report["service_name"]),
        ("window", f"{report['since'][:16]} to {report['until'][:16]} UTC"),
        ("incidents", str(incidents["incidents"])),
        (
            "MTTA median / p90 / mean",
            " / ".join(_minutes(mtta[k]) for k in ("median", "p90", "mean")),
        ),
        (
            "MTTR median / p90 / mean",
            " / ".join(_minutes(mttr[k]) for k in ("median", "p90", "mean")),
        ),
        (
            "escalated to step 2",
            f"{incidents['escalated']} ({_percent(incidents['escalation_rate'])})",
        ),
        ("flapping (self-resolved <5 min)", str(incidents["flapping"])),
        ("outside business hours", _percent(incidents["out_of_hours_share"])),
        *(
            (f"noisy alert #{n + 1}", f"{a['key']} ({a['count']})")
            for n, a in enumerate(incidents["noisiest_alerts"][:3])
        ),
        (
            "deploys",
            f"{dora['deployments']} ({dora['deployments_per_day']:.2f}/day)"
            f"{band('deployment_frequency_band')}",
        ),
        ("change lead time (median)", f"{_minutes(lead['median'])}{band('change_lead_time_band')}"),
        (
            "change failure rate",
            f"{_percent(dora['change_failure_rate'])}{band('change_failure_rate_band')}",
        ),
        ("recovery time (median)", f"{_minutes(recovery['median'])}{band('recovery_time_band')}"),
        ("bands from", f"{dora['report']}"),
    ]
    width = max(len(label) for label, _ in rows)
    return [f"{label:<{width}}  {value}" for label, value in rows]


@main.command(help="Print a service's metrics over a window: incidents, MTTA/MTTR, DORA.")
@click.option("--service", required=True, help="The service's name (or id).")
@click.option(
    "--since", "since_text", default="30d", show_default=True, help="30d, 12h, 2w or an ISO time."
)
@click.option("--until", "until_text", default=None, help="An ISO 8601 time (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print Baton's answer as JSON.")
@_url_option
@_token_option
def report(
    service: str,
    since_text: str,
    until_text: str | None,
    as_json: bool,
    url: str | None,
    token: str | None,
) -> None:
    now = SystemClock().now()
    try:
        until = parse_since(until_text, now) if until_text else now
        since = parse_since(since_text, until)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    reference = _service_id(service, url, token)
    params = {"since": since.isoformat(), "until": until.isoformat()}
    path = f"/api/v1/metrics/services/{reference}"
    found_report = _api_call("GET", path, url, token, params=params)
    if as_json:
        click.echo(json.dumps(found_report))
        return
    for line in report_table(found_report):
        click.echo(line)


# ---------------------------------------------------------- readiness and support, through the API


def _when(instant: str | None) -> str:
    return f"{instant[:16].replace('T', ' ')} UTC" if instant else "-"


def _team_name(team_id: int | None, url: str | None, token: str | None) -> str:
    if team_id is None:
        return "no Ops team"
    return str(_api_call("GET", f"/api/v1/teams/{team_id}", url, token)["name"])


def readiness_lines(view: dict[str, Any], ops_team: str) -> list[str]:
    """A service's readiness: the score and band, each item, what is open, the last moves."""
    current = view["current"]
    support = "its developers" if view["support_model"] == "dev" else f"Ops ({ops_team})"
    if view["handed_back"]:
        support += f", handed back ({ops_team} consults)"
    lines = [
        f"{view['service_name']}: {current['score']}/100, {current['band'].replace('_', ' ')}",
        f"supported by {support}",
    ]
    if view["support_model"] == "dev":
        lines.append(
            "hand-over: allowed"
            if view["handover_allowed"]
            else "hand-over: blocked by required items: " + ", ".join(view["failing_required"])
        )
    width = max((len(r["key"]) for r in current["results"]), default=0)
    for result in current["results"]:
        lines.append(
            f"  {'met' if result['met'] else 'NOT MET':<7}  "
            f"{'required' if result['required'] else 'optional':<8}  {result['weight']:>3}  "
            f"{result['key']:<{width}}  {result['title']}: {result['evidence']}"
        )
    request = view["open_handover"]
    if request is not None:
        note = f": {request['note']}" if request["note"] else ""
        lines.append(
            f"open hand-over request {request['id']} to {ops_team}, "
            f"requested {_when(request['requested_at'])}{note}"
        )
    proposal = view["open_proposal"]
    if proposal is not None:
        due = (
            f", takes effect {_when(proposal['due_at'])} unless answered"
            if proposal["due_at"]
            else ", waits for Ops's answer"
        )
        lines.append(f"open handback proposal {proposal['id']}{due}")
        lines += [f"  breach: {b['title']}: {b['evidence']}" for b in proposal["breaches"]]
    if view["transitions"]:
        lines.append("last transitions:")
    for move in view["transitions"][:5]:
        overridden = " (overriding failing required items)" if move["overridden"] else ""
        reason = f": {move['reason']}" if move["reason"] else ""
        lines.append(
            f"  {_when(move['decided_at'])}  {move['direction']} {move['from_support']} -> "
            f"{move['to_support']} by {move['decided_by_name']}{overridden}{reason}"
        )
    return lines


def overview_lines(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["no services"]
    width = max(len(r["service_name"]) for r in rows)
    lines = []
    for row in rows:
        score = "-" if row["score"] is None else f"{row['score']}/100"
        band = (row["band"] or "not evaluated").replace("_", " ")
        flags = [
            flag
            for flag, on in (
                ("hand-over requested", row["open_handover"]),
                ("handback proposed", row["open_proposal"]),
            )
            if on
        ]
        lines.append(
            f"{row['service_name']:<{width}}  {row['support_model']:<3}  {score:>7}  {band}"
            + (f"  ({', '.join(flags)})" if flags else "")
        )
    return lines


def _readiness_view(service: str, url: str | None, token: str | None) -> dict[str, Any]:
    service_id = _service_id(service, url, token)
    view: dict[str, Any] = _api_call("GET", f"/api/v1/services/{service_id}/readiness", url, token)
    return view


def _echo(answer: Any, as_json: bool, line: str) -> None:
    click.echo(json.dumps(answer) if as_json else line)


@main.command(
    help="Print a service's launch readiness: score, band, each item with its evidence, the "
    "open hand-over request or handback proposal, the last transitions. Without SERVICE: every "
    "service's latest score, the lowest first."
)
@click.argument("service", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print Baton's answer as JSON.")
@_url_option
@_token_option
def readiness(service: str | None, as_json: bool, url: str | None, token: str | None) -> None:
    if service is None:
        rows = _api_call("GET", "/api/v1/readiness", url, token)
        if as_json:
            click.echo(json.dumps(rows))
            return
        for line in overview_lines(rows):
            click.echo(line)
        return
    view = _readiness_view(service, url, token)
    if as_json:
        click.echo(json.dumps(view))
        return
    for line in readiness_lines(view, _team_name(view["ops_team_id"], url, token)):
        click.echo(line)


def _one_of(**choices: bool) -> str | None:
    chosen = [name for name, on in choices.items() if on]
    if len(chosen) > 1:
        raise click.UsageError(" and ".join(f"--{n}" for n in chosen) + " exclude each other")
    return chosen[0] if chosen else None


def _refuse_options(action: str, **given: object) -> None:
    extra = [f"--{name.replace('_', '-')}" for name, value in given.items() if value]
    if extra:
        raise click.UsageError(f"{', '.join(extra)} cannot be used {action}")


@main.command(
    help="Ask an Ops team to take SERVICE on (--ops-team, default the service's), or answer its "
    "open hand-over request: --accept --policy POLICY (Ops's escalation policy), or --decline "
    "--reason. Refused while required items fail, unless an admin gives --override-reason."
)
@click.argument("service")
@click.option("--ops-team", default=None, help="The Ops team's name (or id).")
@click.option("--note", default="", help="A note for the Ops team.")
@click.option("--accept", is_flag=True, help="Accept the open request (Ops).")
@click.option("--decline", is_flag=True, help="Decline the open request (Ops).")
@click.option("--policy", default=None, help="With --accept: Ops's escalation policy (name or id).")
@click.option(
    "--keep-developers",
    is_flag=True,
    help="With --accept: the developers' first step after Ops's last (a copy of the policy).",
)
@click.option(
    "--override-reason",
    default="",
    help="With --accept, admins only: accept while required items fail, saying why.",
)
@click.option("--reason", default="", help="With --decline: why.")
@click.option("--json", "as_json", is_flag=True, help="Print Baton's answer as JSON.")
@_url_option
@_token_option
def handover(
    service: str,
    ops_team: str | None,
    note: str,
    accept: bool,
    decline: bool,
    policy: str | None,
    keep_developers: bool,
    override_reason: str,
    reason: str,
    as_json: bool,
    url: str | None,
    token: str | None,
) -> None:
    answer = _one_of(accept=accept, decline=decline)
    if answer is None:
        _refuse_options(
            "when requesting a hand-over (they answer one)",
            policy=policy,
            keep_developers=keep_developers,
            override_reason=override_reason,
            reason=reason,
        )
        service_id = _service_id(service, url, token)
        body: dict[str, Any] = {"note": note}
        if ops_team is not None:
            body["ops_team_id"] = _id_by_name(
                "/api/v1/teams", "team", ops_team, url, token, q=ops_team
            )
        made = _api_call("POST", f"/api/v1/services/{service_id}/handover", url, token, json=body)
        _echo(made, as_json, f"hand-over request {made['id']} for {service}: open")
        return
    _refuse_options(f"with --{answer}", ops_team=ops_team, note=note)
    if answer == "accept":
        _refuse_options("with --accept (it takes --override-reason)", reason=reason)
        if policy is None:
            raise click.UsageError("--accept needs --policy: Ops's escalation policy")
    else:
        _refuse_options(
            "with --decline",
            policy=policy,
            keep_developers=keep_developers,
            override_reason=override_reason,
        )
        if not reason.strip():
            raise click.UsageError("--decline needs --reason")
    view = _readiness_view(service, url, token)
    request = view["open_handover"]
    if request is None:
        raise click.ClickException(f"{view['service_name']} has no open hand-over request")
    path = f"/api/v1/handover-requests/{request['id']}/{answer}"
    if answer == "decline":
        declined = _api_call("POST", path, url, token, json={"reason": reason})
        _echo(declined, as_json, f"hand-over request {request['id']} for {service}: declined")
        return
    policy_id = _id_by_name(
        "/api/v1/escalation-policies", "escalation policy", policy or "", url, token
    )
    moved = _api_call(
        "POST",
        path,
        url,
        token,
        json={
            "escalation_policy_id": policy_id,
            "keep_developers": keep_developers,
            "override_reason": override_reason,
        },
    )
    overridden = " (overriding failing required items)" if moved["overridden"] else ""
    _echo(
        moved,
        as_json,
        f"{view['service_name']} is now supported by Ops at readiness {moved['score']}/100"
        f"{overridden}",
    )


@main.command(
    help="Hand SERVICE back to its developers now (Ops; --reason), or answer its open handback "
    "proposal: --accept or --decline (--reason required)."
)
@click.argument("service")
@click.option("--accept", is_flag=True, help="Accept the open proposal.")
@click.option("--decline", is_flag=True, help="Decline the open proposal: Ops keeps it.")
@click.option("--reason", default="", help="Why (needed to hand back or to decline).")
@click.option("--json", "as_json", is_flag=True, help="Print Baton's answer as JSON.")
@_url_option
@_token_option
def handback(
    service: str,
    accept: bool,
    decline: bool,
    reason: str,
    as_json: bool,
    url: str | None,
    token: str | None,
) -> None:
    answer = _one_of(accept=accept, decline=decline)
    if answer != "accept" and not reason.strip():
        raise click.UsageError(
            "--decline needs --reason" if answer else "handing back needs --reason"
        )
    if answer is None:
        service_id = _service_id(service, url, token)
        moved = _api_call(
            "POST", f"/api/v1/services/{service_id}/handback", url, token, json={"reason": reason}
        )
        _echo(moved, as_json, f"{service} is back with its developers")
        return
    view = _readiness_view(service, url, token)
    proposal = view["open_proposal"]
    if proposal is None:
        raise click.ClickException(f"{view['service_name']} has no open handback proposal")
    done = _api_call(
        "POST",
        f"/api/v1/handback-proposals/{proposal['id']}/{answer}",
        url,
        token,
        json={"reason": reason},
    )
    line = (
        f"{view['service_name']} is back with its developers"
        if answer == "accept"
        else f"handback proposal {proposal['id']} for {view['service_name']}: declined"
    )
    _echo(done, as_json, line)


if __name__ == "__main__":
    sys.exit(main())
