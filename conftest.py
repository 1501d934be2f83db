"""Shared fixtures: the standard cast of users and fast settings for tests."""

import shutil

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


@pytest.fixture(autouse=True)
def _seeded_reference_tables(request):
    """Tests that commit (live servers, real workers) end by flushing every table, including the
    stages and statuses a migration seeds; such tests get them back before they start."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not (marker.kwargs.get("transaction") or (marker.args and marker.args[0])):
        return
    request.getfixturevalue("transactional_db")
    from importlib import import_module

    from django.apps import apps

    import_module("tandem.crm.migrations.0003_seed_defaults").seed(apps, None)


@pytest.fixture
def cast(db):
    """A marketer, an SDR, an AE, a manager of each side, RevOps and a leadership reader."""
    from tandem.users.tests.factories import make_cast

    return make_cast()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser(transactional_db):
    """A headless Chromium driven through chromedriver, for the tests marked `browser`."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("Chromium and chromedriver are not installed (Debian packages chromium, chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()
