"""The ``nlpops`` command line: one thin command per verb over the library functions.

Each submodule defines ``register(app)``; commands import heavy modules inside their bodies so that
``nlpops --help`` stays fast. Errors are mapped to exit codes in one place, :func:`main`.
Exit codes: 0 ok, 1 user error (one clear line, no traceback), 2 usage error.
"""

from __future__ import annotations

import importlib
import sys

import typer

from nlpops.errors import NlpopsError

COMMAND_MODULES = [
    "nlpops.cli.core",
    "nlpops.cli.registry",
]


def build_app() -> typer.Typer:
    """The typer application with every command module registered."""
    app = typer.Typer(
        name="nlpops",
        help="Bring NLP text models to production and keep them there.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
    )
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(app)
    return app


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the app and turns nlpops errors into one line and exit code 1."""
    from nlpops.cli.output import print_error

    app = build_app()
    try:
        app(args=argv, standalone_mode=False)
    except NlpopsError as exc:
        print_error(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print_error("Interrupted.")
        sys.exit(130)
    except Exception as exc:  # the one place that catches everything: a bug, shown without a traceback
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            print_error("Aborted.")
            sys.exit(1)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, OSError):
            print_error(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
            sys.exit(1)
        print_error(
            f"Internal error: {type(exc).__name__}: {exc}. This is a bug in nlpops; please report it "
            "(set NLPOPS_DEBUG=1 to see the traceback)."
        )
        import os

        if os.environ.get("NLPOPS_DEBUG"):
            raise
        sys.exit(1)


__all__ = ["COMMAND_MODULES", "build_app", "main"]
