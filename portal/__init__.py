"""Site shell: settings, URLs, authentication pages and the Celery application."""

from portal.celery import app as celery_app

__all__ = ["celery_app"]
