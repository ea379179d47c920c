"""A journaling effect host over any :class:`EffectJournal` (the store-independent part).

A durable store plugin provides an :class:`EffectJournal` (a table keyed by turn scope
and replay key) and registers ``JournalingEffectHost(journal)`` as an effect host. Every
effect of a turn then goes through :class:`JournalingEffectController`:

* the replay key is journaled and the recorded fingerprint and kind match the effect:
  the recorded result is decoded and returned (a recorded
  :class:`~lash_core.errors.ProviderError` is raised again) without running the effect;
* the replay key is journaled but the effect differs:
  :class:`~lash_core.errors.ReplayMismatch` names the replay key (the step), the effect
  kind and both fingerprints, and nothing runs;
* otherwise the effect runs and its outcome is journaled before the protocol sees it.

Results are journaled as JSON: unstructured with the effect's ``result_type`` through
:mod:`lash_core.converter`, dumped, loaded and structured back, so an uninterrupted run
and a replay hand the protocol exactly the same values, and a result that cannot be
journaled fails the turn loudly (:class:`~lash_core.errors.EffectError`). Only provider
errors are journaled as failures; any other exception propagates and journals nothing,
so the effect runs again when the turn is re-driven.

The helpers :func:`encode_result`, :func:`decode_result`, :func:`encode_provider_error`,
:func:`decode_provider_error` and :func:`check_replay_match` are shared with the test
recording host (:mod:`lash_core.testing.effects`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, Protocol, TypeVar, cast

import anyio
from attrs import frozen

from lash_core.converter import structure, unstructure
from lash_core.effects import DurabilityTier, Effect, EffectController
from lash_core.errors import DecodeError, EffectError, ProviderError, ReplayMismatch
from lash_core.model import ProviderFailure

__all__ = [
    "EffectJournal",
    "JournalEntry",
    "JournalStatus",
    "JournalingEffectController",
    "JournalingEffectHost",
    "MemoryEffectJournal",
    "check_replay_match",
    "decode_provider_error",
    "decode_result",
    "dump_json",
    "encode_provider_error",
    "encode_result",
    "turn_scope_id",
]

T = TypeVar("T")


class JournalStatus(Enum):
    """How a journaled effect ended."""

    COMPLETED = "completed"
    FAILED = "failed"


@frozen
class JournalEntry:
    """One journaled effect outcome.

    ``scope_id`` is the turn scope (:func:`turn_scope_id`); ``replay_key`` the effect's
    key; ``kind`` the :class:`~lash_core.effects.EffectKind` value; ``fingerprint`` the
    effect's :meth:`~lash_core.effects.Effect.fingerprint`. A ``completed`` entry holds
    ``result_json`` (canonical JSON text of the unstructured result), a ``failed`` one
    ``error_json`` (JSON text of ``{"message", "failure"}``, see
    :func:`encode_provider_error`). ``session_id`` names the session the turn belongs to,
    so a store can delete a session's entries with the session (empty when unknown).
    """

    scope_id: str
    replay_key: str
    kind: str
    fingerprint: str
    status: JournalStatus
    result_json: str | None = None
    error_json: str | None = None
    session_id: str = ""


class EffectJournal(Protocol):
    """Where a :class:`JournalingEffectHost` records effect outcomes.

    Implementations must make :meth:`put` durable before it returns (for a durable
    host) and safe to call concurrently. A put for a ``(scope_id, replay_key)`` that is
    already journaled keeps the first entry (first writer wins, no error).
    """

    async def get(self, scope_id: str, replay_key: str) -> JournalEntry | None:
        """The entry journaled for ``replay_key`` in ``scope_id``, or ``None``."""
        ...

    async def put(self, entry: JournalEntry) -> None:
        """Journal ``entry`` (kept unchanged if its key is already journaled)."""
        ...


def turn_scope_id(session_id: str, turn_id: str) -> str:
    """The journal scope of one turn: ``<session_id>:<turn_id>``."""
    return f"{session_id}:{turn_id}"


class MemoryEffectJournal:
    """An in-process :class:`EffectJournal` (a dict): for tests and inline composition.

    ``entries`` maps ``(scope_id, replay_key)`` to the journaled entry.
    """

    def __init__(self) -> None:
        """An empty journal."""
        self.entries: dict[tuple[str, str], JournalEntry] = {}

    async def get(self, scope_id: str, replay_key: str) -> JournalEntry | None:
        """The entry of ``replay_key`` in ``scope_id``, or ``None``."""
        return self.entries.get((scope_id, replay_key))

    async def put(self, entry: JournalEntry) -> None:
        """Journal ``entry`` unless its key is journaled already."""
        self.entries.setdefault((entry.scope_id, entry.replay_key), entry)


class JournalingEffectHost:
    """An effect host journaling every effect outcome into ``journal`` and replaying it.

    ``durability`` defaults to :attr:`~lash_core.effects.DurabilityTier.DURABLE` (the
    journal is expected to survive the process); pass ``INLINE`` for an in-memory
    journal composed with the in-memory store. ``concurrent`` is the controllers'
    ``supports_concurrent_effects``.
    """

    def __init__(
        self,
        journal: EffectJournal,
        *,
        durability: DurabilityTier = DurabilityTier.DURABLE,
        concurrent: bool = True,
    ) -> None:
        """A host over ``journal``."""
        self.journal = journal
        self.durability = durability
        self.concurrent = concurrent

    def scoped(self, session_id: str, turn_id: str) -> EffectController:
        """The controller of the turn ``turn_id`` of ``session_id``."""
        return JournalingEffectController(self, session_id, turn_id)


class JournalingEffectController:
    """The controller of one turn of a :class:`JournalingEffectHost`."""

    def __init__(self, host: JournalingEffectHost, session_id: str, turn_id: str) -> None:
        """A controller journaling into ``host.journal`` under the turn's scope id."""
        self.host = host
        self.session_id = session_id
        self.turn_id = turn_id
        self.scope_id = turn_scope_id(session_id, turn_id)
        self.durability = host.durability
        self.supports_concurrent_effects = host.concurrent

    async def execute(self, effect: Effect, run: Callable[[], Awaitable[T]]) -> T:
        """Replay the journaled outcome of ``effect``, or run it and journal the outcome.

        Raises :class:`ReplayMismatch` when the key was journaled for another effect,
        :class:`EffectError` when a result cannot be journaled or read back, and the
        recorded (or fresh) :class:`ProviderError` of a failed model call.
        """
        journal = self.host.journal
        fingerprint = effect.fingerprint()
        recorded = await journal.get(self.scope_id, effect.replay_key)
        if recorded is not None:
            check_replay_match(effect, fingerprint, recorded.kind, recorded.fingerprint)
            return cast(T, _replay(effect, recorded))
        try:
            result = await run()
        except ProviderError as exc:
            entry = JournalEntry(
                scope_id=self.scope_id,
                replay_key=effect.replay_key,
                kind=effect.kind.value,
                fingerprint=fingerprint,
                status=JournalStatus.FAILED,
                error_json=dump_json(effect, encode_provider_error(exc)),
                session_id=self.session_id,
            )
            with anyio.CancelScope(shield=True):
                await journal.put(entry)
            raise
        text = dump_json(effect, encode_result(effect, result))
        entry = JournalEntry(
            scope_id=self.scope_id,
            replay_key=effect.replay_key,
            kind=effect.kind.value,
            fingerprint=fingerprint,
            status=JournalStatus.COMPLETED,
            result_json=text,
            session_id=self.session_id,
        )
        decoded = decode_result(effect, json.loads(text))
        with anyio.CancelScope(shield=True):
            await journal.put(entry)
        return cast(T, decoded)


def _replay(effect: Effect, entry: JournalEntry) -> Any:
    """The recorded result of ``entry`` (raises the recorded provider error of a failed one)."""
    try:
        if entry.status is JournalStatus.FAILED:
            error = json.loads(entry.error_json or "null")
        else:
            data = json.loads(entry.result_json or "null")
    except ValueError as exc:
        raise EffectError(
            f"the journal entry of effect {effect.replay_key!r} is not valid JSON: {exc}; "
            "the journal is damaged: re-run the turn with a new turn id"
        ) from exc
    if entry.status is JournalStatus.FAILED:
        if not isinstance(error, dict) or "message" not in error:
            raise EffectError(
                f"the failed journal entry of effect {effect.replay_key!r} holds no error; "
                "the journal is damaged: re-run the turn with a new turn id"
            )
        raise decode_provider_error(error)
    return decode_result(effect, data)


def check_replay_match(
    effect: Effect, fingerprint: str, recorded_kind: Any, recorded_fingerprint: Any
) -> None:
    """Raise :class:`ReplayMismatch` unless the recorded kind and fingerprint are this effect's.

    The message names the replay key (the step), the effect kind and both fingerprints.
    """
    if recorded_kind != effect.kind.value:
        raise ReplayMismatch(
            f"replay key {effect.replay_key!r} was journaled as a {recorded_kind!r} effect "
            f"(fingerprint {recorded_fingerprint}), but the turn now asks for a {effect.kind.value!r} "
            f"effect there (fingerprint {fingerprint}); the protocol's effect order changed: "
            "re-run the turn with a new turn id"
        )
    if recorded_fingerprint != fingerprint:
        raise ReplayMismatch(
            f"the {effect.kind.value} effect {effect.replay_key!r} does not match its journal entry "
            f"(recorded fingerprint {recorded_fingerprint}, replayed {fingerprint}); the turn's input "
            "or configuration changed since it was journaled: re-run it with a new turn id"
        )


def encode_result(effect: Effect, result: Any) -> Any:
    """The JSON data of ``result`` as ``effect.result_type`` (proved dumpable).

    Raises :class:`EffectError` when the result cannot be journaled as JSON.
    """
    try:
        data = unstructure(result, effect.result_type)
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise EffectError(
            f"the result of effect {effect.replay_key!r} cannot be journaled as JSON: {exc}; "
            "effect results must be JSON-serializable to be replayed"
        ) from exc
    return data


def decode_result(effect: Effect, data: Any) -> Any:
    """Structure journaled ``data`` back into ``effect.result_type``."""
    try:
        return structure(data, effect.result_type)
    except DecodeError as exc:
        raise EffectError(f"the journal entry of effect {effect.replay_key!r} cannot be read: {exc}") from exc


def dump_json(effect: Effect, data: Any) -> str:
    """``data`` as canonical JSON text (sorted keys, no NaN)."""
    try:
        return json.dumps(data, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:  # pragma: no cover - encode_result checked the result already
        raise EffectError(f"the journal entry of effect {effect.replay_key!r} is not JSON: {exc}") from exc


def encode_provider_error(exc: ProviderError) -> dict[str, Any]:
    """The JSON form of a provider error: its message and classified failure."""
    failure = exc.failure if isinstance(exc.failure, ProviderFailure) else None
    return {"message": str(exc), "failure": unstructure(failure) if failure is not None else None}


def decode_provider_error(data: dict[str, Any]) -> ProviderError:
    """The provider error a journal entry recorded."""
    failure = data.get("failure")
    return ProviderError(
        data["message"], structure(failure, ProviderFailure) if failure is not None else None
    )
