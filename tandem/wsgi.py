"""WSGI entry point: the event collection paths first, then Django."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tandem.settings")
django_application = get_wsgi_application()

from tandem.engagement.ingestion_views import EventsApplication  # noqa: E402 - needs Django set up

application = EventsApplication(django_application)
