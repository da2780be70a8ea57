"""Django settings, read from the environment (see the README's configuration table).

Defaults run the whole product on one machine with nothing else installed: SQLite, a
filesystem Celery broker and local file storage, all under one data directory (CV_DATA_DIR).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from core.env import env_bool, env_choice, env_int, env_list, env_networks, env_str

# Lets admin.ModelAdmin[Model] and friends be written with their type parameters.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
CV_DATA_DIR = Path(env_str("CV_DATA_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY", "")
    if key:
        return key
    # `make run` writes this file once, so a local install keeps its sessions across restarts
    # without the user having to invent a key.
    key_file = CV_DATA_DIR / "secret_key"
    if key_file.is_file():
        return key_file.read_text().strip()
    raise ImproperlyConfigured(
        f"SECRET_KEY is not set and {key_file} does not exist. Set SECRET_KEY "
        "(production) or run `make run`, which creates the file."
    )


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "portal",
    "projects",
    "training",
    "prediction",
    "api",
]

# The portal's own middleware is wrapped in `portal_only`: the Custom Vision API under
# /customvision/ (keys, JSON) skips sessions, CSRF, users, messages and page headers.
MIDDLEWARE = [
    "portal.middleware.DrainUnreadBody",
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads a body: each route's limit, from the declared length.
    "portal.bodylimit.RequestBodyLimit",
    "api.middleware.AzureShapedErrors",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.PortalSessions",
    "django.middleware.common.CommonMiddleware",
    "portal.middleware.PortalCsrf",
    "portal.middleware.PortalAuthentication",
    "portal.middleware.PortalMessages",
    "portal.middleware.PortalFrameOptions",
    "portal.middleware.PortalContentSecurity",
    "portal.middleware.PortalNoStoreWhenSignedIn",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page. Not
    # wrapped: it reads one attribute per request, and its own check looks for its name.
    "axes.middleware.AxesMiddleware",
]

# --- Content-Security-Policy (django-csp) ---------------------------------------------------
# Scripts and styles come only from this site's static files: an injected <script> or
# javascript: URL does not run even where escaping were to fail. Quick Test shows its image
# as a data: URL.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # blob: the upload dialog's previews of the chosen files (object URLs, never remote).
        "img-src": [SELF, "data:", "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Sign-in throttling (django-axes) ---------------------------------------------------------
# After CV_SIGNIN_FAILURE_LIMIT wrong passwords for one account (from anywhere), or
# CV_SIGNIN_ADDRESS_FAILURE_LIMIT from one address (across accounts: many people may share an
# address), further attempts are refused for CV_SIGNIN_LOCKOUT_MINUTES, the right password
# included; the portal's and the admin's sign-in alike (portal/signin.py). An admin unlocks early
# in Admin → Axes → Access attempts (delete the rows) or with `python manage.py axes_reset`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "portal.signin.SigninThrottle"
AXES_FAILURE_LIMIT = env_int("CV_SIGNIN_FAILURE_LIMIT", 5, minimum=1)
CV_SIGNIN_ADDRESS_FAILURE_LIMIT = env_int("CV_SIGNIN_ADDRESS_FAILURE_LIMIT", 50, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("CV_SIGNIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username"]
# axes warns when its lockout leaves the address out: portal/signin.py counts the address itself,
# with a limit of its own.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
AXES_VERBOSE = False

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "projects.new_keys.context",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
_default_db = f"sqlite:///{CV_DATA_DIR / 'db.sqlite3'}"
try:
    DATABASES = {
        "default": dj_database_url.parse(
            env_str("DATABASE_URL", _default_db), conn_max_age=60, conn_health_checks=True
        )
    }
except ValueError as exc:  # unknown scheme, malformed URL
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker processes share the file: wait for locks instead of failing at once.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["timeout"] = 20
    # Write-ahead log: readers never wait for a writer, and a commit is an append without a
    # sync per transaction (synchronous=NORMAL: durable at checkpoints), so a stored
    # prediction's write doesn't wait for the disk.
    options["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    # Writers take the lock when their transaction begins, so two never deadlock upgrading.
    options["transaction_mode"] = "IMMEDIATE"
    # Connections are kept (CONN_MAX_AGE, above): opening one per request, with these
    # pragmas, cost each prediction 2.6 ms of its ~27. An idle connection holds no lock.
    # A file, not memory, for the test database: worker processes in the integration tests
    # must see what the test wrote.
    DATABASES["default"]["TEST"] = {"NAME": str(CV_DATA_DIR / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "projects:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# One date format everywhere (portal/formats/en/formats.py).
FORMAT_MODULE_PATH = ["portal.formats"]

# --- Files ----------------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = CV_DATA_DIR / "static"
MEDIA_ROOT = CV_DATA_DIR / "media"

CV_STORAGE = env_choice("CV_STORAGE", "local", ("local", "s3"))
_media_storage: dict[str, Any] = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": MEDIA_ROOT},
}
if CV_STORAGE == "s3":
    _bucket = env_str("AWS_STORAGE_BUCKET_NAME", "")
    if not _bucket:
        raise ImproperlyConfigured("CV_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME.")
    _media_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _bucket,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("AWS_S3_REGION_NAME", "") or None,
            "access_key": env_str("AWS_ACCESS_KEY_ID", "") or None,
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY", "") or None,
            # Images are private: never public-read, always served through the portal's checks.
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
STORAGES = {
    "default": _media_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

# Uploads: a batch is at most CV_MAX_IMAGES_PER_BATCH files; Django's own cap sits above it so
# an oversized batch reaches our form and gets a readable error instead of a bare 400.
DATA_UPLOAD_MAX_NUMBER_FILES = 256
# Request bodies, limited by route before they are read (portal/bodylimit.py): the API's image
# batches (JSON with base64 images, or multipart) up to CV_MAX_REQUEST_BODY_BYTES; one image for
# predictions and Quick Test; a batch of files for the portal's upload; an archive for a project
# import (spooled to disk); every other form or JSON body CV_MAX_FORM_BODY_BYTES.
CV_MAX_REQUEST_BODY_BYTES = env_int("CV_MAX_REQUEST_BODY_BYTES", 100 * 1024 * 1024, minimum=1024)
CV_MAX_FORM_BODY_BYTES = env_int("CV_MAX_FORM_BODY_BYTES", 2_621_440, minimum=1024)
CV_MAX_IMPORT_ARCHIVE_BYTES = env_int("CV_MAX_IMPORT_ARCHIVE_BYTES", 4 * 1024**3, minimum=1024)
# What the bodies read into memory by one process may hold together (requests beyond it wait a
# few seconds, then get 503): many concurrent uploads can't add up past it.
CV_BODY_MEMORY_BUDGET_BYTES = env_int(
    "CV_BODY_MEMORY_BUDGET_BYTES", 2 * CV_MAX_REQUEST_BODY_BYTES, minimum=1024 * 1024
)
DATA_UPLOAD_MAX_MEMORY_SIZE = CV_MAX_REQUEST_BODY_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the upload script reads it for fetch()
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- Celery ---------------------------------------------------------------------------------
CV_BROKER_DIR = CV_DATA_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker: messages are files under the data directory, so `make run` needs no
    # server. Producer and consumer point at the same folder.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {
        "data_folder_in": str(CV_BROKER_DIR / "queue"),
        "data_folder_out": str(CV_BROKER_DIR / "queue"),
        "control_folder": str(CV_BROKER_DIR / "control"),
        "store_processed": False,
        # kombu's default of 1 s left a queued training waiting half a second on average
        # before a worker saw it; a listing of the queue folder ten times a second costs
        # nothing measurable.
        "polling_interval": 0.1,
    }
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", f"file://{CV_DATA_DIR / 'celery-results'}")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker told to stop (SIGTERM, Ctrl-C) exits within this many seconds even mid-task (as
# after a crash); 0 = Celery's own warm shutdown, which waits for running tasks.
CV_WORKER_STOP_SECONDS = env_int("CV_WORKER_STOP_SECONDS", 8, minimum=0)

# --- Product limits (Azure Custom Vision's paid tier by default) ----------------------------
CV_MAX_IMAGES_PER_PROJECT = env_int("CV_MAX_IMAGES_PER_PROJECT", 100_000, minimum=1)
CV_MAX_TAGS_PER_PROJECT = env_int("CV_MAX_TAGS_PER_PROJECT", 500, minimum=1)
CV_MAX_IMAGES_PER_BATCH = env_int("CV_MAX_IMAGES_PER_BATCH", 64, minimum=1)
CV_MAX_TAGS_PER_BATCH = env_int("CV_MAX_TAGS_PER_BATCH", 20, minimum=1)
# Suggested tags: untagged images one request may run the model over (~40 ms each on a CPU);
# more are scored by the next request.
CV_SUGGESTIONS_PER_REQUEST = env_int("CV_SUGGESTIONS_PER_REQUEST", 300, minimum=1)
# A kept prediction's image and row are written by a thread of the web process just after the
# answer, many to a commit (prediction/services/keeping.py); false writes them in the request.
CV_PREDICTION_WRITE_BEHIND = env_bool("CV_PREDICTION_WRITE_BEHIND", True)
CV_MAX_IMAGE_BYTES = env_int("CV_MAX_IMAGE_BYTES", 6 * 1024 * 1024, minimum=1024)
# What decoding one image may take at its peak (engine.imaging.decoding_cost, from the
# header before decoding), and what one process decodes at once: the guard against small files
# that decode to gigabytes. 200 MiB admits a 24-megapixel photo that has to be turned upright.
CV_MAX_DECODED_BYTES = env_int("CV_MAX_DECODED_BYTES", 200 * 1024 * 1024, minimum=1024 * 1024)
CV_MAX_PREDICTION_IMAGE_BYTES = env_int(
    "CV_MAX_PREDICTION_IMAGE_BYTES", 4 * 1024 * 1024, minimum=1024
)

# --- Fetching user-given URLs (images from URLs, classify URL, quick test URL) --------------
# Networks exempt from the public-address rule (e.g. "127.0.0.1/32" for a local test server).
# Empty by default: a URL can never reach this machine or its private network.
CV_URL_FETCH_ALLOW = env_networks("CV_URL_FETCH_ALLOW")
CV_URL_FETCH_TIMEOUT_SECONDS = env_int("CV_URL_FETCH_TIMEOUT_SECONDS", 10, minimum=1)

# --- Import from Azure (the portal's; the operator's `importazure` may name a private host) --
# Networks the portal's imports may reach besides public addresses (CV_URL_FETCH_ALLOW does
# not apply), e.g. "10.0.0.0/8" for a second instance on your network. Empty: public only.
CV_AZURE_IMPORT_ALLOW = env_networks("CV_AZURE_IMPORT_ALLOW")
# The whole listing of an account's projects (a worker's), every request and retry included.
CV_AZURE_LISTING_TIMEOUT_SECONDS = env_int("CV_AZURE_LISTING_TIMEOUT_SECONDS", 120, minimum=5)
# One import job's time on a worker; past it the job is Failed and can be started again (it
# resumes), so one account can't hold an import worker for ever.
CV_IMPORT_TIME_LIMIT_SECONDS = env_int("CV_IMPORT_TIME_LIMIT_SECONDS", 6 * 3600, minimum=60)
# An import job reports at least every chunk of images: a Running one silent this long lost
# its worker and is Failed by the sweep. One silent CV_IMPORT_RECLAIM_SECONDS is taken over
# when its message comes back (an Azure import resumes); a listing is Failed this long after
# its own time limit.
CV_IMPORT_HEARTBEAT_TIMEOUT_SECONDS = env_int(
    "CV_IMPORT_HEARTBEAT_TIMEOUT_SECONDS", 600, minimum=60
)
CV_IMPORT_RECLAIM_SECONDS = env_int("CV_IMPORT_RECLAIM_SECONDS", 120, minimum=10)

# --- Local admin login created by `make run` (python manage.py ensureadmin) -----------------
CV_ADMIN_USERNAME = env_str("CV_ADMIN_USERNAME", "admin")
CV_ADMIN_PASSWORD = env_str("CV_ADMIN_PASSWORD", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# --- Training -------------------------------------------------------------------------------
CV_TRAINING_DEVICE = env_str("CV_TRAINING_DEVICE", "")  # "" = CUDA when available, else CPU
CV_HEARTBEAT_SECONDS = env_int("CV_HEARTBEAT_SECONDS", 10, minimum=1)
# Torch's CPU threads per process; 0 = by role (training worker: every core it may use; web
# and light workers: 1). See core/threads.py.
CV_TORCH_THREADS = env_int("CV_TORCH_THREADS", 0)
CV_HEARTBEAT_TIMEOUT_SECONDS = env_int("CV_HEARTBEAT_TIMEOUT_SECONDS", 120, minimum=2)
# An export still Exporting after this long is Failed (its worker died); links to a finished
# export's file are good for CV_EXPORT_LINK_SECONDS, as Azure's download links expire.
CV_EXPORT_TIMEOUT_SECONDS = env_int("CV_EXPORT_TIMEOUT_SECONDS", 600, minimum=10)
CV_EXPORT_LINK_SECONDS = env_int("CV_EXPORT_LINK_SECONDS", 3600, minimum=10)
# A Queued iteration no worker has taken in this long, while no worker shows signs of life,
# is Failed by the sweep (its job was lost).
CV_QUEUED_TIMEOUT_SECONDS = env_int("CV_QUEUED_TIMEOUT_SECONDS", 3600, minimum=60)
# One user's share of the training queue: trainings queued or running at once, and the hours
# of Advanced budget they may reserve together (Azure allows 96 h for one training).
CV_MAX_ACTIVE_TRAININGS_PER_USER = env_int("CV_MAX_ACTIVE_TRAININGS_PER_USER", 3, minimum=1)
CV_MAX_TRAINING_HOURS_PER_USER = env_int("CV_MAX_TRAINING_HOURS_PER_USER", 24, minimum=1)
# Queues, so that one kind of job never waits behind another: trainings one at a time on
# their own workers; exports (seconds each) beside the periodic sweeps; imports (network-bound,
# minutes to hours) on workers of their own, where each user runs one import at a time.
CELERY_TASK_ROUTES = {
    "training.train_iteration": {"queue": "training"},
    "training.export_iteration": {"queue": "exports"},
    "projects.import_azure": {"queue": "imports"},
    "projects.list_azure": {"queue": "imports"},
    "projects.import_archive": {"queue": "imports"},
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-iterations": {"task": "training.sweep_stale_iterations", "schedule": 30.0},
    # Files a crash left without their row (see projects/services/reconcile.py).
    "reconcile-storage": {"task": "projects.reconcile_storage", "schedule": 6 * 3600.0},
    # Imports whose worker died: Failed, so the user knows to start again (an Azure import
    # resumes; an archive import's partial project is removed).
    "sweep-stale-imports": {"task": "projects.sweep_stale_imports", "schedule": 120.0},
    # Kept predictions a web process that died had answered but not written (its journal).
    "replay-prediction-journals": {"task": "prediction.replay_journals", "schedule": 30.0},
}
