"""The web chat on aiohttp: the same conversations as Telegram, as server-rendered pages.

- `GET /chat` shows the current step (a new conversation on a first visit);
  `GET /chat?start=<code>` starts one with a deep link's code, then redirects to `/chat`, so
  the address bar never keeps more than the code.
- `POST /chat` takes a button (`b`, with the step's `state`) or typed words (`t`), then
  redirects (303) to `GET /chat`, which shows the step's reply: nothing of a step ever goes in
  an address, so none is in the history.
- `POST /chat/exit` is the quick exit: the conversation is ended and forgotten, the cookie
  cleared, and the browser sent to a neutral site.

A step is shown in its web wording (`web_text` in the flows) where it has one: the engine
replies as on Telegram, and only the words differ.

One cookie holds a random value; the conversation's key is a hash of it, so the database never
holds the cookie itself. Every form carries a token (an HMAC of the cookie's value), checked on
every POST. Nothing typed is kept or logged, and there is no access log.

Each client is limited to so many requests (`limits`: under a keyed hash, never its address),
except the quick exit, which is never refused. No response names the server software.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from bot.app import utc_now
from bot.channels.interpret import interpret, start_payload
from bot.channels.web import pages
from bot.channels.web.limits import DEFAULT_RATE_LIMIT, ClientLimits, RateLimit, limit_requests
from bot.conversation import Conversations
from bot.engine.context import Clock
from bot.engine.model import Event, Reply, Text
from bot.engine.spec import FlowSpec
from bot.i18n import Translator, available_locales, negotiate, translator
from bot.web.server import without_server_header
from bot.words.reader import TypedReader

log = logging.getLogger(__name__)

KEY_PREFIX = "web:"  # web conversations, apart from Telegram's in one database
COOKIE = "sid"
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
# A form with 4,096 characters typed, each up to 4 bytes in UTF-8 and 3 characters encoded.
MAX_BODY = 64 * 1024
MAX_START_CODE = 64
# Replies waiting for the GET after a POST: in memory only, taken once, and bounded.
PENDING_LIMIT = 10_000

DEFAULT_EXIT_URL = "https://www.bbc.co.uk/weather"
DEFAULT_TITLE = "Help"
DEFAULT_FRAME_ANCESTORS = "'none'"

STATIC = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {"web.css": "text/css", "web.js": "text/javascript"}

# Sent by the page's script (static/web.js) with the forms it sends itself: the quick exit is
# then answered 204 rather than with a redirect to another site, which a script cannot follow.
FETCH_HEADER = "X-Pathways-Fetch"

# The app's per-client limits, for a look at how many clients it holds.
LIMITS = web.AppKey("limits", ClientLimits)


def chat_key(cookie_value: str) -> str:
    """The conversation's key: a hash of the cookie's value, never the value itself."""
    return KEY_PREFIX + hashlib.sha256(cookie_value.encode()).hexdigest()[:32]


def security_headers(exit_url: str, frame_ancestors: str) -> dict[str, str]:
    """What every response carries. `form-action` names the exit site too, because browsers
    apply it to where a form's redirect leads (the exit form lands there); `connect-src
    'self'` lets the page's script send the exit form in the background."""
    exit_site = urlsplit(exit_url)
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            "connect-src 'self'",
            f"form-action 'self' {exit_site.scheme}://{exit_site.netloc}",
            "base-uri 'none'",
            f"frame-ancestors {frame_ancestors}",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


def worded_for_the_web(reply: Reply, spec: FlowSpec) -> Reply:
    """The reply with its step's web wording where the flows give one (`web_text`: the quick
    exit and the privacy advice are not Telegram's here), filled with the same directory
    values, which the flow check makes sure it has."""
    state = spec.states.get(reply.state)
    if state is None or state.web_text is None or reply.text.msgid != state.text:
        return reply
    return replace(reply, text=Text(state.web_text, reply.text.values))


@dataclass(frozen=True)
class _Pending:
    reply: Reply
    at: datetime


class WebChat:
    """The handlers of the web chat, over the conversations it is handed."""

    def __init__(
        self,
        conversations: Conversations,
        spec: FlowSpec,
        words: TypedReader | None,
        locales_dir: Path,
        *,
        exit_url: str,
        title: str,
        secret: bytes,
        clock: Clock | None = None,
    ) -> None:
        site = urlsplit(exit_url)
        if site.scheme not in ("https", "http") or not site.netloc:
            raise ValueError("the exit URL must be a full http(s) address")
        if len(secret) < 16:
            raise ValueError("the web chat's secret must be at least 16 bytes")
        self.conversations = conversations
        self.spec = spec
        self.words = words
        self.locales_dir = locales_dir
        self.locales = available_locales(locales_dir)
        self.exit_url = exit_url
        self.title = title
        self.secret = secret
        self.clock = clock or utc_now
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self.static = {name: (STATIC / name).read_bytes() for name in STATIC_TYPES}

    # -- sessions and tokens --------------------------------------------------------------------

    def token(self, cookie_value: str) -> str:
        return hmac.new(self.secret, cookie_value.encode(), hashlib.sha256).hexdigest()

    def _cookie(self, request: web.Request) -> str | None:
        value = request.cookies.get(COOKIE)
        return value if value is not None and _COOKIE_VALUE.fullmatch(value) else None

    def _token_ok(self, cookie_value: str, form: Mapping[str, object]) -> bool:
        given = form.get("csrf")
        if not isinstance(given, str):
            return False
        return hmac.compare_digest(given.encode(), self.token(cookie_value).encode())

    @staticmethod
    def _set_cookie(response: web.StreamResponse, value: str) -> None:
        # No expiry: the browser drops it when it closes.
        response.set_cookie(COOKIE, value, httponly=True, secure=True, samesite="Strict", path="/")

    @staticmethod
    def _clear_cookie(response: web.StreamResponse) -> None:
        response.del_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="Strict")

    def _locale(self, request: web.Request) -> str:
        """The browser's first language that Pathways speaks, else English (used when a
        conversation begins; the person can change it with the language button)."""
        for part in request.headers.get("Accept-Language", "").split(",")[:8]:
            tag = part.split(";", 1)[0].strip()
            if not tag or tag == "*":
                continue
            found = negotiate(tag, self.locales)
            if found != "en" or tag.lower().startswith("en"):
                return found
        return "en"

    def _tr(self, locale: str) -> Translator:
        return translator(locale, self.locales_dir)

    # -- replies between a POST and its GET -----------------------------------------------------

    def _keep(self, key: str, reply: Reply) -> None:
        self._pending[key] = _Pending(reply, self.clock())
        self._pending.move_to_end(key)
        while len(self._pending) > PENDING_LIMIT:
            self._pending.popitem(last=False)

    def _take(self, key: str) -> Reply | None:
        pending = self._pending.pop(key, None)
        if pending is None or self.clock() - pending.at >= self.conversations.idle_after:
            return None
        return pending.reply

    # -- pages ----------------------------------------------------------------------------------

    def _footer(self) -> Text:
        minutes = int(self.conversations.idle_after.total_seconds() // 60)
        return Text(self.spec.message("auto_clear_web"), (("{minutes}", str(minutes)),))

    def _page(self, reply: Reply, cookie_value: str) -> web.Response:
        body = pages.chat_page(
            worded_for_the_web(reply, self.spec),
            self._tr(reply.locale),
            title=self.title,
            exit_url=self.exit_url,
            token=self.token(cookie_value),
            footer=self._footer(),
        )
        return web.Response(text=body, content_type="text/html", charset="utf-8")

    def message(self, request: web.Request, status: int, message: str) -> web.Response:
        """A kind page of its own for a refusal or an error, with Exit this page on it."""
        cookie_value = self._cookie(request)
        body = pages.message_page(
            message,
            self._tr(self._locale(request)),
            title=self.title,
            exit_url=self.exit_url,
            token=self.token(cookie_value) if cookie_value else "",
        )
        return web.Response(status=status, text=body, content_type="text/html", charset="utf-8")

    @staticmethod
    def _see_other(location: str) -> web.Response:
        return web.Response(status=303, headers={"Location": location})

    # -- handlers -------------------------------------------------------------------------------

    async def show(self, request: web.Request) -> web.Response:
        """GET /chat: the current step; a new conversation on a first visit."""
        cookie_value = self._cookie(request)
        fresh = cookie_value is None
        if cookie_value is None:
            cookie_value = secrets.token_urlsafe(32)
        key = chat_key(cookie_value)
        code = request.query.get("start")
        response: web.Response
        if code is not None:
            # A deep link (a partner's link or poster): start as Telegram's `/start <code>`,
            # then show it at the plain address.
            event = Event.start(code.strip()[:MAX_START_CODE])
            outcome = await self.conversations.handle(key, event, self._locale(request))
            self._keep(key, outcome.reply)
            response = self._see_other(pages.CHAT_PATH)
        else:
            reply = self._take(key)
            if reply is None:
                # A cookie of ours whose conversation is gone: the idle sweep forgot it (an
                # ended conversation's cookie is cleared when its last page is shown).
                swept = not fresh and not await self.conversations.exists(key)
                reply = (
                    await self.conversations.handle(key, Event.resume(), self._locale(request))
                ).reply
                if swept:
                    idle = Text(self.spec.message("idle_cleared"))
                    reply = replace(reply, notices=(idle, *reply.notices))
            response = self._page(reply, cookie_value)
            if reply.ends_session:
                # Nothing of it is left on the server: coming back is a first visit.
                self._clear_cookie(response)
                return response
        if fresh:
            self._set_cookie(response, cookie_value)
        return response

    async def answer(self, request: web.Request) -> web.Response:
        """POST /chat: a button or typed words, then back to GET /chat."""
        if (request.content_length or 0) > MAX_BODY:
            # Refused before reading; a longer body sent in chunks is stopped by aiohttp at
            # `client_max_size` (413) as it is read.
            raise web.HTTPRequestEntityTooLarge(MAX_BODY, request.content_length or 0)
        cookie_value = self._cookie(request)
        if cookie_value is None:
            return self.message(request, 403, pages.FORBIDDEN)
        form = await request.post()
        if not self._token_ok(cookie_value, form):
            return self.message(request, 403, pages.FORBIDDEN)
        key = chat_key(cookie_value)
        typed = form.get("t")
        if isinstance(typed, str) and len(typed) > pages.MAX_TYPED:
            await self._too_long(request, key)
            return self._see_other(pages.CHAT_PATH)
        event = self._event(form)
        if event is None:
            return self._see_other(pages.CHAT_PATH)
        if event.trigger == pages.EXIT_TRIGGER and event.from_state is None:
            # The quick exit typed ("exit") or as a button.
            return await self._exit(key, fetched=FETCH_HEADER in request.headers)
        outcome = await self.conversations.handle(key, event, self._locale(request))
        self._keep(key, outcome.reply)
        return self._see_other(pages.CHAT_PATH)

    def _event(self, form: Mapping[str, object]) -> Event | None:
        """What the form stands for, read as the Telegram channel reads callback data and
        typed messages. None when it holds nothing to act on."""
        pressed = form.get("b")
        if isinstance(pressed, str) and pressed:
            if pressed in self.spec.ways_out:
                return Event.button(pressed)  # a way out works from any page
            state = form.get("state")
            if isinstance(state, str) and state:
                return Event.button(pressed, from_state=state)
            return Event.button("", from_state="")  # no step of ours: "expired"
        typed = form.get("t")
        if isinstance(typed, str) and typed.strip():
            code = start_payload(typed)
            if code is not None:
                return Event.start(code)
            return interpret(typed, self.spec, self.words)
        return None

    async def _too_long(self, request: web.Request, key: str) -> None:
        """Typed words over the limit are not read: the step again, with a kind word."""
        outcome = await self.conversations.handle(key, Event.resume(), self._locale(request))
        welcome_back = self.spec.message("welcome_back")
        kept = tuple(n for n in outcome.reply.notices if n.msgid != welcome_back)
        self._keep(key, replace(outcome.reply, notices=(Text(pages.TOO_LONG), *kept)))

    async def exit(self, request: web.Request) -> web.Response:
        """POST /chat/exit: the quick exit. It always leaves, even with no valid token (a page
        from before a restart, say): leaving at once matters more than the form's hygiene, and
        the cookie is SameSite=Strict, so another site cannot send it here."""
        cookie_value = self._cookie(request)
        if cookie_value is None:
            response = self._see_other(self.exit_url)
            self._clear_cookie(response)
            return response
        return await self._exit(chat_key(cookie_value), fetched=FETCH_HEADER in request.headers)

    async def _exit(self, key: str, *, fetched: bool) -> web.Response:
        """Ends and forgets the conversation, then sends the browser to the neutral site; a
        page that updates itself (`FETCH_HEADER`) is told with 204 and goes there itself."""
        self._pending.pop(key, None)
        await self.conversations.handle(key, Event.button(pages.EXIT_TRIGGER))
        await self.conversations.forget(key)
        response = web.Response(status=204) if fetched else self._see_other(self.exit_url)
        self._clear_cookie(response)
        return response

    async def static_file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.static:
            raise web.HTTPNotFound()
        return web.Response(
            body=self.static[name], content_type=STATIC_TYPES[name], charset="utf-8"
        )


def web_chat_app(
    conversations: Conversations,
    spec: FlowSpec,
    words: TypedReader | None,
    locales_dir: Path,
    *,
    exit_url: str = DEFAULT_EXIT_URL,
    title: str = DEFAULT_TITLE,
    frame_ancestors: str = DEFAULT_FRAME_ANCESTORS,
    secret: bytes,
    clock: Clock | None = None,
    rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT,
) -> web.Application:
    """The web chat as an aiohttp application (serve it with `access_log=None`).
    `rate_limit=None` turns the per-client limit off."""
    chat = WebChat(
        conversations,
        spec,
        words,
        locales_dir,
        exit_url=exit_url,
        title=title,
        secret=secret,
        clock=clock,
    )
    headers = security_headers(exit_url, frame_ancestors)

    @web.middleware
    async def kind_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refusals and failures as short, kind pages; a failure is logged by its type only,
        never with what was sent."""
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            message = {
                403: pages.FORBIDDEN,
                404: pages.NOT_FOUND,
                405: pages.NOT_FOUND,
                413: pages.TOO_BIG,
            }.get(exc.status, pages.FAILED)
            return chat.message(request, exc.status, message)
        except Exception as exc:
            log.error("the web chat failed on a request: %s", type(exc).__name__)
            return chat.message(request, 500, pages.FAILED)

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(headers)
        await without_server_header(request, response)

    def is_quick_exit(request: web.Request) -> bool:
        # Leaving at once matters most: never counted, never refused.
        return request.match_info.handler == chat.exit

    middlewares: list[Middleware] = [kind_errors]
    limits = ClientLimits(rate_limit, chat.clock) if rate_limit is not None else None
    if limits is not None:
        too_many = partial(chat.message, status=429, message=pages.TOO_MANY)
        middlewares.append(limit_requests(limits, too_many, exempt=is_quick_exit))
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY)
    if limits is not None:
        app[LIMITS] = limits
    app.on_response_prepare.append(add_headers)
    app.router.add_get(pages.CHAT_PATH, chat.show)
    app.router.add_post(pages.CHAT_PATH, chat.answer)
    app.router.add_post(pages.EXIT_PATH, chat.exit)
    app.router.add_get("/static/{name}", chat.static_file)
    return app
