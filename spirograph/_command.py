"""The error a subcommand raises to be reported as one line with an exit status (see ``spirograph.cli``)."""

from __future__ import annotations


class CommandError(Exception):
    """A failure to report to the user as one line, with exit status ``code``."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code
