"""Rendering pages: one autoescaping Jinja2 environment, what every page's context holds, and
the filters and globals templates use (times in the viewer's zone, the CSRF field, static URLs).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from app.web import timefmt
from app.web.csrf import CSRF_FIELD

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
STATIC_PREFIX = "/static"


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str

    def is_current(self, path: str) -> bool:
        if self.path == "/":
            return path == "/"
        return path == self.path or path.startswith(self.path + "/")


# The navigation bar, and so the address of each area's pages.
NAVIGATION = (
    NavItem("On call", "/"),
    NavItem("Incidents", "/incidents"),
    NavItem("Reviews", "/reviews"),
    NavItem("Schedules", "/schedules"),
    NavItem("My on-call", "/me"),
    NavItem("Services", "/services"),
    NavItem("Readiness", "/readiness"),
    NavItem("Deploys", "/deploys"),
    NavItem("Pager load", "/pager-load"),
    NavItem("People", "/people"),
)


@lru_cache(maxsize=256)
def _file_version(path: str) -> str:
    return hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:12]


def static_url(path: str) -> str:
    """``/static/<path>?v=<content hash>``: cached for good, and a changed file is a new URL.
    A file that does not exist fails the page, so a typo shows up in the first test."""
    return f"{STATIC_PREFIX}/{path}?v={_file_version(path)}"


@pass_context
def _local_time(context: Context, value: datetime | None, with_date: bool = True) -> str:
    if value is None:
        return ""
    return timefmt.local_time(value, context["time_zone"], context["now"], with_date=with_date)


@pass_context
def _relative_time(context: Context, value: datetime | None) -> str:
    return "" if value is None else timefmt.relative_time(value, context["now"])


@pass_context
def _time_tag(context: Context, value: datetime | None, with_date: bool = True) -> Markup:
    """``<time datetime="...">Thu 2 Mar 09:00 CET</time>`` with the relative time as its title."""
    if value is None:
        return Markup("")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        value.isoformat(timespec="seconds"),
        _relative_time(context, value),
        _local_time(context, value, with_date),
    )


@pass_context
def _csrf_field(context: Context) -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FIELD, escape(context["csrf_token"])
    )


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        # A misspelt variable fails the page (and its test) instead of rendering as nothing.
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local_time"] = _local_time
    env.filters["relative_time"] = _relative_time
    env.globals.update(
        time_tag=_time_tag,
        csrf_field=_csrf_field,
        static_url=static_url,
        navigation=NAVIGATION,
    )
    return env


templates = Jinja2Templates(env=_environment())


def page_context(request: Request) -> dict[str, Any]:
    """What every template can use: who is signed in (``signed_in``, ``viewer``; None before
    sign-in), their zone, the request's instant, the CSRF token for forms and htmx."""
    signed_in = getattr(request.state, "signed_in", None)
    visitor = getattr(request.state, "visitor", None)
    viewer = signed_in.viewer if signed_in is not None else None
    if signed_in is not None:
        csrf_token = signed_in.csrf_token
    else:
        csrf_token = visitor.csrf_token if visitor is not None else ""
    return {
        "signed_in": signed_in,
        "viewer": viewer,
        "time_zone": viewer.time_zone if viewer is not None else "UTC",
        "now": request.app.state.clock.now(),
        "csrf_token": csrf_token,
        "current_path": request.url.path,
    }


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The page ``template`` (which extends ``base.html``) with ``context`` over the common one."""
    response = templates.TemplateResponse(
        request,
        template,
        {**page_context(request), **(context or {})},
        status_code=status_code,
        headers=headers,
    )
    # The sign-in forms' CSRF token is bound to this cookie: hand it out with the first form.
    visitor = getattr(request.state, "visitor", None)
    if visitor is not None and visitor.is_new:
        visitor.set_cookie(response)
    return response


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"
