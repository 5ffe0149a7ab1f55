"""A hook: what a lower package needs from a higher one, installed at start-up.

Packages import downwards only (the contracts in ``pyproject.toml``). When a lower package needs
something only a higher one can do (the schedules queue a message in notify's outbox), it names
what it needs as a :class:`Hook`, and ``app.wiring.wire`` installs the higher package's function
into it. A hook that nobody installed fails loudly instead of doing nothing.
"""

from __future__ import annotations

from typing import Generic, TypeVar

F = TypeVar("F")


class NotWired(RuntimeError):
    """A hook was used in a process that did not install it (``app.wiring.wire``)."""


class Hook(Generic[F]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._installed: F | None = None

    def install(self, function: F) -> None:
        """Installing again replaces the function: wiring twice changes nothing."""
        self._installed = function

    @property
    def call(self) -> F:
        if self._installed is None:
            raise NotWired(f"nothing installed for {self.name}: call app.wiring.wire() at start-up")
        return self._installed
