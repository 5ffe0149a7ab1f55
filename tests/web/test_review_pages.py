"""The review pages: the reviews owed first on ``/reviews``; an incident's review drafted from
its timeline, edited (Markdown, shown rendered and sanitized), moved draft -> in review ->
published (then read-only except for its action items), exported as Markdown and HTML; action
items added, flagged past due, and completed from the owner's "My on-call". The server refuses
what the API refuses, every write needs its CSRF token, and unknown ids are HTML 404 pages."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.core.auth import Role
from app.core.clock import ManualClock
from tests.paging import api
from tests.web import test_incidents as incident_pages
from tests.web.browser import Browser
from tests.web.conftest import SignIn
from tests.web.test_incidents import BrowserFor
from tests.worlds import PaymentsWorld, build_payments_world

# The incident pages' fixture: a browser signed in as one of the world's people.
browser_for = incident_pages.browser_for

HOSTILE = (
    '<script>alert(1)</script> <img src=x onerror="alert(2)"> '
    '<a href="javascript:alert(3)">click</a> <iframe src="https://evil.example/"></iframe>'
)


@pytest.fixture
async def world(client: httpx.AsyncClient, factory: Any) -> PaymentsWorld:
    return await build_payments_world(client, factory, time_zone="UTC")


async def _resolved_incident(
    world: PaymentsWorld, clock: ManualClock, title: str = "p99 latency above 2s"
) -> int:
    """A high-urgency incident Alice acknowledged after 4 minutes and resolved after 45: a
    review is owed (the service asks for one after 30 minutes)."""
    incident = await world.fire(title)
    clock.advance(timedelta(minutes=4))
    await api(world.client, world.alice, "POST", f"/api/v1/incidents/{incident}/acknowledge")
    await api(
        world.client,
        world.alice,
        "POST",
        f"/api/v1/incidents/{incident}/notes",
        json={"text": "restarted the pods"},
    )
    clock.advance(timedelta(minutes=41))
    await api(world.client, world.alice, "POST", f"/api/v1/incidents/{incident}/resolve")
    return incident


async def _drafted(world: PaymentsWorld, browser: Browser, incident: int) -> str:
    page = f"/incidents/{incident}/review"
    response = await browser.submit(page, page)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == page
    shown = await browser.get(page)
    assert shown.status_code == 200, shown.text
    return shown.text


async def _api_review(world: PaymentsWorld, incident: int) -> dict[str, Any]:
    return await api(world.client, world.admin, "GET", f"/api/v1/incidents/{incident}/review")


def _buttons(page: str) -> list[str]:
    return [
        html.unescape(re.sub(r"<[^>]+>", "", b)).strip()
        for b in re.findall(r"<button[^>]*>(.*?)</button>", page, re.S)
    ]


def _section(page: str, key: str) -> str:
    return page.partition(f'id="section-{key}"')[2].partition("</section>")[0]


# ------------------------------------------------------------------------------- drafting


async def test_the_incident_page_links_to_its_review_which_a_team_member_drafts(
    world: PaymentsWorld, clock: ManualClock, browser_for: BrowserFor
) -> None:
    incident = await _resolved_incident(world, clock)
    browser = await browser_for(world.alice)
    incident_page = (await browser.get(f"/incidents/{incident}")).text
    assert f'<a href="/incidents/{incident}/review" id="incident-review-link">Review</a>' in (
        incident_page
    )
    before = (await browser.get(f"/incidents/{incident}/review")).text
    assert "No review yet" in before and "Draft the review" in _buttons(before)

    page = await _drafted(world, browser, incident)

    review = await _api_review(world, incident)
    assert review["review"]["state"] == "draft"
    assert review["review"]["owner_id"] == world.alice.id  # who acknowledged it
    assert '<dd id="review-state">Draft</dd>' in page
    assert "Send for review" in _buttons(page)
    # The timeline, the notes and the opening summary come from the incident's events.
    timeline = page.partition('id="review-timeline-list"')[2].partition("</ol>")[0]
    for entry in review["timeline"]:
        assert html.escape(entry["text"], quote=True).replace("&#x27;", "&#39;") in timeline
    assert "restarted the pods" in page
    assert "4 min after the start" in page and "45 min after the start" in page
    assert "Acknowledged by Alice after 4 min." in _section(page, "summary")


async def test_a_viewer_sees_the_review_but_no_forms_and_is_refused_a_draft(
    world: PaymentsWorld, clock: ManualClock, sign_in: SignIn, client: httpx.AsyncClient
) -> None:
    incident = await _resolved_incident(world, clock)
    browser, viewer = await sign_in(Role.VIEWER)
    page = (await browser.get(f"/incidents/{incident}/review")).text
    assert "Draft the review" not in _buttons(page)
    assert "drafts it" in page

    refused = await browser.submit("/", f"/incidents/{incident}/review")

    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    from_api = await client.post(f"/api/v1/incidents/{incident}/review", headers=viewer.headers)
    assert from_api.status_code == 403
    assert html.escape(from_api.json()["detail"]) in refused.text
    assert (
        await client.get(f"/api/v1/incidents/{incident}/review", headers=viewer.headers)
    ).status_code == 404


async def test_a_member_of_another_team_reads_but_cannot_write(
    world: PaymentsWorld, clock: ManualClock, sign_in: SignIn, browser_for: BrowserFor
) -> None:
    incident = await _resolved_incident(world, clock)
    await _drafted(world, await browser_for(world.alice), incident)
    outsider, _ = await sign_in(Role.MEMBER)
    page = (await outsider.get(f"/incidents/{incident}/review")).text
    assert "Save the review" not in _buttons(page) and "Send for review" not in _buttons(page)
    assert 'id="add-action-item"' not in page

    refused = await outsider.submit("/", f"/incidents/{incident}/review/edit", {"summary": "x"})

    assert refused.status_code == 403
    assert (await _api_review(world, incident))["review"]["summary"] != "x"


# -------------------------------------------------------------------------------- editing


async def test_the_edit_form_saves_each_text_and_shows_the_markdown_rendered(
    world: PaymentsWorld, clock: ManualClock, browser_for: BrowserFor
) -> None:
    incident = await _resolved_incident(world, clock)
    browser = await browser_for(world.alice)
    await _drafted(world, browser, incident)
    page = f"/incidents/{incident}/review"
    texts = {
        "summary": "Card payments were **slow**.\r\n\r\n- one\r\n- two",
        "customer_impact": "Checkout took 10 s",
        "root_cause": "A full disk",
        "contributing_factors": "No alert on disk",
        "went_well": "Paged at once",
        "went_badly": "Runbook out of date",
        "lessons": "Alert *before* it fills",
    }

    response = await browser.submit(
        page, f"{page}/edit", {**texts, "severity": "sev2", "owner_id": str(world.bob.id)}
    )

    assert response.status_code == 303
    review = (await _api_review(world, incident))["review"]
    assert review["summary"] == "Card payments were **slow**.\n\n- one\n- two"
    for key in texts:
        if key != "summary":
            assert review[key] == texts[key]
    assert review["severity"] == "sev2" and review["owner_id"] == world.bob.id
    shown = (await browser.get(page)).text
    assert "<strong>slow</strong>" in _section(shown, "summary")
    assert "<li>one</li>" in _section(shown, "summary")
    assert "<em>before</em>" in _section(shown, "lessons")
    assert "<dt>Severity</dt><dd>SEV2</dd>" in shown
    assert "<dt>Owner</dt><dd>Bob</dd>" in shown
    # The form keeps what was written, as Markdown.
    assert "Card payments were **slow**.\n\n- one\n- two</textarea>" in shown
    bad = await browser.submit(page, f"{page}/edit", {"severity": "sev9"})
    assert bad.status_code == 422
    assert "severity" in bad.text


async def test_hostile_review_text_is_never_markup_on_the_page_or_in_the_exports(
    world: PaymentsWorld, clock: ManualClock, browser_for: BrowserFor
) -> None:
    incident = await _resolved_incident(world, clock)
    browser = await browser_for(world.alice)
    await _drafted(world, browser, incident)
    page = f"/incidents/{incident}/review"
    response = await browser.submit(
        page,
        f"{page}/edit",
        {"summary": HOSTILE, "root_cause": HOSTILE},
    )
    assert response.status_code == 303
    item = await browser.submit(page, f"{page}/items", {"title": "<script>alert(4)</script>"})
    assert item.status_code == 303

    shown = (await browser.get(page)).text
    exported = (await browser.get(f"{page}/export.html")).text

    for document in (shown, exported):
        assert "<script>alert" not in document
        assert "<img" not in document
        assert not re.search(r"<[a-z][^>]*\son\w+=", document)  # no tag with a handler
        assert 'href="javascript:' not in document
        assert "<iframe" not in document
    # The harmless part is kept: the link's words, without the script address.
    assert ">click</a>" in _section(shown, "summary")
    # In the form, the text is the text, escaped.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in shown
    # The page's own scripts are the only ones.
    assert re.findall(r"<script[^>]*>", shown) == [
        s for s in re.findall(r"<script[^>]*>", shown) if 'src="/static/' in s
    ]


# ---------------------------------------------------------------------------------- states


async def test_draft_to_in_review_to_published_and_then_only_action_items_change(
    world: PaymentsWorld, clock: ManualClock, browser_for: BrowserFor
) -> None:
    incident = await _resolved_incident(world, clock)
    browser = await browser_for(world.alice)
    await _drafted(world, browser, incident)
    page = f"/incidents/{incident}/review"

    sent = await browser.submit(page, f"{page}/state", {"state": "in_review"})
    assert sent.status_code == 303
    in_review = (await browser.get(page)).text
    assert '<dd id="review-state">In review</dd>' in in_review
    assert {"Publish", "Back to draft"} <= set(_buttons(in_review))

    published = await browser.submit(page, f"{page}/state", {"state": "published"})
    assert published.status_code == 303
    shown = (await browser.get(page)).text
    review = (await _api_review(world, incident))["review"]
    assert review["state"] == "published" and review["published_by_id"] == world.alice.id
    assert "Published: read-only" in shown
    assert "Save the review" not in _buttons(shown)
    assert not {"Publish", "Back to draft", "Send for review"} & set(_buttons(shown))

    refused = await browser.submit(page, f"{page}/edit", {"summary": "rewritten"})
    assert refused.status_code == 409
    assert "published and read-only" in refused.text
    back = await browser.submit(page, f"{page}/state", {"state": "draft"})
    assert back.status_code == 409
    added = await browser.submit(page, f"{page}/items", {"title": "Alert on disk at 80%"})
    assert added.status_code == 303
    assert "Alert on disk at 80%" in (await browser.get(page)).text


# ------------------------------------------------------------------------------- exports


async def test_the_exports_are_downloads_of_the_apis_documents(
    world: PaymentsWorld, clock: ManualClock, browser_for: BrowserFor, client: httpx.AsyncClient
) -> None:
    incident = await _resolved_incident(world, clock)
    browser = await browser_for(world.alice)
    page = await _drafted(world, browser, incident)
    assert f'href="/incidents/{incident}/review/export.md"' in page
    assert f'href="/incidents/{incident}/review/export.html"' in page
    review_id = (await _api_review(world, incident))["review"]["id"]

    markdown = await browser.get(f"/incidents/{incident}/review/export.md")
    exported = await browser.get(f"/incidents/{incident}/review/export.html")

    assert markdown.status_code == exported.status_code == 200
    assert markdown.headers["content-type"] == "text/markdown; charset=utf-8"
    assert exported.headers["content-type"] == "text/html; charset=utf-8"
    assert markdown.headers["content-disposition"] == (
        f'attachment; filename="incident-{incident}-review.md"'
    )
    assert exported.headers["content-disposition"].startswith("attachment;")
    headers = world.admin.headers
    from_api = await client.get(f"/api/v1/reviews/{review_id}/export.md", headers=headers)
    assert markdown.text == from_api.text
    assert markdown.text.startswith(f"# Incident review: #{incident} payments")
    assert "restarted the pods" in markdown.text
    html_api = await client.get(f"/api/v1/reviews/{review_id}/export.html", headers=headers)
    assert exported.text == html_api.text


# -------------------------------------------------------------------------- action items


async def test_action_items_are_added_flagged_past_due_and_done_from_my_on_call(
    world: PaymentsWorld, clock: ManualClock, browser_for: BrowserFor
) -> None:
    incident = await _resolved_incident(world, clock)
    alice = await browser_for(world.alice)
    await _drafted(world, alice, incident)
    page = f"/incidents/{incident}/review"
    yesterday = (clock.now() - timedelta(days=1)).date().isoformat()
    next_week = (clock.now() + timedelta(days=7)).date().isoformat()
    for title, due in (("Alert on disk at 80%", yesterday), ("Update the runbook", next_week)):
        added = await alice.submit(
            page,
            f"{page}/items",
            {
                "title": title,
                "owner_id": str(world.bob.id),
                "due_date": due,
                "tracker_url": "https://tracker.example/PAY-1",
            },
        )
        assert added.status_code == 303
        assert added.headers["location"] == f"{page}#action-items"
    items = (await _api_review(world, incident))["action_items"]
    assert [(i["title"], i["past_due"]) for i in items] == [
        ("Alert on disk at 80%", True),
        ("Update the runbook", False),
    ]
    shown = (await alice.get(page)).text
    first = shown.partition(f'id="action-item-{items[0]["id"]}"')[2].partition("</tr>")[0]
    second = shown.partition(f'id="action-item-{items[1]["id"]}"')[2].partition("</tr>")[0]
    assert "past due" in first and "past due" not in second
    assert '<a href="https://tracker.example/PAY-1" rel="noopener noreferrer">' in first
    refused = await alice.submit(page, f"{page}/items", {"title": "x", "tracker_url": "ftp://x"})
    assert refused.status_code == 422

    # Bob's "My on-call" lists them, the past-due one first and flagged; he marks it done.
    bob = await browser_for(world.bob)
    me = (await bob.get("/me")).text
    listed = me.partition('id="my-action-items"')[2].partition("</table>")[0]
    assert listed.index("Alert on disk at 80%") < listed.index("Update the runbook")
    assert "past due" in listed.partition("Update the runbook")[0]
    assert f'href="/incidents/{incident}/review#action-items"' in listed

    done = await bob.submit(
        "/me",
        f"{page}/items/{items[0]['id']}/status",
        {"status": "done", "back": "me"},
    )

    assert done.status_code == 303
    assert done.headers["location"] == "/me#action-items"
    items = (await _api_review(world, incident))["action_items"]
    assert items[0]["status"] == "done" and items[1]["status"] == "open"
    after = (await bob.get("/me")).text.partition('id="action-items"')[2]
    assert "Alert on disk at 80%" not in after.partition("</section>")[0]
    # Alice reopens it from the review page.
    reopened = await alice.submit(page, f"{page}/items/{items[0]['id']}/status", {"status": "open"})
    assert reopened.status_code == 303
    assert (await _api_review(world, incident))["action_items"][0]["status"] == "open"


async def test_my_on_call_says_when_there_are_no_action_items(sign_in: SignIn) -> None:
    browser, _ = await sign_in(Role.MEMBER)
    page = (await browser.get("/me")).text
    assert "You have no open action items." in page


# --------------------------------------------------------------------------------- the list


async def test_the_reviews_page_lists_the_owed_ones_first_then_each_state(
    world: PaymentsWorld, clock: ManualClock, browser_for: BrowserFor
) -> None:
    owed = await _resolved_incident(world, clock, "owed, not drafted")
    drafted = await _resolved_incident(world, clock, "owed and drafted")
    quick = await world.fire("quick one")  # resolved in 2 minutes: no review owed
    clock.advance(timedelta(minutes=2))
    await api(world.client, world.alice, "POST", f"/api/v1/incidents/{quick}/resolve")
    browser = await browser_for(world.alice)
    await _drafted(world, browser, drafted)

    page = (await browser.get("/reviews")).text

    owed_list = page.partition('id="owed-list"')[2].partition("</table>")[0]
    assert re.findall(r'data-incident-id="(\d+)"', owed_list) == [str(owed), str(drafted)]
    assert f'data-incident-id="{quick}"' not in owed_list
    owed_row = owed_list.partition(f'data-incident-id="{owed}"')[2].partition("</tr>")[0]
    assert "high urgency and open 45 min" in owed_row and "not drafted" in owed_row
    assert page.index('id="owed-list"') < page.index('id="reviews-draft-list"')
    drafts = page.partition('id="reviews-draft-list"')[2].partition("</table>")[0]
    assert re.findall(r'data-incident-id="(\d+)"', drafts) == [str(drafted)]
    assert f'<a href="/incidents/{drafted}/review">#{drafted} owed and drafted</a>' in drafts
    assert (
        page.partition('id="reviews-published"')[2].partition("</section>")[0].count("None.") == 1
    )
    assert '<a href="/reviews" aria-current="page">Reviews</a>' in page


# --------------------------------------------------------------------- CSRF, 404, refusals


async def test_every_review_write_needs_its_csrf_token(
    world: PaymentsWorld, clock: ManualClock, browser_for: BrowserFor
) -> None:
    incident = await _resolved_incident(world, clock)
    browser = await browser_for(world.alice)
    base = f"/incidents/{incident}/review"
    for action, data in (
        (base, {}),
        (f"{base}/edit", {"summary": "x"}),
        (f"{base}/state", {"state": "in_review"}),
        (f"{base}/items", {"title": "x"}),
        (f"{base}/items/1/status", {"status": "done"}),
    ):
        refused = await browser.http.post(action, data=data)
        assert refused.status_code == 403, action
        wrong = await browser.http.post(action, data={**data, "csrf_token": "forged"})
        assert wrong.status_code == 403, action
    with pytest.raises(AssertionError):
        await _api_review(world, incident)  # nothing was drafted


async def test_unknown_incidents_reviews_and_items_are_html_404_pages(
    world: PaymentsWorld, clock: ManualClock, browser_for: BrowserFor
) -> None:
    incident = await _resolved_incident(world, clock)
    other = await _resolved_incident(world, clock, "another")
    browser = await browser_for(world.alice)
    for path in (
        "/incidents/987654/review",
        f"/incidents/{incident}/review/export.md",  # no review yet
        f"/incidents/{incident}/review/export.html",
    ):
        response = await browser.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html"), path
    missing = await browser.submit("/", "/incidents/987654/review")
    assert missing.status_code == 404
    await _drafted(world, browser, incident)
    await _drafted(world, browser, other)
    page = f"/incidents/{other}/review"
    await browser.submit(page, f"{page}/items", {"title": "the other's item"})
    [item] = (await _api_review(world, other))["action_items"]
    # Another review's item is not under this incident.
    wrong = await browser.submit(
        "/", f"/incidents/{incident}/review/items/{item['id']}/status", {"status": "done"}
    )
    assert wrong.status_code == 404
    assert (await _api_review(world, other))["action_items"][0]["status"] == "open"
