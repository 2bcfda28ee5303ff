"""Settings shared by every environment; everything variable comes from the environment."""

from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.settings.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
FINCH_HOME = Path(env_str("FINCH_HOME", str(BASE_DIR / "var"))).resolve()
FINCH_HOME.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from here: the docs work offline
    "django_htmx",
    "curation",
    "training",
    "evaluation",
    "api",
]

MIDDLEWARE = [
    "config.observability.RequestIdMiddleware",  # first: every later log line carries the id
    "config.health.ProbeMiddleware",  # before anything reads the Host header: probes send a pod IP
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.slashes.SlashRedirectMiddleware",  # Django's CommonMiddleware, its added slash a 308
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "config.health.DatabaseUnavailableMiddleware",  # last: it sees the views' exceptions first
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],
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

# Database: PostgreSQL in production (DATABASE_URL), a SQLite file under FINCH_HOME by default.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{FINCH_HOME / 'finch.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; the timeout rides out short locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif env_bool("FINCH_DB_PREPARED_STATEMENTS", True):
    # Django turns prepared statements off for connection poolers' sake; its own queries never
    # prepare either way (client-side binding), only the hot statements of curation/prepared_sql.py.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = FINCH_HOME / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request when it is missing
MEDIA_URL = "media/"
MEDIA_ROOT = FINCH_HOME / "media"
# Uploads, exports, version files, checkpoints and adapters: one storage every host shares. A
# folder under FINCH_HOME by default (a shared volume beyond one host), or S3-compatible.
FINCH_STORAGE = env_str("FINCH_STORAGE", "filesystem")
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
if FINCH_STORAGE == "s3":
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("AWS_STORAGE_BUCKET_NAME", ""),
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("AWS_S3_REGION_NAME", "") or None,
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
        },
    }

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Sessions: cookies out of scripts' reach and not sent on cross-site posts; a session ends after
# FINCH_SESSION_HOURS (production adds Secure). Pages carry the CSRF token in their HTML (htmx
# sends it from there), so its cookie needs no script access either.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("FINCH_SESSION_HOURS", 24) * 3600
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"

REST_FRAMEWORK: dict[str, Any] = {
    # Token first, so that a request without credentials gets 401 with WWW-Authenticate.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.IdCursorPagination",
    "DEFAULT_SCHEMA_CLASS": "api.schema.FinchAutoSchema",
    "EXCEPTION_HANDLER": "api.exceptions.exception_handler",
    # Rates in FINCH_API_THROTTLE_RATES below; the token endpoint adds its own (`login`).
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.UserRate", "api.throttling.AnonRate"],
    # Proxies in front of the web processes: the client address is the one they saw, read from
    # X-Forwarded-For; with 0 the header is ignored, so that a client cannot choose its own.
    "NUM_PROXIES": env_int("FINCH_NUM_PROXIES", 0),
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Finch API",
    "DESCRIPTION": "Curate, deduplicate and freeze fine-tuning data; train, evaluate, monitor.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Pinned copies of Swagger UI and ReDoc from drf-spectacular-sidecar, served as static files
    # (WhiteNoise), not a CDN's latest: /api/docs/ and /api/redoc/ work without internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # An import's status also takes `unlabeled` (the labeling queue): its own enum, not a clash
    # with the examples' status.
    "ENUM_NAME_OVERRIDES": {
        "StatusEnum": ["draft", "submitted", "approved", "rejected", "needs_changes"],
        "ImportStatusEnum": ["draft", "submitted", "approved", "rejected", "needs_changes", "unlabeled"],
    },
}

# Celery: an embedded broker (files under FINCH_HOME) unless CELERY_BROKER_URL names a server.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
# An idle worker looks for new messages in the file broker's folder this often: a queued job
# waits up to this long (kombu's default, 1,000 ms, was most of a job's start). A look is one
# directory listing per queue (bench/job_start.py measures both).
FINCH_BROKER_POLL_MS = env_int("FINCH_BROKER_POLL_MS", 50)
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's file transport, except that a message is written whole before a worker can see it.
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
    _broker_dir = FINCH_HOME / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": FINCH_BROKER_POLL_MS / 1000,
    }
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "") or None
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes a worker's database connections before and after every task, so
# each job started by connecting again; kept (the default), it does so every 100th task only, and
# config/worker_connections.py closes a broken connection before a task instead.
FINCH_WORKER_KEEP_CONNECTIONS = env_bool("FINCH_WORKER_KEEP_CONNECTIONS", True)
CELERY_DB_REUSE_MAX = 100 if FINCH_WORKER_KEEP_CONNECTIONS else None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log through LOGGING below (JSON in production)
# Queues: `celery` (the default: imports, freezes, validation, reports), `quality` (dedup and
# contradiction jobs) and `gpu` (training, merges, evaluation and suggestions); operators
# scale each with its own workers (docs/operations.md).
CELERY_TASK_ROUTES = {
    "curation.dedup_examples": {"queue": "quality"},
    "curation.dedup_chunk": {"queue": "quality"},
    "curation.dedup_merge": {"queue": "quality"},
    "curation.embed_shares": {"queue": "quality"},
    "curation.find_contradictions": {"queue": "quality"},
    "training.train": {"queue": "gpu"},
    "training.merge": {"queue": "gpu"},
    "evaluation.evaluate": {"queue": "gpu"},
    "evaluation.suggest": {"queue": "gpu"},
    "evaluation.real_model_demo": {"queue": "gpu"},
}
# Beat: fail jobs, freezes, training and eval runs whose worker went silent (see
# FINCH_JOB_HEARTBEAT_TIMEOUT_S and FINCH_TRAINING_HEARTBEAT_TIMEOUT_S); a drift report for
# every deployment with recent samples, hourly.
# The reapers also send again the task of a job that waited for a worker FINCH_JOB_RESEND_AFTER_S
# (its message lost by the broker), then at twice and four times that age...; 0 turns that off.
FINCH_SWEEP_EVERY_S = 60.0
FINCH_JOB_RESEND_AFTER_S = env_int("FINCH_JOB_RESEND_AFTER_S", 600)
CELERY_BEAT_SCHEDULE = {
    "reap-stale-jobs": {"task": "curation.reap_stale_jobs", "schedule": FINCH_SWEEP_EVERY_S},
    "search-backlog": {"task": "curation.search_backlog_sweep", "schedule": 600.0},
    "reap-stale-training-runs": {"task": "training.reap_stale_runs", "schedule": FINCH_SWEEP_EVERY_S},
    "reap-stale-eval-runs": {"task": "evaluation.reap_stale_runs", "schedule": FINCH_SWEEP_EVERY_S},
    "drift-reports": {"task": "evaluation.drift_reports", "schedule": 3600.0},
    "delete-expired-uploads": {"task": "curation.delete_expired_uploads", "schedule": 3600.0},
    "expire-exports": {"task": "curation.expire_exports", "schedule": 900.0},
    "release-expired-claims": {"task": "curation.release_expired_claims", "schedule": 60.0},
}

FILE_UPLOAD_HANDLERS = [
    "api.uploads.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Beside MEDIA_ROOT, so a finished upload is moved into storage, not copied.
FILE_UPLOAD_TEMP_DIR = FINCH_HOME / "tmp"
FILE_UPLOAD_TEMP_DIR.mkdir(exist_ok=True)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)

# Finch's own limits.
FINCH_MAX_UPLOAD_BYTES = env_int("FINCH_MAX_UPLOAD_BYTES", 2 * 1024**3)
FINCH_MAX_FIELD_CHARS = env_int("FINCH_MAX_FIELD_CHARS", 100_000)
FINCH_MAX_METADATA_CHARS = env_int("FINCH_MAX_METADATA_CHARS", 20_000)
FINCH_MAX_LABELS = env_int("FINCH_MAX_LABELS", 2_000)
# Who may create projects (web UI and API): `any` signed-in user, or `staff` only.
FINCH_PROJECT_CREATORS = env_str("FINCH_PROJECT_CREATORS", "any").strip().lower()
if FINCH_PROJECT_CREATORS not in {"any", "staff"}:
    raise ImproperlyConfigured("FINCH_PROJECT_CREATORS must be `any` or `staff`.")
# An import row (a line, a CSV record, a JSON array element) over this is a row error, found
# while streaming without holding the row: it bounds an import worker's memory.
FINCH_MAX_ROW_BYTES = env_int("FINCH_MAX_ROW_BYTES", 8 * 1024 * 1024)
# Uploaded import files are deleted once their job finishes (0), or kept this many days.
FINCH_UPLOAD_RETENTION_DAYS = env_int("FINCH_UPLOAD_RETENTION_DAYS", 0)
# The bytes of uploads a project may have waiting for (or in) an import job at once.
FINCH_PROJECT_PENDING_UPLOAD_BYTES = env_int("FINCH_PROJECT_PENDING_UPLOAD_BYTES", 4 * 1024**3)
# A local sentence-transformers model for embedding dedup; empty: the packaged all-MiniLM-L6-v2.
FINCH_EMBEDDING_MODEL = env_str("FINCH_EMBEDDING_MODEL", "")
# Embedding dedup embeds every text with an int8 ONNX copy of the model (made once, by
# `manage.py prepare_models` or on first use, under FINCH_MODELS_DIR) and has the model itself
# decide the pairs near the threshold: `true` (the default; `auto`, its old name, means the same)
# or `false` (the model alone).
FINCH_EMBEDDING_INT8 = env_str("FINCH_EMBEDDING_INT8", "true").lower() == "auto" or env_bool(
    "FINCH_EMBEDDING_INT8", True
)
# Embedding dedup with static candidates (docs/quality-jobs.md): a model2vec copy of the model,
# distilled once under FINCH_MODELS_DIR, and an HNSW index (usearch) propose the pairs; the
# transformer embeds only their texts. `auto` (the default): for thresholds of 0.9 and more,
# where it holds 0.97 of the model's pairs or more; below that the static copy misses
# paraphrases and the int8 copy embeds every text. `true`: at every threshold; `false`: never.
FINCH_EMBEDDING_STATIC: bool | str = (
    "auto"
    if env_str("FINCH_EMBEDDING_STATIC", "auto").strip().lower() == "auto"
    else env_bool("FINCH_EMBEDDING_STATIC", False)
)
# Prefork worker processes load the embedding models as they start (config/worker_models.py).
FINCH_PRELOAD_EMBEDDING_MODELS = env_bool("FINCH_PRELOAD_EMBEDDING_MODELS", False)
FINCH_MODELS_DIR = Path(env_str("FINCH_MODELS_DIR", str(FINCH_HOME / "models"))).resolve()
# Freezes of at most this many examples finish within the request (201); larger ones run as a
# Celery task (202, the version is `freezing` until it ends).
# Export jobs' files stay downloadable this long, then beat deletes them (the job says expired).
FINCH_EXPORT_RETENTION_HOURS = env_int("FINCH_EXPORT_RETENTION_HOURS", 24)
# How long an annotator holds a labeling-queue item before its slot goes back to the queue.
FINCH_LABELING_CLAIM_SECONDS = env_int("FINCH_LABELING_CLAIM_SECONDS", 20 * 60)
# Agreement (the team page, its API, a version's data card) stands on at most this many of the
# most recent items with two or more answers: the krippendorff package holds an items x labels x
# labels array, about 50 MB per array at 1,000 items and 77 labels.
FINCH_AGREEMENT_MAX_ITEMS = env_int("FINCH_AGREEMENT_MAX_ITEMS", 1_000)
# The streaming export answers within a request up to this many rows; above, it refuses (413)
# and names the export job. Measured in bench/export.py: a quarter of the web timeout's worth.
FINCH_EXPORT_SYNC_MAX_ROWS = env_int("FINCH_EXPORT_SYNC_MAX_ROWS", 100_000)
FINCH_FREEZE_INLINE_MAX = env_int("FINCH_FREEZE_INLINE_MAX", 2_000)
# A text search (`?q=` on the example lists, the flag search) that runs longer than this is
# stopped with a 400 naming `q`, so no search holds a web worker for long (curation.search).
FINCH_SEARCH_TIMEOUT_MS = env_int("FINCH_SEARCH_TIMEOUT_MS", 5_000)
# A freeze's embedding leakage check embeds at most this many uncached inputs (else it is
# skipped, and says so); an embedding dedup job fills the cache beforehand.
FINCH_LEAKAGE_EMBED_LIMIT = env_int("FINCH_LEAKAGE_EMBED_LIMIT", 20_000)
# Dedup jobs split their per-example work into Celery tasks of this many examples each.
FINCH_DEDUP_CHUNK_ROWS = env_int("FINCH_DEDUP_CHUNK_ROWS", 100_000)
# An embedding merge with static candidates shares the texts it must embed with free workers in
# shares of this many (when it has at least two shares' worth; curation.services.embedding_shares).
FINCH_EMBEDDING_SHARE_TEXTS = env_int("FINCH_EMBEDDING_SHARE_TEXTS", 1_000)
# A Redis URL: MinHash jobs keep their LSH index there (datasketch's Redis storage), shared by
# the chunk tasks on every host; empty: the merge builds it in memory.
FINCH_LSH_REDIS_URL = env_str("FINCH_LSH_REDIS_URL", "")

# API request rates ("N/second|minute|hour|day"; empty: no limit), see api/throttling.py.
FINCH_API_THROTTLE_RATES = {
    "user": env_str("FINCH_API_THROTTLE_USER", "1200/minute"),
    "anon": env_str("FINCH_API_THROTTLE_ANON", "60/minute"),
    "login": env_str("FINCH_API_THROTTLE_LOGIN", "10/minute"),
}
# Where throttle counts (and any other cached value) live: a Redis URL shares them between web
# processes; empty: each process keeps its own in memory.
FINCH_CACHE_URL = env_str("FINCH_CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": FINCH_CACHE_URL}
        if FINCH_CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# A running job, freeze or eval run whose worker has written no heartbeat for this long is
# marked failed (curation/services/heartbeat.py); training runs have their own timeout.
FINCH_JOB_HEARTBEAT_TIMEOUT_S = env_int("FINCH_JOB_HEARTBEAT_TIMEOUT_S", 300)
# A running training run whose worker has written no heartbeat for this long is marked failed.
FINCH_TRAINING_HEARTBEAT_TIMEOUT_S = env_int("FINCH_TRAINING_HEARTBEAT_TIMEOUT_S", 600)
# GPUs a gpu worker gives one training run: above 1 the run trains data parallel, one process a GPU
# under torchrun (a run may ask for fewer with its `gpus` setting; docs/training.md).
FINCH_GPU_COUNT = env_int("FINCH_GPU_COUNT", 1)
if FINCH_GPU_COUNT < 1:
    raise ImproperlyConfigured("FINCH_GPU_COUNT must be at least 1.")
# Tests and development only: data parallel processes on the CPU (gloo) where there is no GPU, so
# the launcher, DDP and rank 0's writing run on any machine. Slow; never for real training.
FINCH_TRAINING_CPU_DATA_PARALLEL = env_bool("FINCH_TRAINING_CPU_DATA_PARALLEL", False)
# Evaluation generates in batches of at most this many tokens (rows times the longest prompt plus
# the answer's room, padded); lower it where a model runs out of memory evaluating.
FINCH_EVAL_BATCH_TOKENS = env_int("FINCH_EVAL_BATCH_TOKENS", 8192)
# What generates eval and suggestion answers (evaluation/engines.py): `auto` (vLLM where it is
# installed, the `vllm` extra, and a CUDA GPU is there, else transformers), `transformers`, or
# `vllm` (a run fails saying why on a worker that cannot). Read by the GPU workers.
FINCH_GENERATION_ENGINE = env_str("FINCH_GENERATION_ENGINE", "auto")
if FINCH_GENERATION_ENGINE not in ("auto", "transformers", "vllm"):
    raise ImproperlyConfigured("FINCH_GENERATION_ENGINE must be `auto`, `transformers` or `vllm`.")
# A suggestion run asks its model about at most this many inputs, and gives a free-text answer
# this much room when the project has no frozen version to size it from.
FINCH_SUGGESTION_MAX_INPUTS = env_int("FINCH_SUGGESTION_MAX_INPUTS", 10_000)
FINCH_SUGGESTION_MAX_NEW_TOKENS = env_int("FINCH_SUGGESTION_MAX_NEW_TOKENS", 256)
# Base models offered in the launch form: the model folders (with a config.json) found here.
FINCH_BASE_MODELS_DIR = Path(env_str("FINCH_BASE_MODELS_DIR", str(FINCH_MODELS_DIR / "base"))).resolve()

# Logs: `plain` lines, or `json` (production's default: one object a line, with the request id
# on web logs and the task, job and project ids on worker logs; config/observability.py).
FINCH_LOG_FORMAT = env_str("FINCH_LOG_FORMAT", "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "config.observability.ContextFilter"},
        "client_error": {"()": "config.observability.ClientErrorWithoutTraceback"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "config.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if FINCH_LOG_FORMAT == "json" else "plain",
            "filters": ["context"],
        }
    },
    "loggers": {"django.request": {"filters": ["client_error"]}},
    "root": {"handlers": ["console"], "level": env_str("FINCH_LOG_LEVEL", "INFO")},
}

# People (curation/services/invitations.py): an invitation link works once, for this many days;
# a password-reset link (Django's token) for PASSWORD_RESET_TIMEOUT seconds, or until used.
FINCH_INVITATION_DAYS = env_int("FINCH_INVITATION_DAYS", 7)
PASSWORD_RESET_TIMEOUT = env_int("FINCH_PASSWORD_RESET_HOURS", 72) * 3600
# Mail is optional: links are shown to copy. With EMAIL_HOST set, an invitation given an address
# is also mailed there.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "finch@localhost")
