"""Claims of pending input and queued work, fenced by the session lease generation.

A worker holding the session lease claims rows (inputs or work batches) to process
them. A claim row records the claim id, an opaque claim token (the proof of ownership),
a per-row ``claim_fencing_token`` bumped on every (re)claim, the claimant and the
**lease generation**: the ``fencing_token`` of the lease the claimant held.

* Claim path (the caller presents a live fence): a row is claimable iff it is
  unclaimed or its generation differs from the caller's fencing token. A claimant can
  never steal from its own generation; any other generation is dead, because the
  caller holds the live lease.
* Lease-less paths (listing, cancelling): a claim is *live* iff the session's lease is
  live and its fencing token equals the row's generation.
* Completing a claim (in the turn commit) checks the claim id and token of every row it
  names, else :class:`~lash_core.errors.ClaimSuperseded`.

There is no claim TTL and no renewal: a claim dies with its lease generation.
"""

from __future__ import annotations

from attrs import frozen

from lash_core.store.leases import LeaseOwner

__all__ = ["ClaimInfo", "ClaimRef"]


@frozen
class ClaimRef:
    """What a turn commit (or an abandon) presents to settle a claim.

    ``item_ids`` are the input ids (input claims) or batch ids (work claims) the claim
    took; each must still carry ``claim_id`` and ``claim_token``.
    """

    session_id: str
    claim_id: str
    claim_token: str
    item_ids: tuple[str, ...]


@frozen
class ClaimInfo:
    """The claim columns of a row (diagnostics for ``already_claimed`` answers and listings)."""

    claim_id: str
    owner: LeaseOwner
    lease_generation: int
    claim_fencing_token: int
    claimed_at_ms: int
