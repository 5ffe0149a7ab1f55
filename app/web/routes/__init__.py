"""The page routers, one module per area of the navigation bar; each is listed here once."""

from fastapi import APIRouter

from app.web.routes import oncall, sign_in

ROUTERS: list[APIRouter] = [
    sign_in.router,
    oncall.router,
]
