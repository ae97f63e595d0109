"""Stages at once: which stages wait for which (plan.dependencies), and the scheduler's
order of messages, its start of a job once those it needs are done, and its failures."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from ketch.build import instructions as ins
from ketch.build import plan, schedule
from ketch.build.executor import _to_the_end
from ketch.build.messages import Emit, Message

AT = ins.Location("Dockerfile", 1, 1)

# -- plan.dependencies -----------------------------------------------------------------


def run(text: str, *mounts: str) -> ins.Run:
    return ins.Run(keyword="RUN", original=f"RUN {text}", location=AT,
                   command=ins.Command((text,), shell_form=True), mounts=mounts)  # fmt: skip


def copy_from(name: str) -> ins.Copy:
    return ins.Copy(keyword="COPY", original=f"COPY --from={name} /x /", location=AT,
                    sources=("/x",), dest="/", from_=name)  # fmt: skip


def dockerfile(*stages: tuple[str, str | None, tuple[ins.Instruction, ...]]) -> ins.Dockerfile:
    return ins.Dockerfile(meta_args=(), stages=tuple(
        ins.Stage(i, ins.From(keyword="FROM", original=f"FROM {image}", location=AT,
                              image=image, name=name), steps)
        for i, (image, name, steps) in enumerate(stages)
    ))  # fmt: skip


def needs(file: ins.Dockerfile, target: str | None = None, **meta: str) -> list[set[int]]:
    def expand(word: str) -> str:
        return meta.get(word.removeprefix("$"), word) if word.startswith("$") else word

    stages = plan.stages_to_build(file, target, expand)
    return [set(found) for found in plan.dependencies(file, stages, expand)]


def test_stages_wait_for_the_stages_they_name_and_no_other() -> None:
    file = dockerfile(
        ("busybox", "a", (run("make a"),)),
        ("alpine", "b", (run("make b"),)),
        ("a", "c", (run("make c"),)),  # FROM a stage
        ("busybox", None, (run("x"), copy_from("b"), copy_from("0"))),  # by name and index
        ("busybox", "e", (run("y", "type=bind,from=c,target=/c"),)),  # RUN --mount from=
        ("busybox", "f", (run("z"), copy_from("alpine"))),  # an image, not a stage
    )
    assert needs(file) == [set(), set(), {0}, {0, 1}, {2}, set()]


def test_a_name_with_a_variable_waits_for_every_earlier_stage() -> None:
    file = dockerfile(
        ("busybox", "a", (run("a"),)),
        ("busybox", "b", (run("b"),)),
        ("busybox", "c", (ins.Arg(keyword="ARG", original="ARG S=a", location=AT, name="S",
                                  default="a"), copy_from("$S"))),  # fmt: skip
        ("busybox", "d", (run("d", "type=bind,from=${S},target=/s"),)),
        ("$BASE", "e", (run("e"),)),  # FROM: meta ARGs only, known before any stage
    )
    assert needs(file, BASE="b") == [set(), set(), {0, 1}, {0, 1, 2}, {1}]


def test_a_stage_that_starts_as_an_earlier_one_waits_for_it() -> None:
    # Built one after the other, the second's first step is the first's, from the cache.
    file = dockerfile(
        ("busybox", "a", (run("apk add make"), run("make a"))),
        ("busybox", "b", (run("apk add make"), run("make b"))),
        ("alpine", "c", (run("apk add make"),)),  # another base
        ("busybox", "d", (run("make d"),)),  # another first step
        ("busybox", "e", ()),
        ("busybox", "f", ()),
    )
    assert needs(file) == [set(), {0}, set(), set(), set(), set()]


def test_positions_count_only_the_stages_built() -> None:
    file = dockerfile(
        ("busybox", "skipped", (run("s"),)),
        ("busybox", "a", (run("a"),)),
        ("busybox", "b", (run("b"),)),
        ("busybox", "t", (copy_from("b"), copy_from("a"))),
    )
    assert needs(file, target="t") == [set(), set(), {0, 1}]


# -- the scheduler, on jobs that wait for what the test says ------------------------------


class Script:
    """Jobs that emit and wait on the test's word; what happened, in order."""

    def __init__(self) -> None:
        self.out: list[Message] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.log: list[str] = []

    def gate(self, name: str) -> asyncio.Event:
        return self.gates.setdefault(name, asyncio.Event())

    def job(self, name: str, *plan: Any, after: tuple[int, ...] = ()) -> schedule.Job[str]:
        """`plan`: a str is a message; ("wait", gate); ("fail", exc)."""

        async def body(emit: Emit) -> str:
            self.log.append(f"{name} started")
            try:
                for item in plan:
                    if isinstance(item, str):
                        emit({"stream": item})
                    elif item[0] == "wait":
                        await self.gate(item[1]).wait()
                    else:
                        raise item[1]
            except asyncio.CancelledError:
                await asyncio.sleep(0)  # a cleanup that itself awaits, as a container's removal
                self.log.append(f"{name} cancelled")
                raise
            self.log.append(f"{name} done")
            return name

        return schedule.Job(frozenset(after), body)

    def emitted(self) -> list[str]:
        return [m["stream"] for m in self.out]


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def test_later_stages_run_ahead_but_their_messages_wait_their_turn() -> None:
    async def scenario() -> None:
        s = Script()
        jobs = [
            s.job("a", "a1", ("wait", "a"), "a2"),
            s.job("b", "b1", ("wait", "b"), "b2", ("wait", "b-end"), "b3"),
            s.job("c", "c1", "c2"),
        ]
        running = asyncio.create_task(schedule.run_jobs(jobs, s.out.append))
        await settle()
        # All three run at once; c is done already; only a (the earliest) is heard.
        assert s.log == ["a started", "b started", "c started", "c done"]
        assert s.emitted() == ["a1"]
        s.gate("b").set()
        await settle()
        assert s.emitted() == ["a1"]
        s.gate("a").set()
        await settle()
        # a done: b's held messages come out, then b is live; c's wait for b.
        assert s.emitted() == ["a1", "a2", "b1", "b2"]
        s.gate("b-end").set()
        assert await running == ["a", "b", "c"]
        assert s.emitted() == ["a1", "a2", "b1", "b2", "b3", "c1", "c2"]

    asyncio.run(scenario())


def test_a_stage_starts_once_the_stages_it_needs_are_done() -> None:
    async def scenario() -> None:
        s = Script()
        jobs = [
            s.job("a", "a1", ("wait", "a")),
            s.job("b", "b1", ("wait", "b")),
            s.job("c", "c1", after=(1,)),
            s.job("d", "d1", after=(0, 2)),
        ]
        running = asyncio.create_task(schedule.run_jobs(jobs, s.out.append))
        await settle()
        assert s.log == ["a started", "b started"]
        s.gate("b").set()
        await settle()
        assert s.log == ["a started", "b started", "b done", "c started", "c done"]
        s.gate("a").set()
        assert await running == ["a", "b", "c", "d"]
        assert s.log[-2:] == ["d started", "d done"]
        assert s.emitted() == ["a1", "b1", "c1", "d1"]

    asyncio.run(scenario())


def test_a_failure_cancels_the_others_and_is_last_after_the_earlier_messages() -> None:
    async def scenario() -> None:
        s = Script()
        boom = RuntimeError("step 4 failed")
        jobs = [
            s.job("a", "a1", ("wait", "never")),
            s.job("b", "b1", "b2"),
            s.job("c", "c1", ("wait", "c"), ("fail", boom)),
            s.job("d", "d1", ("wait", "never")),
            s.job("e", "e1", after=(2,)),
        ]
        running = asyncio.create_task(schedule.run_jobs(jobs, s.out.append))
        await settle()
        assert s.emitted() == ["a1"]
        s.gate("c").set()
        with pytest.raises(RuntimeError) as raised:
            await running
        assert raised.value is boom
        # The others were cancelled and had finished their cleanup before the raise; the
        # one that waited for the failed stage never started.
        assert sorted(x for x in s.log if x.endswith("cancelled")) == ["a cancelled",
                                                                        "d cancelled"]
        assert "e started" not in s.log
        # Earlier stages' messages, then the failing stage's; none of a later one.
        assert s.emitted() == ["a1", "b1", "b2", "c1"]

    asyncio.run(scenario())


def test_a_cancelled_build_cancels_every_stage_and_waits_for_them() -> None:
    async def scenario() -> None:
        s = Script()
        jobs = [s.job("a", "a1", ("wait", "never")), s.job("b", "b1", ("wait", "never"))]
        running = asyncio.create_task(schedule.run_jobs(jobs, s.out.append))
        await settle()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert sorted(s.log) == ["a cancelled", "a started", "b cancelled", "b started"]

    asyncio.run(scenario())


def test_a_job_may_only_need_an_earlier_one() -> None:
    async def scenario() -> None:
        s = Script()
        assert await schedule.run_jobs([], s.out.append) == []
        with pytest.raises(ValueError, match="job 0 needs a job that does not come before it"):
            await schedule.run_jobs([s.job("a", after=(0,))], s.out.append)
        assert s.log == []

    asyncio.run(scenario())


def test_a_cancelled_stage_waits_for_its_thread_before_cleaning_up() -> None:
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def copy() -> None:
        started.set()
        release.wait(10)
        finished.set()

    async def scenario() -> None:
        task = asyncio.create_task(_to_the_end(copy))
        while not started.is_set():
            await asyncio.sleep(0.001)
        task.cancel()
        await asyncio.sleep(0.05)
        assert not task.done()  # still waiting for the thread, whose files are in use
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert finished.is_set()
        assert await _to_the_end(sum, [1, 2]) == 3

    asyncio.run(scenario())
