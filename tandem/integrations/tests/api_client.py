"""Call the HTTP API in tests the way an integration does: JSON in and out, with a bearer token."""

import json

from tandem.audit.actors import Actor
from tandem.integrations.services import token_create

API_ROOT = "/api/v1"


def make_token(user, *, name: str = "tests", **options) -> str:
    """Create a token acting as `user` and return its secret."""
    return token_create(by=Actor.system("tests"), user=user, name=name, **options).secret


class ApiClient:
    """A Django test client bound to one token; paths are relative to /api/v1."""

    def __init__(self, client, secret: str | None):
        self.client = client
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret else {}

    def get(self, path: str, params=None):
        return self.client.get(API_ROOT + path, params or {}, **self.headers)

    def post(self, path: str, body=None):
        return self._send("post", path, body)

    def patch(self, path: str, body=None):
        return self._send("patch", path, body)

    def put(self, path: str, body=None):
        return self._send("put", path, body)

    def delete(self, path: str):
        return self.client.delete(API_ROOT + path, **self.headers)

    def post_raw(self, path: str, data: bytes | str, content_type: str = "application/json"):
        return self.client.post(API_ROOT + path, data, content_type=content_type, **self.headers)

    def _send(self, method: str, path: str, body):
        data = json.dumps(body if body is not None else {})
        return getattr(self.client, method)(API_ROOT + path, data, content_type="application/json", **self.headers)
