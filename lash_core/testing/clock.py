"""A clock tests move by hand."""

from __future__ import annotations

__all__ = ["FakeClock"]


class FakeClock:
    """Starts at ``start_ms`` (wall) and 0.0 (monotonic); moves only with :meth:`advance`."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._wall_ms = start_ms
        self._mono = 0.0

    def now_ms(self) -> int:
        """Milliseconds since the epoch."""
        return self._wall_ms

    def monotonic(self) -> float:
        """Seconds since the clock was made."""
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move both readings forward."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._mono += seconds
        self._wall_ms += int(seconds * 1000)
