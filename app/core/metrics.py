"""Prometheus metrics shared by the API and the engine."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "baton_http_requests_total", "HTTP requests served", ["method", "route", "status"]
)
HTTP_REQUEST_SECONDS = Histogram(
    "baton_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
SCHEMA_UP_TO_DATE = Gauge(
    "baton_schema_up_to_date", "1 when the database schema is at the migrations head"
)
ALERTS_RECEIVED = Counter(
    "baton_alerts_received_total", "Alerts received from integrations", ["kind", "action"]
)
INGEST_BATCH_REQUESTS = Histogram(
    "baton_ingest_batch_requests",
    "Inbound alert requests that shared one transaction (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
INCIDENTS_OPENED = Counter("baton_incidents_opened_total", "Incidents opened")
ESCALATIONS = Counter("baton_escalations_total", "Escalation steps run by the engine")
ESCALATIONS_EXHAUSTED = Counter(
    "baton_escalations_exhausted_total",
    "Incidents whose escalation policy ran out with nobody acknowledging",
)
NOTIFICATIONS = Counter(
    "baton_notifications_total",
    "Notification outcomes by contact type",
    ["contact_type", "outcome"],
)
NOTIFICATION_LAG_SECONDS = Histogram(
    "baton_notification_lag_seconds",
    "From due to handed to the provider",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
ENGINE_OVERDUE_ESCALATIONS = Gauge(
    "baton_engine_overdue_escalations",
    "Triggered incidents whose next escalation is overdue (a stuck engine shows here first)",
)
ENGINE_OVERDUE_NOTIFICATIONS = Gauge(
    "baton_engine_overdue_notifications", "Pending notifications past their due time"
)
ENGINE_JOB_ERRORS = Counter("baton_engine_job_errors_total", "Engine job failures", ["job"])
AUTH_FAILURES = Counter(
    "baton_auth_failures_total",
    "Failed authentication attempts (unknown API token, integration key or feed token)",
    ["credential"],
)
AUTH_LOCKOUTS = Counter(
    "baton_auth_lockouts_total",
    "Source addresses locked out after too many failed authentication attempts",
    ["credential"],
)
AUTH_REFUSED = Counter(
    "baton_auth_refused_total",
    "Requests answered 429 because their source address is locked out",
    ["credential"],
)

# The figures of app/review, per service and per team (never per person: bounded cardinality).
# The engine job ``metrics-refresh`` recomputes them every few minutes (app/review/gauges.py);
# a scrape only reads them.
SERVICE_INCIDENTS_7D = Gauge(
    "baton_service_incidents_7d", "Incidents opened in the last 7 days", ["service", "team"]
)
SERVICE_MTTA_SECONDS_7D = Gauge(
    "baton_service_mtta_seconds_7d",
    "Median time to acknowledge of incidents opened in the last 7 days (absent: none acked)",
    ["service", "team"],
)
SERVICE_MTTR_SECONDS_7D = Gauge(
    "baton_service_mttr_seconds_7d",
    "Median time to resolve of incidents opened in the last 7 days (absent: none resolved)",
    ["service", "team"],
)
SERVICE_DEPLOYS_30D = Gauge(
    "baton_service_deploys_30d",
    "Deploys that reached their environment in the last 30 days",
    ["service", "team"],
)
SERVICE_CHANGE_FAILURE_RATE_30D = Gauge(
    "baton_service_change_failure_rate_30d",
    "Failed changes over all deploys of the last 30 days (absent: no deploys)",
    ["service", "team"],
)
SERVICE_READINESS_SCORE = Gauge(
    "baton_service_readiness_score",
    "The service's launch-requirements score (0-100) at its latest evaluation",
    ["service", "team", "support_model", "band"],
)
TEAM_INCIDENTS_7D = Gauge(
    "baton_team_incidents_7d",
    "Incidents of the team's services opened in the last 7 days",
    ["team"],
)
TEAM_REVIEWS_OWED = Gauge(
    "baton_team_reviews_owed", "Incident reviews owed by the team's services", ["team"]
)
TEAM_ACTION_ITEMS_OVERDUE = Gauge(
    "baton_team_action_items_overdue", "Open action items past their due date", ["team"]
)
REVIEW_GAUGES_REFRESHED = Gauge(
    "baton_review_gauges_refreshed_timestamp_seconds",
    "When the service and team gauges were last recomputed (Unix time)",
)
