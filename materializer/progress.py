"""Progress bars on stderr for long commands (push, training-set): shown only on a terminal and
only for large inputs; transient, so what remains on screen is the command's own summary."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

# Below these sizes a command finishes before a bar would say anything useful.
PROGRESS_MIN_BYTES = 8 << 20
PROGRESS_MIN_ROWS = 100_000


def wants_progress(enabled: bool, size: int | None, minimum: int) -> bool:
    """Show a bar: the caller's stderr is a terminal (``enabled``) and the input is large (``size`` known)."""
    return enabled and size is not None and size >= minimum


def progress_bar(enabled: bool, *columns: Any, console: Any = None) -> Any:
    """A rich ``Progress`` with ``columns`` after the description, on stderr (or ``console``),
    transient; ``nullcontext(None)`` when not ``enabled``."""
    if not enabled:
        return nullcontext(None)
    from rich.progress import Progress

    from materializer.console import err_console

    return Progress("[progress.description]{task.description}", *columns, console=console or err_console,
                    transient=True)
