"""The Twilio tree's tests run Baton with its channels pointed at the fakes, as notify's do."""

from tests.notify.conftest import engine, oncall, settings, slack, twilio  # noqa: F401
