"""Exception types shared across derby's modules.

Every error derby raises on purpose derives from :class:`DerbyError`; its message is
one line meant for a person (it names the cause and, where there is one, the fix) and
never carries a secret. The CLI prints the message and exits with ``exit_code``.
"""

from __future__ import annotations


class DerbyError(Exception):
    """Base class. ``exit_code`` is the process status the CLI uses for it."""

    exit_code = 1


class ConfigError(DerbyError):
    """The contest file, the rules or the environment settings are invalid."""

    exit_code = 2


class StoreError(DerbyError):
    """The database cannot be opened or is not a derby database."""

    exit_code = 1


class DatabaseMissing(StoreError):
    """The database file does not exist."""


class NotADerbyDatabase(StoreError):
    """The file is SQLite but not a derby database (empty, or another program's)."""
