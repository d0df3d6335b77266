"""Runs one step of a conversation against storage: load, step, save, in one transaction.

Channels call `handle` with an event they have already made of what the person did (typed
words are read against `place`); they never touch the engine or the store directly, so the
terminal chat and Telegram behave the same way. The conversation never calls back into a
channel.

Several instances of the bot may share one PostgreSQL database (a webhook behind a load
balancer): any of them may be given any update. So that nothing depends on which one:

- Each unit of work on a conversation takes the conversation's turn first
  (`Transaction.lock_chat`, an advisory lock held until it commits), so one chat's steps run one
  at a time across instances, each loading what the one before saved. Within one instance the
  channel already keeps a chat's updates in order (Telegram's `PerChatUpdateProcessor`).
- A channel may name the update a step comes from (`update_key`); it is recorded in the step's
  own unit of work, so the same update delivered twice, to one instance or two, is stepped once:
  the second gets `AlreadyHandled`, and sends nothing.
- Messages a step deletes at once (a quick exit) are recorded as wipes claimed by this instance
  for `wipe_lease`: other instances' sweeps leave them to it, and take them up only if it dies.
- The directory is held in memory by each instance; every step first asks for the stored
  directory's version (one indexed one-row read), and reloads when it changed. An edit made
  through any instance is therefore seen by every step that begins after it was saved, on
  every instance: sooner than the two seconds asked for, and with no timer to run and no
  connection held open to LISTEN on. A reload swaps the index in whole (`LiveDirectory.replace`,
  between two steps), and one reload at a time runs in an instance.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.directory.index import DirectoryIndex, LiveDirectory
from bot.directory.validate import DirectoryError
from bot.engine.context import Clock
from bot.engine.machine import Engine
from bot.engine.model import Event, EventKind, Reply, Session, Text, Tracked
from bot.store.interface import PendingWipe, Store, Transaction

LONDON = ZoneInfo("Europe/London")
log = logging.getLogger(__name__)

# A claim on a wipe lasts two sweeps, and never less than this: long enough for one wipe's
# Bot API calls, short enough that a wipe left by an instance that died is done soon after.
MIN_WIPE_LEASE = timedelta(seconds=10)


def wipe_lease(sweep_seconds: int) -> timedelta:
    """How long an instance's claim on a wipe lasts, with a sweep every `sweep_seconds`: the
    claim of one that died runs out within two sweeps, and the next sweep takes the wipe up."""
    return max(timedelta(seconds=2 * sweep_seconds), MIN_WIPE_LEASE)


DEFAULT_WIPE_LEASE = wipe_lease(30)  # with the default sweep, every 30 seconds


class AlreadyHandled(Exception):
    """The update was handled before (delivered twice): nothing was done for it again."""


@dataclass(frozen=True)
class Outcome:
    reply: Reply
    session: Session  # as it stands after the step (an ended one is already forgotten)
    # Messages to delete now (on exit, or of a chat left idle), recorded as pending wipes in
    # the same transaction: they stay recorded until the deletion has succeeded.
    wipes: tuple[PendingWipe, ...] = ()
    noted: bool = False  # the one-off note asked for is due now (it was not given before)
    # The conversation as it stood before the step (None when it began with this step), so
    # that a step whose reply could not be shown can be taken back (`take_back`).
    before: Session | None = None

    @property
    def wipe(self) -> tuple[Tracked, ...]:
        return tuple(m for w in self.wipes for m in w.messages)

    @property
    def ended(self) -> bool:
        return self.reply.ends_session

    def with_notice(self, notice: Text) -> Reply:
        return dataclasses.replace(self.reply, notices=(notice, *self.reply.notices))


def london_day(moment: datetime) -> date:
    """The day in the UK: figures are kept per day, never finer."""
    return moment.astimezone(LONDON).date()


def figures(before: dict[str, str], after: dict[str, str], reply: Reply) -> list[tuple[str, str]]:
    """What this step adds to the anonymous daily figures: a route, need or area chosen now
    (not one carried over), and each service shown. Nothing that identifies anyone."""
    found = [
        (kind, after[key])
        for kind, key in (("route", "route"), ("need", "need"), ("area", "area"))
        if after.get(key) and after.get(key) != before.get(key)
    ]
    if "area" not in after and after.get("nation") and after.get("nation") != before.get("nation"):
        found.append(("area", after["nation"]))
    found += [("service", card.service_id) for card in reply.cards]
    return found


class Conversations:
    def __init__(
        self,
        engine: Engine,
        store: Store,
        clock: Clock,
        idle_after: timedelta,
        directory: LiveDirectory | None = None,
        wipe_lease: timedelta = DEFAULT_WIPE_LEASE,
    ) -> None:
        self.engine = engine
        self.store = store
        self.clock = clock
        self.idle_after = idle_after
        self.directory = directory
        self.wipe_lease = wipe_lease
        self._reloading = asyncio.Lock()

    async def _refresh_directory(self) -> None:
        """Pick up a directory changed by an import or an edit (through this instance or any
        other), before the step that uses it. Asked before the step's own transaction, so the
        writer is not held for it."""
        if self.directory is None:
            return
        async with self.store.read() as tx:
            if await tx.directory_version() == self.directory.version:
                return
        # Steps that notice the change together wait for one reload, not one each.
        async with self._reloading:
            await self._reload_directory(self.directory)

    async def _reload_directory(self, directory: LiveDirectory) -> None:
        async with self.store.read() as tx:
            stored = await tx.directory_version()
            if stored == directory.version:
                return  # reloaded while this one waited
            try:
                data = await tx.load_directory()
            except DirectoryError as exc:
                # Written by an older or outside tool without today's checks: people are
                # still served, from the directory as it was (`doctor` names the problem).
                log.warning(
                    "the stored directory has %d problem(s); kept the last good one",
                    len(exc.problems),
                )
                directory.version = stored
                return
        directory.replace(DirectoryIndex(data.areas, data.services), stored)

    def is_urgent(self, event: Event) -> bool:
        """A quick exit or "I'm in danger now": the ways out on every message, which go before
        everyone else's steps."""
        way_out = self.engine.spec.ways_out.get(event.trigger)
        return event.from_state is None and way_out is not None and way_out.as_button

    def _idle(self, session: Session, now: datetime) -> bool:
        return session.updated_at is not None and now - session.updated_at >= self.idle_after

    async def exists(self, chat_key: str) -> bool:
        async with self.store.read() as tx:
            return await tx.load_session(chat_key) is not None

    async def handle(
        self,
        chat_key: str,
        event: Event,
        locale: str = "en",
        incoming: Tracked | None = None,
        note_once: str | None = None,
        update_key: str | None = None,
    ) -> Outcome:
        """Apply `event` to the conversation `chat_key`.

        A conversation left idle for `idle_after` is forgotten first and the person told so;
        its messages come back in `Outcome.wipe`. `locale` is used when a conversation begins.
        `incoming` is the person's own message, tracked so that a wipe removes it too.
        `note_once` names a one-off explanation: `Outcome.noted` says whether it is due now,
        and it is recorded as given in the same transaction. `update_key` names the update
        this step comes from: if it was handled before, `AlreadyHandled` is raised and nothing
        changes. Wipes in the outcome are claimed for this caller to carry out.
        """
        pending: list[PendingWipe] = []

        async def wipe_later(tx: Transaction, messages: list[Tracked]) -> None:
            claimed = now + self.wipe_lease
            wipe_id = await tx.add_wipe(chat_key, messages, now, claimed_until=claimed)
            if wipe_id is not None:
                pending.append(PendingWipe(wipe_id, chat_key, tuple(messages), now, claimed))

        cleared = False
        urgent = self.is_urgent(event)
        await self._refresh_directory()
        async with self.store.transaction(urgent) as tx:
            await tx.lock_chat(chat_key)
            # The time is read once the turn is ours, so steps of one chat are stamped in the
            # order they ran, whichever instance ran them.
            now = self.clock()
            if update_key is not None and not await tx.mark_handled(update_key, now):
                raise AlreadyHandled
            session = await tx.load_session(chat_key)
            if session is not None and self._idle(session, now):
                await tx.delete_session(chat_key)
                await wipe_later(tx, session.messages)
                session, cleared = None, True
            if session is None:
                session = self.engine.new_session(chat_key, locale)
                if event.kind is EventKind.RESUME:
                    event = Event.start()
            earlier = (
                None
                if cleared
                else dataclasses.replace(
                    session,
                    answers=dict(session.answers),
                    messages=list(session.messages),
                    flags=list(session.flags),
                )
            )
            known = {m.message_id for m in session.messages}
            if incoming is not None and incoming.message_id not in known:
                session.messages.append(incoming)
            before = dict(session.answers)
            reply = self.engine.step(session, event)
            counted = figures(before, session.answers, reply)
            if event.kind is EventKind.START and self.engine.start_code(event.trigger):
                counted.append(("start_code", event.trigger))
            await tx.add_counts(london_day(now), counted)
            noted = note_once is not None and note_once not in session.flags
            if noted and note_once is not None:
                session.flags.append(note_once)
            if reply.ends_session:
                await tx.delete_session(chat_key)
                leftovers = await tx.take_wipes(chat_key) if reply.forgets else []
                if reply.wipes:
                    # On /forget, what was still waiting to be deleted (an earlier farewell)
                    # goes in the same wipe, and nothing else stays.
                    await wipe_later(tx, [*session.messages, *leftovers])
            else:
                await tx.save_session(session, now)
        if cleared or reply.ends_session:
            await self.store.scrub(urgent)
        if cleared:
            notice = self.engine.message("idle_cleared")
            reply = dataclasses.replace(reply, notices=(notice, *reply.notices))
        return Outcome(reply, session, tuple(pending), noted, earlier)

    async def take_back(self, outcome: Outcome) -> bool:
        """The step's reply could not be shown (Telegram kept failing): put the conversation
        back where the person still sees it, so their next tap on what they see is answered
        as it would have been. Not if anything happened since, or the step ended it."""
        before, after = outcome.before, outcome.session
        if before is None or outcome.ended or before.updated_at is None:
            return False
        async with self.store.transaction() as tx:
            await tx.lock_chat(after.chat_key)
            current = await tx.load_session(after.chat_key)
            if current is None or current.updated_at != after.updated_at:
                return False
            # Messages recorded since (sent before the failure) stay recorded for wipes.
            known = {m.message_id for m in before.messages}
            before.messages += [m for m in current.messages if m.message_id not in known]
            await tx.save_session(before, before.updated_at)
        return True

    async def track(
        self, chat_key: str, sent: list[Tracked], live_message_id: int | None = None
    ) -> bool:
        """Remember messages sent in a live conversation, so a later wipe removes them.

        If the conversation ended meanwhile (an exit, or the idle sweep), the messages are
        recorded as a pending wipe instead, so they are deleted too. Returns False then.
        """
        async with self.store.transaction() as tx:
            await tx.lock_chat(chat_key)  # else a step elsewhere could save over what is added
            if await tx.add_messages(chat_key, sent, live_message_id):
                return True
            await tx.add_wipe(chat_key, sent, self.clock())
            return False

    async def wipe_later(self, chat_key: str, messages: list[Tracked], after: timedelta) -> None:
        """Delete these messages (a farewell, say) once `after` has passed."""
        async with self.store.transaction() as tx:
            await tx.add_wipe(chat_key, messages, self.clock() + after)

    async def forget(self, chat_key: str) -> Session | None:
        """Erase the conversation now (the person blocked the bot, or asked to be forgotten),
        with anything still waiting to be deleted: nothing can be deleted any more."""
        async with self.store.transaction() as tx:
            await tx.lock_chat(chat_key)
            session = await tx.load_session(chat_key)
            await tx.delete_session(chat_key)
            await tx.forget_wipes(chat_key)
        await self.store.scrub()
        return session
