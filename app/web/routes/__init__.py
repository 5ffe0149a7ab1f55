"""The page routers, one module per area of the navigation bar; each is listed here once."""

from fastapi import APIRouter

from app.web.routes import (
    deploys,
    health,
    home,
    incidents,
    load,
    me,
    pager_load,
    people,
    readiness,
    reviews,
    schedules,
    services,
    sign_in,
)

ROUTERS: list[APIRouter] = [
    sign_in.router,
    home.router,
    incidents.router,
    reviews.router,
    services.router,
    health.router,
    readiness.router,
    deploys.router,
    pager_load.router,
    people.router,
    load.router,
    schedules.router,
    me.router,
]
