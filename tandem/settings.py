"""Tandem settings: every value comes from the environment through typed helpers."""

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DATA_DIR = Path(env_str("TANDEM_DATA_DIR", "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """Use TANDEM_SECRET_KEY; otherwise keep a generated key in the data directory."""
    configured = env_str("TANDEM_SECRET_KEY")
    if configured:
        return configured
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("TANDEM_DEBUG", False)
ALLOWED_HOSTS = env_list("TANDEM_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("TANDEM_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "ninja",  # serves the API docs page's assets locally instead of from a CDN
    "huey.contrib.djhuey",
    "tandem.core",
    "tandem.users",
    "tandem.audit",
    "tandem.crm",
    "tandem.campaigns",
    "tandem.engagement",
    "tandem.integrations",
    "tandem.demo",
    "tandem.imports",
    "tandem.exports",
    "tandem.contract",
    "tandem.scoring",
    "tandem.handoff",
    "tandem.clv",
    "tandem.attribution",
    "tandem.sla",
    "tandem.predict",
    "tandem.analytics",
]

MIDDLEWARE = [
    # Event collection is answered first: keys, not sessions, and as little work per event as can be.
    "tandem.engagement.ingestion_views.EventIngestionMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "tandem.urls"
WSGI_APPLICATION = "tandem.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'tandem.sqlite3'}"),
        conn_max_age=env_int("TANDEM_DB_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the worker read while one of them writes;
    # IMMEDIATE transactions avoid "database is locked" on lock upgrades.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;"
        ),
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["TEST"] = {"NAME": env_str("TANDEM_TEST_SQLITE", "") or None}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "users.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

REDIS_URL = env_str("REDIS_URL")

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

HUEY_NAME = env_str("TANDEM_HUEY_NAME", "tandem")
if REDIS_URL:
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": HUEY_NAME,
        "url": REDIS_URL,
        "immediate": False,
        "consumer": {"workers": env_int("TANDEM_WORKERS", 2), "worker_type": "thread"},
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": HUEY_NAME,
        "filename": str(DATA_DIR / "queue.sqlite3"),
        "immediate": env_bool("TANDEM_HUEY_IMMEDIATE", False),
        "consumer": {"workers": env_int("TANDEM_WORKERS", 2), "worker_type": "thread"},
    }

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TANDEM_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

EMAIL_BACKEND = env_str("TANDEM_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("TANDEM_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("TANDEM_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("TANDEM_EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("TANDEM_EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("TANDEM_EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("TANDEM_DEFAULT_FROM_EMAIL", "tandem@localhost")
# Where links in emails and webhook posts point, e.g. https://crm.example.com (blank: no links).
SITE_URL = env_str("TANDEM_SITE_URL")
# A Slack-compatible incoming webhook that hears about hand-off SLA breaches (blank: none).
SLA_WEBHOOK_URL = env_str("TANDEM_SLA_WEBHOOK_URL")

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("TANDEM_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# Largest request body the API accepts; larger payloads get a 413 naming the limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("TANDEM_MAX_REQUEST_BYTES", 1_048_576)
API_DEFAULT_RATE_PER_MINUTE = env_int("TANDEM_API_RATE_PER_MINUTE", 600)
# Event ingestion (docs/events.md): batch limits, how far from now an event's time may be, and
# how many months of touchpoints to keep (0 keeps them all).
# Uploaded import files: a wizard upload never started is discarded after this many hours; the
# source file of a finished import after this many days (its error report stays).
IMPORT_ABANDONED_HOURS = env_int("TANDEM_IMPORT_ABANDONED_HOURS", 24)
# A people file of at least this many rows (estimated), into a table holding at most half as many people,
# is bulk-loaded: new people are staged and loaded at once at the end (docs/import.md). 0 turns it off.
IMPORT_BULK_MIN_ROWS = env_int("TANDEM_IMPORT_BULK_MIN_ROWS", 50_000)
# PostgreSQL memory for rebuilding each index after a bulk load.
IMPORT_BULK_INDEX_MEMORY = env_str("TANDEM_IMPORT_BULK_INDEX_MEMORY", "512MB")
IMPORT_SOURCE_RETENTION_DAYS = env_int("TANDEM_IMPORT_SOURCE_RETENTION_DAYS", 30)
TANDEM_EVENTS_MAX_BATCH = env_int("TANDEM_EVENTS_MAX_BATCH", 1000)
TANDEM_EVENTS_MAX_BATCH_BYTES = env_int("TANDEM_EVENTS_MAX_BATCH_BYTES", 1_048_576)
TANDEM_EVENTS_MAX_AGE_DAYS = env_int("TANDEM_EVENTS_MAX_AGE_DAYS", 730)
TANDEM_EVENTS_MAX_AHEAD_SECONDS = env_int("TANDEM_EVENTS_MAX_AHEAD_SECONDS", 3600)
TANDEM_TOUCHPOINT_RETENTION_MONTHS = env_int("TANDEM_TOUCHPOINT_RETENTION_MONTHS", 0)
# Web server (tandem/asgi.py): threads per process for Django's pages and API, and for event batches.
TANDEM_WEB_THREADS = env_int("TANDEM_WEB_THREADS", 4)
# Email webhooks: the keys that verify signed providers, and the SNS topics SES events may come from.
TANDEM_SENDGRID_VERIFICATION_KEY = env_str("TANDEM_SENDGRID_VERIFICATION_KEY")
TANDEM_MAILGUN_SIGNING_KEY = env_str("TANDEM_MAILGUN_SIGNING_KEY")
TANDEM_SES_TOPIC_ARNS = env_list("TANDEM_SES_TOPIC_ARNS")
# Largest file the import wizard accepts (the command line reads files of any size).
IMPORT_MAX_UPLOAD_BYTES = env_int("TANDEM_IMPORT_MAX_UPLOAD_BYTES", 200 * 1024 * 1024)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"timed": {"format": "[%(asctime)s] %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "timed_console": {"class": "logging.StreamHandler", "formatter": "timed"},
    },
    "root": {"handlers": ["console"], "level": env_str("TANDEM_LOG_LEVEL", "WARNING")},
    # The queue consumer reports each task it runs; with its own handler it logs each line once.
    "loggers": {
        "huey": {
            "handlers": ["timed_console"],
            "level": env_str("TANDEM_WORKER_LOG_LEVEL", "INFO"),
            "propagate": False,
        }
    },
}
