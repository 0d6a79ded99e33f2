"""The registry's event log on an MLflow server: one MLflow run per event in the experiment ``nlpops-registry-events``.

Why runs: creating a run is the one write MLflow offers that never overwrites another client's write (every
run gets its own server-assigned id), so several clients can append at the same moment without losing an
event, and the log survives restarts with the server's database. An event's fields are the run's tags
(``nlpops.action``, ``nlpops.model``, ``nlpops.version``, ``nlpops.alias``, ``nlpops.previous_version``,
``nlpops.actor``, ``nlpops.ts``); its run name says the same in words for the MLflow UI.

Order is the run's ``start_time`` (milliseconds; strictly increasing within one client, so its events never
tie), then the run id. Event ids are positions in that order over the whole log (1, 2, ...), so reading ids
reads the whole log: fine for a registry's human-paced events. Deleted runs are still read (the log stays
append-only until someone runs ``mlflow gc``).

An alias's rollback history is not stored separately: it is replayed from the alias's events exactly as the
SQLite backend keeps it (a promotion pushes the target it replaced, unless it stayed the same; a rollback
pops the target it restored).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from nlpops.errors import RegistryError
from nlpops.registry._mlflow_client import PAGE_SIZE, MlflowServer
from nlpops.registry.base import ACTIONS, Action, RegistryEvent

if TYPE_CHECKING:
    from mlflow.entities import Run

EVENTS_EXPERIMENT = "nlpops-registry-events"
_PURPOSE = "the registry's event log (one run per event)"

ACTION_TAG = "nlpops.action"
MODEL_TAG = "nlpops.model"
VERSION_TAG = "nlpops.version"
ALIAS_TAG = "nlpops.alias"
PREVIOUS_TAG = "nlpops.previous_version"
ACTOR_TAG = "nlpops.actor"
TS_TAG = "nlpops.ts"


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdecimal() else None


def _event(run: Run, event_id: int) -> RegistryEvent | None:
    """The event a run records, or None for a run that is not an nlpops event."""
    tags = run.data.tags
    action = tags.get(ACTION_TAG)
    version = _int_or_none(tags.get(VERSION_TAG))
    name = tags.get(MODEL_TAG)
    if action not in ACTIONS or version is None or not name:
        return None
    return RegistryEvent(
        id=event_id,
        ts=tags.get(TS_TAG, ""),
        actor=tags.get(ACTOR_TAG, ""),
        action=action,
        name=name,
        version=version,
        alias=tags.get(ALIAS_TAG),
        previous_version=_int_or_none(tags.get(PREVIOUS_TAG)),
    )


def replay_alias_history(events: list[RegistryEvent]) -> list[int]:
    """The rollback stack of one alias (oldest first) from its events in log order."""
    stack: list[int] = []
    for event in events:
        if event.action == "promoted" and event.previous_version not in (None, event.version):
            stack.append(event.previous_version)
        elif event.action == "rolled_back" and stack:
            stack.pop()
    return stack


class EventLog:
    """Append and read registry events stored as runs on an MLflow server.

    Args:
        server: the MLflow server.
        actor: who is recorded in each event.
        clock: returns the current time (UTC) for the events' ``ts``.
    """

    def __init__(self, server: MlflowServer, actor: str, clock: Callable[[], datetime]) -> None:
        self._server = server
        self._actor = actor
        self._clock = clock
        self._lock = threading.Lock()
        self._last_ms = 0

    def append(
        self, action: Action, name: str, version: int, alias: str | None = None, previous: int | None = None
    ) -> RegistryEvent:
        """Record one event and return it (with its id in the whole log, or 0 if the log cannot be read back).

        Raises:
            RegistryError: the server cannot be reached or refused the write.
        """
        experiment_id = self._server.experiment_id(EVENTS_EXPERIMENT, create=True, purpose=_PURPOSE)
        assert experiment_id is not None
        ts = self._clock().astimezone(UTC).isoformat(timespec="milliseconds")
        tags = {
            ACTION_TAG: action,
            MODEL_TAG: name,
            VERSION_TAG: str(version),
            ACTOR_TAG: self._actor,
            TS_TAG: ts,
            "mlflow.user": self._actor,
        }
        if alias is not None:
            tags[ALIAS_TAG] = alias
        if previous is not None:
            tags[PREVIOUS_TAG] = str(previous)
        target = f" -> {alias}" if alias is not None else ""
        start_ms = self._next_ms()
        client = self._server.client
        with self._server.call(f"logging the {action} event of {name}:{version}"):
            run = client.create_run(
                experiment_id, start_time=start_ms, tags=tags, run_name=f"{action} {name}:{version}{target}"
            )
        # Only cosmetic (the run shows as finished in the UI); the event is recorded already, so a failure here
        # must not make the caller undo it.
        with suppress(RegistryError), self._server.call("finishing the event run"):
            client.set_terminated(run.info.run_id, "FINISHED", end_time=start_ms)
        # The event is recorded; failing to read its position back must not make the caller undo it (id 0 then).
        event_id = 0
        with suppress(RegistryError):
            event_id = next((e.id for e, run_id in self._read("") if run_id == run.info.run_id), 0)
        return RegistryEvent(event_id, ts, self._actor, action, name, version, alias, previous)

    def all(self) -> list[RegistryEvent]:
        """The whole log, oldest first, with ids.

        Raises:
            RegistryError: the server cannot be reached.
        """
        return [event for event, _ in self._read("")]

    def alias_history(self, name: str, alias: str) -> list[int]:
        """The targets ``alias`` of ``name`` had before its moves (oldest first): what rollback returns to."""
        where = f"tags.`{MODEL_TAG}` = '{name}' AND tags.`{ALIAS_TAG}` = '{alias}'"
        return replay_alias_history([event for event, _ in self._read(where)])

    def _read(self, filter_string: str) -> list[tuple[RegistryEvent, str]]:
        """Events matching a search filter, in log order; ids count from 1 only for an unfiltered read."""
        from mlflow.entities import ViewType

        experiment_id = self._server.experiment_id(EVENTS_EXPERIMENT, create=False, purpose=_PURPOSE)
        if experiment_id is None:
            return []
        client = self._server.client
        with self._server.call("reading the registry's event log"):
            runs = self._server.pages(
                lambda token: client.search_runs(
                    [experiment_id],
                    filter_string=filter_string,
                    run_view_type=ViewType.ALL,
                    max_results=PAGE_SIZE,
                    order_by=["attributes.start_time ASC"],
                    page_token=token,
                )
            )
        runs.sort(key=lambda run: (run.info.start_time or 0, run.info.run_id))
        events: list[tuple[RegistryEvent, str]] = []
        for run in runs:
            event = _event(run, len(events) + 1)
            if event is not None:
                events.append((event, run.info.run_id))
        return events

    def _next_ms(self) -> int:
        with self._lock:
            self._last_ms = max(time.time_ns() // 1_000_000, self._last_ms + 1)
            return self._last_ms


__all__ = ["EVENTS_EXPERIMENT", "EventLog", "replay_alias_history"]
