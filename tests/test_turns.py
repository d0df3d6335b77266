"""Turns on the database writer: in order, urgent ones first, nothing lost to cancellation."""

from __future__ import annotations

import asyncio

import pytest

from bot.store.turns import Turns


async def test_urgent_turns_go_before_waiting_ones_and_each_kind_keeps_its_order() -> None:
    turns, order = Turns(), []
    release = asyncio.Event()

    async def holder() -> None:
        async with turns.turn():
            await release.wait()

    async def take(name: str, urgent: bool) -> None:
        async with turns.turn(urgent):
            order.append(name)

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiting = [
        asyncio.create_task(take(name, urgent))
        for name, urgent in (
            ("a", False),
            ("b", False),
            ("exit", True),
            ("c", False),
            ("danger", True),
        )
    ]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, *waiting)
    assert order == ["exit", "danger", "a", "b", "c"]
    assert not turns.held


async def test_a_cancelled_waiter_never_keeps_the_turn() -> None:
    turns = Turns()
    release = asyncio.Event()

    async def holder() -> None:
        async with turns.turn():
            await release.wait()

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiting = asyncio.create_task(turns.turn().__aenter__())
    await asyncio.sleep(0)
    waiting.cancel()
    release.set()  # the turn is handed on as the waiter is cancelled
    await first
    with pytest.raises(asyncio.CancelledError):
        await waiting
    async with turns.turn(urgent=True):  # free again
        assert turns.held
    assert not turns.held


async def test_a_waiter_cancelled_and_passed_over_before_it_runs_leaves_cleanly() -> None:
    """Cancelled, then a release passes over its (cancelled) place before the cancellation
    reaches it: it must end cancelled, not with another error, and the turn go on."""
    turns = Turns()
    release = asyncio.Event()

    async def holder() -> None:
        async with turns.turn():
            await release.wait()

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiting = asyncio.create_task(turns.turn().__aenter__())
    after = asyncio.create_task(turns.turn().__aenter__())
    await asyncio.sleep(0)
    release.set()  # the holder will release first ...
    waiting.cancel()  # ... passing over this place, cancelled meanwhile, to `after`
    await first
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await after
    assert turns.held


async def test_with_several_places_that_many_hold_at_once_and_the_rest_wait_urgent_first() -> None:
    turns, order = Turns(places=2), []
    release = asyncio.Event()
    inside = 0
    most = 0

    async def holder() -> None:
        nonlocal inside, most
        async with turns.turn():
            inside += 1
            most = max(most, inside)
            await release.wait()
            inside -= 1

    async def take(name: str, urgent: bool) -> None:
        async with turns.turn(urgent):
            order.append(name)

    holders = [asyncio.create_task(holder()) for _ in range(2)]
    await asyncio.sleep(0)
    assert most == 2  # both places taken at once
    waiting = [asyncio.create_task(take(n, u)) for n, u in (("a", False), ("exit", True))]
    await asyncio.sleep(0)
    assert order == []  # no third place
    release.set()
    await asyncio.gather(*holders, *waiting)
    assert order == ["exit", "a"]
    assert not turns.held


def test_turns_need_a_place() -> None:
    with pytest.raises(ValueError, match="at least one place"):
        Turns(places=0)
