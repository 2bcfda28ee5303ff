"""Small readers for settings that come from the environment."""

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}.") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def persistent_secret(path: Path) -> str:
    """A random secret kept in a file, so a local install needs no hardcoded key."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(50)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


MIN_SECRET_KEY_CHARS = 50
MIN_SECRET_KEY_DISTINCT = 5  # Django's own deploy check asks the same of a key
# Keys printed in Finch's deploy files and docs, and Django's: public, so never secret.
KNOWN_PLACEHOLDER_KEYS = {
    "change-me-to-50-random-characters",
    "build-only",
    "check-only",
    "test-only-secret-key-not-used-anywhere-else",
}
MAKE_A_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(50))"'


def strong_secret_key(name: str) -> str:
    """The secret key from the environment; ImproperlyConfigured (so the process does not start)
    when it is empty, shorter than 50 characters, too uniform or a known placeholder."""
    key = os.environ.get(name, "")
    problem = _secret_key_problem(key)
    if problem:
        raise ImproperlyConfigured(
            f"{name} {problem}. Production needs a random key of at least {MIN_SECRET_KEY_CHARS} "
            f"characters, the same on every host; make one with: {MAKE_A_KEY}"
        )
    return key


def _secret_key_problem(key: str) -> str:
    stripped = key.strip()
    if not stripped:
        return "is empty"
    if stripped.lower() in KNOWN_PLACEHOLDER_KEYS or stripped.startswith(("django-insecure", "change-me")):
        return "is a placeholder from an example, known to everyone"
    if len(stripped) < MIN_SECRET_KEY_CHARS:
        return f"has {len(stripped)} characters"
    if len(set(stripped)) < MIN_SECRET_KEY_DISTINCT:
        return f"has fewer than {MIN_SECRET_KEY_DISTINCT} different characters"
    return ""
