"""Slack inbound: signature checks, user linking and interactivity (buttons on incident messages).

Slash commands (issue 6) build on ``signature`` and ``linking``.
"""
