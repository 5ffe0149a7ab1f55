"""Where a page may send someone after signing in: only a path on this site.

``next`` comes from the query string of a link anyone can craft, so an address elsewhere
(``https://evil.example``, ``//evil.example``, ``/\\evil.example``, or one a browser turns into
those by dropping tabs and newlines) becomes the home page instead of an open redirect.
"""

from __future__ import annotations

from urllib.parse import urlsplit

HOME = "/"
MAX_NEXT_LENGTH = 2000
# Pages that would loop or undo the sign-in if they were where a sign-in led.
_NOT_AFTER_SIGN_IN = ("/sign-in", "/sign-out")


def same_site_path(value: str | None) -> str | None:
    """``value`` if it is a path on this site (with its query), else None."""
    if not value or len(value) > MAX_NEXT_LENGTH:
        return None
    if not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def safe_next(value: str | None) -> str:
    """Where to go after signing in: ``value`` if it is a path on this site other than the
    sign-in pages, else the home page."""
    path = same_site_path(value)
    if path is None:
        return HOME
    route = urlsplit(path).path
    if any(route == page or route.startswith(page + "/") for page in _NOT_AFTER_SIGN_IN):
        return HOME
    return path


def path_with_query(path: str, query: str) -> str:
    return f"{path}?{query}" if query else path
