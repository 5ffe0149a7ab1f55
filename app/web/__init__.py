"""The web UI: server-rendered pages on the same app as the API (docs/web.md)."""
