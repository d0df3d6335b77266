"""Hypothesis-driven streams of random Telegram updates, played at the real bot.

A stream is a list of bursts; a burst is a list of actions (a person types, taps, sends a
sticker, a group writes, a forged button is pressed, time passes...). Each burst is sent at
once, the bot is left to finish, and then the invariants are checked:

- no unhandled exception (no ERROR log, nothing caught by the event loop);
- every request the bot made is valid against the Bot API schema (the fake refuses the rest);
- every update the fuzzer made is itself a valid Bot API `Update` (so nothing passes by being
  nonsense Telegram would never send);
- every button press was answered, and groups and channels never got a message.

At the end, every person leaves with a quick exit, the idle time passes, and each private chat
must hold no message younger than 48 hours: nothing the fuzz left behind escaped the wipe.
"""

from __future__ import annotations

import copy
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from bot.app import build
from bot.channels.telegram.render import callback_data
from bot.i18n import translator
from tests.conftest import DIRECTORY, FLOWS, LOCALES, FakeClock
from tests.reliability.harness import ANONYMOUS_ADMIN, CHANNEL_BOT, BotThread, ReliableFake, Trouble
from tests.telegram_support import settings_for

PEOPLE = (810001, 810002, 810003, 810004)
OWNER = 810009  # a service manager, so the admin chat is fuzzed too
GROUP, SUPERGROUP, CHANNEL = -4001, -1000000004002, -1000000004003
STRANGER = 810777  # someone pressing buttons in chats that are not theirs
DELETE_WINDOW = 48 * 3600

_PARTS = build(FLOWS, DIRECTORY, LOCALES)
_SPEC = _PARTS.spec
# What /forget says as it goes. It keeps nothing, not even this message's id, so it is the one
# message the bot leaves in a chat on purpose (docs/privacy.md).
FORGOTTEN = tuple(
    translator(locale, LOCALES).gettext(_SPEC.states["core.forgotten"].text)[:40]
    for locale in _PARTS.locales
)
STATES = sorted(_SPEC.states)
TRIGGERS = sorted(
    {b.trigger for s in _SPEC.states.values() for b in s.buttons} | set(_SPEC.ways_out)
)
LABELS = sorted({b.label for s in _SPEC.states.values() for b in s.buttons})
# The callback data of every button of every step, as the bot sends it.
REAL_DATA = sorted(
    {callback_data(name, b) for name in _SPEC.states for b in _PARTS.engine.buttons(name)}
)
COMMANDS = [f"/{w.command}" for w in _SPEC.ways_out.values() if w.command] + [
    "/admin",
    "/undo",
    "/done",
    "/start mk",
    "/start mk-pro",
    "/start nonsense",
    "/start@pathways_test_bot",
    "/START",
    "/",
    "/exit@someone_else_bot",
]
PLACES = ["Bletchley", "MK9", "mk9 3", "Cardiff", "Belfast", "Glasgow", "Milton Keynes", "nowhere"]
LANGUAGES = ["en", "cy", "pl", "ro", "ur", "pl-PL", "en-GB", "zz", "", "x" * 35, "ur-PK"]
ADMIN_DATA = [
    "a:menu",
    "a:find",
    "a:all:0",
    "a:all:999",
    "a:view:samaritans",
    "a:view:",
    "a:edit",
    "a:field:name",
    "a:verify",
    "a:save",
    "a:cancel",
    "a:doimport",
    "a:editors",
    "a:rmeditor:1",
    "a:addeditor",
    "a:figures",
    "a:export",
    "a:stale",
]


# -- actions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Say:
    chat: int
    text: str
    language: str = "en"


@dataclass(frozen=True)
class Media:
    chat: int
    kind: str
    caption: str | None = None


@dataclass(frozen=True)
class Tap:
    """Tap a button of the chat's live message (chosen by `pick`), as the person or someone else."""

    chat: int
    pick: int
    stranger: bool = False


@dataclass(frozen=True)
class Stale:
    """Press a button the bot sent earlier in this chat, on any message still visible."""

    chat: int
    pick: int
    message: int


@dataclass(frozen=True)
class Forge:
    chat: int
    data: str | None
    where: str  # live | inaccessible | inline | group


@dataclass(frozen=True)
class Edit:
    chat: int
    text: str


@dataclass(frozen=True)
class Group:
    chat: int
    text: str
    who: str  # member | anonymous | owner | channel_bot


@dataclass(frozen=True)
class Post:
    text: str
    edited: bool


@dataclass(frozen=True)
class Join:
    chat: int


@dataclass(frozen=True)
class Other:
    kind: str
    text: str


@dataclass(frozen=True)
class Block:
    chat: int
    blocked: bool
    notify: bool


@dataclass(frozen=True)
class Again:
    """Deliver an earlier update again: with its own update id (a duplicate id) or a new one."""

    pick: int
    same_id: bool


@dataclass(frozen=True)
class Shuffle:
    """Several messages whose update ids arrive out of order (and one id twice)."""

    chat: int
    texts: tuple[str, ...]


@dataclass(frozen=True)
class Upload:
    chat: int
    name: str
    data: bytes


@dataclass(frozen=True)
class Tick:
    """Time passes, and the auto-clear sweep runs."""

    minutes: int


Action = (
    Say
    | Media
    | Tap
    | Stale
    | Forge
    | Edit
    | Group
    | Post
    | Join
    | Other
    | Block
    | Again
    | Shuffle
    | Upload
    | Tick
)


# -- strategies ---------------------------------------------------------------------------------

people = st.sampled_from(PEOPLE)
anyone = st.sampled_from((*PEOPLE, OWNER))
short_text = st.text(min_size=1, max_size=60)


@st.composite
def long_text(draw: st.DrawFn) -> str:
    """4,096 to 10,000 characters, built from a short random piece (cheap to generate)."""
    piece = draw(st.text(min_size=1, max_size=12))
    size = draw(st.sampled_from([4096, 4097, 10_000]))
    return (piece * (size // len(piece) + 1))[:size]


typed = st.one_of(
    short_text,
    st.sampled_from(COMMANDS),
    st.sampled_from(LABELS),
    st.sampled_from(PLACES),
    st.sampled_from(["exit", "EXIT!", "Exit ", "quick exit", "help", "back", "0", "1", "99"]),
    st.builds(lambda c, t: f"{c} {t}", st.sampled_from(COMMANDS), short_text),
    st.text(st.characters(categories=["Mn", "Me", "Cf", "Zs", "Zl", "Zp", "Co", "So"]), min_size=1),
    long_text(),
)
forged_data = st.one_of(
    st.none(),
    st.text(min_size=1, max_size=64).filter(lambda d: len(d.encode()) <= 64),
    st.sampled_from(REAL_DATA),
    st.sampled_from(ADMIN_DATA),
    st.builds(lambda s, t: f"s:{s}:{t}"[:64], st.sampled_from(STATES), st.sampled_from(TRIGGERS)),
    st.builds(lambda t: f"w:{t}", st.sampled_from([*TRIGGERS, "", "x", "exit:exit"])),
    st.builds(lambda a, b: f"{a}:{b}", st.sampled_from(["s", "w", "a", ""]), short_text).filter(
        lambda d: len(d.encode()) <= 64
    ),
)
file_names = st.one_of(
    st.sampled_from(
        [
            "directory.csv",
            "../../etc/passwd.csv",
            "..\\..\\windows\\system.ini.csv",
            "/etc/shadow.yaml",
            "a/b/../c.yml",
            "x.CSV",
            "report.xlsx",
            "noext",
            ".csv",
            "con.csv",
            "%2e%2e%2fescape.csv",
        ]
    ),
    st.builds(lambda n, e: n + e, short_text, st.sampled_from([".csv", ".yaml", ".txt", ""])),
)
file_data = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda t: t.encode(), short_text),
    st.sampled_from(
        [
            b"id,name\n=cmd|' /C calc'!A0,x\n",
            b"services:\n  - id: x\n",
            b"areas: [1, 2]\nservices: {}\n",
            b"\xef\xbb\xbfid,name,description\r\n",
            b"{{{{",
        ]
    ),
)
MEDIA = ["sticker", "photo", "voice", "location", "contact", "document", "dice", "venue", "poll"]
OTHERS = [
    "inline_query",
    "chosen_inline_result",
    "poll_answer",
    "chat_join_request",
    "message_reaction",
    "pre_checkout_query",
    "shipping_query",
    "chat_member",
]

# Each kind of action with its weight: mostly people typing and tapping (which takes them deep
# into the conversations), and a steady share of everything else.
_WEIGHTED: list[tuple[int, st.SearchStrategy[Action]]] = [
    (5, st.builds(Say, people, typed, st.sampled_from(LANGUAGES))),
    (9, st.builds(Tap, people, st.integers(0, 20))),
    (1, st.builds(Tap, anyone, st.integers(0, 20), st.booleans())),
    (2, st.builds(Media, people, st.sampled_from(MEDIA), st.none() | short_text)),
    (2, st.builds(Stale, people, st.integers(0, 200), st.integers(0, 50))),
    (
        3,
        st.builds(
            Forge, anyone, forged_data, st.sampled_from(["live", "inaccessible", "inline", "group"])
        ),
    ),
    (1, st.builds(Edit, people, short_text)),
    (
        2,
        st.builds(
            Group,
            st.sampled_from([GROUP, SUPERGROUP]),
            st.one_of(short_text, st.sampled_from(COMMANDS)),
            st.sampled_from(["member", "anonymous", "owner", "channel_bot"]),
        ),
    ),
    (1, st.builds(Post, short_text, st.booleans())),
    (1, st.builds(Join, st.sampled_from([GROUP, SUPERGROUP, CHANNEL]))),
    (2, st.builds(Other, st.sampled_from(OTHERS), short_text)),
    (1, st.builds(Block, people, st.booleans(), st.booleans())),
    (2, st.builds(Again, st.integers(0, 10_000), st.booleans())),
    (1, st.builds(Shuffle, people, st.lists(short_text, min_size=2, max_size=4).map(tuple))),
    (2, st.builds(Upload, st.sampled_from([OWNER, OWNER, *PEOPLE]), file_names, file_data)),
    (2, st.builds(Say, st.just(OWNER), st.one_of(st.sampled_from(COMMANDS), short_text))),
    (2, st.builds(Tap, st.just(OWNER), st.integers(0, 20))),
    (1, st.builds(Tick, st.integers(1, 20))),
]
actions: st.SearchStrategy[Action] = st.sampled_from(
    [strategy for weight, strategy in _WEIGHTED for _ in range(weight)]
).flatmap(lambda strategy: strategy)
bursts = st.lists(actions, min_size=1, max_size=12)


def fuzz_settings(examples: int) -> settings:
    """Deterministic (derandomized, no database), no deadline, and no shrinking: the bot's
    state carries over from one burst to the next, so a failure is reported as it happened."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )


# -- playing a stream -----------------------------------------------------------------------


@dataclass
class Figures:
    bursts: int = 0
    updates: int = 0  # delivered to the bot by getUpdates
    actions: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    dropped: int = 0
    warnings: int = 0
    errors: int = 0
    refused: int = 0
    leftovers: int = 0  # messages younger than 48 hours left after the final exits


class Fuzzer:
    """Plays bursts of actions at a running bot and checks the invariants after each."""

    def __init__(self, fake: ReliableFake, bot: BotThread, clock: FakeClock) -> None:
        self.fake = fake
        self.bot = bot
        self.clock = clock
        self.trouble = bot.trouble
        self.figures = Figures()
        self.seen_data: dict[int, list[str]] = {}
        self.answered_twice: set[str] = set()  # button presses delivered twice
        self.blocked_after: dict[int, int] = {}  # chat -> its newest message when blocked
        self._checked_refusals = 0
        self._next_inline = 1

    # -- one burst ------------------------------------------------------------------------

    def play(self, burst: Sequence[Action]) -> None:
        for action in burst:
            self.figures.actions[type(action).__name__] += 1
            self._do(action)
        # A fuzzer that sends what Telegram never would proves nothing: fail fast on it.
        assert self.fake.invalid_updates == [], self.fake.invalid_updates[:5]
        self.bot.settle()
        self.figures.bursts += 1
        self.check()

    def check(self) -> None:
        trouble, fake = self.trouble, self.fake
        assert trouble.errors == [], "\n".join(trouble.errors[-20:])
        assert fake.invalid_updates == [], fake.invalid_updates[:5]
        refusals = [r for r in fake.refusals[self._checked_refusals :] if not self._tolerated(r)]
        self._checked_refusals = len(fake.refusals)
        assert refusals == [], [(r.method, r.description, r.params) for r in refusals[:5]]
        unanswered = fake.registered_callbacks() - set(fake.answered_callbacks)
        assert unanswered == set(), f"{len(unanswered)} button presses never answered"
        to_groups = [
            c
            for method in ("sendMessage", "sendDocument", "sendPhoto")
            for c in fake.calls(method)
            if c["chat_id"] < 0
        ]
        assert to_groups == [], to_groups[:3]
        people_messages = [c for c in fake.calls("sendMessage") if c["chat_id"] in PEOPLE]
        assert all(c.get("protect_content") is True for c in people_messages)

    def _tolerated(self, refusal: Any) -> bool:
        """Requests that fail for reasons the bot cannot see coming, and harmlessly: deleting a
        message that was there but is gone already (delivered twice, or wiped by a quick exit
        before the bot got to read it), and answering a button press delivered twice."""
        params = refusal.params
        if refusal.method == "answerCallbackQuery":
            return params.get("callback_query_id") in self.answered_twice
        if refusal.method == "deleteMessage" and "not found" in refusal.description:
            chat, message = params.get("chat_id"), params.get("message_id")
            return (
                isinstance(chat, int)
                and isinstance(message, int)
                and (self.fake.raw_message(chat, message) is not None)
            )
        return False

    # -- the end of a stream --------------------------------------------------------------

    def finish(self) -> None:
        """Everyone leaves by quick exit; once the idle time has passed, no private chat holds
        any message younger than 48 hours."""
        for chat in PEOPLE:
            if self.fake.is_blocked(chat):
                self.fake.unblock(chat, notify=False)
            self.fake.send_text(chat, "/exit")
        self.bot.settle()
        self.clock.advance(minutes=16)
        self.bot.sweep()
        self.bot.settle()
        self.check()
        now = int(self.clock().timestamp())
        # A person who blocked the bot was forgotten: messages from before that stay theirs.
        left = {
            chat: [
                (message.message_id, "bot" if message.from_bot else "person")
                for message in self.fake.chat(chat)
                if now - message.date < DELETE_WINDOW
                and message.message_id > self.blocked_after.get(chat, 0)
                and not (message.plain_text or "").startswith(FORGOTTEN)
            ]
            for chat in PEOPLE
        }
        self.figures.leftovers = sum(len(v) for v in left.values())
        self.figures.updates = self.fake.delivered
        self.figures.requests = len(self.fake.requests)
        self.figures.dropped = self.bot.processor.dropped
        self.figures.warnings = len(self.trouble.warnings)
        self.figures.errors = len(self.trouble.errors)
        self.figures.refused = len(self.fake.refusals)
        assert self.figures.leftovers == 0, f"messages left after exit and idle time: {left}"

    # -- actions --------------------------------------------------------------------------

    def _do(self, action: Action) -> None:
        fake = self.fake
        match action:
            case Say(chat, text, language):
                fake.send_text(chat, text, language_code=language)
            case Media(chat, kind, caption):
                self._media(chat, kind, caption)
            case Tap(chat, pick, stranger):
                self._tap(chat, pick, stranger)
            case Stale(chat, pick, message):
                self._stale(chat, pick, message)
            case Forge(chat, data, where):
                self._forge(chat, data, where)
            case Edit(chat, text):
                self._edit(chat, text)
            case Group(chat, text, who):
                self._group(chat, text, who)
            case Post(text, edited):
                self._post(text, edited)
            case Join(chat):
                if chat == CHANNEL:
                    fake.channel_post(CHANNEL, "joined")
                else:
                    fake.add_bot_to_group(chat, by_user=PEOPLE[0])
            case Other(kind, text):
                fake.queue_update(self._other(kind, text))
            case Block(chat, blocked, notify):
                if blocked:
                    fake.block(chat, notify=notify)
                    # Nothing can be sent from now on, and the bot forgets the person: what
                    # the chat holds so far is theirs to delete (README, "On Telegram").
                    ids = [m[0] for m in fake.every_message(chat)]
                    self.blocked_after[chat] = max(ids, default=0)
                else:
                    fake.unblock(chat, notify=notify)
            case Again(pick, same_id):
                self._again(pick, same_id)
            case Shuffle(chat, texts):
                self._shuffle(chat, texts)
            case Upload(chat, name, data):
                fake.send_document(chat, name, data, mime_type="application/octet-stream")
            case Tick(minutes):
                self.clock.advance(minutes=minutes)
                self.bot.sweep()

    def _private(self, chat: int) -> dict[str, Any]:
        return {"id": chat, "type": "private", "first_name": "Test"}

    def _now(self) -> int:
        return int(self.clock().timestamp())

    def _media(self, chat: int, kind: str, caption: str | None) -> None:
        file = {"file_id": f"f{chat}", "file_unique_id": f"u{chat}"}
        kinds: dict[str, dict[str, Any]] = {
            "photo": {"photo": [{**file, "width": 90, "height": 90}]},
            "voice": {"voice": {**file, "duration": 3}},
            "location": {"location": {"latitude": 52.04, "longitude": -0.76}},
            "contact": {"contact": {"phone_number": "+447700900123", "first_name": "A"}},
            "document": {"document": {**file, "file_name": "notes.txt"}},
            "dice": {"dice": {"emoji": "🎲", "value": 3}},
            "venue": {
                "venue": {
                    "location": {"latitude": 52.0, "longitude": -0.7},
                    "title": "T",
                    "address": "A",
                }
            },
            "poll": {
                "poll": {
                    "id": "p1",
                    "question": "?",
                    "options": [{"text": "a", "voter_count": 0, "persistent_id": "0"}],
                    "total_voter_count": 0,
                    "is_closed": False,
                    "is_anonymous": True,
                    "type": "regular",
                    "allows_multiple_answers": False,
                    "allows_revoting": False,
                    "members_only": False,
                }
            },
        }
        fields = dict(kinds.get(kind, {}))
        if kind == "sticker":
            self.fake.send_sticker(chat)
            return
        if caption is not None and kind in ("photo", "voice", "document"):
            fields["caption"] = caption
        self.fake.send_message(chat, **fields)

    def _live(self, chat: int) -> tuple[int, list[str]] | None:
        for message in reversed(self.fake.chat(chat)):
            if message.from_bot and message.reply_markup:
                rows = message.reply_markup.get("inline_keyboard", [])
                data = [b["callback_data"] for row in rows for b in row if "callback_data" in b]
                return message.message_id, data
        return None

    def _tap(self, chat: int, pick: int, stranger: bool) -> None:
        live = self._live(chat)
        if live is None or not live[1]:
            self.fake.send_text(chat, "/start")
            return
        message_id, data = live
        chosen = data[pick % len(data)]
        self.seen_data.setdefault(chat, []).append(chosen)
        self.fake.press(chat, message_id, chosen, from_id=STRANGER if stranger else None)

    def _stale(self, chat: int, pick: int, message: int) -> None:
        visible = [m.message_id for m in self.fake.chat(chat) if m.from_bot]
        seen = self.seen_data.get(chat)
        if not visible or not seen:
            return
        self.fake.press(chat, visible[message % len(visible)], seen[pick % len(seen)])

    def _forge(self, chat: int, data: str | None, where: str) -> None:
        fake = self.fake
        if where == "live":
            live = self._live(chat)
            if live is not None:
                raw = fake.raw_message(chat, live[0])
                fake.callback(from_id=chat, data=data, message=raw)
                return
            where = "inaccessible"
        if where == "inaccessible":  # a message too old for Telegram to show the bot
            message = {
                "chat": self._private(chat),
                "message_id": 1 + zlib.crc32((data or "").encode()) % 50,
                "date": 0,
            }
            fake.callback(from_id=chat, data=data, message=message)
        elif where == "inline":
            self._next_inline += 1
            fake.callback(from_id=chat, data=data, inline_message_id=f"in{self._next_inline}")
        else:  # a button under a message in a group, pressed by a manager
            message = {
                "message_id": 7,
                "date": self._now(),
                "chat": {"id": GROUP, "type": "group", "title": "G"},
                "text": "hi",
            }
            fake.callback(from_id=OWNER, data=data, message=message)

    def _edit(self, chat: int, text: str) -> None:
        mine = [m for m in self.fake.chat(chat) if not m.from_bot]
        message_id = mine[-1].message_id if mine else 1
        edited = {
            "message_id": message_id,
            "date": self._now() - 5,
            "edit_date": self._now(),
            "chat": self._private(chat),
            "from": {"id": chat, "is_bot": False, "first_name": "Test"},
            "text": text,
        }
        self.fake.queue_update({"edited_message": edited})

    def _group(self, chat: int, text: str, who: str) -> None:
        kind = "supergroup" if chat == SUPERGROUP else "group"
        group = {"id": chat, "type": kind, "title": "Group"}
        if who == "member":
            self.fake.send_group_text(chat, PEOPLE[1], text)
            return
        message: dict[str, Any] = {
            "message_id": 1,
            "date": self._now(),
            "chat": group,
            "text": text,
        }
        if who == "owner":
            message["from"] = {"id": OWNER, "is_bot": False, "first_name": "Owner"}
        elif who == "anonymous":
            message["from"] = {
                "id": ANONYMOUS_ADMIN,
                "is_bot": True,
                "first_name": "Group",
                "username": "GroupAnonymousBot",
            }
            message["sender_chat"] = group
        else:
            message["from"] = {
                "id": CHANNEL_BOT,
                "is_bot": True,
                "first_name": "Channel",
                "username": "Channel_Bot",
            }
            message["sender_chat"] = {"id": CHANNEL, "type": "channel", "title": "C"}
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": 1}]
        self.fake.queue_update({"message": message})

    def _post(self, text: str, edited: bool) -> None:
        if not edited:
            self.fake.channel_post(CHANNEL, text)
            return
        post = {
            "message_id": 1,
            "date": self._now() - 10,
            "edit_date": self._now(),
            "chat": {"id": CHANNEL, "type": "channel", "title": "C"},
            "text": text,
        }
        self.fake.queue_update({"edited_channel_post": post})

    def _other(self, kind: str, text: str) -> dict[str, Any]:
        user = {"id": PEOPLE[2], "is_bot": False, "first_name": "Test", "language_code": "en"}
        group = {"id": GROUP, "type": "group", "title": "Group"}
        now = self._now()
        member = {"status": "member", "user": user}
        bodies: dict[str, dict[str, Any]] = {
            "inline_query": {"id": "iq1", "from": user, "query": text, "offset": ""},
            "chosen_inline_result": {"result_id": "r1", "from": user, "query": text},
            "poll_answer": {
                "poll_id": "p1",
                "user": user,
                "option_ids": [0],
                "option_persistent_ids": ["0"],
            },
            "chat_join_request": {
                "chat": group,
                "from": user,
                "user_chat_id": PEOPLE[2],
                "date": now,
            },
            "message_reaction": {
                "chat": self._private(PEOPLE[2]),
                "message_id": 1,
                "user": user,
                "date": now,
                "old_reaction": [],
                "new_reaction": [{"type": "emoji", "emoji": "👍"}],
            },
            "pre_checkout_query": {
                "id": "pc1",
                "from": user,
                "currency": "GBP",
                "total_amount": 100,
                "invoice_payload": text,
            },
            "shipping_query": {
                "id": "sq1",
                "from": user,
                "invoice_payload": text,
                "shipping_address": {
                    "country_code": "GB",
                    "state": "",
                    "city": "MK",
                    "street_line1": "1",
                    "street_line2": "",
                    "post_code": "MK9 1AA",
                },
            },
            "chat_member": {
                "chat": group,
                "from": user,
                "date": now,
                "old_chat_member": {"status": "left", "user": user},
                "new_chat_member": member,
            },
        }
        return {kind: bodies[kind]}

    def _again(self, pick: int, same_id: bool) -> None:
        """Telegram delivers at least once: after a crash before the bot confirmed them, updates
        come again. A "blocked" notice is never replayed: Telegram sends one only when the person
        has blocked the bot, and forgetting them then is what the bot must do."""
        queued = [body for body in self.fake.queued if "my_chat_member" not in body]
        if not queued:
            return
        body = copy.deepcopy(queued[pick % len(queued)])
        query = body.get("callback_query")
        if isinstance(query, dict):
            self.answered_twice.add(query["id"])
        if same_id:
            # The same update id twice in one delivery.
            first = self.fake.queue_update(body)
            self.fake.queue_update({**body, "update_id": first})
            if isinstance(query, dict):
                self.answered_twice.add(query["id"])
        else:
            self.fake.queue_update(body)

    def _shuffle(self, chat: int, texts: tuple[str, ...]) -> None:
        """The first message with the next update id, the rest with ids counting down: the
        fake hands them out as queued, so the bot's offset moves back and some come twice."""
        raws = [self.fake.store_only(chat, text=text) for text in texts]
        first = self.fake.queue_update({"message": raws[0]})
        rest = raws[1:]
        for position, raw in enumerate(rest):
            self.fake.queue_update({"update_id": first + len(rest) - position, "message": raw})


# -- a whole run ----------------------------------------------------------------------------------


def run_fuzz(
    tmp_path: Path,
    examples: int,
    *,
    target_updates: int | None = None,
    progress: Callable[[Figures], None] | None = None,
) -> Figures:
    """Play `examples` bursts (stopping early once `target_updates` updates have been
    delivered) at a fresh bot, finish with everyone's quick exit, and return the figures."""
    from hypothesis import given

    from tests.reliability.harness import watching

    clock = FakeClock()
    trouble = Trouble()
    with ReliableFake(clock=clock) as fake, watching(trouble):
        settings_ = settings_for(
            fake,
            tmp_path,
            owner_ids=frozenset({OWNER}),
            db_path=tmp_path / "fuzz.db",
        )
        # Fast enough that bursts are not throttled for long, small enough that the flood
        # guard still drops some.
        with BotThread(fake, settings_, clock, trouble, rate=500.0, burst=8, max_pending=6) as bot:
            fuzzer = Fuzzer(fake, bot, clock)
            failed: list[tuple[list[Action], AssertionError]] = []

            @fuzz_settings(examples)
            @given(bursts)
            def stream(burst: list[Action]) -> None:
                # The bot's state carries over from burst to burst, so hypothesis could not
                # replay a failure alone: the first one is kept and reported as it happened.
                done = target_updates is not None and fake.delivered >= target_updates
                if failed or done:
                    return
                try:
                    fuzzer.play(burst)
                except AssertionError as exc:
                    failed.append((burst, exc))
                if progress is not None and fuzzer.figures.bursts % 50 == 0:
                    progress(fuzzer.figures)

            stream()
            if failed:
                burst, exc = failed[0]
                raise AssertionError(
                    f"after {fuzzer.figures.bursts} bursts, this one broke an invariant:\n"
                    + "\n".join(f"  {action!r}"[:300] for action in burst)
                ) from exc
            fuzzer.finish()
            return fuzzer.figures
