"""Render the Jinja SQL macros of ``sql_macros/`` outside dbt.

The macros are written for dbt: public macros dispatch with
``adapter.dispatch('name', 'materializer')(...)`` and return values with
``{{ return(...) }}``. This module provides the small part of dbt's context
that they use, so the *same files* render here and in a dbt project:

- ``adapter.dispatch`` with the chain ``<engine>__ -> postgres__ -> default__``
  (``materialize`` and ``risingwave`` inherit from ``postgres`` as their dbt
  adapters do);
- ``return``, ``exceptions.raise_compiler_error``, ``target.type``;
- every macro of the package, by bare name and as ``materializer.<name>``.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from materializer.errors import MaterializerError

PACKAGE = "materializer"

# dbt adapter inheritance: which implementation a given engine falls back to.
DISPATCH_CHAIN = {
    "postgres": ("postgres", "default"),
    "materialize": ("materialize", "postgres", "default"),
    "risingwave": ("risingwave", "postgres", "default"),
}


def macros_dir() -> Path:
    """The ``sql_macros/macros`` folder (the source tree, or the copy inside an installed wheel)."""
    package = Path(__file__).resolve().parent.parent  # materializer/
    for candidate in (package.parent / "sql_macros" / "macros", package / "sql_macros" / "macros"):
        if candidate.is_dir():
            return candidate
    raise MaterializerError("the sql_macros folder is missing from this installation; reinstall materializer")


class CompilerError(MaterializerError):
    """Raised by ``exceptions.raise_compiler_error`` in a macro."""


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


def _return(value: Any) -> None:
    raise _Return(value)


class _Exceptions:
    @staticmethod
    def raise_compiler_error(message: str) -> None:
        raise CompilerError(message)


class _Target:
    def __init__(self, engine: str) -> None:
        self.type = engine
        self.name = engine


class _Namespace:
    """Attribute access to the package's macros: ``materializer.windowed_features(...)``."""

    def __init__(self, macros: dict[str, Any]) -> None:
        self._macros = macros

    def __getattr__(self, name: str) -> Any:
        try:
            return self._macros[name]
        except KeyError:
            raise AttributeError(f"no macro named {name!r} in {PACKAGE}") from None


class _Adapter:
    def __init__(self, engine: str, macros: dict[str, Any]) -> None:
        self.engine = engine
        self._macros = macros

    def dispatch(self, name: str, macro_namespace: str | None = None) -> Any:
        for prefix in DISPATCH_CHAIN[self.engine]:
            macro = self._macros.get(f"{prefix}__{name}")
            if macro is not None:
                return macro
        raise CompilerError(f"no implementation of macro {name!r} for engine {self.engine}")


def _callable(macro: jinja2.runtime.Macro) -> Any:
    """Wrap a Jinja macro so ``{{ return(x) }}`` inside it yields ``x`` to the caller."""

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return macro(*args, **kwargs)
        except _Return as ret:
            return ret.value

    call.__name__ = macro.name
    return call


class Renderer:
    """Renders the macro package for one engine: ``Renderer('materialize').call('name', **args)``."""

    def __init__(self, engine: str) -> None:
        if engine not in DISPATCH_CHAIN:
            raise MaterializerError(f"unknown engine {engine!r}; use one of {', '.join(DISPATCH_CHAIN)}")
        self.engine = engine
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(macros_dir())),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            autoescape=False,
            extensions=["jinja2.ext.do"],  # dbt enables `do` too
        )
        self.macros: dict[str, Any] = {}
        self.env.globals.update(
            {
                "adapter": _Adapter(engine, self.macros),
                "return": _return,
                "exceptions": _Exceptions(),
                "target": _Target(engine),
                PACKAGE: _Namespace(self.macros),
            }
        )
        for path in sorted(macros_dir().glob("*.sql")):
            module = self.env.get_template(path.name).module
            for name in dir(module):
                obj = getattr(module, name)
                if isinstance(obj, jinja2.runtime.Macro):
                    self.macros[name] = _callable(obj)
        self.env.globals.update(self.macros)

    def call(self, macro: str, /, **kwargs: Any) -> str:
        """Call a public macro and return its SQL, tidied (no trailing spaces, no blank runs)."""
        if macro not in self.macros:
            raise MaterializerError(f"no macro named {macro!r}")
        return tidy(str(self.macros[macro](**kwargs)))


_BLANKS = re.compile(r"\n\s*\n(\s*\n)+")


def tidy(sql: str) -> str:
    """Strip trailing whitespace and collapse runs of blank lines left by template tags."""
    lines = [line.rstrip() for line in sql.strip("\n").splitlines()]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip() + "\n"


@cache
def renderer(engine: str) -> Renderer:
    """A cached renderer per engine (loading the macro files once per process)."""
    return Renderer(engine)
