"""${VAR} substitution from the environment, and keeping secrets out of every output."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

REDACTED = "***"
_SHORT_SECRET = 6
_VARIABLE = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})")
# Keys and variable names whose values are secret whatever they look like.
_SECRET_NAME = re.compile(r"(?i)(token|password|passwd|secret|credential|api_?key|private)")


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


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


class Redactor:
    """Replaces every known secret value in a text by ***."""

    def __init__(self, secrets: Iterable[str] = ()):
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        # A very short secret ("t", "dev") is replaced only where it stands as a word of
        # its own: replacing every letter "t" would garble the output and hide nothing.
        self._short = {s: re.compile(rf"(?<![\w]){re.escape(s)}(?![\w])")
                       for s in self._secrets if len(s) < _SHORT_SECRET}

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                short = self._short.get(secret)
                text = short.sub(REDACTED, text) if short else text.replace(secret, REDACTED)
        return text

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs secrets from each record's final message."""

    def __init__(self, redactor: Redactor):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redactor(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redactor(logging.Formatter().formatException(record.exc_info))
        return True
