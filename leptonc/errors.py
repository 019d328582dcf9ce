"""Errors a user can cause.  The CLI prints ``str(error)`` as one line and exits non-zero."""

from __future__ import annotations


class LeptoncError(Exception):
    """Base class for every error leptonc reports to a user (not a bug in leptonc)."""

    exit_code = 1


class ModelLoadError(LeptoncError):
    """A model file is missing, unreadable, corrupt or unsafe (e.g. external data escaping its folder)."""


class UnsupportedOpError(LeptoncError):
    """One or more operators have no leptonc equivalent."""


class ShapeError(LeptoncError):
    """Types or shapes do not agree (at inference, verification or run time)."""


class VerifyError(LeptoncError):
    """The IR verifier found an ill-formed graph."""


class ParseError(LeptoncError):
    """The text IR could not be parsed; the message names the line."""


class InputError(LeptoncError):
    """Inputs given to `run` are missing, unknown, or of the wrong shape or dtype."""


class OutputError(LeptoncError):
    """A result could not be written (permissions, full disk, a file in the way)."""


class UsageError(LeptoncError):
    """A command-line option or API argument is invalid."""

    exit_code = 2


class ArtifactMismatch(LeptoncError):
    """A compiled artifact disagrees with the interpreter (``--verify``)."""
