"""The web UI in a real browser: Playwright driving Debian's Chromium against a real
``baton serve`` loaded with the demo organisation (``make run``'s steps), its console notifier
standing in for e-mail, SMS and Slack.

One server and one browser for the module; every scenario has its own browser context (its own
cookies). Every page is checked with axe-core and photographed at desktop and phone size into
``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests import dbutil
from tests.e2e.browser import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    VIEWPORTS,
    axe_violations,
    describe_violations,
    focus_by_tab,
    horizontal_overflow,
    launch_options,
    require_chromium,
    screenshot_name,
    sign_in_by_link,
)
from tests.e2e.demo import DEMO_ADMIN, DemoBaton, start_demo
from tests.e2e.processes import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "baton_e2e-browser-token-0123456789abcdef"
INCIDENT_LINK = re.compile(r"(https?://\S+)?/incidents/(\d+)")
# Generous for a shared 2-core machine; nothing here asserts speed.
TIMEOUT_MS = 20_000


# --------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_chromium()


@pytest.fixture(scope="module")
def demo(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoBaton]:
    logs = tmp_path_factory.mktemp("browser")
    base = dbutil.postgres_base_url()
    if base:
        url = dbutil.create_postgres_database(base, f"browser_{uuid.uuid4().hex[:8]}")
        database_url = url.replace("postgresql+psycopg://", "postgresql://")
    else:
        url = database_url = f"sqlite:///{logs / 'demo.db'}"
    baton = start_demo(database_url, TOKEN, logs)
    try:
        yield baton
    finally:
        baton.stop()
        if base:
            dbutil.drop_postgres_database(url)


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(**launch_options(chromium))
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, demo: DemoBaton) -> Iterator[Any]:
    context = browser.new_context(base_url=demo.url, viewport=DESKTOP.size())
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"the page's scripts failed: {errors}"


@pytest.fixture(scope="module")
def services(demo: DemoBaton) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in demo.api("GET", "/api/v1/services")["items"]}


@pytest.fixture(scope="module")
def schedules(demo: DemoBaton) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in demo.api("GET", "/api/v1/schedules")["items"]}


@pytest.fixture(scope="module")
def alert_url(demo: DemoBaton, services: dict[str, dict[str, Any]]) -> str:
    """A generic-event integration of the demo's payments-api (the demo file declares none;
    the admin makes one, as a team would for its monitoring)."""
    created = demo.api(
        "POST",
        f"/api/v1/services/{services['payments-api']['id']}/integrations",
        json={"kind": "generic", "name": "browser tests"},
    )
    return created["url_with_key"]


def fire_alert(alert_url: str, title: str) -> int:
    """An alert through the integration, as a monitoring tool sends it; the incident it opened."""
    response = httpx.post(
        alert_url, json={"summary": title, "severity": "critical", "source": "browser-test"}
    )
    assert response.status_code == 202, response.text
    incidents = response.json()["incidents"]
    assert len(incidents) == 1, response.text
    return int(incidents[0])


@pytest.fixture(scope="module")
def on_call_now(demo: DemoBaton, schedules: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Who has the payments pager now (the person an alert on payments-api pages first)."""
    answer = demo.api("GET", f"/api/v1/schedules/{schedules['payments-primary']['id']}/oncall")
    assert answer["responders"], f"nobody on call for payments-primary: {answer}"
    return answer["responders"][0]


@pytest.fixture(scope="module")
def incident_id(alert_url: str, demo: DemoBaton) -> int:
    """One incident for the pages that show one."""
    return fire_alert(alert_url, f"Disk almost full {uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def deployed(demo: DemoBaton, alert_url: str) -> dict[str, int]:
    """A deploy of payments-api, as a pipeline reports it, that finished 8 minutes ago, after an
    earlier one (the rollback target); then an incident, which opens in its watch. Made only
    when a test asks, so the scenarios above see no deploy."""
    now = datetime.now(UTC)
    common = {"service": "payments-api", "environment": "production", "deployer": "dina"}
    demo.api(
        "POST",
        "/api/v1/deployments",
        json={
            **common,
            "version": "v1.4.1",
            "started_at": (now - timedelta(hours=3)).isoformat(),
            "finished_at": (now - timedelta(hours=2, minutes=55)).isoformat(),
        },
    )
    deploy = demo.api(
        "POST",
        "/api/v1/deployments",
        json={
            **common,
            "version": "v1.4.2",
            "summary": "Faster card authorisations",
            "commit_sha": "0123456789abcdef0123456789abcdef01234567",
            "repository_url": "https://git.example.internal/shop/payments",
            "started_at": (now - timedelta(minutes=10)).isoformat(),
            "finished_at": (now - timedelta(minutes=8)).isoformat(),
            "links": [{"href": "https://ci.example.internal/runs/77", "text": "Pipeline run 77"}],
        },
    )
    incident = fire_alert(alert_url, f"Card declines after the deploy {uuid.uuid4().hex[:6]}")
    [linked] = demo.api("GET", f"/api/v1/incidents/{incident}/deploys")
    assert linked["id"] == deploy["id"], linked
    return {"deploy": deploy["id"], "incident": incident}


@pytest.fixture(scope="module")
def teams(demo: DemoBaton) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in demo.api("GET", "/api/v1/teams")["items"]}


@pytest.fixture(scope="module")
def reviewed(demo: DemoBaton, deployed: dict[str, int]) -> int:
    """The review of the incident that opened after the deploy, drafted by the admin with the
    API, with an action item past due for the admin: the review page with everything on it."""
    document = demo.api("POST", f"/api/v1/incidents/{deployed['incident']}/review")
    admin = users(demo)[DEMO_ADMIN]
    demo.api(
        "POST",
        f"/api/v1/reviews/{document['review']['id']}/action-items",
        json={
            "title": "Canary the card authorisations",
            "owner_id": admin["id"],
            "due_date": (datetime.now(UTC) - timedelta(days=2)).date().isoformat(),
        },
    )
    return deployed["incident"]


def users(demo: DemoBaton) -> dict[str, dict[str, Any]]:
    return {u["email"]: u for u in demo.api("GET", "/api/v1/users", params={"limit": 200})["items"]}


# -------------------------------------------------------------------------------- scenarios


def test_sign_in_with_a_magic_link(page: Any, demo: DemoBaton) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in"))
    sign_in_by_link(page, demo, "alice@example.com")
    expect(page).to_have_url(f"{demo.url}/")
    expect(page.get_by_text("Signed in as Alice Nguyen")).to_be_visible()


def test_who_is_on_call_and_the_banner(
    page: Any, demo: DemoBaton, on_call_now: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    sign_in_by_link(page, demo, on_call_now["email"])
    main = page.get_by_role("main")
    expect(main.get_by_role("heading", level=1)).to_be_visible()
    payments = main.get_by_role("row").filter(has_text="payments-primary").first
    expect(payments).to_contain_text(on_call_now["name"])
    expect(main.get_by_role("row").filter(has_text="sre-follow-the-sun").first).to_be_visible()
    # The viewer has the payments pager now: the banner says until when.
    expect(main.get_by_text(re.compile(r"you are on call", re.IGNORECASE)).first).to_be_visible()


def test_an_alert_appears_on_the_incident_list_without_reloading(
    page: Any, demo: DemoBaton, alert_url: str
) -> None:
    from playwright.sync_api import expect

    page.goto("/incidents")
    sign_in_by_link(page, demo, "bob@example.com")
    expect(page).to_have_url(re.compile(r"/incidents$"))
    incident_list = page.locator("#incident-list")
    expect(incident_list).to_be_visible()
    # A mark on this document: gone if the page were loaded again.
    page.evaluate("window.__batonNotReloaded = true")
    navigations: list[str] = []
    page.on(
        "framenavigated", lambda frame: frame == page.main_frame and navigations.append(frame.url)
    )

    title = f"Checkout latency above 2s {uuid.uuid4().hex[:6]}"
    incident = fire_alert(alert_url, title)

    row_link = incident_list.get_by_role("link", name=title)
    expect(row_link).to_be_visible(timeout=30_000)
    expect(row_link).to_have_attribute("href", re.compile(rf"/incidents/{incident}$"))
    assert page.evaluate("window.__batonNotReloaded === true"), "the list page was reloaded"
    assert not navigations, f"the page navigated: {navigations}"


def test_the_page_message_carries_a_link_to_the_incident(
    demo: DemoBaton, alert_url: str, on_call_now: dict[str, Any]
) -> None:
    title = f"Payment provider timeouts {uuid.uuid4().hex[:6]}"
    since = demo.console_count()
    incident = fire_alert(alert_url, title)
    message = demo.wait_for_message(
        lambda m: m.kind == "page" and title in m.subject,
        since=since,
        what=f"the page for incident {incident}",
    )
    assert on_call_now["email"] in message.address or message.address.startswith(
        ("slack:", "sms:", "voice:", "email:")
    ), message.line
    link = INCIDENT_LINK.search(f"{message.subject} {message.text}")
    assert link is not None and link.group(1), (
        f"the page message carries no link to the incident: {message.line}"
    )
    assert link.group(1) == demo.url and int(link.group(2)) == incident, message.line


def test_a_link_to_an_incident_signs_in_first_and_acknowledge_is_one_key(
    page: Any, demo: DemoBaton, alert_url: str, on_call_now: dict[str, Any]
) -> None:
    """Signed out, the incident's link leads to sign-in, then to the incident; Tab to
    *Acknowledge* and Enter (the keyboard alone), and the timeline shows it."""
    from playwright.sync_api import expect

    title = f"Card authorisations failing {uuid.uuid4().hex[:6]}"
    incident = fire_alert(alert_url, title)

    page.goto(f"/incidents/{incident}")
    expect(page).to_have_url(re.compile(rf"/sign-in\?next=%2Fincidents%2F{incident}"))
    sign_in_by_link(page, demo, on_call_now["email"])
    expect(page).to_have_url(f"{demo.url}/incidents/{incident}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(title)

    timeline = page.locator("#incident-timeline")
    expect(timeline).to_be_visible()
    entries_before = timeline.get_by_role("listitem").count()
    acknowledge = page.get_by_role("button", name="Acknowledge", exact=True)
    focus_by_tab(page, acknowledge)
    page.keyboard.press("Enter")

    wait_until(
        lambda: demo.api("GET", f"/api/v1/incidents/{incident}")["state"] == "acknowledged",
        timeout=20,
        what=f"incident {incident} acknowledged",
    )
    expect(timeline.get_by_text(re.compile("acknowledged", re.IGNORECASE)).first).to_be_visible()
    expect(timeline).to_contain_text(on_call_now["name"])
    assert timeline.get_by_role("listitem").count() > entries_before
    expect(page.get_by_role("button", name="Acknowledge", exact=True)).to_have_count(0)


def _local_input(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def _choose(field: Any, text: str) -> None:
    """A person field: a list to choose from or a text input."""
    if field.evaluate("(element) => element.tagName") == "SELECT":
        options = field.locator("option").filter(has_text=text)
        field.select_option(value=options.first.get_attribute("value"))
    else:
        field.fill(text)


def test_an_override_changes_the_schedule_timeline(
    page: Any, demo: DemoBaton, schedules: dict[str, dict[str, Any]]
) -> None:
    from playwright.sync_api import expect

    schedule = schedules["payments-primary"]
    everyone = users(demo)
    bob, dan = everyone["bob@example.com"], everyone["dan@example.com"]
    page.goto(f"/schedules/{schedule['id']}")
    sign_in_by_link(page, demo, bob["email"])
    expect(page).to_have_url(f"{demo.url}/schedules/{schedule['id']}")
    timeline = page.locator("#schedule-timeline")
    expect(timeline).to_be_visible()
    before = timeline.inner_html()
    overrides_before = demo.api("GET", f"/api/v1/schedules/{schedule['id']}/overrides")["items"]

    starts = (datetime.now(ZoneInfo("UTC")) + timedelta(days=2)).replace(
        minute=0, second=0, microsecond=0
    )
    ends = starts + timedelta(hours=6)
    _choose(page.get_by_label("Person", exact=True), dan["name"])
    page.get_by_label("Starts", exact=True).fill(_local_input(starts, bob["time_zone"]))
    page.get_by_label("Ends", exact=True).fill(_local_input(ends, bob["time_zone"]))
    page.get_by_role("button", name="Create override").click()

    def created() -> list[dict[str, Any]]:
        items = demo.api("GET", f"/api/v1/schedules/{schedule['id']}/overrides")["items"]
        return [o for o in items if o not in overrides_before and o["user_id"] == dan["id"]]

    new = wait_until(created, timeout=20, what="the override in the API")
    assert datetime.fromisoformat(new[0]["start"]) == starts, new
    assert datetime.fromisoformat(new[0]["end"]) == ends, new
    expect(page.locator("#schedule-timeline")).to_contain_text(dan["name"])
    wait_until(
        lambda: page.locator("#schedule-timeline").inner_html() != before,
        timeout=20,
        what="the timeline to change",
    )


def test_add_a_notification_rule_on_my_on_call(page: Any, demo: DemoBaton) -> None:
    from playwright.sync_api import expect

    erin = users(demo)["erin@example.com"]
    rules_path = f"/api/v1/users/{erin['id']}/notification-rules"
    rules_before = demo.api("GET", rules_path)
    page.goto("/me")
    sign_in_by_link(page, demo, erin["email"])
    expect(page).to_have_url(f"{demo.url}/me")

    method = page.get_by_label("Contact method", exact=True)
    if method.evaluate("(element) => element.tagName") == "SELECT":
        method.select_option(index=0)
    page.get_by_label("After (minutes)", exact=True).fill("7")
    urgency = page.get_by_label("Urgency", exact=True)
    if urgency.evaluate("(element) => element.tagName") == "SELECT":
        urgency.select_option(index=0)
    page.get_by_role("button", name="Add rule").click()

    def added() -> list[dict[str, Any]]:
        return [r for r in demo.api("GET", rules_path) if r not in rules_before]

    new = wait_until(added, timeout=20, what="the new rule in the API")
    assert new[0]["delay_minutes"] == 7, new
    expect(page.get_by_role("main")).to_contain_text(re.compile(r"\b7 min", re.IGNORECASE))


def test_sign_out_and_be_refused(page: Any, demo: DemoBaton) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    sign_in_by_link(page, demo, "carol@example.com")
    cookies = page.context.cookies()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in"))
    expect(page.get_by_role("heading", name="Sign in to Baton")).to_be_visible()
    # The old cookie, put back, opens nothing: the session itself has ended.
    page.context.add_cookies(cookies)
    page.goto("/incidents")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Fincidents$"))
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_judge_the_deploy_an_incident_opened_after(
    page: Any, demo: DemoBaton, deployed: dict[str, int], alert_url: str
) -> None:
    """The incident page names the deploy and the version to roll back to; *Caused by this
    deploy* makes the deploy a failed change, and the panel says who said so."""
    from playwright.sync_api import expect

    incident = fire_alert(alert_url, f"Checkout errors after the deploy {uuid.uuid4().hex[:6]}")
    page.goto(f"/incidents/{incident}")
    sign_in_by_link(page, demo, DEMO_ADMIN)
    panel = page.locator("#incident-deploy")
    expect(panel.get_by_role("heading", name="Deploy nearby")).to_be_visible()
    expect(panel).to_contain_text("v1.4.2")
    expect(panel).to_contain_text("by dina")
    expect(panel).to_contain_text("v1.4.1")
    expect(panel).to_contain_text("Suspected: not judged yet")

    panel.get_by_role("button", name="Caused by this deploy").click()

    wait_until(
        lambda: (
            demo.api("GET", f"/api/v1/deployments/{deployed['deploy']}/verdict")["verdict"]
            == "failed"
        ),
        timeout=20,
        what=f"deploy {deployed['deploy']} failed",
    )
    expect(panel).to_contain_text("Caused by this deploy by")
    expect(panel.get_by_role("button", name="Caused by this deploy")).to_have_count(0)
    expect(panel.get_by_role("button", name="Not related")).to_be_visible()
    expect(page.locator("#flash")).to_contain_text("Marked as caused by this deploy.")
    # The deploy's page links back to the incident, with the verdict.
    panel.get_by_role("link", name="v1.4.2").first.click()
    expect(page).to_have_url(f"{demo.url}/deploys/{deployed['deploy']}")
    expect(page.locator("#deploy-incidents").get_by_role("link")).to_have_count(2)


def test_review_an_incident_after_a_deploy_and_find_the_action_item_on_my_on_call(
    page: Any, demo: DemoBaton, deployed: dict[str, int], alert_url: str
) -> None:
    """From the incident page to its review: *Draft the review* writes the draft from the
    timeline, with the deploy nearby; the summary is saved and rendered; an action item for me
    shows on *My on-call*, where *Mark done* completes it in the API."""
    from playwright.sync_api import expect

    incident = fire_alert(alert_url, f"Refunds failing after the deploy {uuid.uuid4().hex[:6]}")
    page.goto(f"/incidents/{incident}")
    sign_in_by_link(page, demo, DEMO_ADMIN)
    page.get_by_role("link", name="Review", exact=True).click()
    expect(page).to_have_url(f"{demo.url}/incidents/{incident}/review")
    page.get_by_role("button", name="Draft the review").click()

    expect(page.locator("#review-state")).to_have_text("Draft")
    expect(page.locator("#review-deploys")).to_contain_text("v1.4.2")
    expect(page.locator("#review-timeline-list").get_by_role("listitem").first).to_be_visible()
    page.get_by_role("textbox", name="Summary", exact=True).fill(
        "Refunds failed for **ten minutes**."
    )
    page.get_by_role("combobox", name="Severity").select_option("sev2")
    page.get_by_role("button", name="Save the review").click()
    expect(page.locator("#section-summary strong")).to_have_text("ten minutes")

    page.get_by_label("Action item", exact=True).fill("Add a refund canary")
    page.get_by_label("Action item owner").select_option(str(users(demo)[DEMO_ADMIN]["id"]))
    page.get_by_role("button", name="Add action item").click()
    expect(page.locator("#action-item-list")).to_contain_text("Add a refund canary")
    review = demo.api("GET", f"/api/v1/incidents/{incident}/review")
    assert review["review"]["severity"] == "sev2", review["review"]
    [item] = review["action_items"]

    page.goto("/me")
    row = page.locator(f"#my-action-item-{item['id']}")
    expect(row).to_contain_text("Add a refund canary")
    row.get_by_role("button", name="Mark done: Add a refund canary").click()
    wait_until(
        lambda: (
            demo.api("GET", f"/api/v1/incidents/{incident}/review")["action_items"][0]["status"]
            == "done"
        ),
        timeout=20,
        what="the action item done",
    )
    expect(page.locator(f"#my-action-item-{item['id']}")).to_have_count(0)


def test_the_health_and_load_pages_draw_their_charts(
    page: Any, demo: DemoBaton, services: dict[str, dict[str, Any]], teams: dict[str, Any]
) -> None:
    """Chart.js (vendored, loaded under the CSP) draws on the pages' canvases from their JSON
    blocks, without a script error (the fixture fails on any)."""
    from playwright.sync_api import expect

    service = services["payments-api"]
    page.goto(f"/services/{service['id']}")
    sign_in_by_link(page, demo, DEMO_ADMIN)
    page.get_by_role("link", name="Service health").click()
    expect(page).to_have_url(f"{demo.url}/services/{service['id']}/health")
    page.get_by_role("link", name="Last 7 days").click()
    expect(page.get_by_text("Last 7 days", exact=True)).to_have_attribute("aria-current", "page")
    drawn = page.evaluate("() => Object.keys(window.Chart.instances).length")
    assert drawn >= 2, drawn
    page.goto(f"/teams/{teams['sre']['id']}/load")
    expect(page.get_by_role("heading", level=1)).to_have_text("Pager load of sre")
    assert page.evaluate("() => Object.keys(window.Chart.instances).length") >= 1


# ------------------------------------------------------------------ every page: axe, pictures

PAGES = (
    "/",
    "/incidents",
    "/incidents/{incident}",
    "/schedules",
    "/schedules/{schedule}",
    "/me",
    "/services",
    "/services/{service}",
    "/incidents/{deployed_incident}",
    "/deploys",
    "/deploys/{deploy}",
    "/pager-load",
    "/people",
    "/services/{service}/health",
    "/teams/{team}/load",
    "/people/{person}/load",
    "/reviews",
    "/incidents/{reviewed}/review",
    "/readiness",
    "/services/{service}/readiness",
)


@pytest.fixture(scope="module")
def admin_state(browser: Any, demo: DemoBaton, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A signed-in admin's cookies (the admin sees every control a page has)."""
    context = browser.new_context(base_url=demo.url)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto("/sign-in")
        sign_in_by_link(page, demo, DEMO_ADMIN)
        path = tmp_path_factory.mktemp("admin") / "state.json"
        context.storage_state(path=str(path))
        return path
    finally:
        context.close()


def _check_page(page: Any, path: str) -> list[str]:
    """axe-core and a screenshot at each size; what is wrong (nothing: empty)."""
    problems = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for viewport in VIEWPORTS:
        page.set_viewport_size(viewport.size())
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(screenshot_name(path, viewport)), full_page=True)
        violations = axe_violations(page)
        if violations:
            problems.append(f"{path} at {viewport.name}:\n{describe_violations(violations)}")
        if viewport is PHONE and (overflow := horizontal_overflow(page)) > 0:
            problems.append(f"{path} at {viewport.name}: {overflow}px wider than the screen")
    return problems


def test_the_sign_in_page_is_accessible(page: Any) -> None:
    page.goto("/sign-in")
    problems = _check_page(page, "/sign-in")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("template", PAGES)
def test_every_page_is_accessible_on_desktop_and_phone(
    browser: Any,
    demo: DemoBaton,
    admin_state: Path,
    template: str,
    incident_id: int,
    schedules: dict[str, dict[str, Any]],
    services: dict[str, dict[str, Any]],
    deployed: dict[str, int],
    teams: dict[str, dict[str, Any]],
    reviewed: int,
) -> None:
    path = template.format(
        incident=incident_id,
        schedule=schedules["payments-primary"]["id"],
        service=services["payments-api"]["id"],
        deployed_incident=deployed["incident"],
        deploy=deployed["deploy"],
        team=teams["sre"]["id"],
        person=users(demo)["alice@example.com"]["id"],
        reviewed=reviewed,
    )
    context = browser.new_context(
        base_url=demo.url, viewport=DESKTOP.size(), storage_state=str(admin_state)
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        response = page.goto(path)
        assert response is not None and response.status == 200, (
            f"{path}: {response.status if response else 'no answer'}"
        )
        assert "/sign-in" not in page.url, f"{path} sent the admin to {page.url}"
        problems = _check_page(page, path)
    finally:
        context.close()
    assert not problems, "\n".join(problems)
