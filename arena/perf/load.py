"""Load shapes: a fixed number of requests in flight (closed loop) or Poisson arrivals at a rate (open loop),
for N requests or T seconds, after warm-up requests that are not counted."""
from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from arena.perf.client import PerfRequest, RequestResult, StreamingClient
from arena.perf.prompts import RequestPlan


@dataclass(frozen=True)
class LoadLevel:
    """One level of a test: `concurrency` requests in flight, or arrivals at `rate` per second (capped)."""

    concurrency: int | None = None
    rate: float | None = None
    max_concurrency: int | None = None  # with a rate: at most this many in flight (the rest queue)

    @property
    def label(self) -> str:
        """'concurrency 8', 'rate 10/s' or 'rate 10/s, max 32 in flight'."""
        if self.rate is None:
            return f"concurrency {self.concurrency}"
        cap = f", max {self.max_concurrency} in flight" if self.max_concurrency else ""
        return f"rate {self.rate:g}/s{cap}"

    @property
    def in_flight_limit(self) -> int | None:
        """The most requests this level can have in flight (None: no limit)."""
        return self.concurrency if self.rate is None else self.max_concurrency


@dataclass(frozen=True)
class Stop:
    """When a level ends: after `requests` requests, after `duration_s` seconds of sending, or both (first)."""

    requests: int | None = None
    duration_s: float | None = None
    warmup: int = 0


@dataclass
class LevelRun:
    """The requests one level measured (warm-up excluded), its time span and whether Ctrl-C cut it short."""

    level: LoadLevel
    results: list[RequestResult] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    interrupted: bool = False
    sent: int = 0
    repeated: int = 0  # measured requests whose prompt an earlier request of the test had already sent
    on_result: Callable[[RequestResult], None] | None = None

    def sending(self, req: PerfRequest) -> PerfRequest:
        """Count one measured request as sent (and whether its prompt is a repeat)."""
        self.sent += 1
        self.repeated += req.repeat
        return req

    def add(self, res: RequestResult) -> None:
        """Keep one measured request."""
        self.results.append(res)
        if self.on_result is not None:
            self.on_result(res)

    @property
    def duration(self) -> float:
        """Seconds from the first measured send to the last measured reply (or to the interrupt)."""
        return max(0.0, self.finished - self.started)


def poisson_offsets(rate: float, seed: int) -> Iterator[float]:
    """Arrival times (seconds after the start) of a seeded Poisson process with `rate` arrivals per second."""
    rng = random.Random(seed)
    t = 0.0
    while True:
        t += rng.expovariate(rate)
        yield t


async def _closed_loop(client: StreamingClient, plan: RequestPlan, run: LevelRun, n: int | None,
                       deadline: float | None, concurrency: int) -> None:
    counter = itertools.count()

    async def worker() -> None:
        while True:
            i = next(counter)
            if (n is not None and i >= n) or (deadline is not None and time.perf_counter() >= deadline):
                return
            run.add(await client.send(run.sending(plan.take())))

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _open_loop(client: StreamingClient, plan: RequestPlan, run: LevelRun, n: int | None,
                     deadline: float | None, level: LoadLevel, seed: int) -> None:
    cap = asyncio.Semaphore(level.max_concurrency) if level.max_concurrency else None
    tasks: set[asyncio.Task[None]] = set()

    async def send(req: PerfRequest) -> None:
        run.add(await client.send(run.sending(req)))

    async def one(req: PerfRequest) -> None:
        if cap is None:
            await send(req)
            return
        async with cap:
            await send(req)

    assert level.rate is not None
    try:
        for i, offset in enumerate(poisson_offsets(level.rate, seed)):
            at = run.started + offset
            if (n is not None and i >= n) or (deadline is not None and at >= deadline):
                break
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(plan.take()))  # the prompt in arrival order
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()


async def warm_up(client: StreamingClient, plan: RequestPlan, count: int, in_flight: int | None) -> None:
    """Send `count` requests that are not measured (the plan's next requests: no level sends their prompts
    again while it has unsent ones)."""
    if count <= 0:
        return
    width = max(1, min(count, in_flight or count))
    counter = itertools.count(1)

    async def worker() -> None:
        while next(counter) <= count:
            await client.send(plan.take())

    await asyncio.gather(*(worker() for _ in range(width)))


async def run_level(client: StreamingClient, plan: RequestPlan, run: LevelRun, stop: Stop, seed: int) -> LevelRun:
    """Measure one level into `run` (filled as replies arrive, so a cancelled level keeps what it has)."""
    run.started = time.perf_counter()
    deadline = run.started + stop.duration_s if stop.duration_s else None
    try:
        if run.level.rate is None:
            await _closed_loop(client, plan, run, stop.requests, deadline, int(run.level.concurrency or 1))
        else:
            await _open_loop(client, plan, run, stop.requests, deadline, run.level, seed)
    except asyncio.CancelledError:
        run.interrupted = True
        raise
    finally:
        ends = [r.end for r in run.results]
        run.finished = max(ends) if ends and not run.interrupted else time.perf_counter()
    return run
