"""Every table, imported in one place so Alembic and ``create_all`` see the whole schema."""

from app.alerts import models as alert_models
from app.audit import models as audit_models
from app.catalog import models as catalog_models
from app.deploys import models as deploy_models
from app.escalation import models as escalation_models
from app.incidents import models as incident_models
from app.integrations import models as integration_models
from app.integrations.slack import models as slack_models
from app.integrations.twilio import models as twilio_models
from app.notify import channel_models
from app.notify import models as notify_models
from app.people import models as people_models
from app.readiness import models as readiness_models
from app.review import models as review_models
from app.schedules import models as schedule_models
from app.web import models as web_models

__all__ = [
    "alert_models",
    "audit_models",
    "catalog_models",
    "channel_models",
    "deploy_models",
    "escalation_models",
    "incident_models",
    "integration_models",
    "notify_models",
    "people_models",
    "readiness_models",
    "review_models",
    "schedule_models",
    "slack_models",
    "twilio_models",
    "web_models",
]
