"""Exports: Markdown keeps the responder's text as written; HTML renders it and sanitizes it,
so HTML typed into a review (or arriving in an alert) is never executed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from html.parser import HTMLParser

from app.review import draft
from app.review.export import NOT_WRITTEN, export_html, export_markdown
from tests.review.test_draft import T0, _history, at

HOSTILE = (
    "Cache stampede.\n\n"
    "<script>alert('review')</script>\n\n"
    '<img src="https://tracker.example/p.gif" onerror="alert(1)">\n\n'
    '[click](javascript:alert(2)) and <b>bold</b> and <a href="https://ok.example" '
    'onclick="alert(3)">ok</a>\n\n'
    '<iframe src="https://evil.example"></iframe><style>body{display:none}</style>'
)


def document(**review: object) -> draft.ReviewDocument:
    folded = draft.fold(_history())
    view = draft.ReviewView(
        id=1,
        incident_id=12,
        state="in_review",
        severity="sev2",
        summary="Latency rose after **v1.4.2**.",
        customer_impact="",
        root_cause="A cache key changed.\n\n- one\n- two",
        contributing_factors="",
        went_well="",
        went_badly="",
        lessons="",
        owner_id=1,
        owner_name="Alice",
        created_at=T0,
        updated_at=T0,
        published_at=None,
    )
    return draft.ReviewDocument(
        review=replace(view, **review),  # type: ignore[arg-type]
        incident=draft.IncidentView(
            id=12,
            title="p99 latency above 2s",
            service_id=1,
            service_name="payments-api",
            team_id=1,
            urgency="high",
            state="resolved",
            opened_at=T0,
            acknowledged_at=at(7),
            resolved_at=at(42),
        ),
        draft=folded,
        deploys=(
            draft.DeployView(
                deployment_id=9,
                version="v1.4.2",
                previous_version="v1.4.1",
                environment="production",
                deployer="dina",
                status="succeeded",
                started_at=at(-13),
                finished_at=at(-12),
                commit_sha="3f9c2ab",
                minutes_after_deploy=12,
                verdict="confirmed",
                judged_at=at(25),
            ),
        ),
        action_items=(
            draft.ItemView(
                id=3,
                title="Version the cache keys",
                owner_id=2,
                owner_name="Bob",
                due_date=date(2026, 3, 1),
                status="open",
                tracker_url="https://issues.example/PAY-12",
                past_due=True,
            ),
            draft.ItemView(
                id=4,
                title="Alert on cache hit rate",
                owner_id=None,
                owner_name="",
                due_date=None,
                status="done",
                tracker_url="",
                past_due=False,
            ),
        ),
    )


def test_markdown_has_the_review_the_timeline_the_deploy_and_the_action_items() -> None:
    text = export_markdown(document())
    assert text.startswith("# Incident review: #12 payments\\-api: p99 latency above 2s")
    assert "Latency rose after **v1.4.2**." in text  # the user's Markdown, as written
    assert "A cache key changed.\n\n- one\n- two" in text
    assert f"## Customer impact\n\n{NOT_WRITTEN}" in text
    assert "| Acknowledged | 2026-03-02 03:07:00 UTC by Bob after 7 min |" in text
    assert "| Resolved | 2026-03-02 03:42:00 UTC by Alice after 42 min |" in text
    for line in (
        "- 2026-03-02 03:00:00 Alice, step 1: sms now, voice at \\+5m",
        "- 2026-03-02 03:05:00 Bob, step 2: email now",
        "- 2026-03-02 03:07:00 Bob by sms, 7 min after the start",
        "- 2026-03-02 03:09:00 Bob handed it from Bob to Alice: Alice knows the cache",
        "- 2026-03-02 03:20:00 Alice: rolled back",
    ):
        assert line in text, line
    assert "labels region=eu\\-west\\-1" in text
    assert (
        "- v1.4.2 to production by dina, 12 min before the incident (previous v1.4.1), "
        "succeeded: confirmed as the cause"
    ) in text
    assert (
        "- [ ] Version the cache keys (owner Bob, due 2026-03-01, **past due**) "
        "[tracker](<https://issues.example/PAY-12>)"
    ) in text
    assert "- [x] Alert on cache hit rate (no owner)" in text
    # Every timeline row is there.
    timeline = text.split("## Timeline")[1].split("\n## ")[0]
    assert timeline.count("\n- ") == len(_history())


def test_markdown_keeps_html_the_user_wrote_as_source() -> None:
    assert HOSTILE in export_markdown(document(root_cause=HOSTILE))


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs


def test_html_renders_the_markdown_and_never_carries_script() -> None:
    page = export_html(document(root_cause=HOSTILE, lessons="<svg onload=alert(4)>x</svg>"))
    parsed = _Elements()
    parsed.feed(page)
    assert {"script", "iframe", "style", "img", "svg"}.isdisjoint(parsed.tags)
    assert not [name for name, _ in parsed.attributes if name.startswith("on")]
    assert not [v for _, v in parsed.attributes if v and "javascript:" in v.lower()]
    assert "alert('review')" not in page and "display:none" not in page
    # What is harmless stays: the user's bold text, a plain link, the rendered Markdown.
    assert "<b>bold</b>" in page
    assert '<a href="https://ok.example" rel="noopener noreferrer">ok</a>' in page
    assert "<strong>v1.4.2</strong>" in page
    assert "<h2>Timeline</h2>" in page and "<table>" in page
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Incident review #12: p99 latency above 2s</title>" in page


def test_text_baton_adds_cannot_become_markup() -> None:
    doc = document()
    hostile_title = replace(doc.incident, title="<script>x()</script> *boom* [a](javascript:b)")
    doc = replace(doc, incident=hostile_title)
    text = export_markdown(doc)
    assert "\\<script\\>" in text and "\\*boom\\*" in text
    page = export_html(doc)
    assert "<script>" not in page and "<em>" not in page.split("<h2>")[0]
    assert "&lt;script&gt;" in page


def test_a_published_review_says_who_published_it() -> None:
    published = datetime(2026, 3, 4, 9, 30, tzinfo=UTC)
    text = export_markdown(
        document(state="published", published_at=published, published_by_name="Carol")
    )
    assert "| State | published |" in text
    assert "| Published | 2026-03-04 09:30:00 UTC by Carol |" in text
