"""Shared fixtures: the standard cast of users and fast settings for tests."""

import pytest
from huey.contrib.djhuey import HUEY


@pytest.fixture(autouse=True, scope="session")
def _huey_immediate():
    """Tasks run in-process during tests, except where a test starts a real consumer."""
    HUEY.immediate = True
    yield


@pytest.fixture(autouse=True)
def _fast_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def cast(db):
    """A marketer, an SDR, an AE, a manager of each side, RevOps and a leadership reader."""
    from tandem.users.tests.factories import make_cast

    return make_cast()
