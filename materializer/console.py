"""The two consoles: data goes to stdout, diagnostics to stderr."""

from __future__ import annotations

from rich.console import Console

out_console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
