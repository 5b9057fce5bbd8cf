"""The pool gate: one permit per pooled connection, handed out first come, first served.

Driven on an event loop step by step (no timing): each reader says when it holds its
permit, and holds it until told to let go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from notes_api.database import PoolGate, create_app_engine, pool_gate


class Readers:
    """Readers through one gate; `admitted` is the order in which they got a permit."""

    def __init__(self, gate: PoolGate) -> None:
        self.gate = gate
        self.admitted: list[str] = []
        self.done: dict[str, asyncio.Event] = {}

    def has_admitted(self, name: str) -> Callable[[], bool]:
        return lambda: name in self.admitted

    def start(self, name: str) -> asyncio.Task[None]:
        self.done[name] = asyncio.Event()
        return asyncio.create_task(self._read(name))

    async def _read(self, name: str) -> None:
        async with self.gate.admit():
            self.admitted.append(name)
            await self.done[name].wait()


async def until(condition: Callable[[], bool]) -> None:
    """Let the other tasks run until `condition` holds (a bounded number of loop turns)."""
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def test_a_released_permit_goes_to_the_longest_waiter_not_to_a_newcomer() -> None:
    readers = Readers(PoolGate(1))

    async def scenario() -> None:
        first = readers.start("first")
        await until(lambda: readers.admitted == ["first"])
        queued = [readers.start("second"), readers.start("third")]
        await until(lambda: readers.gate.waiting == 2)

        readers.done["first"].set()
        newcomer = readers.start("newcomer")  # arrives just as the permit comes back
        for name in ("second", "third", "newcomer"):
            await until(readers.has_admitted(name))
            readers.done[name].set()
        await asyncio.gather(first, *queued, newcomer)

    run(scenario)

    assert readers.admitted == ["first", "second", "third", "newcomer"]
    assert readers.gate.waiting == 0


def test_no_more_readers_are_admitted_at_once_than_there_are_permits() -> None:
    readers = Readers(PoolGate(2))

    async def scenario() -> None:
        tasks = [readers.start(name) for name in ("a", "b", "c")]
        await until(lambda: readers.gate.waiting == 1)
        assert readers.admitted == ["a", "b"]
        readers.done["a"].set()
        await until(lambda: readers.admitted == ["a", "b", "c"])
        for event in readers.done.values():
            event.set()
        await asyncio.gather(*tasks)

    run(scenario)


def test_a_reader_cancelled_while_waiting_leaves_no_count_and_takes_no_permit() -> None:
    readers = Readers(PoolGate(1))

    async def scenario() -> None:
        holder = readers.start("holder")
        await until(lambda: readers.admitted == ["holder"])
        cancelled = readers.start("cancelled")  # a client that went away while queued
        await until(lambda: readers.gate.waiting == 1)
        cancelled.cancel()
        await until(cancelled.done)
        assert readers.gate.waiting == 0

        readers.done["holder"].set()
        await holder
        later = readers.start("later")
        await until(readers.has_admitted("later"))
        readers.done["later"].set()
        await later

    run(scenario)

    assert readers.admitted == ["holder", "later"]


def test_the_gate_serves_one_event_loop_after_another() -> None:
    """Tests (and a restarted lifespan) run the app on a new loop: the gate follows."""
    gate = PoolGate(1)
    for _ in range(2):
        readers = Readers(gate)

        async def scenario(readers: Readers = readers) -> None:
            tasks = [readers.start("a"), readers.start("b")]
            await until(lambda: readers.gate.waiting == 1)
            readers.done["a"].set()
            await until(lambda: readers.admitted == ["a", "b"])
            readers.done["b"].set()
            await asyncio.gather(*tasks)

        run(scenario)
        assert readers.admitted == ["a", "b"]


def test_postgresql_gets_one_permit_per_pooled_connection_and_sqlite_none() -> None:
    postgresql = create_app_engine("postgresql://nobody@127.0.0.1:1/notes", pool_size=7)
    sqlite = create_app_engine("sqlite:///unused.db")
    try:
        assert pool_gate(postgresql).permits == 7
        assert pool_gate(sqlite).permits is None
    finally:
        asyncio.run(postgresql.dispose())
        asyncio.run(sqlite.dispose())
