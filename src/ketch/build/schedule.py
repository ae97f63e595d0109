"""Stages that do not need each other run at once; their messages come out as if they had
run one after the other (the legacy builder's stream, which clients parse).

Each job (a stage) waits for the earlier jobs it needs, then runs with an emit of its own.
The earliest unfinished job's messages go straight out; a later job's wait in its buffer
until every job before it is done, then come out whole, and the rest of them live if it
is still running. A failure cancels every other job (and waits for them to clean up);
then the messages of the jobs before the failing one come out, its own last, and its
exception is raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from ketch.build.messages import Emit, Message

T = TypeVar("T")


@dataclass(frozen=True)
class Job(Generic[T]):
    after: frozenset[int]  # the positions of the earlier jobs this one needs done first
    run: Callable[[Emit], Awaitable[T]]


class OrderedOutput:
    """Messages of numbered producers, passed on in producer order."""

    def __init__(self, count: int, emit: Emit) -> None:
        self._emit = emit
        self._buffers: list[list[Message]] = [[] for _ in range(count)]
        self._finished = [False] * count
        self._current = 0  # the earliest producer not finished: the one that streams live
        self._closed = False

    def emitter(self, position: int) -> Emit:
        return lambda message: self._put(position, message)

    def _put(self, position: int, message: Message) -> None:
        if self._closed:
            return
        if position == self._current:
            self._emit(message)
        else:
            self._buffers[position].append(message)

    def finish(self, position: int) -> None:
        self._finished[position] = True
        while self._current < len(self._finished) and self._finished[self._current]:
            self._current += 1
            self._release(self._current)

    def close_after(self, position: int) -> None:
        """Everything held up to and including `position`'s, in order; nothing after."""
        while self._current <= position:
            self._release(self._current)
            self._current += 1
        self._closed = True

    def _release(self, position: int) -> None:
        if position < len(self._buffers):
            held, self._buffers[position] = self._buffers[position], []
            for message in held:
                self._emit(message)


async def run_jobs(jobs: Sequence[Job[T]], emit: Emit) -> list[T]:
    """Runs the jobs, each as soon as those it needs are done; their results in order."""
    for position, job in enumerate(jobs):
        if any(not 0 <= needed < position for needed in job.after):
            raise ValueError(f"job {position} needs a job that does not come before it")
    output = OrderedOutput(len(jobs), emit)
    done = [asyncio.Event() for _ in jobs]
    failures: list[tuple[int, BaseException]] = []  # in the order they happened

    async def one(position: int) -> T:
        job = jobs[position]
        for needed in sorted(job.after):
            await done[needed].wait()
        try:
            result = await job.run(output.emitter(position))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            failures.append((position, exc))
            raise
        output.finish(position)
        done[position].set()
        return result

    tasks = [asyncio.create_task(one(position)) for position in range(len(jobs))]
    if not tasks:
        return []
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        # On a failure, or when the build itself is cancelled: the others stop, and are
        # waited for, so that their containers are gone when the build ends.
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
        for task in tasks:
            if not task.cancelled():
                task.exception()  # retrieved: raised below, not logged as lost
    if failures:
        position, exc = failures[0]
        output.close_after(position)
        raise exc
    return [task.result() for task in tasks]
