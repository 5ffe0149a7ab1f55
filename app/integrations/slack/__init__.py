"""Slack inbound: signature checks, user linking and interactivity (buttons on incident messages),
and the Slack app built on them: the ``/baton`` command, dialogs, cover requests and channel
announcements (``chatops_api``, ``chatops``, ``modals``, ``announce``; see docs/slack.md).
"""
