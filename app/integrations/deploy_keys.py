"""Integration keys as credentials for reporting deploys (``POST /api/v1/deployments``).

A CI system often holds a service's integration key already (it sends that service's alerts or
change events); it may report the service's deploys with it. Heartbeat keys only ping.
"""

from __future__ import annotations

from fastapi import Request

from app.core.errors import Unauthenticated
from app.integrations.models import IntegrationKind
from app.integrations.service import Gateway

DEPLOY_KINDS = tuple(kind for kind in IntegrationKind if kind is not IntegrationKind.HEARTBEAT)


async def service_of_key(request: Request, key: str) -> int | None:
    """The service ``key`` belongs to, or None when it is no usable integration key."""
    gateway: Gateway = request.app.state.gateway
    try:
        known = await gateway.authenticate(key, DEPLOY_KINDS)
    except Unauthenticated:
        return None
    gateway.check_rate(known)
    return known.service_id
