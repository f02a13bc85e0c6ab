"""Exceptions raised by the runner.

Every error the runner raises on purpose derives from :class:`RunnerError`::

    RunnerError
    ├── RuleError            a rule file that cannot be loaded or compiled
    │   └── UnsupportedError a valid EQL construct the runner refuses to run
    ├── SettingsError        a setting that cannot be used
    └── ExecutionError       one rule execution that failed against Elasticsearch
"""

from __future__ import annotations


class RunnerError(Exception):
    """Root of every error the runner raises on purpose."""


class RuleError(RunnerError):
    """Raised when a rule file cannot be loaded, parsed or compiled.

    Attributes:
        message: What is wrong, without the location.
        path: The rule file, when known.
        line: 1-based line in the file, when known.
        column: 1-based column in the file, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        super().__init__(self.location_prefix() + message)

    def location_prefix(self) -> str:
        """Return ``path:line:col: `` for the parts that are known."""
        parts = [str(p) for p in (self.path, self.line, self.column) if p is not None]
        return ":".join(parts) + ": " if parts else ""

    def at(self, path: str, line_offset: int = 0, column_offset: int = 0) -> RuleError:
        """Return a copy located in ``path``, shifted by the given offsets.

        A query is parsed on its own and then placed inside its TOML file: the
        offsets move the query's line and column to the file's.
        """
        line = None if self.line is None else self.line + line_offset
        column = self.column
        if column is not None and self.line == 1:
            column += column_offset
        return type(self)(self.message, path=path, line=line, column=column)


class UnsupportedError(RuleError):
    """Raised when a rule uses EQL the runner does not evaluate."""


class SettingsError(RunnerError):
    """Raised when a setting is missing or cannot be used."""


class ExecutionError(RunnerError):
    """Raised when one rule execution fails."""
