"""Contact addresses as others see them.

A person's phone number, e-mail address and webhook URL are theirs: the owner and admins see
them whole, everyone else enough to tell them apart (the last four digits of a number, the
first letter and domain of an e-mail address, the scheme and host of a webhook URL, whose path
often carries a secret). Slack member ids are not private and stay as they are.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from app.core.auth import Principal
from app.people.models import ContactType

HIDDEN = "…"


def sees_addresses_of(principal: Principal, owner_id: int | None) -> bool:
    """Whether ``principal`` may read the addresses of ``owner_id`` (None: no person's, e.g. an
    escalation policy's webhook target) whole."""
    return principal.is_admin or (owner_id is not None and principal.user_id == owner_id)


def mask_address(contact_type: ContactType | str, address: str) -> str:
    try:
        kind = ContactType(contact_type)
    except ValueError:
        return HIDDEN
    if kind in (ContactType.SMS, ContactType.VOICE):
        digits = [c for c in address if c.isdigit()]
        lead = "+" if address.startswith("+") else ""
        return f"{lead}{HIDDEN}{''.join(digits[-4:])}" if len(digits) > 4 else f"{lead}{HIDDEN}"
    if kind is ContactType.EMAIL:
        local, at, domain = address.rpartition("@")
        if not at or not local:
            return HIDDEN
        return f"{local[0]}***@{domain}"
    if kind is ContactType.WEBHOOK:
        try:
            parts = urlsplit(address)
            host, port = parts.hostname, parts.port
        except ValueError:
            return HIDDEN
        if not parts.scheme or not host:
            return HIDDEN
        shown = f"[{host}]" if ":" in host else host
        return f"{parts.scheme}://{shown}{f':{port}' if port else ''}/{HIDDEN}"
    return address


def address_for(principal: Principal, owner_id: int | None, contact_type: str, address: str) -> str:
    """``address`` whole for its owner and admins, masked for everyone else."""
    if sees_addresses_of(principal, owner_id):
        return address
    return mask_address(contact_type, address)
