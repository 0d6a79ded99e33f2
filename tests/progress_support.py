"""A :class:`nlpops.progress.Progress` that records what it is told, for the tests of long operations.

A module of its own (not conftest): test modules in every folder import it by name (tests/ is on sys.path)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Phase:
    """One phase as reported: its message, its total (None: not counted) and the units counted in it."""

    message: str
    total: int | None
    done: int = 0
    notes: list[str] = field(default_factory=list)


class RecordedProgress:
    """Records every step and advance; :attr:`phases` is the list of phases in order."""

    def __init__(self) -> None:
        self.phases: list[Phase] = []

    def step(self, message: str, total: int | None = None) -> None:
        self.phases.append(Phase(message, total))

    def advance(self, amount: int = 1, note: str | None = None) -> None:
        assert self.phases, "advance before any step"
        self.phases[-1].done += amount
        if note:
            self.phases[-1].notes.append(note)

    def counted(self) -> list[Phase]:
        """The phases that had a total."""
        return [p for p in self.phases if p.total is not None]
