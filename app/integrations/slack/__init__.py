"""Slack: the Web API client (``client``), the paging provider (``provider``, Block Kit of pages
in ``page_blocks``), inbound signature checks, user linking and interactivity (buttons on
incident messages), and the Slack app built on them: the ``/baton`` command, dialogs, cover
requests and channel announcements (``chatops_api``, ``chatops``, ``modals``, ``announce``,
``app_blocks``; see docs/slack.md).
"""
