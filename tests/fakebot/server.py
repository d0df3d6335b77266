"""An offline fake of the Telegram Bot API, for end-to-end tests of the real bot.

The bot under test talks HTTP to this server exactly as it would to api.telegram.org (PTB's
`base_url` points here), so the whole stack runs: request encoding, long polling, retries,
error mapping. Tests play the people (`send_text`, `press`, ...) and then assert on what the
bot did (`chat`, `calls`, `refused`). Every request is checked against the published Bot API
schema and the limits Telegram states in prose, so a request the real server would refuse is
refused here too, instead of passing silently offline.

All shared state is guarded by one `threading.Condition`, notified after every request and
every change, so tests wait for outcomes (`wait_for`, `until`) instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import email.parser
import email.policy
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from .schema import (
    MAX_CALLBACK_ANSWER,
    MAX_CAPTION,
    MAX_DELETE_IDS,
    MAX_TEXT,
    RequestError,
    Schema,
    UploadedFile,
    bad_request,
    check_inline_keyboard,
    check_text,
    default_schema,
    utf16_len,
)

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
# "...-after": the method is carried out (a message is delivered), then the answer is lost.
AFTER_DELIVERY = frozenset({"502-after", "timeout-after"})
FAULTS = frozenset({"429", "500", "timeout", "drop", "403"}) | AFTER_DELIVERY
DELETE_WINDOW_SECONDS = 48 * 60 * 60
USER_FIRST_NAME = "Test"

BLOCKED = "Forbidden: bot was blocked by the user"
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
# Updates Telegram leaves out unless allowed_updates asks for them explicitly.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

Predicate = Callable[["FakeBotApi"], bool]
Responder = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw and answered it.

    `status` is 0 when the connection was dropped on purpose. `refused` marks requests turned
    down by the schema or limit checks, i.e. the bot's own mistakes, so a test can assert
    `fake.refused == []`; injected faults and blocked users are not refusals.
    """

    method: str
    params: dict[str, Any]
    status: int
    time: float
    description: str | None = None
    fault: str | None = None
    refused: bool = False
    result: Any = None

    def summary(self) -> str:
        """One line for failure messages."""
        params = json.dumps(self.params, default=repr, ensure_ascii=False)
        if len(params) > 160:
            params = params[:157] + "..."
        note = f" [{self.fault}]" if self.fault else ""
        detail = f" {self.description}" if self.description else ""
        return f"{self.method} -> {self.status}{note}{detail} {params}"


@dataclass(frozen=True)
class ChatMessage:
    """A message still visible in a chat, as a test sees it.

    `text` is the text as the bot sent it (HTML included); `plain_text` and `entities` are
    what Telegram made of it. `raw` is the Message object as Telegram would return it.
    """

    message_id: int
    from_bot: bool
    text: str | None
    reply_markup: dict[str, Any] | None
    date: int
    protect_content: bool
    parse_mode: str | None
    link_preview_options: dict[str, Any] | None
    kind: str
    from_id: int | None
    plain_text: str | None
    entities: list[dict[str, Any]]
    caption: str | None
    edit_date: int | None
    raw: dict[str, Any]


@dataclass
class _Stored:
    """The server's own, mutable record of one message."""

    chat_id: int
    message_id: int
    from_bot: bool
    from_id: int | None
    date: int
    kind: str
    raw: dict[str, Any]
    text: str | None = None
    plain_text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    protect_content: bool = False
    link_preview_options: dict[str, Any] | None = None
    edit_date: int | None = None
    deleted: bool = False

    def snapshot(self) -> ChatMessage:
        return ChatMessage(
            message_id=self.message_id,
            from_bot=self.from_bot,
            text=self.text,
            reply_markup=copy.deepcopy(self.reply_markup),
            date=self.date,
            protect_content=self.protect_content,
            parse_mode=self.parse_mode,
            link_preview_options=copy.deepcopy(self.link_preview_options),
            kind=self.kind,
            from_id=self.from_id,
            plain_text=self.plain_text,
            entities=copy.deepcopy(self.entities),
            caption=self.caption,
            edit_date=self.edit_date,
            raw=copy.deepcopy(self.raw),
        )


@dataclass(frozen=True)
class _Dropped:
    """Marker answer: close the connection without any response."""

    fault: str = "drop"


_DROP = _Dropped()
_Answer = tuple[int, dict[str, Any]] | _Dropped


class _Handler(BaseHTTPRequestHandler):
    """Reads one HTTP request, lets `FakeBotApi` answer it, writes JSON with Content-Length."""

    protocol_version = "HTTP/1.1"
    # A buffered writer sends headers and body in one segment.
    wbufsize = 1 << 16
    server: _Server

    def setup(self) -> None:
        """Disable Nagle: headers and body written apart would otherwise wait out the
        client's delayed ACK, costing ~40 ms per request."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = self._read_body()
        if self.path.startswith("/file/"):
            self._serve_file()
            return
        content_type = self.headers.get("Content-Type", "")
        answer = self.server.api._answer(self.path, content_type, body)
        if isinstance(answer, _Dropped):
            self.close_connection = True
            return
        status, payload = answer
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            # The client gave up (e.g. its read timeout fired during a "timeout" fault).
            self.close_connection = True

    def _serve_file(self) -> None:
        data = self.server.api.download(self.path)
        status, payload = (200, data) if data is not None else (404, b"Not Found")
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the request log lives in `FakeBotApi.requests`."""


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that remembers its open connections so `stop` can cut them."""

    daemon_threads = True
    # socketserver listens with a backlog of 5. The bot may open a hundred connections at once
    # (a flood of typed messages, each dropped one deleted on its own); beyond the backlog the
    # kernel drops their SYNs and the client resends them after 1, 3, 7, 15, 31, 63 s... so any
    # request, a quick exit's included, could wait a minute or more to connect. Telegram
    # accepts them at once; so does the fake.
    request_queue_size = 1024

    def __init__(self, api: FakeBotApi) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api = api
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Unblock handler threads still waiting on keep-alive connections."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up mid-request is expected in fault tests, not an error."""


def _real_utc_now() -> datetime:
    return datetime.now(UTC)


class FakeBotApi:
    """A fake Telegram Bot API server on 127.0.0.1, for one bot token.

    Use as a context manager (or `start`/`stop`) and point the bot at `base_url`.
    """

    def __init__(
        self,
        token: str = TOKEN,
        clock: Callable[[], datetime] | None = None,
        bot_username: str = "pathways_test_bot",
        *,
        schema: Schema | None = None,
    ) -> None:
        self.token = token
        self.clock: Callable[[], datetime] = clock or _real_utc_now
        self.bot_username = bot_username
        self.schema = schema or default_schema()
        self.timeout_seconds = 2.0
        # In process (`listen`): no socket; updates go straight to a listener and requests
        # come through `answer_in_process` (tests/fakebot/inprocess.py).
        self._listener: Callable[[dict[str, Any]], None] | None = None
        self._cond = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        # Recording.
        self._requests: list[RequestRecord] = []
        self._answered: dict[str, str | None] = {}
        self._left: set[int] = set()
        # Telegram-side state.
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._delivered_update_id = 0
        self._allowed_updates: list[str] = []
        self._poll_generation = 0
        self._waiting_pollers = 0
        self._chats: dict[int, dict[str, Any]] = {}
        self._messages: dict[int, dict[int, _Stored]] = {}
        self._next_message_id: dict[int, int] = {}
        self._deleted: dict[int, list[int]] = {}
        self._blocked: set[int] = set()
        self._callbacks: set[str] = set()
        self._next_callback = 1
        self._next_file = 1
        self._files: dict[str, bytes] = {}  # file_id -> content, for getFile and downloads
        self._faults: dict[str, deque[tuple[str, int]]] = {}
        self._removed: set[str] = set()
        self._responders: dict[str, Responder] = {}
        # Answers held back (`hold`): methods whose next answer is held, how many are held
        # now, and how many times they have been let go (each held answer waits for a change).
        self._to_hold: set[str] = set()
        self._held = 0
        self._let_go = 0
        self._webhook_url = ""
        self._webhook_secret: str | None = None
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._descriptions: dict[str, str] = {}
        self._short_descriptions: dict[str, str] = {}
        self._handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getMe": lambda _p: self.bot_user,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setMyDescription": self._set_my_description,
            "setMyShortDescription": self._set_my_short_description,
            "sendMessage": self._send_message,
            "sendDocument": self._send_document,
            "getFile": self._get_file,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "leaveChat": self._leave_chat,
            "close": lambda _p: True,
            "logOut": lambda _p: True,
        }

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind a free port on 127.0.0.1 and serve from a daemon thread."""
        if self._server is not None:
            raise RuntimeError("FakeBotApi is already started")
        self._stopping = False
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},  # how long stop() may wait for the loop
            name=f"FakeBotApi:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release held requests (long polls, "timeout" faults, held answers), then close
        everything."""
        server, thread = self._server, self._thread
        if server is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeBotApi is not started")
        return int(self._server.server_address[1])

    @property
    def base_file_url(self) -> str:
        """Where files are downloaded from, in PTB's `base_file_url` form."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    @property
    def base_url(self) -> str:
        """What PTB's `base_url` takes: the token and method are appended to it."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def bot_id(self) -> int:
        return int(self.token.split(":", 1)[0])

    @property
    def bot_user(self) -> dict[str, Any]:
        """The bot as a Telegram User object (what getMe returns)."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Pathways",
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    # -- people acting ----------------------------------------------------------------------

    def send_text(self, chat_id: int, text: str, *, language_code: str = "en") -> int:
        """A user types `text` in their private chat with the bot; returns the message_id.

        A leading "/command" gets the bot_command entity Telegram adds, which is what command
        handlers look for.
        """
        fields: dict[str, Any] = {"text": text}
        entities = _command_entities(text)
        if entities:
            fields["entities"] = entities
        return self.send_message(chat_id, language_code=language_code, **fields)

    def send_message(self, chat_id: int, *, language_code: str = "en", **fields: Any) -> int:
        """A user sends any message (sticker, photo, contact...) given as Message fields."""
        with self._cond:
            chat = self._chat(chat_id, default_type="private")
            sender = _person(chat_id, language_code)
            stored = self._store(chat_id, chat, sender, fields, from_bot=False)
            self._queue({"message": copy.deepcopy(stored.raw)})
            return stored.message_id

    def send_document(
        self, chat_id: int, filename: str, data: bytes, *, mime_type: str = "text/csv"
    ) -> int:
        """A user sends a file (a spreadsheet, say); the bot can fetch it with getFile."""
        with self._cond:
            number = self._next_file
            self._next_file += 1
            file_id = f"upload{number}"
            self._files[file_id] = data
        document = {
            "file_id": file_id,
            "file_unique_id": f"uupload{number}",
            "file_name": filename,
            "mime_type": mime_type,
            "file_size": len(data),
        }
        return self.send_message(chat_id, document=document)

    def file_data(self, file_id: str) -> bytes:
        """The content of a file sent by the bot or a user."""
        with self._cond:
            return self._files[file_id]

    def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = params["file_id"]
        with self._cond:
            data = self._files.get(file_id)
        if data is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(data),
            "file_path": f"documents/{file_id}",
        }

    def download(self, path: str) -> bytes | None:
        """What GET /file/bot<token>/<file_path> serves: the file's bytes, or None."""
        # PTB percent-encodes the path, including the colon in the token.
        match = re.fullmatch(r"/file/bot([^/]*)/documents/([^/]+)", unquote(urlsplit(path).path))
        if match is None or match.group(1) != self.token:
            return None
        with self._cond:
            return self._files.get(match.group(2))

    def send_sticker(self, chat_id: int, *, emoji: str = "🙂", language_code: str = "en") -> int:
        """A user sends a sticker: a message with no text, which a text-only bot must survive."""
        with self._cond:
            file_number = self._next_file
            self._next_file += 1
        sticker = {
            "file_id": f"sticker{file_number}",
            "file_unique_id": f"usticker{file_number}",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self.send_message(chat_id, language_code=language_code, sticker=sticker)

    def press(self, chat_id: int, message_id: int, data: str, *, from_id: int | None = None) -> str:
        """A user presses an inline button with `data` on a message; returns the query id."""
        with self._cond:
            stored = self._messages.get(chat_id, {}).get(message_id)
            if stored is None or stored.deleted:
                raise LookupError(f"no visible message {message_id} in chat {chat_id} to press")
            query_id = str(1_000_000 + self._next_callback)
            self._next_callback += 1
            self._callbacks.add(query_id)
            query = {
                "id": query_id,
                "from": _person(from_id or chat_id, "en"),
                "message": copy.deepcopy(stored.raw),
                "chat_instance": f"{chat_id:x}",
                "data": data,
            }
            self._queue({"callback_query": query})
            return query_id

    def send_group_text(self, chat_id: int, from_id: int, text: str) -> int:
        """Someone writes in a group the bot is in (group chat ids are negative)."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        fields: dict[str, Any] = {"text": text}
        entities = _command_entities(text)
        if entities:
            fields["entities"] = entities
        with self._cond:
            chat = self._chat(chat_id, default_type="group")
            stored = self._store(chat_id, chat, _person(from_id, "en"), fields, from_bot=False)
            self._queue({"message": copy.deepcopy(stored.raw)})
            return stored.message_id

    def add_bot_to_group(self, chat_id: int, by_user: int) -> int:
        """Someone adds the bot to a group: a my_chat_member update; returns its update_id."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        with self._cond:
            chat = self._chat(chat_id, default_type="group")
            self._left.discard(chat_id)
            return self._queue(
                {
                    "my_chat_member": self._member_change(
                        chat, _person(by_user, "en"), "left", "member"
                    )
                }
            )

    def channel_post(self, chat_id: int, text: str) -> int:
        """A post appears in a channel the bot is in; returns its message_id."""
        if chat_id >= 0:
            raise ValueError("channel chat ids are negative")
        with self._cond:
            chat = self._chat(chat_id, default_type="channel")
            stored = self._store(chat_id, chat, None, {"text": text}, from_bot=False)
            self._queue({"channel_post": copy.deepcopy(stored.raw)})
            return stored.message_id

    def queue_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update (an update_id is assigned if missing); returns its update_id."""
        with self._cond:
            body = dict(update)
            given = body.pop("update_id", None)
            return self._queue(body, update_id=given)

    def block(self, chat_id: int, *, notify: bool = True) -> None:
        """The user blocks the bot: every send or edit to the chat now fails with 403.

        Telegram tells the bot with a my_chat_member update (member -> kicked); pass
        notify=False to leave it out.
        """
        with self._cond:
            self._blocked.add(chat_id)
            if notify:
                chat = self._chat(chat_id, default_type="private")
                change = self._member_change(chat, _person(chat_id, "en"), "member", "kicked")
                self._queue({"my_chat_member": change})
            self._cond.notify_all()

    def unblock(self, chat_id: int, *, notify: bool = True) -> None:
        """The user unblocks the bot (kicked -> member)."""
        with self._cond:
            self._blocked.discard(chat_id)
            if notify:
                chat = self._chat(chat_id, default_type="private")
                change = self._member_change(chat, _person(chat_id, "en"), "kicked", "member")
                self._queue({"my_chat_member": change})
            self._cond.notify_all()

    # -- faults and overrides ---------------------------------------------------------------

    def inject(self, method: str, fault: str, times: int = 1, retry_after: int = 1) -> None:
        """Make the next `times` valid calls of `method` fail with `fault`, in order.

        Faults: "429" (flood control with retry_after), "500", "timeout" (hold the request
        `timeout_seconds`, then 500), "drop" (close without answering), "403" (blocked);
        and after delivery, as when Telegram carries out a call but its answer is lost:
        "502-after" (done, then 502) and "timeout-after" (done, then held as "timeout").
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; expected one of {sorted(FAULTS)}")
        name = self._require_method(method)
        with self._cond:
            queue = self._faults.setdefault(name, deque())
            queue.extend([(fault, retry_after)] * times)

    def hold(self, method: str) -> None:
        """Carry out the next valid call of `method` at once, but hold its answer until
        `let_go` (or `stop`): a reply delivered, its answer not yet back. Over HTTP only: in
        process, holding an answer would hold the bot's event loop too."""
        name = self._require_method(method)
        if self._listener is not None:
            raise RuntimeError("answers are held over HTTP only (running_bot(in_process=False))")
        with self._cond:
            self._to_hold.add(name)

    def let_go(self) -> None:
        """Send every held answer (`hold`) back now."""
        with self._cond:
            self._let_go += 1
            self._cond.notify_all()

    @property
    def held(self) -> int:
        """How many answers are held back now (`hold`)."""
        with self._cond:
            return self._held

    def remove_method(self, name: str) -> None:
        """Answer `name` with 404 Not Found, like a server that does not have it."""
        with self._cond:
            self._removed.add(self._require_method(name))

    def respond(self, method: str, result: Any) -> None:
        """Answer valid calls of `method` with `result` (or `result(params)` if callable).

        For methods the fake does not model (getChat, sendPoll...).
        """
        name = self._require_method(method)
        responder: Responder = result if callable(result) else (lambda _p: copy.deepcopy(result))
        with self._cond:
            self._responders[name] = responder

    # -- what happened ----------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered so far, in order of completion."""
        with self._cond:
            return list(self._requests)

    def calls(self, method: str) -> list[dict[str, Any]]:
        """The decoded parameters of the accepted (200) calls of `method`."""
        name = self.schema.canonical(method) or method
        with self._cond:
            return [r.params for r in self._requests if r.method == name and r.status == 200]

    @property
    def refused(self) -> list[RequestRecord]:
        """Requests refused by schema or limit checks: invalid requests the bot made."""
        with self._cond:
            return [r for r in self._requests if r.refused]

    def chat(self, chat_id: int) -> list[ChatMessage]:
        """The messages still visible in a chat, oldest first."""
        with self._cond:
            messages = self._messages.get(chat_id, {})
            return [m.snapshot() for _, m in sorted(messages.items()) if not m.deleted]

    def deleted(self, chat_id: int) -> list[int]:
        """Ids of the messages deleted in a chat, in the order they were deleted."""
        with self._cond:
            return list(self._deleted.get(chat_id, []))

    @property
    def answered_callbacks(self) -> dict[str, str | None]:
        """Callback query id -> the text it was answered with (None for a silent answer)."""
        with self._cond:
            return dict(self._answered)

    @property
    def left_chats(self) -> set[int]:
        with self._cond:
            return set(self._left)

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by a getUpdates offset."""
        with self._cond:
            return copy.deepcopy(self._updates)

    @property
    def delivered_update_id(self) -> int:
        """The highest update_id handed out by getUpdates so far (0 if none)."""
        with self._cond:
            return self._delivered_update_id

    @property
    def waiting_pollers(self) -> int:
        """How many getUpdates calls are currently long-polling."""
        with self._cond:
            return self._waiting_pollers

    @property
    def webhook_url(self) -> str:
        with self._cond:
            return self._webhook_url

    def commands(
        self, language_code: str = "", scope: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The command list set by setMyCommands for a language and scope."""
        key = (_scope_key(scope), language_code)
        with self._cond:
            return copy.deepcopy(self._commands.get(key, []))

    @property
    def descriptions(self) -> dict[str, str]:
        """language_code ("" for the default) -> description set by setMyDescription."""
        with self._cond:
            return dict(self._descriptions)

    @property
    def short_descriptions(self) -> dict[str, str]:
        with self._cond:
            return dict(self._short_descriptions)

    # -- waiting ----------------------------------------------------------------------------

    def wait_for(self, predicate: Predicate, timeout: float = 60) -> None:
        """Block until `predicate(self)` holds; re-checked after every request and change."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._timeout_report(predicate, timeout))
                self._cond.wait(remaining)

    async def until(self, predicate: Predicate, timeout: float = 60) -> None:  # noqa: ASYNC109
        """`wait_for` for asyncio tests, without blocking the event loop the bot runs on.

        The `timeout` argument mirrors `wait_for` (it bounds the wait in the worker thread),
        which is why ruff's advice to use `asyncio.timeout` does not apply.
        """
        await asyncio.to_thread(self.wait_for, predicate, timeout)

    def _timeout_report(self, predicate: Predicate, timeout: float) -> str:
        name = getattr(predicate, "__qualname__", repr(predicate))
        recent = self._requests[-12:]
        lines = [r.summary() for r in recent] or ["(no requests at all)"]
        return (
            f"condition {name} still false after {timeout}s; "
            f"{len(self._requests)} requests, {len(self._updates)} pending updates, "
            f"{self._waiting_pollers} waiting getUpdates. Last requests:\n  " + "\n  ".join(lines)
        )

    # -- request handling -------------------------------------------------------------------

    def _answer(self, path: str, content_type: str, body: bytes) -> _Answer:
        """Answer one HTTP request: token, method, schema, faults, then the method itself."""
        query = urlsplit(path).query
        answer = self._answer_raw(path, lambda: _read_params(content_type, body, query))
        self._hold_answer(path, answer)
        return answer

    def _hold_answer(self, path: str, answer: _Answer) -> None:
        """Wait here, before answering, if this call's answer is to be held (`hold`)."""
        method = self.schema.canonical(urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1])
        if isinstance(answer, _Dropped) or answer[0] != 200:
            return  # only a call carried out is held
        with self._cond:
            if method not in self._to_hold:
                return
            self._to_hold.discard(method)
            self._held += 1
            self._cond.notify_all()
            let_go = self._let_go
            try:
                while not self._stopping and self._let_go == let_go:
                    self._cond.wait()
            finally:
                self._held -= 1
                self._cond.notify_all()

    def _answer_raw(
        self, path: str, read: Callable[[], dict[str, object]], *, in_process: bool = False
    ) -> _Answer:
        arrived = time.monotonic()
        url = urlsplit(path)
        match = re.fullmatch(r"/bot([^/]*)/([^/]+)/?", url.path)
        if match is None:
            return self._finish("?", {}, arrived, RequestError(404, "Not Found", refused=False))
        token, requested = match.groups()
        try:
            raw = read()
        except ValueError as exc:
            return self._finish(requested, {}, arrived, bad_request(str(exc)))
        if token != self.token:
            error = RequestError(401, "Unauthorized", refused=False)
            return self._finish(requested, dict(raw), arrived, error)
        method = self.schema.canonical(requested)
        if method is None:
            error = RequestError(404, "Not Found", refused=True)
            return self._finish(requested, dict(raw), arrived, error)
        params = self.schema.decode(method, raw)
        with self._cond:
            removed = method in self._removed
        if removed:
            error = RequestError(404, "Not Found", refused=False)
            return self._finish(method, params, arrived, error)
        try:
            self.schema.validate(method, params)
        except RequestError as exc:
            return self._finish(method, params, arrived, exc)
        fault = self._take_fault(method)
        if fault is not None and fault[0] in AFTER_DELIVERY:
            try:
                self._handlers.get(method, self._default_handler(method))(params)
            except RequestError as exc:
                return self._finish(method, params, arrived, exc)
            fault = ("502", 0) if fault[0] == "502-after" else ("timeout", 0)
        if fault is not None and fault[0] == "502":
            error = RequestError(502, "Bad Gateway")
            return self._finish(method, params, arrived, error, fault="502-after")
        if fault is not None and in_process and fault[0] == "timeout":
            # No wait in process: the caller's read timeout fires at once.
            record = RequestRecord(method, params, 0, arrived, "timed out", "timeout")
            with self._cond:
                self._requests.append(record)
                self._cond.notify_all()
            return _Dropped("timeout")
        if fault is not None:
            return self._fault(method, params, arrived, *fault)
        try:
            with self._cond:
                responder = self._responders.get(method)
            if responder is not None:
                self._check_reachable(method, params)
                result = responder(params)
            else:
                handler = self._handlers.get(method) or self._default_handler(method)
                result = handler(params)
        except RequestError as exc:
            return self._finish(method, params, arrived, exc)
        except Exception as exc:  # a bug in the fake or a responder: answer, don't hang up
            error = RequestError(500, f"Internal Server Error: {exc!r}", refused=False)
            return self._finish(method, params, arrived, error)
        return self._finish(method, params, arrived, result=result)

    def _finish(
        self,
        method: str,
        params: dict[str, Any],
        arrived: float,
        error: RequestError | None = None,
        *,
        result: Any = None,
        fault: str | None = None,
        retry_after: int | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Record the request, wake waiters, and build the JSON answer."""
        if error is None:
            status, payload = 200, {"ok": True, "result": result}
        else:
            status = error.status
            payload = {"ok": False, "error_code": status, "description": error.description}
            if retry_after is not None:
                payload["parameters"] = {"retry_after": retry_after}
        record = RequestRecord(
            method=method,
            params=params,
            status=status,
            time=arrived,
            description=None if error is None else error.description,
            fault=fault,
            refused=error is not None and error.refused and fault is None,
            result=copy.deepcopy(result),
        )
        with self._cond:
            self._requests.append(record)
            self._cond.notify_all()
        return status, payload

    def _take_fault(self, method: str) -> tuple[str, int] | None:
        with self._cond:
            queue = self._faults.get(method)
            return queue.popleft() if queue else None

    def _fault(
        self, method: str, params: dict[str, Any], arrived: float, fault: str, retry_after: int
    ) -> _Answer:
        if fault == "drop":
            record = RequestRecord(method, params, 0, arrived, "connection dropped", fault)
            with self._cond:
                self._requests.append(record)
                self._cond.notify_all()
            return _DROP
        if fault == "429":
            error = RequestError(429, f"Too Many Requests: retry after {retry_after}")
            return self._finish(
                method, params, arrived, error, fault=fault, retry_after=retry_after
            )
        if fault == "403":
            return self._finish(method, params, arrived, RequestError(403, BLOCKED), fault=fault)
        if fault == "timeout":
            deadline = time.monotonic() + self.timeout_seconds
            with self._cond:
                while not self._stopping and (remaining := deadline - time.monotonic()) > 0:
                    self._cond.wait(remaining)
        error = RequestError(500, "Internal Server Error")
        return self._finish(method, params, arrived, error, fault=fault)

    def _check_reachable(self, method: str, params: dict[str, Any]) -> None:
        """Sends and edits to a user who blocked the bot, or a group it left, fail with 403.

        Modelled methods call this after their own limit checks, so an invalid request is
        still refused (and recorded in `refused`) even when the chat is unreachable.
        """
        if not method.startswith(("send", "edit", "copyMessage", "forwardMessage", "stopPoll")):
            return
        chat_id = params.get("chat_id")
        with self._cond:
            if chat_id in self._blocked:
                raise RequestError(403, BLOCKED)
            if chat_id in self._left:
                kind = self._chats.get(chat_id, {}).get("type", "group")
                noun = "channel" if kind == "channel" else "group"
                raise RequestError(403, f"Forbidden: bot is not a member of the {noun} chat")

    def _default_handler(self, method: str) -> Callable[[dict[str, Any]], Any]:
        """Methods not modelled: sends still produce a Message (PTB parses one), others True."""
        if self.schema.returns(method) == ["Message"] and method.startswith("send"):
            kind = method.removeprefix("send").lower()
            return lambda params: self._send_generic(kind, params)

        def answer_true(params: dict[str, Any]) -> bool:
            self._check_reachable(method, params)
            return True

        return answer_true

    # -- methods ----------------------------------------------------------------------------

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Long polling: wait on the condition until updates arrive or `timeout` passes."""
        offset = params.get("offset")
        limit = min(max(params.get("limit", 100), 1), 100)
        timeout = max(params.get("timeout", 0), 0)
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._webhook_url:
                raise RequestError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; use "
                    "deleteWebhook to delete the webhook first",
                )
            if "allowed_updates" in params:
                self._allowed_updates = list(params["allowed_updates"])
            # Only one poller at a time, as on Telegram: a newer call ends an older one.
            self._poll_generation += 1
            generation = self._poll_generation
            self._confirm(offset)
            self._waiting_pollers += 1
            self._cond.notify_all()
            try:
                while True:
                    if self._poll_generation != generation:
                        raise RequestError(
                            409,
                            "Conflict: terminated by other getUpdates request; make sure that "
                            "only one bot instance is running",
                            refused=False,
                        )
                    ready = self._deliverable(limit)
                    remaining = deadline - time.monotonic()
                    if ready or self._stopping or remaining <= 0:
                        if ready:
                            last = ready[-1]["update_id"]
                            self._delivered_update_id = max(self._delivered_update_id, last)
                        return copy.deepcopy(ready)
                    self._cond.wait(remaining)
            finally:
                self._waiting_pollers -= 1

    def _confirm(self, offset: int | None) -> None:
        """An offset confirms (drops) every earlier update; a negative one keeps the last -n."""
        if not offset:
            return
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        else:
            self._updates = self._updates[offset:]

    def _deliverable(self, limit: int) -> list[dict[str, Any]]:
        allowed = set(self._allowed_updates)
        kept = []
        for update in self._updates:
            kind = next((k for k in update if k != "update_id"), "")
            if (kind in allowed) if allowed else (kind not in OPT_IN_UPDATES):
                kept.append(update)
        # Updates the bot does not want are never delivered: drop them, as Telegram does.
        self._updates = kept
        return kept[:limit]

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        with self._cond:
            self._webhook_url = ""
            self._webhook_secret = None
            if params.get("drop_pending_updates"):
                self._updates = []
            self._cond.notify_all()
        return True

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = params["url"]
        secret = params.get("secret_token")
        if url and not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise bad_request("secret token contains unallowed characters")
        with self._cond:
            self._webhook_url = url
            self._webhook_secret = secret
            if params.get("drop_pending_updates"):
                self._updates = []
            self._cond.notify_all()
        return True

    def _get_webhook_info(self, _params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            return {
                "url": self._webhook_url,
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params["commands"]
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"]) <= 256:
                raise bad_request("command description must be 1-256 characters")
        key = (_scope_key(params.get("scope")), params.get("language_code", ""))
        with self._cond:
            self._commands[key] = copy.deepcopy(commands)
            self._cond.notify_all()
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands(params.get("language_code", ""), params.get("scope"))

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        key = (_scope_key(params.get("scope")), params.get("language_code", ""))
        with self._cond:
            self._commands.pop(key, None)
            self._cond.notify_all()
        return True

    def _set_my_description(self, params: dict[str, Any]) -> bool:
        description = params.get("description", "")
        if len(description) > 512:
            raise bad_request("description is too long")
        self._set_text(self._descriptions, params.get("language_code", ""), description)
        return True

    def _set_my_short_description(self, params: dict[str, Any]) -> bool:
        description = params.get("short_description", "")
        if len(description) > 120:
            raise bad_request("short description is too long")
        self._set_text(self._short_descriptions, params.get("language_code", ""), description)
        return True

    def _set_text(self, target: dict[str, str], language: str, text: str) -> None:
        with self._cond:
            if text:
                target[language] = text
            else:
                target.pop(language, None)
            self._cond.notify_all()

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        text = params["text"]
        parse_mode = params.get("parse_mode")
        plain, entities = check_text(
            text,
            parse_mode,
            limit=MAX_TEXT,
            too_long="message is too long",
            empty="message text is empty",
        )
        if "entities" in params and not parse_mode:
            entities = params["entities"]
        fields: dict[str, Any] = {"text": plain}
        if entities:
            fields["entities"] = entities
        return self._send(params, "text", fields, text=text, plain_text=plain, entities=entities)

    def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        document = params["document"]
        with self._cond:
            number = self._next_file
            self._next_file += 1
        info: dict[str, Any] = {"file_id": f"document{number}", "file_unique_id": f"u{number}"}
        if isinstance(document, UploadedFile):
            info.update(
                file_name=document.filename,
                mime_type=document.content_type,
                file_size=len(document.data),
            )
            with self._cond:
                self._files[info["file_id"]] = document.data
        elif isinstance(document, str):
            info["file_id"] = document
        return self._send_generic("document", params, {"document": info})

    def _send_generic(
        self, kind: str, params: dict[str, Any], extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        fields = dict(extra or {kind: {}})
        caption = params.get("caption")
        if caption is not None:
            plain, entities = check_text(
                caption,
                params.get("parse_mode"),
                limit=MAX_CAPTION,
                too_long="message caption is too long",
                empty=None,
            )
            fields["caption"] = plain
            if entities:
                fields["caption_entities"] = entities
        return self._send(params, kind, fields, caption=caption)

    def _send(
        self, params: dict[str, Any], kind: str, fields: dict[str, Any], **stored: Any
    ) -> dict[str, Any]:
        """Store a message from the bot and return it as Telegram's Message object."""
        markup = params.get("reply_markup")
        check_inline_keyboard(markup)
        chat_id = self._chat_id(params)
        self._check_reachable("send", params)
        if markup is not None:
            fields["reply_markup"] = markup
        if params.get("protect_content"):
            fields["has_protected_content"] = True
        if params.get("link_preview_options") is not None:
            fields["link_preview_options"] = params["link_preview_options"]
        with self._cond:
            chat = self._chat(chat_id, default_type="private")
            message = self._store(chat_id, chat, self.bot_user, fields, from_bot=True)
            message.kind = kind
            message.parse_mode = params.get("parse_mode")
            message.reply_markup = copy.deepcopy(markup) if isinstance(markup, dict) else None
            message.protect_content = bool(params.get("protect_content"))
            message.link_preview_options = params.get("link_preview_options")
            for name, value in stored.items():
                setattr(message, name, value)
            return copy.deepcopy(message.raw)

    def _edit_message_text(self, params: dict[str, Any]) -> Any:
        markup = params.get("reply_markup")
        check_inline_keyboard(markup)
        if "text" not in params:
            raise bad_request('parameter "text" is required')
        text = params["text"]
        parse_mode = params.get("parse_mode")
        plain, entities = check_text(
            text,
            parse_mode,
            limit=MAX_TEXT,
            too_long="message is too long",
            empty="message text is empty",
        )
        if "entities" in params and not parse_mode:
            entities = params["entities"]
        if "inline_message_id" in params:
            return True
        with self._cond:
            message = self._editable(params)
            if message.text is None:
                raise bad_request("there is no text in the message to edit")
            new_markup = (
                markup if isinstance(markup, dict) and markup.get("inline_keyboard") else None
            )
            if (
                message.plain_text == plain
                and message.entities == entities
                and message.reply_markup == new_markup
            ):
                raise bad_request(NOT_MODIFIED)
            message.text = text
            message.plain_text = plain
            message.entities = entities
            message.parse_mode = parse_mode
            message.link_preview_options = params.get("link_preview_options")
            message.raw["text"] = plain
            message.raw.pop("entities", None)
            if entities:
                message.raw["entities"] = entities
            self._set_markup(message, new_markup)
            return copy.deepcopy(message.raw)

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> Any:
        markup = params.get("reply_markup")
        check_inline_keyboard(markup)
        if "inline_message_id" in params:
            return True
        with self._cond:
            message = self._editable(params)
            new_markup = (
                markup if isinstance(markup, dict) and markup.get("inline_keyboard") else None
            )
            if message.reply_markup == new_markup and new_markup is None:
                # Taking buttons off a message that has none left: Telegram says "not
                # modified", but a bot whose step was cut short (by a quick exit) after taking
                # them off cannot know, so it is not counted against the bot.
                raise RequestError(400, f"Bad Request: {NOT_MODIFIED}", refused=False)
            if message.reply_markup == new_markup:
                raise bad_request(NOT_MODIFIED)
            self._set_markup(message, new_markup)
            return copy.deepcopy(message.raw)

    def _editable(self, params: dict[str, Any]) -> _Stored:
        """The bot's own visible message named by chat_id and message_id (lock held)."""
        if "chat_id" not in params or "message_id" not in params:
            raise bad_request("message identifier is not specified")
        chat_id = self._chat_id(params)
        self._check_reachable("edit", params)
        message = self._messages.get(chat_id, {}).get(params["message_id"])
        if message is None or message.deleted:
            raise bad_request("message to edit not found")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        return message

    def _set_markup(self, message: _Stored, markup: dict[str, Any] | None) -> None:
        """Apply an edit's markup: leaving it out of an edit removes the inline keyboard."""
        message.reply_markup = copy.deepcopy(markup)
        message.raw.pop("reply_markup", None)
        if markup is not None:
            message.raw["reply_markup"] = copy.deepcopy(markup)
        message.edit_date = self._now()
        message.raw["edit_date"] = message.edit_date
        self._cond.notify_all()

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = params["callback_query_id"]
        text = params.get("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER:
            raise bad_request("MESSAGE_TOO_LONG")
        with self._cond:
            if query_id not in self._callbacks or query_id in self._answered:
                raise bad_request(QUERY_TOO_OLD)
            self._answered[query_id] = text
            self._cond.notify_all()
        return True

    def _delete_message(self, params: dict[str, Any]) -> bool:
        chat_id = self._chat_id(params)
        with self._cond:
            problem = self._deletion_problem(chat_id, params["message_id"])
            stored = self._messages.get(chat_id, {}).get(params["message_id"])
            if problem is not None and stored is not None and stored.deleted:
                # Already gone (the person deleted it, or another deletion got there first):
                # Telegram says so, but no bot can always know beforehand, so it is not counted
                # as a request a careful bot would never send.
                raise RequestError(400, f"Bad Request: {problem}", refused=False)
            if problem is not None:
                raise bad_request(problem)
            self._delete(chat_id, params["message_id"])
        return True

    def _delete_messages(self, params: dict[str, Any]) -> bool:
        """Deletes what it can; ids it cannot delete are skipped silently, as on Telegram."""
        ids = params["message_ids"]
        if not ids:
            raise bad_request("message identifiers are not specified")
        if len(ids) > MAX_DELETE_IDS:
            raise bad_request("too many message identifiers specified")
        chat_id = self._chat_id(params)
        with self._cond:
            for message_id in ids:
                if self._deletion_problem(chat_id, message_id) is None:
                    self._delete(chat_id, message_id)
        return True

    def _deletion_problem(self, chat_id: int, message_id: int) -> str | None:
        """Why the bot may not delete a message (lock held), or None if it may."""
        message = self._messages.get(chat_id, {}).get(message_id)
        if message is None or message.deleted:
            return "message to delete not found"
        if self._now() - message.date >= DELETE_WINDOW_SECONDS:
            return "message can't be deleted"
        chat_type = self._chats.get(chat_id, {}).get("type", "private")
        if chat_type != "private" and not message.from_bot:
            return "message can't be deleted"  # the fake bot is never a group admin
        return None

    def _delete(self, chat_id: int, message_id: int) -> None:
        self._messages[chat_id][message_id].deleted = True
        self._deleted.setdefault(chat_id, []).append(message_id)
        self._cond.notify_all()

    def _leave_chat(self, params: dict[str, Any]) -> bool:
        chat_id = self._chat_id(params)
        with self._cond:
            chat = self._chat(chat_id, default_type="group")
            if chat["type"] == "private":
                raise bad_request("chat member status can't be changed in private chats")
            if chat_id in self._left:
                raise RequestError(403, "Forbidden: bot is not a member of the group chat")
            self._left.add(chat_id)
            change = self._member_change(chat, self.bot_user, "member", "left")
            self._queue({"my_chat_member": change})
        return True

    # -- state helpers (call with the lock held) --------------------------------------------

    def _now(self) -> int:
        now = self.clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return int(now.timestamp())

    def _chat_id(self, params: dict[str, Any]) -> int:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise bad_request("chat not found")  # no usernames in the fake
        return chat_id

    def _chat(self, chat_id: int, *, default_type: str) -> dict[str, Any]:
        chat = self._chats.get(chat_id)
        if chat is None:
            if chat_id > 0:
                kind = "private"
            else:
                kind = "group" if default_type == "private" else default_type
            if kind == "private":
                chat = {"id": chat_id, "type": "private", "first_name": USER_FIRST_NAME}
            else:
                title = "Test channel" if kind == "channel" else "Test group"
                chat = {"id": chat_id, "type": kind, "title": title}
            self._chats[chat_id] = chat
        return copy.deepcopy(chat)

    def _store(
        self,
        chat_id: int,
        chat: dict[str, Any],
        sender: dict[str, Any] | None,
        fields: dict[str, Any],
        *,
        from_bot: bool,
    ) -> _Stored:
        """Give a new message the chat's next id (shared by both sides) and keep it."""
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        date = self._now()
        raw: dict[str, Any] = {"message_id": message_id, "date": date, "chat": chat}
        if sender is not None:
            raw["from"] = sender
        elif chat["type"] == "channel":
            raw["sender_chat"] = chat
        raw.update(copy.deepcopy(fields))
        text = fields.get("text")
        stored = _Stored(
            chat_id=chat_id,
            message_id=message_id,
            from_bot=from_bot,
            from_id=None if sender is None else sender["id"],
            date=date,
            kind="text" if text is not None else next(iter(fields), "message"),
            raw=raw,
            text=text,
            plain_text=text,
            entities=copy.deepcopy(fields.get("entities", [])),
        )
        self._messages.setdefault(chat_id, {})[message_id] = stored
        self._cond.notify_all()
        return stored

    def _queue(self, body: dict[str, Any], update_id: int | None = None) -> int:
        if update_id is None:
            update_id = self._next_update_id
        self._next_update_id = max(self._next_update_id, update_id + 1)
        update = {"update_id": update_id, **body}
        if self._listener is not None:
            # Delivered at once, as a webhook would be.
            self._delivered_update_id = max(self._delivered_update_id, update_id)
            self._listener(copy.deepcopy(update))
        else:
            self._updates.append(update)
        self._cond.notify_all()
        return update_id

    # -- in process -------------------------------------------------------------------------

    def listen(self, listener: Callable[[dict[str, Any]], None] | None) -> None:
        """Hand every update to `listener` as it happens, instead of keeping it for
        getUpdates (None: keep them again)."""
        with self._cond:
            self._listener = listener

    def answer_in_process(
        self, path: str, raw: dict[str, object]
    ) -> tuple[int, dict[str, Any]] | str:
        """Answer a request made without HTTP: `raw` holds the parameters as a form would
        (strings, and `UploadedFile`s). Returns the status and JSON payload, or the name of a
        fault that has no answer ("drop", "timeout")."""
        answer = self._answer_raw(path, lambda: raw, in_process=True)
        if isinstance(answer, _Dropped):
            return answer.fault
        return answer

    def _member_change(
        self, chat: dict[str, Any], actor: dict[str, Any], old: str, new: str
    ) -> dict[str, Any]:
        def member(status: str) -> dict[str, Any]:
            state: dict[str, Any] = {"status": status, "user": self.bot_user}
            if status == "kicked":
                state["until_date"] = 0
            return state

        return {
            "chat": chat,
            "from": actor,
            "date": self._now(),
            "old_chat_member": member(old),
            "new_chat_member": member(new),
        }

    def _require_method(self, method: str) -> str:
        name = self.schema.canonical(method)
        if name is None:
            raise ValueError(f"the Bot API has no method {method!r}")
        return name


def _person(user_id: int, language_code: str) -> dict[str, Any]:
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": USER_FIRST_NAME,
        "language_code": language_code,
    }


def _command_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command entity Telegram puts on a leading "/command" (with any @botname)."""
    if not text.startswith("/"):
        return []
    word = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(word)}]


def _scope_key(scope: Mapping[str, Any] | None) -> str:
    if not scope or scope.get("type") == "default":
        return "default"
    return json.dumps(dict(scope), sort_keys=True)


def _read_params(content_type: str, body: bytes, query: str) -> dict[str, object]:
    """The request's parameters, before decoding: query string, then form, multipart or JSON.

    Values stay raw strings (files become `UploadedFile`), except in a JSON body, whose
    values are already typed.
    """
    params: dict[str, object] = dict(parse_qsl(query, keep_blank_values=True))
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return params
    if media_type == "application/json":
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise ValueError("can't parse JSON object") from exc
        if not isinstance(data, dict):
            raise ValueError("can't parse JSON object")
        params.update(data)
    elif media_type == "multipart/form-data":
        params.update(_read_multipart(content_type, body))
    else:
        text = body.decode("utf-8", "replace")
        params.update(parse_qsl(text, keep_blank_values=True))
    return params


def _read_multipart(content_type: str, body: bytes) -> Iterable[tuple[str, object]]:
    """Split a multipart/form-data body into fields and files with the stdlib email parser."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("can't parse multipart/form-data body")
    fields: list[tuple[str, object]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            fields.append((name, UploadedFile(name, filename, part.get_content_type(), data)))
        else:
            charset = part.get_content_charset() or "utf-8"
            fields.append((name, data.decode(charset, "replace")))
    return fields
