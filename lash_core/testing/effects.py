"""A recording effect host for tests: journal every effect, replay a journal, simulate crashes.

::

    host = RecordingEffectHost(interrupt_after=2)
    runtime = scripted_runtime(
        provider, plugins=[recording_host_plugin(host)], config={"effect_host": {"type": "recording"}}
    )
    ...  # the turn raises SimulatedCrash after its second effect was journaled
    replay = RecordingEffectHost(journal=host.journal)  # re-drive the same turn id: no repeats

    journal = CrashingJournal(MemoryEffectJournal(), after=3)  # "dies" after its third entry
    host = JournalingEffectHost(journal, durability=DurabilityTier.INLINE)
    config = {"effect_host": {"type": "journal"}}
    with expect_crash():
        async with scripted_runtime(provider, plugins=[effect_host_plugin(host, "journal")], config=config):
            ...

Every effect's outcome is journaled under its replay key as JSON text: the result is
unstructured with the effect's ``result_type``, dumped, loaded and structured back, and
the protocol gets the decoded value, so an uninterrupted run and a replay see exactly
the same values and a result that cannot be journaled fails the turn loudly.
:class:`~lash_core.errors.ProviderError` failures are journaled too and replayed as the
same error. A host built from a journal returns the recorded outcome of every key it
holds without running the effect, after checking the effect's fingerprint against the
recorded one (:class:`~lash_core.errors.ReplayMismatch` names the replay key when they
differ).

The host is in memory, so it claims :attr:`~lash_core.effects.DurabilityTier.INLINE` by
default and composes with the in-memory store.

For any other effect host: :func:`effect_host_plugin` registers an instance,
:class:`CrashingJournal` makes any :class:`~lash_core.effects_journal.EffectJournal` "die"
after its ``k``-th entry, and :func:`expect_crash` asserts that a :class:`SimulatedCrash`
got out of a turn (bare, or in an exception group from a concurrent tool round).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from lash_core.effects import DurabilityTier, Effect, EffectController, EffectKind
from lash_core.effects_journal import (
    EffectJournal,
    JournalEntry,
    check_replay_match,
    decode_provider_error,
    decode_result,
    dump_json,
    encode_provider_error,
    encode_result,
)
from lash_core.errors import ProviderError
from lash_hookspecs import hookimpl

__all__ = [
    "RECORDING_HOST",
    "CrashingJournal",
    "RecordingEffectController",
    "RecordingEffectHost",
    "SimulatedCrash",
    "effect_host_plugin",
    "expect_crash",
    "recording_host_plugin",
]

T = TypeVar("T")

RECORDING_HOST = "recording"
"""The effect-host name :func:`recording_host_plugin` registers by default."""


class SimulatedCrash(BaseException):
    """Raised by a :class:`RecordingEffectHost` with ``interrupt_after`` to simulate a process crash.

    A ``BaseException`` (like ``KeyboardInterrupt``), so no ``except Exception`` in the
    kernel, a protocol or a tool turns it into a turn outcome: the turn stops where it
    is and commits nothing. Raised inside a concurrent tool round it reaches the caller
    wrapped in a ``BaseExceptionGroup`` (catch it with ``except* SimulatedCrash``).
    """

    def __init__(self, replay_key: str, completed: int) -> None:
        """``replay_key``: the effect just journaled; ``completed``: effects finished so far."""
        super().__init__(f"simulated crash after effect {completed} ({replay_key}) was journaled")
        self.replay_key = replay_key
        self.completed = completed


@contextmanager
def expect_crash() -> Iterator[None]:
    """Wrap what must stop with a :class:`SimulatedCrash`: the crash (bare, or grouped with
    others by a concurrent tool round) is caught, anything else goes on; fails when no
    crash got out."""
    crashed = False
    try:
        yield
    except* SimulatedCrash:
        crashed = True
    assert crashed, "the simulated crash did not propagate out of the turn"


class CrashingJournal:
    """Wraps an effect journal: the ``after``-th put is stored, then the "process" dies (every
    later get or put raises :class:`SimulatedCrash` and stores nothing). ``after=None``:
    never dies. ``puts`` counts the stored entries; ``inner`` is the wrapped journal."""

    def __init__(self, inner: EffectJournal, after: int | None = None) -> None:
        self.inner = inner
        self.after = after
        self.puts = 0
        self.crashed = False

    async def get(self, scope_id: str, replay_key: str) -> JournalEntry | None:
        """The inner journal's entry (raises :class:`SimulatedCrash` once dead)."""
        if self.crashed:
            raise SimulatedCrash(replay_key, self.puts)
        return await self.inner.get(scope_id, replay_key)

    async def put(self, entry: JournalEntry) -> None:
        """Store ``entry`` in the inner journal; die right after the ``after``-th."""
        if self.crashed:
            raise SimulatedCrash(entry.replay_key, self.puts)
        await self.inner.put(entry)
        self.puts += 1
        if self.puts == self.after:
            self.crashed = True
            raise SimulatedCrash(entry.replay_key, self.puts)


class RecordingEffectHost:
    """An effect host that journals every effect and can replay a journal.

    Attributes (shared by every turn the host serves):

    * ``journal``: replay key -> JSON text of ``{"kind", "fingerprint", "result"}``, or of
      ``{"kind", "fingerprint", "error": {"message", "failure"}}`` for a provider error;
    * ``executed`` / ``replayed``: how many effects of each :class:`EffectKind` really
      ran / were answered from the journal;
    * ``executed_keys`` / ``replayed_keys``: their replay keys, in completion order;
    * ``completed``: how many effects finished (executed or replayed).

    ``interrupt_after=k`` raises :class:`SimulatedCrash` right after the ``k``-th
    effect (counting replayed ones) finished and was journaled. From then on the host is
    dead, like the crashed process: an effect still in flight (a concurrent tool call)
    or asked for later raises :class:`SimulatedCrash` too and is not journaled, so the
    journal holds exactly ``k`` entries. Build a new host from ``journal`` to resume.

    ``concurrent`` is the controllers' ``supports_concurrent_effects``; ``durability``
    the tier the host claims.
    """

    def __init__(
        self,
        journal: Mapping[str, str] | None = None,
        *,
        interrupt_after: int | None = None,
        concurrent: bool = True,
        durability: DurabilityTier = DurabilityTier.INLINE,
    ) -> None:
        """A host replaying ``journal`` (a copy is kept; default: empty)."""
        if interrupt_after is not None and interrupt_after < 1:
            raise ValueError(f"interrupt_after must be at least 1, got {interrupt_after}")
        self.journal: dict[str, str] = dict(journal or {})
        self.interrupt_after = interrupt_after
        self.concurrent = concurrent
        self.durability = durability
        self.executed: Counter[EffectKind] = Counter()
        self.replayed: Counter[EffectKind] = Counter()
        self.executed_keys: list[str] = []
        self.replayed_keys: list[str] = []
        self.completed = 0
        self.crashed = False

    def scoped(self, session_id: str, turn_id: str) -> EffectController:
        """The controller of one turn (all controllers share this host's journal and counters)."""
        return RecordingEffectController(self, session_id, turn_id)

    def entry(self, replay_key: str) -> dict[str, Any]:
        """The decoded journal entry of ``replay_key`` (``KeyError`` when none was journaled)."""
        return cast(dict[str, Any], json.loads(self.journal[replay_key]))

    def dumps(self) -> str:
        """The whole journal as one JSON document (keys sorted)."""
        return json.dumps({key: self.entry(key) for key in sorted(self.journal)}, sort_keys=True)

    @classmethod
    def loads(cls, text: str, **options: Any) -> RecordingEffectHost:
        """A host replaying a journal written by :meth:`dumps`; ``options`` as for the constructor."""
        entries = json.loads(text)
        journal = {key: json.dumps(entry, sort_keys=True) for key, entry in entries.items()}
        return cls(journal, **options)

    def _check_alive(self, effect: Effect) -> None:
        """After the simulated crash the process is dead: nothing runs or is journaled any more."""
        if self.crashed:
            raise SimulatedCrash(effect.replay_key, self.completed)

    def _completed(self, effect: Effect) -> None:
        """Count a finished effect; crash when it is the ``interrupt_after``-th."""
        self.completed += 1
        if not self.crashed and self.completed == self.interrupt_after:
            self.crashed = True
            raise SimulatedCrash(effect.replay_key, self.completed)


class RecordingEffectController:
    """The controller of one turn of a :class:`RecordingEffectHost`."""

    def __init__(self, host: RecordingEffectHost, session_id: str, turn_id: str) -> None:
        """A controller journaling into ``host`` for the turn ``turn_id`` of ``session_id``."""
        self.host = host
        self.session_id = session_id
        self.turn_id = turn_id
        self.durability = host.durability
        self.supports_concurrent_effects = host.concurrent

    async def execute(self, effect: Effect, run: Callable[[], Awaitable[T]]) -> T:
        """Replay the journaled outcome of ``effect`` or run it and journal the outcome.

        Raises :class:`ReplayMismatch` when a journaled key holds another kind or
        fingerprint, :class:`EffectError` when a result cannot be journaled as JSON, and
        :class:`SimulatedCrash` after the ``interrupt_after``-th effect.
        """
        host = self.host
        host._check_alive(effect)
        fingerprint = effect.fingerprint()
        recorded = host.journal.get(effect.replay_key)
        if recorded is not None:
            entry = json.loads(recorded)
            check_replay_match(effect, fingerprint, entry.get("kind"), entry.get("fingerprint"))
            host.replayed[effect.kind] += 1
            host.replayed_keys.append(effect.replay_key)
            host._completed(effect)
            if "error" in entry:
                raise decode_provider_error(entry["error"])
            return cast(T, decode_result(effect, entry["result"]))
        try:
            result = await run()
        except ProviderError as exc:
            host._check_alive(effect)
            host.executed[effect.kind] += 1
            host.executed_keys.append(effect.replay_key)
            host.journal[effect.replay_key] = dump_json(
                effect,
                {"kind": effect.kind.value, "fingerprint": fingerprint, "error": encode_provider_error(exc)},
            )
            host._completed(effect)
            raise
        host._check_alive(effect)
        host.executed[effect.kind] += 1
        host.executed_keys.append(effect.replay_key)
        text = dump_json(
            effect,
            {"kind": effect.kind.value, "fingerprint": fingerprint, "result": encode_result(effect, result)},
        )
        host.journal[effect.replay_key] = text
        decoded = decode_result(effect, json.loads(text)["result"])
        host._completed(effect)
        return cast(T, decoded)


def effect_host_plugin(host: object, name: str, *, description: str = "") -> object:
    """A plugin registering ``host`` (an instance, shared by every runtime the plugin is
    given to) as effect host ``name``; select it with ``{"effect_host": {"type": name}}``."""

    class EffectHostPlugin:
        """Registers one effect host instance."""

        lash_plugin_name = f"test-effect-host-{name}"

        @hookimpl
        def register_effect_hosts(self, register: Any) -> None:
            """Register the host under ``name``."""
            register(name, lambda settings=None: host, description=description)

    return EffectHostPlugin()


def recording_host_plugin(host: RecordingEffectHost, name: str = RECORDING_HOST) -> object:
    """A plugin registering ``host`` (an instance) as effect host ``name``.

    Select it with ``{"effect_host": {"type": name}}`` in the runtime configuration.
    """
    return effect_host_plugin(host, name, description="journals and replays effects (testing)")
