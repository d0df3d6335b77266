"""(b), (c), (d) End to end: a bot process against the fake Bot API on loopback, under load.

The bot runs as its own process, exactly as deployed (`python -m bot run`, or the baseline
in bench/baseline_bot.py), polling the fake Bot API of tests/fakebot on 127.0.0.1. This
process plays the people: each runs a scenario script (tests/scenarios/), tapping the
buttons of the bot's latest reply by their words and typing what the transcript types, then
the next script, until the run ends.

- An update becomes available when a person acts (the fake queues it for getUpdates); its
  reply is sent when the bot's request carrying the next step's buttons reaches the fake
  (for a quick exit: the farewell). The time between is the latency measured.
- `closed` load: N people at once, each pausing a human-ish `think` time (0.5-1.5 s by
  default) after every reply. With enough people the bot saturates, and the updates handled
  per second are its throughput.
- `paced` load: updates offered at a fixed average rate (a Poisson process), each by one of
  a pool of people who has had the reply to their previous action: latency at that rate.
- quick exits: alongside a load, more people arrive (a Poisson stream), take a step or two
  and tap "Quick exit"; the time measured runs from the tap to the moment the fake sees their
  chat empty but for the bot's farewell (everything before it deleted).

The fake and the people share this process (one core); the bot has the other.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import itertools
import math
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tests.fakebot import TOKEN, FakeBotApi

from .common import ROOT, percentile, rss_kib
from .scenarios import Action, Script

REPLY_METHODS = frozenset({"sendMessage", "editMessageText"})
# After these, a quick-exit chat may hold nothing but the farewell.
CLEARING_METHODS = frozenset({"sendMessage", "deleteMessages", "deleteMessage"})
EXIT_LABEL = "Quick exit"
FIRST_CHAT = 10_000_000
FIRST_EXIT_CHAT = 90_000_000  # chats of the people who do a quick exit: watched by the fake


@dataclass(frozen=True)
class Reply:
    chat_id: int
    arrived: float  # time.monotonic() when the request reached the fake
    message_id: int
    buttons: dict[str, str]  # label -> callback data; empty when the message has none


@dataclass(frozen=True)
class Cleared:
    """A quick-exit chat now shows one message only, the bot's, without buttons."""

    chat_id: int
    arrived: float  # time.monotonic() when the request that left it so reached the fake
    message_id: int  # the message left


class LoadFake(FakeBotApi):
    """The fake Bot API, telling the load driver about each reply message as it arrives (and
    when a quick-exit chat is left with nothing but one message of the bot's)."""

    def __init__(self) -> None:
        super().__init__()
        self.replies: queue.SimpleQueue[Reply | Cleared] = queue.SimpleQueue()

    def _finish(
        self,
        method: str,
        params: dict[str, Any],
        arrived: float,
        error: Any = None,
        *,
        result: Any = None,
        fault: str | None = None,
        retry_after: int | None = None,
    ) -> tuple[int, dict[str, Any]]:
        answer = super()._finish(
            method, params, arrived, error, result=result, fault=fault, retry_after=retry_after
        )
        if error is None and method in REPLY_METHODS and isinstance(params.get("chat_id"), int):
            markup = params.get("reply_markup") or {}
            rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
            buttons = {b["text"]: b.get("callback_data", "") for row in rows for b in row}
            message_id = (
                params["message_id"] if method == "editMessageText" else result["message_id"]
            )
            self.replies.put(Reply(params["chat_id"], arrived, int(message_id), buttons))
        if error is None and method in CLEARING_METHODS:
            chat_id = params.get("chat_id")
            if isinstance(chat_id, int) and chat_id >= FIRST_EXIT_CHAT:
                left = self.chat(chat_id)
                if len(left) == 1 and left[0].from_bot and not left[0].reply_markup:
                    self.replies.put(Cleared(chat_id, arrived, left[0].message_id))
        return answer


@dataclass
class Person:
    chat_id: int
    scripts: list[Script]
    next_script: int
    script: Script | None = None
    position: int = 0
    acted_at: float | None = None  # when the update now awaiting its reply became available
    message_id: int = 0
    buttons: dict[str, str] = field(default_factory=dict)
    exiting: bool = False  # one conversation only, ended by a quick exit: timed apart

    def begin(self) -> None:
        self.script = self.scripts[self.next_script % len(self.scripts)]
        self.next_script += 1
        self.position = 0

    @property
    def action(self) -> Action:
        assert self.script is not None
        return self.script.actions[self.position]


@dataclass(frozen=True)
class Sample:
    acted_at: float
    latency: float


@dataclass
class LoadResult:
    label: str
    people: int
    seconds: float  # the measured window (after the warm-up)
    handled: int  # updates answered within the window
    offered: int  # updates made available within the window
    latencies: list[float]
    conversations: int  # whole conversations finished within the window
    unanswered: int  # updates still without a reply when the run ended
    mismatches: int  # a button the script names was not on the reply
    bot_cpu_seconds: float
    driver_cpu_seconds: float
    rss_kib_start: int
    rss_kib_max: int
    api_calls: int = 0  # Bot API requests other than getUpdates, within the window
    polls: int = 0  # getUpdates requests within the window
    refused: int = 0
    # Quick exits tapped within the window: the time until the chat held only the farewell,
    # and how many chats never got there before the run ended.
    exit_latencies: list[float] = field(default_factory=list)
    exits_uncleared: int = 0
    # The database server's CPU time over the window, where it is a process of its own that
    # can be read (PostgreSQL on this machine); NaN otherwise (SQLite's is the bot's own).
    database_cpu_seconds: float = math.nan
    instances: int = 1  # bot processes sharing the load (their CPU times summed)

    @property
    def throughput(self) -> float:
        return self.handled / self.seconds

    @property
    def offered_rate(self) -> float:
        return self.offered / self.seconds

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies, 0.5) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 0.99) * 1000

    @property
    def exits(self) -> int:
        return len(self.exit_latencies) + self.exits_uncleared

    def exit_ms(self, fraction: float) -> float:
        """A percentile of the quick exits' clearing time; a chat never cleared counts as
        infinitely slow."""
        times = [*self.exit_latencies, *([math.inf] * self.exits_uncleared)]
        return percentile(times, fraction) * 1000

    @property
    def cpu_ms_per_update(self) -> float:
        return self.bot_cpu_seconds * 1000 / self.handled if self.handled else float("nan")

    @property
    def database_cpu_ms_per_update(self) -> float:
        return self.database_cpu_seconds * 1000 / self.handled if self.handled else math.nan

    @property
    def driver_cpu_ms_per_update(self) -> float:
        return self.driver_cpu_seconds * 1000 / self.handled if self.handled else math.nan

    @property
    def calls_per_update(self) -> float:
        return self.api_calls / self.handled if self.handled else float("nan")

    @property
    def polls_per_update(self) -> float:
        return self.polls / self.handled if self.handled else float("nan")

    @property
    def cpu_ms_per_request(self) -> float:
        """Bot CPU time per Bot API request (getUpdates included)."""
        requests = self.api_calls + self.polls
        return self.bot_cpu_seconds * 1000 / requests if requests else float("nan")


class Driver:
    """Plays the people. One thread acts; replies come in through the fake's queue."""

    def __init__(
        self,
        fake: LoadFake,
        scripts: list[Script],
        people: int,
        seed: int,
        think: tuple[float, float] = (0.5, 1.5),
        rate: float | None = None,
        first_chat: int = FIRST_CHAT,
        chat_ids: list[int] | None = None,
        ramp: float | None = None,
        exit_rate: float = 0.0,
    ) -> None:
        self.fake = fake
        self.rnd = random.Random(seed)
        self.think = think
        self.rate = rate
        self.scripts = scripts
        self.exit_rate = exit_rate  # people arriving a second to do a quick exit
        self._exit_number = 0
        self.exit_samples: list[Sample] = []
        self.ramp = think[1] if ramp is None else ramp  # people begin within this time
        ids = chat_ids or [first_chat + n for n in range(people)]
        self.people = {
            chat_id: Person(chat_id, scripts, next_script=n) for n, chat_id in enumerate(ids)
        }
        self.samples: list[Sample] = []
        self.finished: list[float] = []  # when each conversation's last reply arrived
        self.acted: list[float] = []
        self.mismatches = 0
        self._timers: list[tuple[float, int, int]] = []  # (due, tie-break, chat_id)
        self._ticket = itertools.count()
        self._ready: list[int] = []  # paced load: people waiting for a slot, in order

    # -- scheduling ---------------------------------------------------------------------------

    def _later(self, person: Person, now: float) -> None:
        if self.rate is None:
            due = now + self.rnd.uniform(*self.think)
            heapq.heappush(self._timers, (due, next(self._ticket), person.chat_id))
        else:
            self._ready.append(person.chat_id)

    def _arrive_to_exit(self) -> None:
        """Someone new begins a conversation, takes a step or two, then taps "Quick exit"."""
        number = self._exit_number
        self._exit_number += 1
        script = self.scripts[number % len(self.scripts)]
        before = itertools.takewhile(lambda a: a.words != EXIT_LABEL, script.actions)
        actions = (*itertools.islice(before, 2), Action("tap", EXIT_LABEL))
        person = Person(
            FIRST_EXIT_CHAT + number,
            [Script(f"{script.name}, then a quick exit", actions)],
            next_script=0,
            exiting=True,
        )
        self.people[person.chat_id] = person
        self._act(person)

    def _mismatch(self, person: Person) -> None:
        self.mismatches += 1
        person.script, person.acted_at = None, None  # start a fresh conversation
        if person.exiting:
            del self.people[person.chat_id]  # gone: a new one arrives in time
        else:
            self._later(person, time.monotonic())

    def _act(self, person: Person) -> None:
        if person.script is None or person.position >= len(person.script.actions):
            person.begin()
        action = person.action
        person.acted_at = time.monotonic()
        if action.kind == "type":
            self.fake.send_text(person.chat_id, action.words)
        else:
            data = person.buttons.get(action.words)
            if data is None:
                self._mismatch(person)
                return
            try:
                self.fake.press(person.chat_id, person.message_id, data)
            except LookupError:  # the message is gone (wiped): start again
                self._mismatch(person)
                return
        if not person.exiting:
            self.acted.append(person.acted_at)

    def _on_event(self, event: Reply | Cleared) -> None:
        if isinstance(event, Cleared):
            self._on_cleared(event)
        else:
            self._on_reply(event)

    def _on_cleared(self, cleared: Cleared) -> None:
        person = self.people.get(cleared.chat_id)
        if person is None or person.acted_at is None or person.action.words != EXIT_LABEL:
            return
        if cleared.message_id <= person.message_id:
            return  # an older message of the bot's, not the farewell
        self.exit_samples.append(Sample(person.acted_at, cleared.arrived - person.acted_at))
        del self.people[person.chat_id]

    def _on_reply(self, reply: Reply) -> None:
        person = self.people.get(reply.chat_id)
        if person is None or person.acted_at is None:
            return
        ending = person.action.words == EXIT_LABEL
        if person.exiting and ending:
            return  # timed until the chat is clear (`_on_cleared`), not until the farewell
        if not reply.buttons and not ending:
            return  # a service card or other message before the one with the buttons
        if not person.exiting:
            self.samples.append(Sample(person.acted_at, reply.arrived - person.acted_at))
        person.acted_at = None
        person.message_id, person.buttons = reply.message_id, reply.buttons
        assert person.script is not None
        person.position += 1
        if person.position >= len(person.script.actions):
            self.finished.append(reply.arrived)
            person.script = None
        self._later(person, reply.arrived)

    # -- running ------------------------------------------------------------------------------

    def run(self, seconds: float) -> float:
        """Play for `seconds`; returns when the play started."""
        start = time.monotonic()
        for person in self.people.values():
            if self.rate is None:
                due = start + self.rnd.uniform(0, self.ramp)
                heapq.heappush(self._timers, (due, next(self._ticket), person.chat_id))
            else:
                self._ready.append(person.chat_id)
        if self.rate is not None:
            self.rnd.shuffle(self._ready)
        end = start + seconds
        next_slot = start
        next_exit = start + self.rnd.expovariate(self.exit_rate) if self.exit_rate else math.inf
        while True:
            now = time.monotonic()
            if now >= end:
                break
            while self._timers and self._timers[0][0] <= now:
                _due, _tie, chat_id = heapq.heappop(self._timers)
                if chat_id in self.people:
                    self._act(self.people[chat_id])
            if self.rate is not None:
                while next_slot <= now:
                    if self._ready:
                        self._act(self.people[self._ready.pop(0)])
                    next_slot += self.rnd.expovariate(self.rate)
            while next_exit <= now:
                self._arrive_to_exit()
                next_exit += self.rnd.expovariate(self.exit_rate)
            wake = min(end, next_exit, self._timers[0][0] if self._timers else end)
            if self.rate is not None:
                wake = min(wake, next_slot)
            with contextlib.suppress(queue.Empty):
                self._on_event(self.fake.replies.get(timeout=max(0.0, wake - time.monotonic())))
                while True:
                    self._on_event(self.fake.replies.get_nowait())
        return start

    def drain(self, timeout: float = 10.0, exits_only: bool = False) -> int:
        """Let replies to updates already sent arrive (with `exits_only`, only the quick
        exits' chats clearing); returns how many never did."""
        if timeout <= 0:
            return self._waiting(exits_only)
        deadline = time.monotonic() + timeout
        while self._waiting(exits_only) and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                self._on_event(self.fake.replies.get(timeout=0.05))
        return self._waiting(exits_only)

    def _waiting(self, exits_only: bool = False) -> int:
        return sum(
            1
            for p in self.people.values()
            if p.acted_at is not None and (not exits_only or self._exit_tapped(p))
        )

    @staticmethod
    def _exit_tapped(person: Person) -> bool:
        return person.exiting and person.acted_at is not None and person.action.words == EXIT_LABEL

    def exits_waiting(self, since: float, until: float) -> int:
        """Quick exits tapped within [since, until) whose chat is not clear yet."""
        return sum(
            1
            for p in self.people.values()
            if self._exit_tapped(p) and p.acted_at is not None and since <= p.acted_at < until
        )


# -- the bot processes -------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """A process's CPU time (user and system, all its threads) so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = os.times()
    return usage.user + usage.system


@dataclass
class BotProcess:
    kind: str  # "pathways" or "baseline"
    process: subprocess.Popen[str]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM, as a deployment stops it; killed if it takes longer than `grace` (a bot
        with a long queue of updates left finishes them first)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _clean_env() -> dict[str, str]:
    drop = ("PATHWAYS_", "TELEGRAM_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def start_bot(
    kind: str,
    fake: FakeBotApi,
    workdir: Path,
    concurrent: int = 1,
    timeout: float = 60,
    *,
    env: Mapping[str, str] | None = None,
    ready: Callable[[], bool] | None = None,
    name: str | None = None,
) -> BotProcess:
    """Start a bot process against `fake` and wait until it polls for updates (or, given
    `ready`, until that says so). `env`: more settings for it (PostgreSQL, a webhook)."""
    workdir.mkdir(parents=True, exist_ok=True)
    base = {**_clean_env(), "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake.base_url}
    base["PATHWAYS_WEB"] = "off"  # Telegram alone is measured; and no clash on port 8080
    if kind == "pathways":
        config = workdir / "pathways.toml"
        config.write_text("# the bench's own settings: every default\n")
        base |= {"PATHWAYS_DB": str(workdir / "pathways.db"), "PATHWAYS_CONFIG": str(config)}
        command = [sys.executable, "-m", "bot", "run"]
    elif kind == "baseline":
        data = workdir / "baseline.pickle"
        command = [sys.executable, "-m", "bench.baseline_bot", "--data", str(data)]
        command += ["--concurrent", str(concurrent)]
    else:
        raise ValueError(kind)
    log = workdir / f"{name or kind}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**base, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            text=True,
        )
    bot = BotProcess(kind, process, log)
    started = ready or (lambda: fake.waiting_pollers > 0)
    deadline = time.monotonic() + timeout
    while not started():
        if process.poll() is not None or time.monotonic() > deadline:
            bot.stop()
            raise RuntimeError(f"the {kind} bot did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    return bot


class Bot(Protocol):
    """What a load reads of the bot: one process, or several sharing the load."""

    def rss_kib(self) -> int: ...

    def cpu_seconds(self) -> float: ...


@dataclass
class BotGroup:
    """Several bot processes taking one load between them: their CPU times summed, and the
    resident memory of the largest."""

    bots: Sequence[BotProcess]

    def rss_kib(self) -> int:
        return max(bot.rss_kib() for bot in self.bots)

    def cpu_seconds(self) -> float:
        return sum(bot.cpu_seconds() for bot in self.bots)


class Meter(Protocol):
    """CPU time spent elsewhere on the load's behalf (the database server's)."""

    def start(self) -> None: ...

    def stop(self) -> float:
        """CPU seconds since `start`."""
        ...


@contextlib.contextmanager
def running(
    kind: str, workdir: Path, concurrent: int = 1, grace: float = 30.0
) -> Iterator[tuple[LoadFake, BotProcess]]:
    with LoadFake() as fake:
        bot = start_bot(kind, fake, workdir, concurrent)
        try:
            yield fake, bot
        finally:
            bot.stop(grace)


class RssSampler(threading.Thread):
    def __init__(self, bot: Bot, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.bot, self.every = bot, every
        self.highest = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            with contextlib.suppress(OSError, RuntimeError):
                self.highest = max(self.highest, self.bot.rss_kib())
            self._done.wait(self.every)

    def stop(self) -> None:
        self._done.set()
        self.join()


def load(
    label: str,
    fake: LoadFake,
    bot: Bot,
    scripts: list[Script],
    *,
    people: int,
    seconds: float,
    warmup: float,
    seed: int = 1,
    think: tuple[float, float] = (0.5, 1.5),
    rate: float | None = None,
    chat_ids: list[int] | None = None,
    drain: float = 10.0,
    ramp: float | None = None,
    exit_rate: float = 0.0,
    exit_drain: float = 10.0,
    database: Meter | None = None,
    instances: int = 1,
) -> LoadResult:
    """Run one load against a running bot; figures count only after `warmup` seconds.

    Afterwards, replies still owed are waited for up to `drain` seconds (0: not at all, as
    when a saturated bot has a long queue): the rest count as `unanswered`. With `exit_rate`,
    that many people a second also arrive to do a quick exit (not counted among `people`);
    chats not yet clear when the run ends are waited for up to `exit_drain` seconds. With
    `database`, the database server's CPU time over the window is read from it too."""
    driver = Driver(
        fake, scripts, people, seed, think, rate, chat_ids=chat_ids, ramp=ramp, exit_rate=exit_rate
    )
    rss_start = bot.rss_kib()
    sampler = RssSampler(bot)
    sampler.start()
    # Figures are counted from the end of the warm-up, so CPU is read then too.
    marks: dict[str, float] = {}

    def mark_cpu() -> None:
        marks["bot"] = bot.cpu_seconds()
        marks["driver"] = _own_cpu_seconds()
        if database is not None:
            database.start()

    cpu_timer = threading.Timer(warmup, mark_cpu)
    cpu_timer.start()
    # The fake and the people share this process. A full collection of its heap (every
    # request the fake has recorded) stalls the fake for a long while, which would show as
    # the bot's latency: the collector is kept off for the run.
    gc.freeze()
    gc.disable()
    try:
        start = driver.run(warmup + seconds)
    finally:
        gc.enable()
        gc.unfreeze()
    cpu_bot = bot.cpu_seconds() - marks.get("bot", 0.0)
    cpu_driver = _own_cpu_seconds() - marks.get("driver", 0.0)
    cpu_database = database.stop() if database is not None and "bot" in marks else math.nan
    window_start, window_end = start + warmup, start + warmup + seconds
    if exit_rate:
        driver.drain(exit_drain, exits_only=True)
    unanswered = driver.drain(drain)
    sampler.stop()
    # Updates answered within the window: a saturated bot's answers arrive long after the
    # updates were sent, and are counted as they come.
    in_window = [s for s in driver.samples if window_start <= s.acted_at + s.latency < window_end]
    requests = [q for q in fake.requests if window_start <= q.time < window_end]
    polls = sum(1 for q in requests if q.method == "getUpdates")
    handled = len(in_window)
    return LoadResult(
        label=label,
        people=people,
        seconds=seconds,
        handled=handled,
        offered=sum(1 for t in driver.acted if window_start <= t < window_end),
        latencies=[s.latency for s in in_window],
        conversations=sum(1 for t in driver.finished if window_start <= t < window_end),
        unanswered=unanswered,
        mismatches=driver.mismatches,
        bot_cpu_seconds=cpu_bot,
        driver_cpu_seconds=cpu_driver,
        rss_kib_start=rss_start,
        rss_kib_max=sampler.highest,
        api_calls=len(requests) - polls,
        polls=polls,
        refused=len(fake.refused),
        exit_latencies=[
            s.latency for s in driver.exit_samples if window_start <= s.acted_at < window_end
        ],
        exits_uncleared=driver.exits_waiting(window_start, window_end),
        database_cpu_seconds=cpu_database,
        instances=instances,
    )


def mirror(script: Script) -> Script:
    """The baseline's script for a Pathways script: the same number of steps, tap for tap
    (its "Continue" button, or its "Quick exit") and typed text for typed text."""
    actions = tuple(
        a if a.kind == "type" or a.words == EXIT_LABEL else Action("tap", "Continue")
        for a in script.actions
    )
    return Script(script.name, actions)
