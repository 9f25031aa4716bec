"""User-facing errors: one clear message, shown without a traceback by the CLI."""
from __future__ import annotations

from arena.redaction import redact


class ArenaError(Exception):
    """An error the user can act on; the CLI prints its message (secrets redacted) and exits with code 2."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        base = super().__str__()
        return redact(f"{base}\n  hint: {self.hint}" if self.hint else base)


class ConfigError(ArenaError):
    """The run config is missing, malformed or invalid."""


class DataError(ArenaError):
    """An input file (questions, answers, battles) has an unexpected shape."""


class BackendError(ArenaError):
    """A model endpoint failed in a way retries could not fix; `endpoint_down` marks transport failures."""

    def __init__(self, message: str, *, hint: str | None = None, endpoint_down: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.endpoint_down = endpoint_down


# what `arena rate` and `arena compare` say when interrupted: they write their outputs only at the end
NOTHING_WRITTEN = "nothing was written (an output file from before is unchanged); run the same command again"
