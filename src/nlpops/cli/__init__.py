"""The ``nlpops`` command line: one thin command per verb over the library functions.

Each submodule defines ``register(app)``; commands import heavy modules inside their bodies so that
``nlpops --help`` stays fast. Errors are mapped to exit codes in one place, :func:`main`.
Exit codes: 0 ok, 1 user error (one clear line, no traceback), 2 usage error.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated

import typer

from nlpops._version import __version__
from nlpops.cli.options import PlainTyper
from nlpops.errors import NlpopsError

COMMAND_MODULES = [
    "nlpops.cli.core",
    "nlpops.cli.demo",
    "nlpops.cli.package",
    "nlpops.cli.registry",
    "nlpops.cli.init",
    "nlpops.cli.advisor",
    "nlpops.cli.serve",
    "nlpops.cli.batch",
    "nlpops.cli.languages",
    "nlpops.cli.export",
    "nlpops.cli.monitor",
    "nlpops.cli.retrain",
    "nlpops.cli.deploy",
]


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"nlpops {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the nlpops version and exit."),
    ] = False,
) -> None:
    """Bring NLP text models to production and keep them there.

    Shell completion: nlpops --install-completion (bash, zsh, fish, PowerShell), then open a new shell.
    """


def build_app() -> typer.Typer:
    """The typer application with every command module registered."""
    app = PlainTyper(
        name="nlpops",
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
    )
    app.callback()(_root)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(app)
    return app


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: usage errors exit 2 (typer), nlpops errors print one line and exit 1."""
    from nlpops.cli.output import print_error

    try:
        build_app()(args=argv, prog_name="nlpops")
    except NlpopsError as exc:
        print_error(exc.for_cli())
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print_error("Interrupted.")
        sys.exit(130)
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print_error(f"{exc.strerror or exc}{where}")
        sys.exit(1)
    except Exception as exc:  # the one place that catches everything: a bug, shown without a traceback
        if os.environ.get("NLPOPS_DEBUG"):
            raise
        print_error(
            f"Internal error: {type(exc).__name__}: {exc}. This is a bug in nlpops; please report it "
            "(set NLPOPS_DEBUG=1 to see the traceback)."
        )
        sys.exit(1)


__all__ = ["COMMAND_MODULES", "build_app", "main"]
