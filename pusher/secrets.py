"""${VAR} substitution from the environment, and the one rule that keeps secrets out of text.

The rule (applied to every text pusher writes: screen, logs, state files, run records):
- values in secret positions are masked wherever the text shows the position: the password
  of a URL (`scheme://user:***@host`), a query parameter named like a secret
  (`?password=***`), an Authorization header (`Bearer ***`), `key=***` and `"key": "***"`
  for keys named like secrets;
- the secret values the config holds are also masked wherever they appear, when they look
  like secrets; a value that is a plain word or number (`default`, `pusher`, `1234`) is
  masked only in its positions, so the same word elsewhere in a message stays readable.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

REDACTED = "***"
_VARIABLE = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})")
# Keys, variables and query parameters whose values are secret whatever they look like.
_SECRET_WORDS = r"token|password|passwd|pwd|secret|credential|api_?key|private|authorization"
_SECRET_NAME = re.compile(rf"(?i)({_SECRET_WORDS})")
# A value that reads like a word or a number: masked only where it stands in a secret position.
_WORDLIKE = re.compile(r"[A-Za-z][a-z]*|[A-Z]+|\d+")
_WORDLIKE_MAX = 15
# Positions in free text. Each keeps group 1 (the position) and masks group 2 (the value).
_KEY = rf"[\w.\-]*(?:{_SECRET_WORDS})[\w.\-]*"
_POSITIONS = (
    # scheme://user:PASSWORD@host
    re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^\s/@:]*:)([^\s@/]+)(?=@)"),
    # ?password=VALUE, &api_key=VALUE, password=VALUE (a libpq DSN), token = "VALUE" (TOML);
    # a ":" or "." ending the value is the sentence's, not the secret's
    re.compile(rf"(?i)((?<![\w.\-]){_KEY}\s*=\s*[\"']?)([^\s\"'&#,;)}}\]]*[^\s\"'&#,;)}}\]:.])"),
    # "password": "VALUE" (JSON, a Python dict's repr)
    re.compile(rf"(?i)([\"']{_KEY}[\"']\s*:\s*[\"'])([^\"']+)"),
    # Authorization: Bearer VALUE, Authorization: VALUE, Bearer VALUE
    re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|token|basic)\s+)?)"
               r"([^\s\"',}]+)"),
    re.compile(r"(?i)(\bbearer\s+)([A-Za-z0-9\-._~+/=]+)"),
)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def is_secret_position(path: str) -> bool:
    """Whether a config key (dotted path) holds a secret: named like one, or a header value."""
    parts = path.split(".")
    return is_secret_name(parts[-1]) or "headers" in parts[:-1]


class MissingVariable(KeyError):
    """A ${VAR} with no value in the environment and no default."""


def substitute(text: str, env: Mapping[str, str], found: set[str]) -> str:
    """Replace ${VAR} and ${VAR:-default}; "$$" is a literal "$". Adds secret values to `found`."""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name is None:
            return "$"
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise MissingVariable(name)
            value = default
        if is_secret_name(name) and value:
            found.add(value)
        return value

    return _VARIABLE.sub(replace, text)


def variables(text: str) -> list[tuple[str, str | None]]:
    """The ${VAR} and ${VAR:-default} references in a text: (name, default or None)."""
    return [(m.group(1), m.group(2)) for m in _VARIABLE.finditer(text) if m.group(1)]


def url_password(url: str) -> str | None:
    """The password inside a URL like scheme://user:password@host, if any."""
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def url_secrets(url: str) -> list[str]:
    """Secret values a URL carries: its password and query parameters named like secrets."""
    if "://" not in url:
        return []
    found = [p for p in (url_password(url),) if p]
    try:
        query = urlsplit(url).query
    except ValueError:
        return found
    return found + [value for name, value in parse_qsl(query) if is_secret_name(name) and value]


def header_secrets(value: str) -> list[str]:
    """A header value and, for "Bearer X" / "Token X" / "Basic X", the credential X."""
    parts = value.split()
    return [value, parts[-1]] if len(parts) > 1 else [value]


def mask_value(value: str) -> str:
    """A value in a secret position as shown: "***", or "Bearer ***" for a header's scheme."""
    scheme, _, credential = value.partition(" ")
    if credential and scheme.lower() in ("bearer", "token", "basic"):
        return f"{scheme} {REDACTED}"
    return REDACTED


def looks_secret(value: str) -> bool:
    """Whether a value is distinctive enough to be masked wherever it appears in a text."""
    return len(value) > _WORDLIKE_MAX or (len(value) >= 4 and not _WORDLIKE.fullmatch(value))


def mask_positions(text: str) -> str:
    """Mask values in secret positions of a free text (URLs, query strings, headers, key=value)."""
    for pattern in _POSITIONS:
        text = pattern.sub(_mask, text)
    return text


def _mask(match: re.Match[str]) -> str:
    return match.group(0) if match.group(2) == REDACTED else match.group(1) + REDACTED


class Redactor:
    """The redaction rule: secret positions, and the config's distinctive secret values."""

    def __init__(self, secrets: Iterable[str] = ()):
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if s and looks_secret(s)}, key=len,
                               reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return mask_positions(text)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"


# The rule of the running invocation, for text written far from the config (dead-letter,
# run records); the command layer installs the config's rule once the config is loaded.
_active = Redactor()


def install(redactor: Redactor) -> None:
    global _active
    _active = redactor


def redact(text: str) -> str:
    """`text` with the installed rule applied (secret positions only, before a config is read)."""
    return _active(text)


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs secrets from each record's final message."""

    def __init__(self, redactor: Redactor | None = None):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        scrub = self.redactor or redact
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        return True


def redacted(value: Any, key: str = "", redact: Redactor | None = None) -> Any:
    """A copy of a config table safe to print: secret keys and known secret values hidden."""
    if isinstance(value, Mapping):
        return {k: redacted(v, f"{key}.{k}" if key else k, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v, key, redact) for v in value]
    if isinstance(value, str):
        if value and is_secret_position(key):
            return mask_value(value)
        return (redact or _active)(value)
    return value
