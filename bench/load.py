"""The load-generating process: fixed concurrency over HTTP, with a warm-up.

Run as `python -m bench.load` with a JSON plan on standard input; prints one
JSON object with each workload's results. It runs apart from the bench
orchestrator so that its CPU is its own (the orchestrator samples the server
and reads its log meanwhile).

Plan:
    {"url": "http://127.0.0.1:PORT/graphql", "warmup": 2.0, "duration": 8.0,
     "workloads": [{"name": "dashboard", "concurrency": 16,
                    "requests": [{"body": {...}, "token": "..."}],
                    "next_page": ["data", "products", "pageInfo"],   # optional
                    "expect": ["data", "signIn", "session"]}]}      # optional

All workloads run at once (the sign-in storm runs beside the dashboard). Each
of a workload's `concurrency` clients sends its requests round-robin, back to
back, over one keep-alive connection. With `next_page`, each request is
followed by the same query with `after` set to the page's `endCursor`. A
response is an error when it is not 200, has `errors`, or lacks the value at
`expect`. Requests that end between the end of the warm-up and the end of the run
are counted (see WorkloadResult); request ids are `bench-<name>-<n>` inside that window and
`warm-<name>-<n>` before it, so the server's log lines can be matched.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson


@dataclass
class WorkloadResult:
    """Every request's (start, end, latency, problem), judged at the end of the run.

    Throughput counts the requests that end inside the measured window;
    latencies are those of the requests that also began inside it, or, when
    requests are slower than the window, of every request that ended in it.
    """

    name: str
    calls: list[tuple[float, float, float, str | None]] = field(default_factory=list)

    def record(self, began: float, ended: float, latency_ms: float, problem: str | None) -> None:
        self.calls.append((began, ended, latency_ms, problem))

    def summary(self, clock: Clock) -> dict[str, Any]:
        ended_inside = [c for c in self.calls if clock.measure_from <= c[1] < clock.until]
        whole = [c for c in ended_inside if c[0] >= clock.measure_from]
        ordered = sorted(c[2] for c in (whole or ended_inside))
        problems = [c[3] for c in ended_inside if c[3]]
        seconds = clock.until - clock.measure_from
        count = len(ended_inside)
        return {
            "requests": count,
            "errors": len(problems),
            "error_samples": problems[:3],
            "seconds": round(seconds, 3),
            "rps": round(count / seconds, 2) if seconds else 0.0,
            "p50_ms": percentile(ordered, 50),
            "p95_ms": percentile(ordered, 95),
            "p99_ms": percentile(ordered, 99),
            "max_ms": round(ordered[-1], 2) if ordered else None,
            "mean_ms": round(sum(ordered) / len(ordered), 2) if ordered else None,
        }


def percentile(ordered: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * pct // 100))
    return round(ordered[int(rank) - 1], 2)


def _dig(value: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _problem(status: int, raw: bytes, answer: Any, expect: list[str] | None) -> str | None:
    """What is wrong with an answer: not 200, `errors`, or no value at `expect`."""
    if status != 200 or answer is None:
        return f"HTTP {status}: {raw[:300]!r}"
    if answer.get("errors"):
        return orjson.dumps(answer["errors"][:1]).decode()[:300]
    if expect and _dig(answer, expect) is None:
        return orjson.dumps(answer).decode()[:300]
    return None


class Clock:
    def __init__(self, warmup: float, duration: float) -> None:
        self.start = time.perf_counter()
        self.measure_from = self.start + warmup
        self.until = self.measure_from + duration

    def measuring(self, at: float) -> bool:
        return self.measure_from <= at < self.until


async def _client(
    session: aiohttp.ClientSession,
    url: str,
    workload: dict[str, Any],
    offset: int,
    clock: Clock,
    result: WorkloadResult,
    counter: itertools.count[int],
) -> None:
    name = workload["name"]
    requests = workload["requests"]
    next_page: list[str] | None = workload.get("next_page")
    expect: list[str] | None = workload.get("expect")
    index = offset
    while time.perf_counter() < clock.until:
        spec = requests[index % len(requests)]
        index += 1
        body: dict[str, Any] = spec["body"]
        for _page in range(2 if next_page else 1):
            started = time.perf_counter()
            tag = "bench" if clock.measuring(started) else "warm"
            request_id = f"{tag}-{name}-{next(counter):08d}"
            headers = {"content-type": "application/json", "x-request-id": request_id}
            if spec.get("token"):
                headers["authorization"] = f"Bearer {spec['token']}"
            problem = None
            try:
                async with session.post(url, data=orjson.dumps(body), headers=headers) as response:
                    raw = await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as error:
                # A dropped connection is one failed request: the session
                # opens a new one and the client goes on.
                raw, status, problem = b"", 0, f"{type(error).__name__}: {error}"[:300]
            elapsed_ms = (time.perf_counter() - started) * 1000
            answer = orjson.loads(raw) if raw[:1] == b"{" else None
            problem = problem or _problem(status, raw, answer, expect)
            result.record(started, started + elapsed_ms / 1000, elapsed_ms, problem)
            if not next_page or problem:
                break
            page = _dig(answer, next_page) or {}
            if not page.get("hasNextPage"):
                break
            body = {**body, "variables": {**body.get("variables", {}), "after": page["endCursor"]}}


async def run_plan(plan: dict[str, Any]) -> dict[str, Any]:
    clock = Clock(float(plan["warmup"]), float(plan["duration"]))
    results: dict[str, WorkloadResult] = {}
    tasks = []
    sessions = []
    for workload in plan["workloads"]:
        result = results[workload["name"]] = WorkloadResult(workload["name"])
        concurrency = int(workload["concurrency"])
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency, force_close=False),
            timeout=aiohttp.ClientTimeout(total=120),
        )
        sessions.append(session)
        counter = itertools.count()
        for offset in range(concurrency):
            tasks.append(_client(session, plan["url"], workload, offset, clock, result, counter))
    try:
        await asyncio.gather(*tasks)
    finally:
        for session in sessions:
            await session.close()
    return {name: result.summary(clock) for name, result in results.items()}


def main() -> int:
    plan = orjson.loads(sys.stdin.buffer.read())
    sys.stdout.buffer.write(orjson.dumps(asyncio.run(run_plan(plan))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
