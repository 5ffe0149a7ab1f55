"""The page routers, one module per area of the navigation bar; each is listed here once."""

from fastapi import APIRouter

from app.web.routes import (
    deploys,
    home,
    incidents,
    me,
    pager_load,
    people,
    schedules,
    services,
    sign_in,
)

ROUTERS: list[APIRouter] = [
    sign_in.router,
    home.router,
    incidents.router,
    services.router,
    deploys.router,
    pager_load.router,
    people.router,
    schedules.router,
    me.router,
]
