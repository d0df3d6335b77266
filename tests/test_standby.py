"""Hot standby with long polling (issue 21): instances of one bot on one PostgreSQL, one polling
at a time (`bot/leader.py`, `serve_polling_in_turn` in `bot/channels/telegram/app.py`).

First the lead itself, in this process against the local server; then the bot as it serves in
turn, in this process; then two and three real `python -m bot run` processes against the fake
Bot API, killed with SIGKILL in the middle of conversations and of quick exits. The takeover
(from the kill to the new leader's first getUpdates) is measured from the fake's own record of
when each request arrived, and held to the target: under 10 s.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bot.channels.telegram.app import build_application, serve_polling_in_turn
from bot.channels.telegram.handlers import TelegramChannel, chat_key
from bot.engine.model import Tracked
from bot.leader import Leadership, State, Timing, polling_lock
from bot.store.postgres import PostgresStore
from tests.conftest import Database
from tests.fakebot import TOKEN, FakeBotApi
from tests.fakebot.server import RequestRecord
from tests.standby_support import (
    STANDING_BY,
    Blackhole,
    Instance,
    Person,
    conflicts,
    first_poll_after,
    holder,
    instances,
    leader,
    polled_after,
    polling_lock_key,
    rows,
)
from tests.telegram_support import CHAT, PATIENCE, settings_for
from tests.test_postgres_store import address

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)

# Quick turns, so the tests of the lead itself take a fraction of a second.
QUICK = Timing(retry=0.05, check=0.05, answer=0.5)
RecordProperty = Callable[[str, object], None]  # pytest's record_property fixture
TAKEOVER_TARGET = 10.0  # seconds from a leader's death to the next one's first getUpdates
OTHER_CHAT = 434343


@contextlib.asynccontextmanager
async def leaderships(
    conninfo: str, *names: str, timing: Timing = QUICK
) -> AsyncIterator[list[Leadership]]:
    made = [Leadership(conninfo, name, timing) for name in names]
    try:
        yield made
    finally:
        for leadership in made:
            await leadership.release()


async def until(leadership: Leadership, *states: State) -> None:
    async with asyncio.timeout(PATIENCE):
        await leadership.wait_until(lambda: leadership.state in states)


async def terminate(conninfo: str, pid: int) -> None:
    """End a server process, as an administrator (or a failing server) would."""
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


# -- the lead ---------------------------------------------------------------------------------


async def test_one_instance_leads_and_another_takes_over_when_it_lets_go(
    database: Database,
) -> None:
    name = polling_lock(TOKEN)
    async with leaderships(database.location, name, name) as (first, second):
        await first.acquire()
        taking_over = asyncio.create_task(second.acquire())
        await until(second, State.STANDING_BY)
        assert first.leading and not second.leading and not taking_over.done()
        assert first.healthy and second.healthy  # both ready: one polls, one can take over
        await first.release()
        async with asyncio.timeout(PATIENCE):
            await taking_over
        assert second.leading and second.terms == 1
        assert await holder(database.location) is not None


async def test_two_bots_on_one_database_each_lead(database: Database) -> None:
    other_token = "987654321:ZZHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
    assert polling_lock(other_token) != polling_lock(TOKEN)
    # The lock names the bot by its id alone: the secret part of the token is in no name.
    assert "ZZHdq" not in polling_lock(other_token)
    async with leaderships(
        database.location, polling_lock(TOKEN), polling_lock(other_token)
    ) as pair:
        async with asyncio.timeout(PATIENCE):
            await asyncio.gather(*(leadership.acquire() for leadership in pair))
        assert all(leadership.leading for leadership in pair)


async def test_a_leader_whose_connection_fails_stops_leading_and_another_takes_over(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    name = polling_lock(TOKEN)
    async with leaderships(database.location, name, name) as (first, second):
        await first.acquire()
        taking_over = asyncio.create_task(second.acquire())
        await until(second, State.STANDING_BY)
        losing = asyncio.create_task(first.lost())
        pid = await holder(database.location)
        assert pid is not None
        await terminate(database.location, pid)
        async with asyncio.timeout(PATIENCE):
            await losing
            await taking_over
        assert not first.leading and second.leading
        # Trying again, the first finds the lead taken and stands by.
        coming_back = asyncio.create_task(first.acquire())
        await until(first, State.STANDING_BY)
        coming_back.cancel()
    said = [r.getMessage() for r in caplog.records if r.name == "bot.leader"]
    assert said.count("leading: this instance polls Telegram") == 2
    assert said.count("lost the lead: its database connection failed; polling stops") == 1
    # One line for each change, never an address (the test server's is 127.0.0.1).
    assert not any("127.0.0.1" in line or "5432" in line for line in said)


async def test_a_leader_cut_off_stops_leading_before_the_server_lets_another_lead(
    database: Database,
) -> None:
    """A leader whose network goes silent (no error, no answer) stops leading within
    `check + answer` seconds, while PostgreSQL still counts its session as alive and holds the
    lock for it: at no moment do two instances lead. Once the server drops the silent session
    (its keepalives give up), the other leads."""
    params = conninfo_to_dict(database.location)
    blackhole = Blackhole(str(params.get("host", "127.0.0.1")), int(str(params.get("port", 5432))))
    through_it = make_conninfo(database.location, port=str(await blackhole.start()))
    name = polling_lock(TOKEN)
    first = Leadership(through_it, name, QUICK)
    try:
        async with leaderships(database.location, name) as (second,):
            await first.acquire()
            taking_over = asyncio.create_task(second.acquire())
            await until(second, State.STANDING_BY)
            losing = asyncio.create_task(first.lost())
            blackhole.cut()
            async with asyncio.timeout(PATIENCE):
                await losing
            assert not first.leading and not first.healthy
            assert await holder(database.location) is not None  # still held for the silent one
            assert not second.leading and not taking_over.done()
            await blackhole.close()  # the server drops the session at last
            async with asyncio.timeout(PATIENCE):
                await taking_over
            assert second.leading
    finally:
        await first.release()
        await blackhole.close()


async def test_the_lock_connection_keeps_tcp_alive_on_both_sides(database: Database) -> None:
    async with leaderships(database.location, polling_lock(TOKEN)) as (leadership,):
        await leadership.acquire()
        settings = conninfo_to_dict(leadership.conninfo)
        assert settings["keepalives"] == "1" and settings["keepalives_idle"] == "4"
        pid = await holder(database.location)
        async with await psycopg.AsyncConnection.connect(
            database.location, autocommit=True
        ) as conn:
            cursor = await conn.execute(
                "SELECT application_name FROM pg_stat_activity WHERE pid = %s", (pid,)
            )
            assert await cursor.fetchone() == ("pathways-leader",)


# -- the bot, serving in turn, in this process ------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeBotApi]:
    with FakeBotApi() as server:
        yield server
    assert server.refused == [], [r.summary() for r in server.refused]


async def test_an_instance_that_loses_the_lead_stands_by_and_serves_again_when_it_leads(
    database: Database, fake: FakeBotApi, tmp_path: Path
) -> None:
    """Lead lost (its lock connection ended), then held elsewhere for a while: polling stops,
    the instance stands by; when it leads again it polls again, schedules its jobs once more
    (not twice), and sweeps at once: a wipe left pending meanwhile is carried out."""
    settings = settings_for(fake, tmp_path, database_url=address(database))
    leadership = Leadership(address(database), polling_lock(TOKEN), QUICK)
    channels: list[TelegramChannel] = []
    app = build_application(settings, on_channel=channels.append, schedule=False)
    stop = asyncio.Event()
    serving = asyncio.create_task(
        serve_polling_in_turn(app, channels[0], settings, leadership, stop)
    )
    person = Person(fake, CHAT)
    try:
        await until(leadership, State.LEADING)
        await asyncio.to_thread(person.say, "/start")
        shown = [Tracked(m.message_id, m.date) for m in fake.chat(CHAT)]
        # Another instance takes the lead the moment this one's lock connection ends.
        key = await polling_lock_key(database.location)
        pid = await holder(database.location)
        async with await psycopg.AsyncConnection.connect(
            database.location, autocommit=True
        ) as other:
            await other.execute("SELECT pg_terminate_backend(%s), pg_advisory_lock(%s)", (pid, key))
            await until(leadership, State.STANDING_BY)
            assert not app.running and app.updater is not None and not app.updater.running
            # Meanwhile a quick exit left a wipe pending, as a leader killed mid-exit would.
            store = await PostgresStore.open(database.location)
            async with store.transaction() as tx:
                await tx.delete_session(chat_key(CHAT))
                await tx.add_wipe(chat_key(CHAT), shown, datetime.now(UTC))
            await store.close()
        # The other instance is gone: this one leads again, and clears the chat at once.
        async with asyncio.timeout(PATIENCE):
            await leadership.wait_until(lambda: leadership.terms == 2 and leadership.leading)
        await fake.until(lambda f: f.chat(CHAT) == [], PATIENCE)
        names = sorted(job.name or "" for job in app.job_queue.jobs()) if app.job_queue else []
        assert names.count("sweep_job") == 1 and names.count("reminder_job") == 1
        # Polled again. The reply waits for the chat's turn, which the wipe holds until done.
        await asyncio.to_thread(person.say, "/start")
        assert "are you in danger right now?" in person.text()
        assert rows(database.location, "pending_wipes") == 0
    finally:
        stop.set()
        fake.let_go()
        async with asyncio.timeout(PATIENCE):
            await serving
    assert leadership.state is State.RELEASED
    assert await holder(database.location) is None


# -- real processes, killed -------------------------------------------------------------------


def walk_a_little(person: Person) -> None:
    person.say("/start")
    person.tap("No, not right now")
    person.tap("Me")


def assert_unique(sent: list[str]) -> None:
    """Each step of a walk that never goes back is shown once: a text sent or shown twice is
    an update handled twice (by two pollers, or by a new leader after the old one)."""
    assert len(sent) == len(set(sent)), sent


def assert_nothing_sent_twice(*people: Person) -> None:
    for person in people:
        assert_unique(person.sent_to())


def deletions_after(fake: FakeBotApi, moment: float) -> list[RequestRecord]:
    """Deletions in Alice's chat asked for after `moment`, in order of arrival."""
    found = [
        r
        for r in fake.requests
        if r.method in ("deleteMessages", "deleteMessage")
        and r.params.get("chat_id") == CHAT
        and r.time > moment
    ]
    return sorted(found, key=lambda r: r.time)


def assert_takeover(fake: FakeBotApi, killed_at: float) -> float:
    """The next leader's first getUpdates came within the target; how long it took."""
    fake.wait_for(polled_after(killed_at), PATIENCE)
    took = first_poll_after(fake, killed_at).time - killed_at
    assert took < TAKEOVER_TARGET, f"the takeover took {took:.2f} s"
    return took


def test_two_instances_one_polls_and_a_leader_killed_mid_conversation_is_replaced(
    database: Database, fake: FakeBotApi, record_property: RecordProperty
) -> None:
    """Killed while a reply's answer was on its way back: the other instance takes over, and
    both people carry on from the step they had reached; nothing is sent twice."""
    url = address(database)
    alice, bob = Person(fake, CHAT), Person(fake, OTHER_CHAT)
    with instances(fake, url, 2) as (first, second):
        walk_a_little(alice)
        walk_a_little(bob)
        assert first.leading and not second.leading
        assert conflicts(fake) == 0  # only one instance ever polled
        # Alice taps; her step is shown, but the answer is held: the leader is mid-reply.
        fake.hold("editMessageText")
        alice.press("Yes, I can talk")
        fake.wait_for(lambda f: f.held == 1 and not f.pending_updates, PATIENCE)
        killed_at = first.kill()
        bob.tap("Yes, I can talk")  # answered by the next leader
        took = assert_takeover(fake, killed_at)
        assert second.leading
        # Both carry on from the step each had reached.
        for person in (alice, bob):
            person.tap("Skip the questions")
            person.tap("Someone to talk to")
        assert alice.showing() is not None and bob.showing() is not None
        assert alice.text() == bob.text()
        assert conflicts(fake) <= 1  # at most the dead leader's last call, ended by the next
        assert second.stop() == 0
    record_property("takeover_seconds", round(took, 2))
    print(f"\ntakeover after kill -9 mid-conversation: {took:.2f} s")
    assert_nothing_sent_twice(alice, bob)
    assert str(CHAT) not in second.log and TOKEN not in second.log


@pytest.mark.parametrize("held", ["answerCallbackQuery", "deleteMessages"])
def test_a_quick_exit_cut_short_by_a_kill_is_finished_by_the_next_leader(
    database: Database, fake: FakeBotApi, held: str, record_property: RecordProperty
) -> None:
    """The leader is killed once the quick exit is recorded: before it deleted anything (its
    answer to the tap held), or once Telegram deleted the messages but before the answer came
    back. The next leader carries the wipe out: the chat ends empty, no wipe is left, and the
    other conversation carries on.

    The dying leader had claimed the wipe (`bot/sweeper.py`), so the next one's sweep takes it
    up once that claim runs out: two sweeps, and at least 10 s. Sweeping every 5 s here, the
    wipe is done within about 15 s of the kill."""
    url = address(database)
    alice, bob = Person(fake, CHAT), Person(fake, OTHER_CHAT)
    with instances(fake, url, 2, sweep_seconds=5) as (first, second):
        walk_a_little(alice)
        walk_a_little(bob)
        fake.hold(held)
        alice.press("Quick exit")
        fake.wait_for(lambda f: f.held == 1 and not f.pending_updates, PATIENCE)
        assert rows(url, "pending_wipes") == 1  # recorded, not yet marked done
        killed_at = first.kill()
        bob.tap("Yes, I can talk")  # answered by the next leader
        took = assert_takeover(fake, killed_at)
        assert leader([first, second]) is second
        # The next leader deletes the messages (again, if Telegram had deleted them already).
        fake.wait_for(lambda f: bool(deletions_after(f, killed_at)), PATIENCE)
        wiped_after = deletions_after(fake, killed_at)[0].time - killed_at
        fake.wait_for(lambda f: f.chat(CHAT) == [], PATIENCE)
        before_coming_back = alice.sent_to()
        # Alice comes back: her reply waits for her chat's turn, which the wipe holds until it
        # is marked done.
        alice.say("/start")
        assert len(alice.sent_to()) == len(before_coming_back) + 1
        assert rows(url, "pending_wipes") == 0
        assert rows(url, "sessions") == 2  # Alice's new conversation, and Bob's
        bob.tap("Skip the questions")
        assert conflicts(fake) <= 1
        assert second.stop() == 0
    record_property("takeover_seconds", round(took, 2))
    record_property("wipe_seconds", round(wiped_after, 2))
    print(
        f"\nkill -9 during a quick exit ({held} held): first getUpdates after {took:.2f} s, "
        f"the wipe carried out after {wiped_after:.2f} s"
    )
    # No farewell from the dead leader, and none from the next: the exit is not done twice.
    assert not any("has been cleared" in text for text in alice.sent_to())
    assert_unique(before_coming_back)
    assert_nothing_sent_twice(bob)


def test_standbys_killed_or_stopped_change_nothing_and_a_stopped_leader_hands_over(
    database: Database, fake: FakeBotApi
) -> None:
    """Standing by, an instance is healthy (its health check says ok, so a load balancer keeps
    sending it web chats), and killing or stopping it changes nothing. A leader stopped as
    systemd stops it (an upgrade, one instance at a time) finishes, gives the lead back, and
    the next takes over at once."""
    alice = Person(fake, CHAT)
    with instances(fake, address(database), 3) as (first, second, third):
        alice.say("/start")
        assert [i.health() for i in (first, second, third)] == [(200, "ok")] * 3
        third.kill()
        assert second.stop() == 0
        alice.tap("No, not right now")
        assert conflicts(fake) == 0
        assert first.said("leading") == 1 and first.leading
        third = Instance("instance 4", fake, address(database), first.changed)
        third.wait_until_said(STANDING_BY)
        assert first.stop() == 0
        alice.tap("Me")  # answered by the next leader
        assert leader([first, second, third]) is third
        alice.tap("Yes, I can talk")
        assert third.stop() == 0
    assert_nothing_sent_twice(alice)


def test_three_instances_carry_every_conversation_through_two_leaders_killed(
    database: Database, fake: FakeBotApi, record_property: RecordProperty
) -> None:
    alice, bob = Person(fake, CHAT), Person(fake, OTHER_CHAT)
    took: list[float] = []
    with instances(fake, address(database), 3) as trio:
        walk_a_little(alice)
        walk_a_little(bob)
        for tap in ("Yes, I can talk", "Skip the questions"):
            killed_at = leader(trio).kill()
            alice.tap(tap)  # answered by the next leader
            took.append(assert_takeover(fake, killed_at))
            leader(trio)  # one, and only one, of those left
            bob.tap(tap)
        for person in (alice, bob):
            person.tap("Someone to talk to")
        assert alice.text() == bob.text()
        (last,) = [i for i in trio if i.process.poll() is None]
        assert conflicts(fake) <= 2
        assert last.said("leading") == 1 and last.stop() == 0
    record_property("takeover_seconds", [round(t, 2) for t in took])
    print(f"\ntakeovers with three instances: {', '.join(f'{t:.2f} s' for t in took)}")
    assert_nothing_sent_twice(alice, bob)
