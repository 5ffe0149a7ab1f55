"""``config/slack-manifest.yaml`` names every command and URL Baton serves, and the scopes of
exactly the Web API methods Baton calls."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from app.core.auth import PUBLIC_AUTH_KEY
from app.core.settings import Environment, Settings
from app.integrations.slack.commands import COMMANDS
from app.main import create_app

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = ROOT / "config" / "slack-manifest.yaml"

# Bot-token scopes Slack accepts for each method (any one of them will do), from the methods'
# reference pages on api.slack.com. A method Baton starts calling must be added here.
METHOD_SCOPES: dict[str, set[str]] = {
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "conversations.open": {"im:write", "mpim:write", "channels:manage", "groups:write"},
    "users.info": {"users:read"},
    "users.lookupByEmail": {"users:read.email"},
    "views.open": set(),  # works with any token, through the trigger of a user's action
    "usergroups.users.update": {"usergroups:write"},
    "conversations.setTopic": {
        "channels:write.topic",
        "groups:write.topic",
        "channels:manage",
        "groups:write",
    },
}
# Scopes no Web API call needs: slash commands, and the e-mail field users.info returns only
# with users:read.email (linking by e-mail).
OTHER_NEEDS = {"commands", "users:read.email"}
_CALL = re.compile(r"\bclient\.([a-z]+(?:_[A-Za-z]+)+)\(")


def manifest() -> dict:
    data = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(data, dict)
    return data


def methods_baton_calls() -> set[str]:
    """Every ``AsyncWebClient`` method called in app/, as Slack names it (chat_postMessage →
    chat.postMessage)."""
    found: set[str] = set()
    for source in (ROOT / "app").rglob("*.py"):
        found |= {m.replace("_", ".") for m in _CALL.findall(source.read_text())}
    return found


def slack_routes() -> set[str]:
    """Paths of the routes that authenticate with Slack's signature (as OpenAPI shows them)."""
    app = create_app(Settings(env=Environment.TEST, database_url="sqlite+aiosqlite://"))
    return {
        path
        for path, operations in app.openapi()["paths"].items()
        for operation in operations.values()
        if (operation.get(PUBLIC_AUTH_KEY) or {}).get("kind") == "slack-signature"
    }


def test_the_manifest_is_a_slack_app_manifest() -> None:
    data = manifest()
    assert data["display_information"]["name"] == "Baton"
    assert data["features"]["bot_user"]["display_name"] == "Baton"
    assert data["settings"]["interactivity"]["is_enabled"] is True
    for command in data["features"]["slash_commands"]:
        assert command["should_escape"] is True, "mentions must arrive as <@U…>"
        assert len(command["description"]) <= 100


def test_it_names_every_command_and_url_baton_serves() -> None:
    data = manifest()
    commands = {c["command"]: c["url"] for c in data["features"]["slash_commands"]}
    assert set(commands) == set(COMMANDS)
    urls = [*commands.values(), data["settings"]["interactivity"]["request_url"]]
    assert {urlsplit(u).scheme for u in urls} == {"https"}
    assert len({urlsplit(u).netloc for u in urls}) == 1, "one BATON_PUBLIC_URL for all"
    assert {urlsplit(u).path for u in urls} == slack_routes()
    assert urlsplit(data["settings"]["interactivity"]["request_url"]).path == (
        "/api/v1/slack/interactions"
    )


def test_the_scopes_are_those_of_the_methods_baton_calls() -> None:
    called = methods_baton_calls()
    assert {"chat.postMessage", "views.open", "usergroups.users.update"} <= called
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, f"Baton calls {sorted(unknown)}: add their scopes to METHOD_SCOPES"
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    for method in called:
        needed = METHOD_SCOPES[method]
        assert not needed or needed & scopes, f"{method} needs one of {sorted(needed)}"
    justified = OTHER_NEEDS.union(*(METHOD_SCOPES[m] for m in called))
    assert scopes <= justified, f"scopes nothing needs: {sorted(scopes - justified)}"
    assert "chat:write.public" not in scopes
