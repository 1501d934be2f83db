"""ASGI entry point, what `tandem serve` runs: the event collection paths in the event loop, every
other request through Django's WSGI application on a pool of threads (TANDEM_WEB_THREADS)."""

import gc
import os

from a2wsgi import WSGIMiddleware
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tandem.settings")
django_application = get_wsgi_application()

from django.conf import settings  # noqa: E402 - after Django is set up

from tandem.engagement.ingestion_views import EventsASGIApplication  # noqa: E402

application = EventsASGIApplication(
    WSGIMiddleware(django_application, workers=settings.TANDEM_WEB_THREADS),
    batch_threads=settings.TANDEM_WEB_THREADS,
)

# What is loaded by now lives as long as the process: leave it out of garbage collection, so a
# full collection under load is short (it scans only what requests allocate).
gc.freeze()
