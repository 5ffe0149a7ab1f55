"""What the pages share for the life of the process, built once from settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request

from app.core.clock import Clock
from app.core.ratelimit import RateLimit
from app.core.settings import Environment, Settings
from app.web.csrf import CsrfTokens
from app.web.throttle import SlidingWindow


@dataclass(frozen=True)
class WebContext:
    csrf: CsrfTokens
    public_url: str
    session_lifetime: timedelta
    link_lifetime: timedelta
    # Cookies go over HTTPS only in production; the demo runs on plain http://127.0.0.1.
    secure_cookies: bool
    links_per_email: SlidingWindow
    links_per_address: SlidingWindow

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> WebContext:
        return cls(
            csrf=CsrfTokens(settings.secret_key.get_secret_value()),
            public_url=settings.public_url,
            session_lifetime=timedelta(hours=settings.web_session_hours),
            link_lifetime=timedelta(minutes=settings.web_sign_in_link_minutes),
            secure_cookies=settings.env is Environment.PRODUCTION,
            links_per_email=SlidingWindow(
                clock, RateLimit.parse(settings.web_sign_in_limit_per_email)
            ),
            links_per_address=SlidingWindow(
                clock, RateLimit.parse(settings.web_sign_in_limit_per_address)
            ),
        )


def web_context(request: Request) -> WebContext:
    return request.app.state.web
