"""Progress of long operations: one protocol the library functions take, one renderer in the CLI.

A function that can take more than a second or two takes ``progress: ProgressLike = None`` and reports
through :func:`as_progress`: :meth:`Progress.step` starts a phase (with the number of units in it when known:
texts, requests, epochs, measurements) and :meth:`Progress.advance` counts units done. A plain function of
one message is accepted as well (it receives the steps), so ``progress=print`` works from Python. The CLI
renders it as a rich progress bar with counts and an ETA when a phase has a total (a spinner otherwise),
on stderr, and only when stderr is a terminal and ``--json`` was not asked for (``nlpops.cli.options``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeAlias, runtime_checkable


@runtime_checkable
class Progress(Protocol):
    """Receives the progress of a long operation."""

    def step(self, message: str, total: int | None = None) -> None:
        """Start a phase.

        Args:
            message: what the phase does (``"training transformer (classification) on 9000 rows"``).
            total: how many units of work it has, when known; None for a phase that is not counted.
        """

    def advance(self, amount: int = 1, note: str | None = None) -> None:
        """Count ``amount`` more units of the current phase as done.

        Args:
            amount: units done since the last call.
            note: what is being done now, shown next to the count (``"onnx-cpu, 2 threads"``).
        """


ProgressLike: TypeAlias = Progress | Callable[[str], None] | None
"""What a long function accepts: a :class:`Progress`, a function of one message (receives steps), or None."""


class Reporter:
    """The :class:`Progress` a long function reports to: forwards to what its caller passed (a
    :class:`Progress`, a function of one message, or nothing). It is also a function of one message (a step),
    so it can be handed on to functions typed to take one, which keep the counts when they hand it further on.

    Args:
        target: the caller's progress (None: report nowhere).
    """

    def __init__(self, target: ProgressLike = None) -> None:
        self.target = target

    def __call__(self, message: str) -> None:
        self.step(message)

    def step(self, message: str, total: int | None = None) -> None:
        """Start a phase (see :meth:`Progress.step`)."""
        if isinstance(self.target, Progress):
            self.target.step(message, total)
        elif self.target is not None:
            self.target(message)

    def advance(self, amount: int = 1, note: str | None = None) -> None:
        """Count units of the current phase (see :meth:`Progress.advance`); a function of one message gets none."""
        if isinstance(self.target, Progress):
            self.target.advance(amount, note)


def as_progress(progress: ProgressLike) -> Reporter:
    """The :class:`Reporter` over ``progress`` (which may itself be one: then it is returned as it is)."""
    return progress if isinstance(progress, Reporter) else Reporter(progress)


__all__ = ["Progress", "ProgressLike", "Reporter", "as_progress"]
