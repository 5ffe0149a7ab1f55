"""Every table, imported in one place so Alembic and ``create_all`` see the whole schema."""

from app.people import models as people_models

__all__ = ["people_models"]
