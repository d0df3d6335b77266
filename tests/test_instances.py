"""Several instances of the bot on one PostgreSQL database, in webhook mode behind one address
(issue 21): any instance may be given any update.

First the store as two or three instances use it at once, in this process against the local
server: one chat's units of work take turns across instances and other chats never wait, an
update given to two instances is stepped once, sweeps claim different work without waiting,
and figures counted in any order never deadlock. Then two and three real `python -m bot run`
processes against the fake Bot API (tests/instances_support.py), updates handed round robin as
nginx's `upstream` would (deploy/nginx-pathways-instances.conf): one of them killed with SIGKILL
in the middle of a reply and in the middle of a quick exit's wipe, updates given to two at once
and one chat's updates to three in turn, a directory edit made through one and seen on the
others, and one stopped as systemd stops it while the others carry on.

Nothing waits for a time: each wait is for a condition (the fake's record, a process, a row),
bounded by PATIENCE only so that a broken test fails instead of hanging. The one wait that
takes long is the lease of a wipe claimed by a killed instance (10 s with a sweep every second,
`bot.conversation.wipe_lease`), in the quick-exit tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import psycopg
import pytest

from bot.app import Parts
from bot.channels.telegram.handlers import chat_key
from bot.conversation import AlreadyHandled, Conversations, london_day
from bot.engine.model import Event, Session, Tracked
from bot.store.interface import Transaction
from bot.store.postgres import PostgresStore
from bot.store.transaction import SqlTransaction
from bot.sweeper import Sweeper
from tests.conftest import Database, FakeClock
from tests.fakebot import FakeBotApi
from tests.instances_support import (
    MESSAGE_TWICE,
    TAP_TWICE,
    WEBHOOK_URL,
    Balancer,
    Gate,
    Instance,
    Person,
    assert_nothing_sent_twice,
    deletions,
    gate,
    instances,
    query_id,
    until,
)
from tests.standby_support import rows
from tests.telegram_support import CHAT, PATIENCE
from tests.test_postgres_store import address

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
LEASE = timedelta(minutes=1)


@pytest.fixture
async def stores(database: Database) -> AsyncIterator[list[PostgresStore]]:
    """Three instances' stores on the test's schema."""
    opened: list[PostgresStore] = []
    for _ in range(3):
        store = await database.open()
        assert isinstance(store, PostgresStore)
        opened.append(store)
    yield opened
    for store in opened:
        await store.close()


async def backend(tx: Transaction) -> int:
    """The server process running this unit of work."""
    assert isinstance(tx, SqlTransaction)
    ((pid,),) = await tx.db.fetch("SELECT pg_backend_pid()")
    return int(pid)


async def blocked_by(database: Database, pid: int) -> None:
    """Wait until some unit of work waits for the one on server process `pid`."""
    with psycopg.connect(database.location, autocommit=True) as conn:

        def waiting() -> bool:
            found = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                (pid,),
            ).fetchone()
            return bool(found and found[0])

        await until(waiting, f"nothing waits for server process {pid}")


def session(key: str) -> Session:
    return Session(chat_key=key, state="opening.start", locale="en")


# -- the store, shared ----------------------------------------------------------------------------


async def test_one_chats_units_of_work_take_turns_across_instances_and_other_chats_do_not_wait(
    database: Database, stores: list[PostgresStore]
) -> None:
    first, second, third = stores
    release = asyncio.Event()
    holding: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def step_on_first() -> None:
        async with first.transaction() as tx:
            await tx.lock_chat("tg:1")
            await tx.save_session(Session("tg:1", "victim.start", "en"), NOW)
            holding.set_result(await backend(tx))
            await release.wait()

    async def step_on_second() -> str | None:
        async with second.transaction() as tx:
            await tx.lock_chat("tg:1")
            found = await tx.load_session("tg:1")
            return found.state if found is not None else None

    held = asyncio.create_task(step_on_first())
    first_step = await holding  # the first has the chat's turn
    waiting = asyncio.create_task(step_on_second())
    await blocked_by(database, first_step)  # the second waits for it
    async with asyncio.timeout(PATIENCE):  # while another chat's step goes ahead at once
        async with third.transaction() as tx:
            await tx.lock_chat("tg:2")
            assert not await tx.try_lock_chat("tg:1")
            await tx.save_session(session("tg:2"), NOW)
    assert not waiting.done()
    release.set()
    await held
    assert await waiting == "victim.start"  # it ran after the first, and saw its step


async def test_an_update_given_to_two_instances_at_once_is_stepped_by_one(
    stores: list[PostgresStore], parts: Parts, clock: FakeClock
) -> None:
    chats = [Conversations(parts.engine, s, clock, timedelta(minutes=15)) for s in stores[:2]]
    await chats[0].handle("tg:1", Event.start(), update_key="tg:9:1")
    await chats[1].handle("tg:1", Event.button("no", "opening.start"), update_key="tg:9:2")
    me = Event.button("me", "opening.who")
    for round_ in range(5):
        results = await asyncio.gather(
            *(chat.handle("tg:1", me, update_key="tg:9:3") for chat in chats),
            return_exceptions=True,
        )
        done = [r for r in results if not isinstance(r, BaseException)]
        assert len(done) == (1 if round_ == 0 else 0), results
        assert all(isinstance(r, AlreadyHandled) for r in results if r not in done)
    async with stores[2].read() as tx:
        stored = await tx.load_session("tg:1")
        counts = await tx.counts_between(london_day(clock()), london_day(clock()))
    assert stored is not None and stored.state == "victim.start"
    assert [(c.kind, c.value, c.count) for c in counts] == [("route", "victim", 1)]


async def test_sweeps_of_two_instances_claim_different_wipes_without_waiting(
    stores: list[PostgresStore],
) -> None:
    first, second, _ = stores
    async with first.transaction() as tx:
        ids = [await tx.add_wipe(f"tg:{n}", [Tracked(n + 1, 1)], NOW) for n in range(6)]
    async with first.transaction() as tx:
        mine = await tx.claim_wipes(NOW, NOW + LEASE, 3)
        # Claimed but not yet committed: the other instance passes them over at once.
        async with asyncio.timeout(PATIENCE), second.transaction() as other:
            theirs = await other.claim_wipes(NOW, NOW + LEASE, 10)
    assert [w.id for w in mine] == ids[:3] and [w.id for w in theirs] == ids[3:]
    async with second.transaction() as tx:
        assert await tx.claim_wipes(NOW, NOW + LEASE, 10) == []


async def test_sweeps_of_two_instances_end_different_idle_conversations(
    stores: list[PostgresStore],
) -> None:
    first, second, _ = stores
    async with first.transaction() as tx:
        for n in range(6):
            await tx.save_session(session(f"tg:{n}"), NOW - timedelta(hours=1, minutes=-n))
    cutoff = NOW - timedelta(minutes=15)
    async with first.transaction() as tx:
        mine = await tx.take_idle_sessions(cutoff, 3, "tg:")
        async with asyncio.timeout(PATIENCE), second.transaction() as other:
            theirs = await other.take_idle_sessions(cutoff, 10, "tg:")
    assert [s.chat_key for s in mine] == ["tg:0", "tg:1", "tg:2"]
    assert [s.chat_key for s in theirs] == ["tg:3", "tg:4", "tg:5"]


async def test_a_conversation_whose_step_is_under_way_elsewhere_is_not_ended_by_a_sweep(
    stores: list[PostgresStore], clock: FakeClock
) -> None:
    first, second, _ = stores
    async with first.transaction() as tx:
        for key in ("tg:busy", "tg:idle"):
            left = session(key)
            left.messages = [Tracked(1, 1)]
            await tx.save_session(left, clock() - timedelta(hours=1))
    swept: list[str] = []

    async def carry_out(pending: object) -> None:
        swept.append(getattr(pending, "chat_key", ""))

    async with first.transaction() as tx:
        await tx.lock_chat("tg:busy")  # the person's step, loaded but not yet saved
        sweeper = Sweeper(second, clock, timedelta(minutes=15), 730, lease=LEASE)
        async with asyncio.timeout(PATIENCE):
            report = await sweeper.sweep("tg:", carry_out)
        await tx.save_session(session("tg:busy"), clock())
    assert report is not None and report.ended == 1 and swept == ["tg:idle"]
    async with second.read() as tx:
        assert await tx.load_session("tg:busy") is not None


async def test_figures_counted_in_any_order_by_two_instances_never_deadlock(
    database: Database, stores: list[PostgresStore]
) -> None:
    first, second, _ = stores
    day = NOW.date()
    cards = [("service", "a"), ("service", "b")]
    holding: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    go_on = asyncio.Event()

    async def one_step() -> None:
        async with first.transaction() as tx:
            await tx.add_counts(day, cards[:1])
            holding.set_result(await backend(tx))
            await go_on.wait()
            await tx.add_counts(day, cards[1:])

    async def another_step() -> None:
        async with second.transaction() as tx:
            await tx.add_counts(day, list(reversed(cards)))

    stepping = asyncio.create_task(one_step())
    first_step = await holding  # it has counted "a", and holds that row until it commits
    other = asyncio.create_task(another_step())
    # The other step waits for "a" before it takes "b", so the first can still take "b".
    await blocked_by(database, first_step)
    go_on.set()
    async with asyncio.timeout(PATIENCE):
        await asyncio.gather(stepping, other)
    async with first.read() as tx:
        counts = await tx.counts_between(day, day)
    assert [(c.value, c.count) for c in counts] == [("a", 2), ("b", 2)]


# -- real processes, behind a load balancer -------------------------------------------------------

OTHER_CHAT = 434343
THIRD_CHAT = 444444
MANAGER = 5001  # a service manager (an owner, in PATHWAYS_OWNER_IDS)
RecordProperty = Callable[[str, object], None]  # pytest's record_property fixture
WALK = ("No, not right now", "Me")  # after /start
ON_FROM_THERE = ("Yes, I can talk", "Skip the questions", "Someone to talk to")
EXPIRED = "That button has expired. Here is where we are now."


@pytest.fixture
def fake() -> Iterator[FakeBotApi]:
    with FakeBotApi() as server:
        yield server
    assert server.refused == [], [r.summary() for r in server.refused]


@contextlib.asynccontextmanager
async def balanced(
    fake: FakeBotApi,
    database: Database,
    count: int,
    gates: Sequence[Gate | None] = (),
    extra: dict[str, str] | None = None,
) -> AsyncIterator[tuple[list[Instance], Balancer]]:
    """`count` instances on the test's schema, and the load balancer in front of them."""
    async with (
        instances(fake, address(database), count, gates, extra) as started,
        aiohttp.ClientSession() as session,
    ):
        yield started, Balancer(fake, started, session, address(database))


async def walk(person: Person, *labels: str) -> None:
    if not person.bot_messages():
        await person.say("/start")
    for label in labels:
        await person.tap(label)


def card_names(person: Person) -> list[str]:
    """The services on the cards of the step the person sees now (after its text)."""
    messages = person.bot_messages()
    step = [m for m in messages if m.text and not m.text.startswith("<b>")]
    after = [m for m in messages if m.message_id > step[-1].message_id] if step else []
    return [(m.plain_text or "").split("\n")[0] for m in after]


def shows(person: Person) -> str:
    """The text of the message the person can tap on (the newest with buttons)."""
    live = person.live()
    return live.text or "" if live is not None else ""


def sent_at(fake: FakeBotApi, beginning: str) -> float:
    """When the first message beginning so reached Telegram (monotonic)."""
    return min(
        r.time
        for r in fake.requests
        if r.method == "sendMessage" and str(r.params.get("text", "")).startswith(beginning)
    )


def buttons_left(person: Person) -> int:
    """How many of the bot's messages in the chat still carry buttons: one, the newest, in a
    chat that works (older ones lose theirs as each step is shown)."""
    return sum(bool(m.reply_markup) for m in person.bot_messages())


async def test_two_instances_share_the_conversations_and_one_killed_mid_reply_loses_none(
    database: Database, fake: FakeBotApi
) -> None:
    """Four people, each update handed to the next instance in turn. The first instance is
    killed in the middle of Alice's step: the step is saved and her tap answered, but the edit
    that shows it is held by its gate, and never reaches Telegram.

    The instance had answered the webhook as soon as it took the update, so neither nginx nor
    Telegram sends it again; if one did (an answer lost on the way), the survivor would find it
    handled and send nothing. Alice still sees the step before, and taps again: the survivor
    says that button has expired and shows the step she had reached, and she carries on from
    there. Everyone else carries on as if nothing happened. Nothing is sent twice, every tap
    is answered once, and each chat is left with one message with buttons, the newest."""
    async with (
        gate(fake) as first_gate,
        balanced(fake, database, 2, [first_gate]) as (
            (first, second),
            balancer,
        ),
    ):
        people = [Person(fake, balancer, CHAT + n) for n in range(4)]
        alice, others = people[0], people[1:]
        await asyncio.gather(*(walk(person, *WALK) for person in people))
        assert balancer.delivered_to == Counter({"instance 1": 6, "instance 2": 6})
        # Alice taps; the first instance saves her step and answers her tap, then is killed
        # while its edit is held.
        first_gate.hold("editMessageText")
        tap = alice.press(ON_FROM_THERE[0])
        await balancer.deliver(tap, to=first)
        await first_gate.holding()
        assert alice.answers(query_id(tap)) == 1
        first.kill()
        # Telegram (or nginx) giving it again, to the survivor: handled already, nothing sent.
        await balancer.deliver(tap, to=second)
        await until(lambda: second.said(TAP_TWICE) == 1, "the tap given again was not handled")
        # Everyone else carries on, through the survivor.
        await asyncio.gather(*(walk(person, *ON_FROM_THERE) for person in others))
        # Alice sees no change, and taps again.
        assert "Is it safe for you to talk now?" in shows(alice)
        await alice.tap(ON_FROM_THERE[0])
        assert shows(alice).startswith(EXPIRED) and "I will ask a few questions" in shows(alice)
        await walk(alice, *ON_FROM_THERE[1:])
        assert second.stop() == 0
    # All four at the same step, shown the same way; in each chat only the newest message
    # still has buttons.
    assert len({shows(person) for person in people}) == 1
    assert [buttons_left(person) for person in people] == [1] * 4
    assert_nothing_sent_twice(*people)
    # Every tap answered, once (a second answer would be refused: `fake` checks).
    assert set(fake.answered_callbacks) == balancer.taps()


async def test_quick_exits_cut_short_by_kills_are_finished_by_another_instance(
    database: Database, fake: FakeBotApi, record_property: RecordProperty
) -> None:
    """Two instances are killed in the middle of quick exits, each while deleting the person's
    messages: the first before Telegram got its deleteMessages (held by its gate), the second
    once Telegram had carried it out but before its answer came back. Each exit was recorded
    with its wipe, claimed by the instance handling it for a lease (`wipe_lease`: 10 s here,
    sweeping every second); once a claim runs out, the third instance's sweep carries the wipe
    out, and not before. Both chats end empty (no farewell: each instance died before sending
    it), no wipe is left, the messages are deleted once more at most (which deletes nothing),
    and Carol's chat is untouched. Given an exit again, the survivor finds it handled and does
    nothing; Alice and Bob come back to new conversations."""
    url = address(database)
    async with (
        gate(fake) as first_gate,
        balanced(fake, database, 3, [first_gate]) as (
            (first, second, third),
            balancer,
        ),
    ):
        alice, bob = Person(fake, balancer, CHAT), Person(fake, balancer, OTHER_CHAT)
        carol = Person(fake, balancer, THIRD_CHAT)
        await asyncio.gather(*(walk(person, *WALK) for person in (alice, bob, carol)))
        carols = [m.message_id for m in fake.chat(THIRD_CHAT)]
        first_gate.hold("deleteMessages")
        alices_exit = alice.press("Quick exit")
        await balancer.deliver(alices_exit, to=first)
        await first_gate.holding()
        fake.hold("deleteMessages")
        bobs_exit = bob.press("Quick exit")
        await balancer.deliver(bobs_exit, to=second)
        await fake.until(lambda f: f.held == 1, PATIENCE)
        # Bob's messages are gone, though his instance never learns it; Alice's are all there.
        assert fake.chat(OTHER_CHAT) == [] and fake.chat(CHAT) != []
        assert rows(url, "pending_wipes") == 2 and rows(url, "sessions") == 1
        claimed_until = claims(url)
        first.kill()
        second.kill()
        killed_at, killed_at_wall = time.monotonic(), time.time()
        for given_again in (alices_exit, bobs_exit):
            await balancer.deliver(given_again, to=third)
        await until(lambda: third.said(TAP_TWICE) == 2, "the exits given again were not handled")
        await carol.tap(ON_FROM_THERE[0])  # answered meanwhile
        # The survivor's sweep takes each wipe up once the dead one's claim runs out.
        await until(lambda: rows(url, "pending_wipes") == 0, "the wipes were never carried out")
        assert fake.chat(CHAT) == [] and fake.chat(OTHER_CHAT) == []
        for person in (alice, bob):
            await person.say("/start")
        assert rows(url, "sessions") == 3
        assert third.stop() == 0
    took = []
    for chat in (CHAT, OTHER_CHAT):
        (wiped,) = deletions(fake, chat, after=killed_at)
        took.append(wiped.time - killed_at)
        # Not before the dead instance's claim ran out (a margin for reading two clocks).
        assert killed_at_wall + took[-1] > claimed_until[chat_key(chat)].timestamp() - 0.05
    record_property("wipe_seconds_after_kill", [round(t, 2) for t in took])
    print(f"\nkill -9 mid quick exit: wiped {took[0]:.2f} s and {took[1]:.2f} s after the kill")
    assert len(deletions(fake, CHAT)) == 1 and len(deletions(fake, OTHER_CHAT)) == 2
    assert alice.answers(query_id(alices_exit)) == 1 and bob.answers(query_id(bobs_exit)) == 1
    assert not any("has been cleared" in text for text in alice.sent() + bob.sent())
    assert [m.message_id for m in fake.chat(THIRD_CHAT)] == carols  # edited, never deleted
    assert deletions(fake, THIRD_CHAT) == []
    assert_nothing_sent_twice(carol)


def claims(url: str) -> dict[str, datetime]:
    """Until when each chat's pending wipe is claimed."""
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("SELECT chat_key, claimed_until FROM pending_wipes").fetchall()
    return {str(key): until_ for key, until_ in found if isinstance(until_, datetime)}


async def waiting_for_turn(database: Database, holder: int, count: int) -> None:
    """Wait until `count` units of work wait for the one on server process `holder`."""
    with psycopg.connect(database.location, autocommit=True) as conn:

        def waiting() -> bool:
            found = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                (holder,),
            ).fetchone()
            return bool(found and found[0] >= count)

        await until(waiting, f"{count} steps never waited for the chat's turn")


async def given_twice(
    person: Person, update: dict[str, Any], pair: tuple[Instance, Instance], log_line: str
) -> None:
    """Give `update` to both instances of `pair` at once; wait for the step it leads to (the
    instance that steps it answers it, then shows the next step), and for exactly one of the
    two to have said `log_line` (the other found it handled)."""
    one, other = pair
    before = person.showing()
    await person.balancer.to_both(update, one, other)
    await person.fake.until(lambda _f: person.moved_on(before), PATIENCE)
    await person.settled()
    await until(
        lambda: one.said(log_line) + other.said(log_line) == 1,
        f"the update given twice was not handled once ({log_line!r} said by neither or both)",
    )


async def test_three_instances_handle_an_update_given_twice_once_and_one_chats_updates_in_turn(
    database: Database, fake: FakeBotApi
) -> None:
    """A tap, then a typed message, each given to two instances at once (as a webhook retried
    while the first delivery was still on its way): each is stepped once, and answered once.

    Then three typed messages of one chat, given to the three instances one after the other
    while a step of that chat is under way (its turn held here, as an instance's step holds
    it): each waits for the chat's turn, and they are stepped one at a time, in the order they
    came, each from where the one before left the conversation ("no", "me", "yes" lead from the
    first question to "Is it safe for you to talk now?" and on; in another order they would be
    read at the wrong steps). What is asserted is the order of the steps, not the order their
    replies reach Telegram: those are sent after each step's turn is over."""
    async with balanced(fake, database, 3) as (trio, balancer):
        first, second, third = trio
        alice, bob = Person(fake, balancer, CHAT), Person(fake, balancer, OTHER_CHAT)
        await walk(alice, WALK[0])
        tap = alice.press(WALK[1])
        await given_twice(alice, tap, (first, second), TAP_TWICE)
        assert alice.answers(query_id(tap)) == 1
        await given_twice(alice, alice.type("yes"), (second, third), MESSAGE_TWICE)
        assert "I will ask a few questions" in shows(alice)
        await alice.tap("Skip the questions")  # and she carries on
        # One chat's updates, to each instance in turn, while its turn is taken.
        await bob.say("/start")
        store = await PostgresStore.open(database.location)
        try:
            async with store.transaction() as tx:
                await tx.lock_chat(chat_key(OTHER_CHAT))
                holder = await backend(tx)
                for waiting, (words, instance) in enumerate(
                    zip(("no", "me", "yes"), trio, strict=True), start=1
                ):
                    await balancer.deliver(bob.type(words), to=instance)
                    await waiting_for_turn(database, holder, waiting)
            await fake.until(lambda _f: len(bob.sent()) == 4, PATIENCE)
            async with store.read() as tx:
                stepped = await tx.load_session(chat_key(OTHER_CHAT))
        finally:
            await store.close()
        assert stepped is not None and stepped.state == "victim.questions"
        replies = [text.split("\n\n")[0] for text in bob.sent()[1:]]
        assert sorted(replies) == sorted(
            [
                "Who are you looking for help for?",
                "Thank you for reaching out. I will not ask your name, and you can skip any"
                " question.",
                "I will ask a few questions about what is happening. They help me find the right"
                " help for you.",
            ]
        ), bob.sent()
    assert_nothing_sent_twice(alice, bob)
    assert set(fake.answered_callbacks) == balancer.taps()


async def test_an_instance_stopped_finishes_its_step_takes_no_more_and_leaves_the_webhook(
    database: Database, fake: FakeBotApi
) -> None:
    """SIGTERM (systemd stopping one instance: an upgrade, one at a time) while the instance is
    in the middle of Alice's step (Telegram holds its answer): it stops taking updates at once,
    so the load balancer gives Bob's to another meanwhile; then it finishes Alice's step and
    exits cleanly. It never calls deleteWebhook (`instances` checks): the webhook is the
    others' too, and they carry on."""
    async with balanced(fake, database, 3) as (trio, balancer):
        first, second, third = trio
        alice, bob = Person(fake, balancer, CHAT), Person(fake, balancer, OTHER_CHAT)
        await asyncio.gather(walk(alice, *WALK), walk(bob, *WALK))
        fake.hold("editMessageText")
        await balancer.deliver(alice.press(ON_FROM_THERE[0]), to=first)
        await fake.until(lambda f: f.held == 1, PATIENCE)
        first.terminate()
        await until(lambda: not first.accepting(), "the stopping instance still takes updates")
        assert first.alive and fake.held == 1  # still in the middle of Alice's step
        assert await bob.tap(ON_FROM_THERE[0], to=first) in (second, third)
        fake.let_go()
        assert first.stop() == 0
        await alice.settled()
        assert "I will ask a few questions" in shows(alice)  # her step, finished
        assert fake.webhook_url == WEBHOOK_URL
        before = Counter(balancer.delivered_to)
        for label in ON_FROM_THERE[1:]:
            await alice.tap(label)
            await bob.tap(label)
        after = balancer.delivered_to - before
        assert after["instance 1"] == 0 and after["instance 2"] > 0 and after["instance 3"] > 0
    assert shows(alice) == shows(bob)
    assert_nothing_sent_twice(alice, bob)
    assert set(fake.answered_callbacks) == balancer.taps()


async def test_a_step_shown_again_is_shown_whichever_instance_showed_it_before(
    database: Database, fake: FakeBotApi
) -> None:
    """Each instance remembers what it last showed in a chat, so as never to send an edit
    Telegram would refuse as "not modified". Here the first instance shows what abuse is, the
    second edits that message to show what control is, and "Other kinds of abuse" goes back:
    the first must edit it again, though it remembers having shown exactly that there."""
    async with balanced(fake, database, 2) as ((first, second), balancer):
        person = Person(fake, balancer, CHAT)
        await person.say("/start", to=first)
        await person.tap("No, not right now", to=second)
        await person.tap("I want to understand what abuse is", to=first)
        what_abuse_is = person.showing()
        await person.tap("Being controlled", to=second)
        assert person.showing() != what_abuse_is
        await person.tap("Other kinds of abuse", to=first)
        assert person.showing() == what_abuse_is
        assert buttons_left(person) == 1


async def test_a_directory_edit_made_through_one_instance_is_seen_by_the_next_step_on_the_others(
    database: Database, fake: FakeBotApi, record_property: RecordProperty
) -> None:
    """A service manager renames a service through the admin chat, every update of theirs
    given to the first instance. Two people, served by the second and the third (which have
    shown the old name already), are shown the new name at their very next step: each step
    begins by asking the database for the directory's version, so an edit is seen by every
    step that begins after it was saved, on every instance. That is the "within 2 s" of the
    issue by construction, with no timer to wait for; the test asserts it so, and does not hold
    the time it measured (from the manager's "Saved." to the first card with the new name) to
    2 s, which on a loaded machine would say more about the machine than about the bot."""
    old, new = "Emergency services", "Emergency services (999)"
    owner = {"PATHWAYS_OWNER_IDS": str(MANAGER)}
    async with balanced(fake, database, 3, extra=owner) as ((first, second, third), balancer):
        manager = Person(fake, balancer, MANAGER)
        alice, carol = Person(fake, balancer, CHAT), Person(fake, balancer, OTHER_CHAT)
        for person, instance in ((alice, second), (carol, third)):
            await person.say("/start", to=instance)
            await person.tap("Yes, I'm in danger now", to=instance)
            assert card_names(person) == [old]
            await person.tap("Back to where I was", to=instance)
        await manager.send(manager.type("/admin"), to=first)
        for label in ("Find a service", "emergency", old, "Edit a field", "name", new, "Save"):
            if label in manager.labels():
                await manager.send(manager.press(label), to=first)
            else:
                await manager.send(manager.type(label), to=first)
        assert manager.newest().startswith("Saved. emergency is now at version 2.")
        for person, instance in ((alice, second), (carol, third)):
            await person.tap("I'm in danger now", to=instance)
            assert card_names(person) == [new]
    seen_after = sent_at(fake, f"<b>{new}</b>") - sent_at(fake, "Saved. emergency")
    record_property("edit_seen_after_seconds", round(seen_after, 3))
    print(f"\nthe edit was shown by another instance's next step {seen_after:.3f} s after")
