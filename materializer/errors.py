"""The one exception root: every error a user can cause is a MaterializerError.

The CLI prints its message on one line (no traceback) and exits 1.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MaterializerError(Exception):
    """Something the user can fix; the message says what, where, and how."""


class ProjectError(MaterializerError):
    """The project file is invalid."""


class NotFoundError(MaterializerError):
    """A name that the project does not define: a view, feature, service, source or monitor (HTTP 404)."""


class InputError(MaterializerError):
    """A value given by the user does not fit: a key of the wrong type, a bad time, a malformed request
    (HTTP 422)."""


class LimitExceeded(InputError):
    """A request over one of the server's limits: too many entities, too large a body (HTTP 413)."""


class DatabaseError(MaterializerError):
    """The database is unreachable or rejected a statement."""


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached now (down, restarting, too many connections); retrying may work
    (HTTP 503)."""


class PushError(MaterializerError):
    """A file could not be loaded into a source; nothing was inserted."""


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'x'?)` when a close candidate exists, else an empty string."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
