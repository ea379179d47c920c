"""Every exception lash raises, in one hierarchy.

::

    LashError
    ├── ConfigError                     a runtime could not be composed from its configuration
    ├── DecodeError                     a persisted or wire record could not be read (names the field path)
    ├── PluginError
    │   ├── PluginLoadError             an entry point failed to import or register (reported, not fatal)
    │   ├── PluginRegistrationError     duplicate names, a second claimant of an exclusive slot
    │   ├── PluginIncompatibleError     a plugin's supported API range excludes this lash-core
    │   └── HookError                   a turn-phase hook raised (names the plugin and the hook)
    ├── SessionError
    │   ├── SessionBusy                 a foreground turn on a session that is already running one
    │   ├── SessionNotFound
    │   └── LiveInputRejected           a live-only input given to a session with a durable store
    ├── StoreError
    │   ├── HeadConflict                another writer committed first (head compare-and-set failed)
    │   ├── TurnCommitConflict          the same turn id committed with a different content hash
    │   ├── LeaseLost                   the session execution lease expired, was released or taken over
    │   ├── ClaimSuperseded             a claim of pending input or queued work no longer owns its rows
    │   ├── SourceKeyConflict           an idempotency key reused with different content
    │   ├── SchemaVersionError          a store's schema version is not the one this code expects
    │   ├── StoreCorrupt                a store holds data that breaks the contract's invariants
    │   ├── StoreClosed                 a store was used after close() (or before open())
    │   └── DurableStoreRequired        a durable effect host composed with a non-durable store
    ├── EffectError
    │   └── ReplayMismatch              a recorded effect does not match the one being replayed
    ├── ProviderError                   a model call failed (carries a classified failure)
    ├── ToolDefinitionError             a tool could not be built from its definition
    └── UsageDecreaseError              a usage diff found a bucket that went down

Host errors (busy, conflicts, lease loss) are exceptions; what happens *inside* a turn
(provider errors, tool failures, plugin aborts) ends the turn with a ``Stopped`` outcome.
Every message says what to do about it.
"""

from __future__ import annotations

__all__ = [
    "ClaimSuperseded",
    "ConfigError",
    "DecodeError",
    "DurableStoreRequired",
    "EffectError",
    "HeadConflict",
    "HookError",
    "LashError",
    "LeaseLost",
    "LiveInputRejected",
    "PluginError",
    "PluginIncompatibleError",
    "PluginLoadError",
    "PluginRegistrationError",
    "ProviderError",
    "ReplayMismatch",
    "SchemaVersionError",
    "SessionBusy",
    "SessionError",
    "SessionNotFound",
    "SourceKeyConflict",
    "StoreClosed",
    "StoreCorrupt",
    "StoreError",
    "ToolDefinitionError",
    "TurnCommitConflict",
    "UsageDecreaseError",
]


class LashError(Exception):
    """Base class of every lash error."""


class ConfigError(LashError):
    """A runtime could not be composed from its configuration."""


class DecodeError(LashError):
    """A record could not be structured; the message names each failing field path."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class PluginError(LashError):
    """Base class of plugin loading and registration errors."""


class PluginLoadError(PluginError):
    """A plugin failed to import or register."""

    def __init__(self, plugin: str, error: BaseException) -> None:
        super().__init__(f"plugin {plugin!r} failed to load: {type(error).__name__}: {error}")
        self.plugin = plugin
        self.error = error


class PluginRegistrationError(PluginError):
    """A registration broke a rule: a duplicate name or a second claimant of a slot."""


class PluginIncompatibleError(PluginError):
    """A plugin supports a plugin API range that excludes the running lash-core."""


class HookError(PluginError):
    """A turn-phase hook implementation raised."""

    def __init__(self, plugin: str, hook: str, error: BaseException) -> None:
        super().__init__(f"plugin {plugin!r} failed in hook {hook!r}: {type(error).__name__}: {error}")
        self.plugin = plugin
        self.hook = hook
        self.error = error


class SessionError(LashError):
    """Base class of session errors."""


class SessionBusy(SessionError):
    """The session is already running a turn."""

    def __init__(self, session_id: str, detail: str = "") -> None:
        super().__init__(
            f"session {session_id!r} is already running a turn{detail}; wait for it to finish, "
            "cancel it, or submit the input with session.submit(...) so it runs next"
        )
        self.session_id = session_id


class SessionNotFound(SessionError):
    """No session with that id exists in the store."""


class LiveInputRejected(SessionError):
    """A live (unserializable) turn input was given to a session with a durable store."""


class StoreError(LashError):
    """Base class of store errors."""


class HeadConflict(StoreError):
    """The head revision moved since this session handle loaded it."""


class TurnCommitConflict(StoreError):
    """A turn id was committed before with different content."""


class LeaseLost(StoreError):
    """The session execution lease was lost; the turn committed nothing."""


class ClaimSuperseded(StoreError):
    """A claim no longer owns its rows (abandoned, or re-claimed by a newer lease generation).

    ``kind`` is ``"input"`` or ``"work"``; ``claim_id`` names the stale claim.
    """

    def __init__(self, kind: str, claim_id: str, detail: str) -> None:
        super().__init__(
            f"the {kind} claim {claim_id!r} was superseded ({detail}); the commit applied nothing: "
            "the session lease moved to another owner, so reopen the session and run the work again"
        )
        self.kind = kind
        self.claim_id = claim_id


class SourceKeyConflict(StoreError):
    """An idempotency key (a ``source_key`` or an explicit id) was reused with different content."""

    def __init__(self, session_id: str, key: str, what: str = "source key") -> None:
        super().__init__(
            f"{what} {key!r} of session {session_id!r} was enqueued before with different content; "
            f"an edit is a new submission: give it a new {what}"
        )
        self.session_id = session_id
        self.key = key


class SchemaVersionError(StoreError):
    """A store's schema version differs from the one this code writes (there are no migrations)."""


class StoreCorrupt(StoreError):
    """A store holds data that breaks the contract's invariants."""


class StoreClosed(StoreError):
    """A store was used while closed."""

    def __init__(self, store: str) -> None:
        super().__init__(f"the {store} store is closed; call `await store.open()` before using it")


class DurableStoreRequired(StoreError):
    """A durable effect host needs a durable store facet."""

    def __init__(self, facet: str, store: str) -> None:
        super().__init__(
            f"the durable effect host needs a durable {facet}, but store {store!r} is not durable; "
            "configure a durable store (sqlite or postgres) or use the inline effect host"
        )
        self.facet = facet


class EffectError(LashError):
    """An effect controller failed."""


class ReplayMismatch(EffectError):
    """A recorded effect does not match the effect being replayed."""


class ProviderError(LashError):
    """A model call failed; ``failure`` holds the classified failure record."""

    def __init__(self, message: str, failure: object | None = None) -> None:
        super().__init__(message)
        self.failure = failure


class ToolDefinitionError(LashError):
    """A tool could not be built from its Python definition."""


class UsageDecreaseError(LashError):
    """A usage diff found a bucket that decreased; ledgers only grow."""
