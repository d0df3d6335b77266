"""kill -9 the real bot process at random points of conversations, and restart it.

People (one per chat) walk the conversations at random: they tap a step's buttons, type a place
where one is asked for, and after a few steps leave by quick exit, typed or tapped. Meanwhile
the bot, `python -m bot run` as deployed, is killed with SIGKILL when it makes its k-th Bot
API call, at one of three moments chosen at random:

- "before": the call never reaches Telegram;
- "after": Telegram carried it out (a message was sent, say) but the bot never hears back;
- "later": the answer is on its way back, and the process dies wherever it then is.

After each kill the database must pass `PRAGMA integrity_check`, and every id it tracked must
still be tracked (or its message deleted). Once restarted, every person must get a step with
buttons again after their next action: the conversation resumes at its step or restarts
politely. At every quick exit the chat must hold nothing but the farewell; and at the very end,
after the idle time, nothing at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, FakeClock
from tests.fakebot import TOKEN, FakeBotApi
from tests.fakebot.server import _DROP
from tests.reliability.harness import BotThread, ReliableFake, Trouble, watching
from tests.telegram_support import settings_for

WORK = frozenset(
    {
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "deleteMessage",
        "deleteMessages",
        "answerCallbackQuery",
    }
)
PHASES = ("before", "after", "later")
PLACES = ("Bletchley", "MK9", "Cardiff", "Glasgow", "Belfast", "Milton Keynes")
FAREWELL = "This chat has been cleared and closed."
DELETE_WINDOW = 48 * 3600
REPLY_TIMEOUT = 20.0


@dataclass
class CrashFigures:
    kills: int = 0
    kills_by_phase: Counter[str] = field(default_factory=Counter)
    kills_by_method: Counter[str] = field(default_factory=Counter)
    restarts: int = 0
    actions: int = 0
    exits: int = 0
    resumed: int = 0  # after a restart, the person carried on from the step they were at
    restarted: int = 0  # after a restart, the conversation began again (politely)
    integrity_checks: int = 0
    tracked_ids_checked: int = 0
    leftovers: int = 0  # messages left behind, not explained by a kill: must be none
    # Messages made in the very round a kill cut short, and left behind: a person's message
    # whose update died with the process (python-telegram-bot confirms updates as it fetches
    # the next batch, so Telegram never sends it again), or a message Telegram accepted in the
    # instant before the kill, so the bot never learned its id. (chat, id) -> "person" | "bot"
    in_kill_window: dict[tuple[int, int], str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class Killer:
    """Kills the bot process at its k-th Bot API call (see the module docstring)."""

    def __init__(self, fake: ReliableFake) -> None:
        self.fake = fake
        self.process: subprocess.Popen[bytes] | None = None
        self.countdown = 0
        self.phase = "after"
        self.killed = threading.Event()
        self.triggered = threading.Event()  # the kill is decided (it may be a moment away)
        self.method = ""
        self._lock = threading.Lock()
        fake.on_request = self._on_request

    def arm(self, process: subprocess.Popen[bytes], countdown: int, phase: str) -> None:
        with self._lock:
            self.process = process
            self.countdown = countdown
            self.phase = phase
            self.killed.clear()
            self.triggered.clear()

    def _on_request(self, method: str, moment: str) -> Any:
        if method not in WORK:
            return None
        with self._lock:
            if self.process is None or self.killed.is_set():
                return None
            if moment == "before":
                self.countdown -= 1
                if self.countdown > 0:
                    return None
            if self.countdown > 0 or moment != ("before" if self.phase == "before" else "after"):
                return None
            process, self.method = self.process, method
            self.triggered.set()
            if self.phase == "later":
                threading.Thread(target=self._kill, args=(process,), daemon=True).start()
                return None
            self._kill(process)
            return _DROP if moment == "before" else None

    def _kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.killed.set()
        self.fake.poke()


class Person:
    """Someone walking the conversations at random in their own private chat."""

    def __init__(self, chat: int, rng: random.Random) -> None:
        self.chat = chat
        self.rng = rng
        self.steps_left = 0
        self.walking = False
        self.just_left = False

    def begin(self) -> None:
        self.steps_left = self.rng.randint(3, 9)
        self.walking = True
        self.just_left = False  # an exit a kill cut short is checked at the very end instead


def bot_env(fake: ReliableFake, db: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PATHWAYS_", "TELEGRAM_"))
    }
    env.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=fake.base_url,
        PATHWAYS_DB=str(db),
        PATHWAYS_WEB="off",  # tests run side by side: no web chat on port 8080
    )
    return env


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def tracked(db: Path) -> dict[int, set[int]]:
    """chat -> every message id the database tracks for it (live conversation and pending
    wipes)."""
    found: dict[int, set[int]] = {}
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT chat_key, messages FROM sessions").fetchall()
        rows += conn.execute("SELECT chat_key, messages FROM pending_wipes").fetchall()
    for key, raw in rows:
        if str(key).startswith("tg:"):
            ids = {int(pair[0]) for pair in json.loads(raw)}
            found.setdefault(int(str(key)[3:]), set()).update(ids)
    return found


def states(db: Path) -> dict[int, str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT chat_key, state FROM sessions").fetchall()
    return {int(str(k)[3:]): str(s) for k, s in rows if str(k).startswith("tg:")}


class CrashRun:
    def __init__(self, fake: ReliableFake, folder: Path, people: int, seed: int) -> None:
        self.fake = fake
        self.folder = folder
        self.db = folder / "crash.db"
        self.rng = random.Random(seed)
        self.people = [Person(720001 + n, self.rng) for n in range(people)]
        self.killer = Killer(fake)
        self.figures = CrashFigures()
        self.windows: dict[int, list[tuple[int, int]]] = {}  # chat -> (after id, up to id)
        self.logs: list[Path] = []
        self.process: subprocess.Popen[bytes] | None = None

    # -- the process ------------------------------------------------------------------------

    def start(self) -> subprocess.Popen[bytes]:
        log = self.folder / f"bot-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"],
                cwd=ROOT,
                env=bot_env(self.fake, self.db),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self.process

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    # -- what a person sees -----------------------------------------------------------------

    def signature(self, chat: int) -> tuple[int, dict[int, tuple[Any, ...]]]:
        """The chat's newest message id (anyone's), and what each bot message shows."""
        messages = self.fake.chat(chat)
        newest = max((m[0] for m in self.fake.every_message(chat)), default=0)
        shows = {
            m.message_id: (m.plain_text, json.dumps(m.reply_markup, sort_keys=True))
            for m in messages
            if m.from_bot
        }
        return newest, shows

    def live(self, chat: int) -> tuple[int, list[str]] | None:
        """The newest bot message, and its buttons' data, if it has any."""
        mine = [m for m in self.fake.chat(chat) if m.from_bot]
        if not mine or not mine[-1].reply_markup:
            return None
        rows = mine[-1].reply_markup.get("inline_keyboard", [])
        return mine[-1].message_id, [b["callback_data"] for row in rows for b in row]

    def answered(self, chat: int, before: tuple[int, dict[int, tuple[Any, ...]]]) -> bool:
        """The bot has replied to what the person did: a new message of the bot's with buttons
        or a farewell, or a message of the bot's changed in place and ending the chat with
        buttons."""
        newest, shown = before
        bots = [m for m in self.fake.chat(chat) if m.from_bot]
        if any(
            m.message_id > newest
            and (m.reply_markup is not None or (m.plain_text or "").startswith(FAREWELL))
            for m in bots
        ):
            return True
        edited = any(
            m.message_id in shown
            and shown[m.message_id] != (m.plain_text, json.dumps(m.reply_markup, sort_keys=True))
            for m in bots
        )
        return edited and bool(bots) and bots[-1].reply_markup is not None

    # -- acting -----------------------------------------------------------------------------

    def act(self, person: Person) -> Any:
        """The person's next action; returns what the chat looked like before it."""
        chat, rng = person.chat, person.rng
        before = self.signature(chat)
        live = self.live(chat)
        if not person.walking:
            person.begin()
            self.fake.send_text(chat, "/start")
        elif person.steps_left <= 0:
            if live is not None and "w:exit" in live[1] and rng.random() < 0.5:
                self.fake.press(chat, live[0], "w:exit")
            else:
                self.fake.send_text(chat, rng.choice(["/exit", "exit"]))
            person.walking = False
            person.just_left = True
            self.figures.exits += 1
        elif live is None:
            self.fake.send_text(chat, rng.choice(["hello", "/start"]))
        else:
            steps = [d for d in live[1] if d.startswith("s:")]
            if steps:
                self.fake.press(chat, live[0], rng.choice(steps))
            else:
                self.fake.send_text(chat, rng.choice(PLACES))
            person.steps_left -= 1
        self.figures.actions += 1
        return before

    def wait_replies(self, waiting: dict[int, Any]) -> bool:
        """Wait for every person's reply; False if the bot was killed meanwhile."""

        process = self.process

        def done(_fake: FakeBotApi) -> bool:
            if self.killer.triggered.is_set() or (
                process is not None and process.poll() is not None
            ):
                return True
            return all(self.answered(chat, before) for chat, before in waiting.items())

        self.fake.wait_for(done, timeout=REPLY_TIMEOUT)
        if self.killer.triggered.is_set():
            self.fake.wait_for(lambda _f: self.killer.killed.is_set(), timeout=REPLY_TIMEOUT)
        if process is not None and process.poll() is not None and not self.killer.killed.is_set():
            raise AssertionError(
                f"the bot stopped by itself:\n{self.logs[-1].read_text(errors='replace')}"
            )
        return not self.killer.killed.is_set()

    # -- checks -----------------------------------------------------------------------------

    def leftovers(self, chat: int, keep_farewell: bool) -> list[int]:
        now = int(self.fake.clock().timestamp())
        return [
            m.message_id
            for m in self.fake.chat(chat)
            if now - m.date < DELETE_WINDOW
            and not (keep_farewell and m.from_bot and (m.plain_text or "").startswith(FAREWELL))
        ]

    def after_kill(self, before: dict[int, set[int]]) -> dict[int, set[int]]:
        """The database is sound, and nothing it tracked was lost unless it was deleted."""
        result = integrity(self.db)
        self.figures.integrity_checks += 1
        if result != "ok":
            self.figures.errors.append(f"integrity_check after kill {self.figures.kills}: {result}")
        now = tracked(self.db)
        for chat, ids in before.items():
            visible = {m.message_id for m in self.fake.chat(chat)}
            lost = (ids - now.get(chat, set())) & visible
            self.figures.tracked_ids_checked += len(ids)
            if lost:
                self.figures.errors.append(
                    f"kill {self.figures.kills}: chat {chat} no longer tracks {sorted(lost)}"
                )
        return now

    # -- the run ----------------------------------------------------------------------------

    def newest(self, chat: int) -> int:
        return max((m[0] for m in self.fake.every_message(chat)), default=0)

    def excused(self, chat: int, message_id: int) -> bool:
        """Made in the round a kill cut short: see `CrashFigures.in_kill_window`."""
        return any(low < message_id <= high for low, high in self.windows.get(chat, []))

    def check_left(self, chat: int, keep_farewell: bool, when: str) -> None:
        left = self.leftovers(chat, keep_farewell)
        for message_id in left:
            if self.excused(chat, message_id):
                kind = (
                    "bot"
                    if self.fake.raw_message(chat, message_id)
                    and (
                        (self.fake.raw_message(chat, message_id) or {})
                        .get("from", {})
                        .get("is_bot")
                    )
                    else "person"
                )
                self.figures.in_kill_window[(chat, message_id)] = kind
        wrong = [m for m in left if not self.excused(chat, m)]
        if wrong:
            self.figures.errors.append(f"{when}: chat {chat} still shows {wrong}")
            self.figures.leftovers += len(wrong)

    def check_exit(self, chat: int) -> None:
        """The farewell comes first and the chat is cleared up to it: wait for the clearing
        (a condition, not a time). A kill before it is done leaves the rest to the restart's
        sweep, which the final check holds to an empty chat."""
        with contextlib.suppress(AssertionError):  # not cleared in time: reported below
            self.fake.wait_for(
                lambda _f: not self.leftovers(chat, True) or self.killer.killed.is_set(),
                timeout=REPLY_TIMEOUT,
            )
        if self.killer.killed.is_set() and self.leftovers(chat, True):
            return
        self.check_left(chat, True, f"kill {self.figures.kills}, quick exit")

    def cycle(self, tracked_before: dict[int, set[int]]) -> dict[int, set[int]]:
        """Start the bot, play until it is killed, check the database."""
        rng = self.rng
        before_states = states(self.db) if self.db.exists() else {}
        process = self.start()
        if self.figures.kills:
            self.figures.restarts += 1
        countdown, phase = rng.randint(1, 40), rng.choice(PHASES)
        self.killer.arm(process, countdown, phase)
        walking = {p.chat for p in self.people if p.walking and p.steps_left > 0}
        first = True
        while not self.killer.killed.is_set():
            started = {person.chat: self.newest(person.chat) for person in self.people}
            waiting: dict[int, Any] = {}
            for person in self.people:
                waiting[person.chat] = self.act(person)
            if not self.wait_replies(waiting):
                for chat, low in started.items():
                    self.windows.setdefault(chat, []).append((low, self.newest(chat)))
                break
            if first:
                self._note_resumed(before_states, walking)
                first = False
            for person in self.people:
                if person.just_left:
                    person.just_left = False
                    self.check_exit(person.chat)
        self.figures.kills += 1
        self.figures.kills_by_phase[phase] += 1
        self.figures.kills_by_method[self.killer.method] += 1
        return self.after_kill(tracked_before)

    def _note_resumed(self, before: dict[int, str], walking: set[int]) -> None:
        """For each person mid-conversation when the bot was killed: did their next action carry
        on from their step (or re-show it), or did the conversation begin again?"""
        after = states(self.db)
        for chat in walking:
            was, now = before.get(chat), after.get(chat)
            if was is None or now is None or (now.startswith("opening.") and was != now):
                self.figures.restarted += 1
            else:
                self.figures.resumed += 1

    def scan_logs(self) -> None:
        """What the bot wrote while it ran: no error, no traceback, never the token."""
        for log in self.logs:
            text = log.read_text(errors="replace") if log.exists() else ""
            for line in text.splitlines():
                if " ERROR " in line or " CRITICAL " in line or "Traceback" in line:
                    self.figures.errors.append(f"{log.name}: {line}")
            if TOKEN in text or TOKEN.split(":", 1)[1] in text:
                self.figures.errors.append(f"{log.name}: the bot token is in the log")

    def final_idle_check(self) -> None:
        """Leave every conversation where it is; once the idle time has passed, the bot's
        start-up sweep must leave every chat empty (farewells included)."""
        self.fake.on_request = None
        clock = FakeClock(datetime.now(UTC) + timedelta(minutes=16))
        trouble = Trouble()
        settings = settings_for(self.fake, self.folder, db_path=self.db)
        with watching(trouble), BotThread(self.fake, settings, clock, trouble):
            pass  # the sweep runs at start-up
        self.figures.errors += trouble.errors
        for person in self.people:
            self.check_left(person.chat, False, "after the idle time")

    def run(self, kills: int) -> CrashFigures:
        seen: dict[int, set[int]] = {}
        try:
            for _ in range(kills):
                seen = self.cycle(seen)
        finally:
            self.stop()
        self.final_idle_check()
        self.scan_logs()
        return self.figures
