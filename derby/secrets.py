"""Keeping the access token and app secret out of every text derby writes. Standard library only.

:func:`redact` removes secret values and every ``access_token=``/``input_token=``/``appsecret_proof=``/
``client_secret=`` query parameter from a text (``paging.next`` URLs and the messages of
requests/urllib3 errors carry them). :class:`RedactingFilter` does the same to log
records; :func:`install_log_redaction` attaches it to the loggers that log request URLs
(urllib3) and to the handlers of the root logger, so every line that reaches a handler
is clean. :func:`env_file_warning` checks the permissions of a ``.env`` file.
"""

from __future__ import annotations

import base64
import functools
import logging
import re
import stat
from pathlib import Path

_SECRET_PARAMS = re.compile(r"((?:access_token|input_token|appsecret_proof|client_secret)(?:=|%3D))(?:(?!%26)[^&\s'\"<>])+", re.I)
MASK = "***"


def redact(text: str, *secrets: str | None) -> str:
    """Return ``text`` with every secret value and secret query parameter replaced by ``***``.

    A secret is found in any of the encodings a server or library may echo it in: raw,
    percent-encoded (upper or lower hex, whole or in part, once or twice), form-encoded (``+`` for a
    space), JSON-escaped (``\\/``, ``\\uXXXX``) and base64 (standard or URL-safe)."""
    text = _SECRET_PARAMS.sub(r"\1" + MASK, text)
    for secret in secrets:
        if secret:
            text = _secret_pattern(secret).sub(MASK, text)
    return text


def _char_forms(char: str) -> str:
    """The regex alternatives one character of a secret may be written as."""
    forms = [re.escape(char)]
    if not char.isalnum() or not char.isascii():
        percent = "".join(f"%{byte:02x}" for byte in char.encode())
        forms += [percent, percent.replace("%", "%25"), f"\\\\u{ord(char):04x}"]
        if char == " ":
            forms.append(r"\+")
        if char in "/\"\\":
            forms.append(re.escape("\\" + char))
    return forms[0] if len(forms) == 1 else "(?:" + "|".join(reversed(forms)) + ")"  # longest first


@functools.lru_cache(maxsize=64)
def _secret_pattern(secret: str) -> re.Pattern[str]:
    encoded = secret.encode()
    literals = {base64.b64encode(encoded).decode(), base64.urlsafe_b64encode(encoded).decode()}
    literals |= {value.rstrip("=") for value in literals}
    spelled = "".join(_char_forms(char) for char in secret)
    alternatives = [spelled] + [re.escape(value) for value in sorted(literals, key=len, reverse=True) if len(value) >= 8]
    return re.compile("|".join(alternatives), re.I)


class RedactingFilter(logging.Filter):
    """Redacts known secrets and secret parameters from log records (formatted first,
    so secrets inside ``%s`` arguments are caught too)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not drop the record
            message = str(record.msg)
        record.msg = redact(message, *self.secrets)
        record.args = ()
        if record.exc_info and record.exc_info[1] is not None:
            # the formatted traceback would show the exception's text unredacted
            exc = record.exc_info[1]
            record.msg += f" ({type(exc).__name__}: {redact(str(exc), *self.secrets)})"
            record.exc_info = None
            record.exc_text = None
        return True


FILTER = RedactingFilter()
_URL_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3", "requests", "derby")


def install_log_redaction(*secrets: str | None) -> RedactingFilter:
    """Register ``secrets`` with the shared filter and attach it to the URL-logging
    loggers and to every handler of the root logger. Idempotent; returns the filter."""
    FILTER.secrets.update(s for s in secrets if s)
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        if FILTER not in logger.filters:
            logger.addFilter(FILTER)
    for handler in logging.getLogger().handlers:
        if FILTER not in handler.filters:
            handler.addFilter(FILTER)
    return FILTER


def env_file_warning(path: Path) -> str | None:
    """Return a one-line warning when the file at ``path`` (a ``.env``) can be read or
    written by users other than its owner, else None (also when it does not exist)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return (f"warning: {path} is readable by other users (mode {stat.S_IMODE(mode):o}) and holds the "
                f"access token; run: chmod 600 {path}")
    return None
