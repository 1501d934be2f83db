"""The HTTP API, version 1: django-ninja under /api/v1/."""

from ninja import NinjaAPI

api = NinjaAPI(title="Tandem API", version="1", urls_namespace="api-v1")
