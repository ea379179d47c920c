"""Turn overhead benchmark: what lash itself costs per turn, with a model that answers instantly.

Run by hand (never as a test)::

    .venv/bin/python bench/turn_overhead.py            # every scenario, each in its own process
    .venv/bin/python bench/turn_overhead.py --turns 5000

Scenarios, each in a fresh process, with an instant in-process provider and the in-memory store:

* ``text``: one model call answering in prose;
* ``tool``: the model calls one tool, then answers;
* ``long``: sessions of 500 text turns; the cost of turn 5 and of turn 500 (history growth).

Also measured: the import time of ``lash_core`` (fresh interpreter, median of 7).
Prints median and p99 microseconds per turn and the peak RSS of each process.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from typing import Any


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _scenario(name: str, turns: int) -> dict[str, Any]:
    from lash_core import tool
    from lash_core.model import (
        LlmResponse,
        LlmTextPart,
        LlmToolCallPart,
        PartKind,
        TerminalReason,
        TokenUsage,
    )
    from lash_core.testing import scripted_runtime

    usage = TokenUsage(input_tokens=12, output_tokens=3)
    text = LlmResponse((LlmTextPart("done"),), usage, TerminalReason.STOP, model="bench")
    call = LlmResponse(
        (LlmToolCallPart("c1", "add", '{"a": 1, "b": 2}'),), usage, TerminalReason.TOOL_USE, model="bench"
    )

    class InstantProvider:
        async def complete(self, request: Any, on_event: Any = None) -> LlmResponse:
            if name != "tool":
                return text
            last = request.messages[-1]
            return text if last.parts and last.parts[0].kind is PartKind.TOOL_RESULT else call

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    runtime = scripted_runtime(InstantProvider(), tools=[add] if name == "tool" else [])
    samples: list[float] = []
    turn5: list[float] = []
    turn500: list[float] = []
    async with runtime:
        if name == "long":
            sessions = max(4, turns // 500)
            for index in range(sessions):
                session = await runtime.session(f"long-{index}")
                for number in range(1, 501):
                    started = time.perf_counter()
                    await session.turn("hi").run()
                    elapsed = (time.perf_counter() - started) * 1e6
                    if number == 5:
                        turn5.append(elapsed)
                    elif number == 500:
                        turn500.append(elapsed)
            return {
                "scenario": name,
                "sessions": sessions,
                "turn5_median_us": round(statistics.median(turn5), 1),
                "turn500_median_us": round(statistics.median(turn500), 1),
                "ratio": round(statistics.median(turn500) / statistics.median(turn5), 2),
                "peak_rss_mib": round(_peak_rss_mib(), 1),
            }
        warmup = 200
        per_session = 50
        for index in range((turns + warmup) // per_session + 1):
            session = await runtime.session(f"{name}-{index}")
            for _ in range(per_session):
                started = time.perf_counter()
                await session.turn("hi").run()
                samples.append((time.perf_counter() - started) * 1e6)
    measured = samples[warmup : warmup + turns]
    return {
        "scenario": name,
        "turns": len(measured),
        "median_us": round(statistics.median(measured), 1),
        "p99_us": round(_percentile(measured, 0.99), 1),
        "peak_rss_mib": round(_peak_rss_mib(), 1),
    }


def _import_time_ms() -> float:
    code = "import time; t = time.perf_counter(); import lash_core; print((time.perf_counter() - t) * 1000)"
    runs = [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(7)]
    return round(statistics.median(runs), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=2000, help="measured turns per scenario (>= 1000)")
    parser.add_argument(
        "--scenario", choices=["text", "tool", "long"], help="run one scenario in this process"
    )
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    args = parser.parse_args()
    if args.scenario:
        import anyio

        result = anyio.run(_scenario, args.scenario, args.turns, backend=args.backend)
        print(json.dumps(result))
        return
    results = []
    for scenario in ("text", "tool", "long"):
        command = [
            sys.executable,
            __file__,
            "--scenario",
            scenario,
            "--turns",
            str(args.turns),
            "--backend",
            args.backend,
        ]
        results.append(json.loads(subprocess.check_output(command, text=True).strip().splitlines()[-1]))
    results.append({"scenario": "import", "import_lash_core_ms": _import_time_ms()})
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
