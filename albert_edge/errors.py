"""User-facing errors: the CLI prints them as one line and exits non-zero, never a traceback."""


class AlbertEdgeError(Exception):
    """A problem the user can fix (bad path, bad model, bad data). Message is one line."""

    exit_code = 2


class ParityError(AlbertEdgeError):
    """An artifact failed a parity threshold (the CI gate)."""

    exit_code = 1
