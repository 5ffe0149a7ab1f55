"""E-mail pages over SMTP (stdlib smtplib) to the fake mail server."""

from __future__ import annotations

from tests.fakes.smtp import FakeSMTP
from tests.notify.conftest import Oncall
from tests.paging import Engine, api


async def test_page_by_email_has_text_html_and_a_link(
    oncall: Oncall, fake_smtp: FakeSMTP, engine: Engine
) -> None:
    await oncall.contact(oncall.alice, "email", "alice@example.com")
    incident = await oncall.fire("checkout <errors> & timeouts")
    await engine.tick()
    mail = await fake_smtp.expect_mail(to="alice@example.com", contains=f"#{incident}")
    assert mail.subject == f"[HIGH] #{incident} payments-api: checkout <errors> & timeouts"
    link = f"http://baton.test/incidents/{incident}"
    assert f"Open in Baton: {link}" in mail.text
    assert "Runbook: https://runbooks.example.internal/payments-api" in mail.text
    assert f"href='{link}'" in mail.html and "checkout &lt;errors&gt; &amp; timeouts" in mail.html
    assert mail.message["From"] == "Baton <baton@example.test>"
    assert mail.message["X-Baton-Incident"] == str(incident)


async def test_temporary_smtp_errors_retry_and_a_rejected_address_falls_through(
    oncall: Oncall, fake_smtp: FakeSMTP, engine: Engine
) -> None:
    await oncall.contact(oncall.alice, "email", "alice@example.com")
    await oncall.contact(oncall.alice, "email", "alice.backup@example.com", after_minutes=5)
    fake_smtp.fail_next(451, "4.3.0 Try again later")
    fake_smtp.fail_next(550, "5.1.1 No such user", stage="RCPT", rcpt="alice.backup@example.com")
    incident = await oncall.fire()
    await engine.tick()
    await engine.advance(seconds=5)
    await fake_smtp.expect_mail(to="alice@example.com", contains=f"#{incident}")
    await engine.advance(minutes=5)
    rows = {n["address"]: n for n in await oncall.notifications(incident)}
    assert rows["alice@example.com"]["attempts"] == 2
    backup = rows["alice.backup@example.com"]
    assert backup["status"] == "failed" and "550" in backup["last_error"]
    methods = await api(
        oncall.client, oncall.admin, "GET", f"/api/v1/users/{oncall.alice.id}/contact-methods"
    )
    assert [m["pageable"] for m in methods] == [True, False]
