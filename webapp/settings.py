"""One settings module for every way of running: embedded defaults (SQLite, in-process
channel layer and jobs, the local Grok simulator) unless the environment says otherwise.
Every variable is documented in .env.example."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
PLACEHOLDER_SECRET = "change-me"


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), not {value!r}")


def env_int(name: str, default: int, *, least: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None
    if least is not None and number < least:
        raise ImproperlyConfigured(f"{name} must be at least {least}, not {number}")
    return number


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_header(name: str) -> tuple[str, str] | None:
    """A request header and the value that means HTTPS: ``X-Forwarded-Proto`` (``https``)
    or ``X-Forwarded-Ssl: on``, as Django's (``META`` key, value) pair; None when unset."""
    value = env_str(name)
    if not value:
        return None
    header, _, expected = (part.strip() for part in value.partition(":"))
    if not re.fullmatch(r"[A-Za-z0-9-]+", header):
        raise ImproperlyConfigured(
            f"{name} must be a header name, e.g. X-Forwarded-Proto or X-Forwarded-Ssl: on, not {value!r}"
        )
    return "HTTP_" + header.upper().replace("-", "_"), expected or "https"


DEBUG = env_bool("DEBUG", False)
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "data")))
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once into the data directory."""
    value = env_str("SECRET_KEY")
    if value:
        return value
    path = DATA_DIR / "secret_key"
    if not path.exists():
        # Written whole to a file of its own, then linked into place: a process starting at
        # the same moment finds either no key or the whole of one, never an empty file, and
        # the first link wins for every process.
        fd, draft = tempfile.mkstemp(dir=DATA_DIR, prefix=".secret_key.")
        try:
            with os.fdopen(fd, "w") as handle:  # mkstemp makes it 0600
                handle.write(secrets.token_urlsafe(50))
            os.link(draft, path)
        except FileExistsError:
            pass  # another process's key is in place
        finally:
            os.unlink(draft)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
if SECRET_KEY == PLACEHOLDER_SECRET and not DEBUG:
    raise ImproperlyConfigured("SECRET_KEY is the placeholder from .env.example; set a real secret or unset it.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "webapp.accounts",
    "webapp.providers",
    "webapp.usage",
    "chat",
    "jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    "webapp.middleware.PrivatePagesMiddleware",
    "webapp.accounts.middleware.TeamlessMiddleware",
]

ROOT_URLCONF = "webapp.urls"
ASGI_APPLICATION = "webapp.asgi.application"
WSGI_APPLICATION = None

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
                "chat.context.grok",
                "webapp.accounts.context.team",
            ],
        },
    },
]

# --- Data stores: SQLite and in-process by default, PostgreSQL and Redis when configured.
DATABASE_URL = env_str("DATABASE_URL")
REDIS_URL = env_str("REDIS_URL")

if DATABASE_URL:
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
        }
    }
DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME") or None}

# Between web processes, channels-redis's Pub/Sub layer: it relayed several times more
# frames per second than its list-based layer on this kind of machine
# (bench/results/channel_layers.md). Every process must use the same one, since the two
# do not hear each other: there is no choice to get wrong.
if env_str("CHANNEL_LAYER", "pubsub") != "pubsub":
    raise ImproperlyConfigured(
        "CHANNEL_LAYER must be pubsub or unset: web processes on different channel layers "
        "cannot hear each other, so every one uses the Redis Pub/Sub layer."
    )
# Pub/Sub channels are shared by every database of one Redis server: deployments (or test
# runs) that share a server keep apart by prefix.
CHANNEL_LAYER_PREFIX = env_str("CHANNEL_LAYER_PREFIX", "asgi")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": CHANNEL_LAYER_PREFIX},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Background jobs: Celery on Redis in production, run in-process otherwise.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_BEAT_SCHEDULE = {
    "sweep-interrupted-turns": {"task": "jobs.tasks.sweep_interrupted_turns", "schedule": 30.0},
    "check-provider-keys": {"task": "jobs.tasks.check_provider_keys", "schedule": 600.0},
}

# --- Accounts and sign-in.
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:home"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# Mail (invitations): printed to the console unless an SMTP host is set.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "grok-team-chat@localhost")
INVITATION_DAYS = env_int("INVITATION_DAYS", 7)
# Open sign-up (off until a team's admins turn it on): attempts per client address in a window.
SIGNUP_ADDRESS_LIMIT = env_int("SIGNUP_ADDRESS_LIMIT", 10)
SIGNUP_WINDOW_MINUTES = env_int("SIGNUP_WINDOW_MINUTES", 60)
# The longest team instructions and personal custom instructions, in characters.
INSTRUCTIONS_MAX_CHARS = env_int("INSTRUCTIONS_MAX_CHARS", 4000)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
# Wrong passwords are counted per account (from any address) and per client address (for
# any username) over the cool-off window; either limit reached refuses the sign-in
# (webapp/accounts/lockout.py). A refused attempt is not counted: a locked address cannot
# go on to lock accounts, and a lockout ends LOGIN_COOLOFF_MINUTES after the last counted failure.
AXES_HANDLER = "webapp.accounts.lockout.AccountAndAddressHandler"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_IP_FAILURE_LIMIT = env_int("LOGIN_IP_FAILURE_LIMIT", 20)
AXES_COOLOFF_TIME = env_int("LOGIN_COOLOFF_MINUTES", 15) / 60  # hours
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

# --- HTTPS. Off on the single-machine defaults (plain http://localhost); behind a TLS
# proxy the README's production settings turn it all on and pass `check --deploy`.
# The proxy header is trusted only when named: the proxy must set it, and strip it from
# what clients send, or any client could claim to be on HTTPS.
SECURE_PROXY_SSL_HEADER = env_header("SECURE_PROXY_SSL_HEADER")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the container's health check asks over plain HTTP
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
HTTPS_ONLY = SECURE_SSL_REDIRECT or SECURE_HSTS_SECONDS > 0

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", HTTPS_ONLY)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Scripts only from this origin, none inline; images never from elsewhere (a model can be
# tricked into leaking data through an image URL). KaTeX sizes glyphs with style attributes.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise serves from the finders; it still wants the root
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
    "loggers": {"chat": {"level": env_str("LOG_LEVEL", "INFO")}},
}

# --- Grok. Without XAI_API_KEY the local simulator is the upstream, and the page says so.
XAI_API_KEY = env_str("XAI_API_KEY")
GROK_SIMULATED = not XAI_API_KEY
GROK_SIMULATOR_PORT = env_int("GROK_SIMULATOR_PORT", 8090)
XAI_BASE_URL = env_str("XAI_BASE_URL")
GROK_BASE_URL = XAI_BASE_URL or (
    f"http://127.0.0.1:{GROK_SIMULATOR_PORT}/v1" if GROK_SIMULATED else "https://api.x.ai/v1"
)
# The key of the simulator `manage.py serve` started: a new one at every start, handed to
# the web process through its environment; the simulator accepts no other.
GROK_SIMULATOR_KEY = env_str("GROK_SIMULATOR_KEY")
GROK_API_KEY = XAI_API_KEY or GROK_SIMULATOR_KEY or "sim-local-key"
GROK_DEFAULT_MODEL = env_str("GROK_DEFAULT_MODEL", "grok-4.3")
GROK_READ_TIMEOUT = env_int("GROK_READ_TIMEOUT", 3600)
# Upstream retries (429, 5xx, connection errors; never once a reply has started):
# attempts in all, and exponential backoff with full jitter between them, in seconds.
GROK_RETRY_ATTEMPTS = env_int("GROK_RETRY_ATTEMPTS", 4)
GROK_RETRY_BASE_DELAY = env_float("GROK_RETRY_BASE_DELAY", 0.5)
GROK_RETRY_MAX_DELAY = env_float("GROK_RETRY_MAX_DELAY", 20.0)
GROK_RETRY_MAX_TOTAL = env_float("GROK_RETRY_MAX_TOTAL", 60.0)

# --- Provider credentials (webapp/providers). Secrets are sealed with these Fernet keys,
# newest first (comma-separated); unset, the single-machine mode generates one into the data
# directory. SECRET_ENCRYPTION_KEYS_REQUIRED (set by docker-compose.yml) refuses to start
# without them, so that processes on several machines never each invent their own.
SECRET_ENCRYPTION_KEYS = env_str("SECRET_ENCRYPTION_KEYS")
SECRET_ENCRYPTION_KEYS_REQUIRED = env_bool("SECRET_ENCRYPTION_KEYS_REQUIRED", False)
# Whether an admin may point a credential at this machine's loopback (http allowed there):
# by default only in the single-machine mode, where the local simulator listens; and at any
# private or link-local address (the metadata service, the LAN): never unless set.
PROVIDER_LOOPBACK_URLS_ALLOWED = env_bool("PROVIDER_LOOPBACK_URLS_ALLOWED", not DATABASE_URL)
PROVIDER_PRIVATE_URLS_ALLOWED = env_bool("PROVIDER_PRIVATE_URLS_ALLOWED", False)
# How often each key is checked again (GET /v1/api-key for xAI) and its models read again.
PROVIDER_CHECK_SECONDS = env_int("PROVIDER_CHECK_SECONDS", 6 * 3600)

# --- Turns.
MAX_MESSAGE_CHARS = env_int("MAX_MESSAGE_CHARS", 32_000, least=1)
# The most one reply may write (output tokens, reasoning included), unless a team's admins
# set another cap for the model; sent upstream as max_output_tokens / max_completion_tokens.
MAX_OUTPUT_TOKENS = env_int("MAX_OUTPUT_TOKENS", 32_768, least=1)
MAX_OUTPUT_TOKENS_CEILING = 1_000_000  # what an admin may set at most
# Replies one person may have being written at once (tabs, devices and retries together).
MAX_RUNNING_TURNS_PER_PERSON = env_int("MAX_RUNNING_TURNS_PER_PERSON", 8, least=1)
# Replies one team may have being written at once (a person's team: their active one).
MAX_RUNNING_TURNS_PER_TEAM = env_int("MAX_RUNNING_TURNS_PER_TEAM", 64, least=1)
# Chat sockets (tabs) one person may have open at once, on every web process together:
# far above what tabs and devices need, far below what slows everyone else's pages.
MAX_SOCKETS_PER_PERSON = env_int("MAX_SOCKETS_PER_PERSON", 20, least=1)
TURN_FRAME_INTERVAL = 0.03  # coalesce deltas into frames of about 30 ms
TURN_FRAME_INTERVAL_MAX = 0.1  # ... and up to 100 ms when the web process falls behind (chat/runner.py)
TURN_CHECKPOINT_INTERVAL = 1.0  # write partial text about once a second
TURN_STALE_AFTER = env_int("TURN_STALE_AFTER", 30)  # seconds without a heartbeat: interrupted
