"""Progress bars on stderr for long commands: shown only on a terminal and only for large inputs;
transient, so what remains on screen is the command's own summary. ``push`` shows bytes read;
a training set shows one line per phase (``Phases``)."""

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


class Phases:
    """What a training set is doing, as one transient rich bar per phase on stderr (loading the
    spine, each view, writing rows), shown only when enabled (stderr is a terminal) and the spine
    is large; otherwise every method does nothing."""

    def __init__(self, enabled: bool = False, console: Any = None) -> None:
        self.enabled = enabled
        self.console = console
        self.bar: Any = None
        self.task: Any = None
        self.total: int | None = None
        self.written = 0

    def start(self, spine_size: int | None, minimum: int) -> None:
        """Show the bar from now on if the spine is large (``spine_size`` bytes or rows >= ``minimum``)."""
        if self.bar is None and wants_progress(self.enabled, spine_size, minimum):
            from rich.progress import BarColumn, TextColumn, TimeElapsedColumn

            self.bar = progress_bar(True, BarColumn(), TimeElapsedColumn(), TextColumn("{task.fields[rows]}"),
                                    console=self.console)
            self.bar.start()

    def phase(self, description: str, total: int | None = None) -> None:
        """End the current phase (its line stays with its time) and begin the next one."""
        if self.bar is None:
            return
        self.done()
        self.total = total
        self.written = 0
        self.task = self.bar.add_task(description, total=total, rows=self._rows())

    def _rows(self) -> str:
        return "" if self.total is None else f"{min(self.written, self.total):,}/{self.total:,} rows"

    def advance(self, n: int) -> None:
        if self.bar is not None and self.task is not None:
            self.written += n
            self.bar.update(self.task, advance=n, rows=self._rows())

    def done(self) -> None:
        if self.bar is not None and self.task is not None:
            self.written = self.total or 0
            self.bar.update(self.task, total=self.total or 1, completed=self.total or 1, rows=self._rows())
            self.task = None

    def close(self) -> None:
        if self.bar is not None:
            self.done()
            self.bar.stop()
            self.bar = None
