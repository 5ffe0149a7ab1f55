"""A real ``baton serve`` loaded with the demo organisation (``make run``'s three steps), and
what its console notifier printed: sign-in links and pages."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.processes import BATON, REPO, BatonProcess, wait_until

DEMO_CONFIG = REPO / "config" / "demo.yaml"
DEMO_ADMIN = "admin@example.com"
# The console notifier's line: "[baton page] <at> <kind> -> <type>:<address> | <subject> | <text>".
CONSOLE_LINE = re.compile(
    r"^\[baton page\] (?P<at>\S+) (?P<kind>\S+) -> (?P<address>\S+) \| (?P<subject>.*?) \| "
    r"(?P<text>.*)$"
)
SIGN_IN_LINK = re.compile(r"https?://\S+/sign-in/link\?token=\d+")


@dataclass(frozen=True)
class ConsoleMessage:
    kind: str
    address: str
    subject: str
    text: str

    @property
    def line(self) -> str:
        return f"{self.kind} -> {self.address} | {self.subject} | {self.text}"


class DemoBaton(BatonProcess):
    """``baton migrate``, ``baton apply config/demo.yaml``, ``baton init``, ``baton serve``."""

    def prepare(self) -> DemoBaton:
        env = self.env()
        for command in (["migrate"], ["apply", str(DEMO_CONFIG)], ["init"]):
            done = subprocess.run(
                [BATON, *command], cwd=REPO, env=env, capture_output=True, text=True, check=False
            )
            assert done.returncode == 0, f"baton {' '.join(command)}:\n{done.stdout}{done.stderr}"
        return self

    def console(self, since: int = 0) -> list[ConsoleMessage]:
        """The console notifier's messages, from the ``since``-th on."""
        found = []
        for line in self.logs().splitlines():
            match = CONSOLE_LINE.match(line)
            if match:
                found.append(
                    ConsoleMessage(match["kind"], match["address"], match["subject"], match["text"])
                )
        return found[since:]

    def console_count(self) -> int:
        return len(self.console())

    def wait_for_message(
        self, matches: object, *, since: int = 0, timeout: float = 30, what: str = ""
    ) -> ConsoleMessage:
        """The first console message from ``since`` on for which ``matches(message)`` holds."""

        def found() -> ConsoleMessage | None:
            return next((m for m in self.console(since) if matches(m)), None)  # type: ignore[operator]

        return wait_until(found, timeout=timeout, what=what or "a console message")

    def sign_in_link(self, email: str, *, since: int, timeout: float = 30) -> str:
        """The sign-in link printed for ``email`` after the ``since``-th console message."""
        message = self.wait_for_message(
            lambda m: m.address == f"email:{email}" and SIGN_IN_LINK.search(m.text),
            since=since,
            timeout=timeout,
            what=f"a sign-in link for {email}",
        )
        link = SIGN_IN_LINK.search(message.text)
        assert link is not None
        return link.group(0)


def demo_env() -> dict[str, str]:
    """Settings of the demo server under test: generous sign-in limits (every scenario signs in),
    no outside network."""
    return {
        "BATON_WEB_SIGN_IN_LIMIT_PER_EMAIL": "1000/1m",
        "BATON_WEB_SIGN_IN_LIMIT_PER_ADDRESS": "1000/1m",
        "BATON_AUTH_FAILURE_LIMIT": "1000/1m",
    }


def start_demo(database_url: str, token: str, logs: Path) -> DemoBaton:
    baton = DemoBaton(database_url, token, env_extra=demo_env())
    baton.prepare()
    return baton.start(logs)  # type: ignore[return-value]
