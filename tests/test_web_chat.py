"""The web chat's server side: whole conversations without JavaScript, over real HTTP on
127.0.0.1 (aiohttp's TestServer), on a real SQLite store. Cookies are carried by hand, so each
test sees exactly what the server set."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDictProxy

from bot.app import Parts
from bot.channels.web import web_chat_app
from bot.channels.web.chat import COOKIE, FETCH_HEADER, KEY_PREFIX, MAX_BODY, chat_key
from bot.channels.web.pages import phone_href, text_html
from bot.conversation import Conversations
from bot.store.sqlite import SqliteStore
from bot.sweeper import Sweeper
from tests.conftest import LOCALES, FakeClock

SECRET = b"a test secret of enough bytes"
EXIT_URL = "https://www.bbc.co.uk/weather"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self' https://www.bbc.co.uk; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}
TO_NEEDS = ("No, not right now", "Me", "Yes, I can talk", "Skip the questions")
SCOTLAND_LINE = "Scotland's Domestic Abuse and Forced Marriage Helpline"
EXPIRED = "That button has expired"


@dataclass
class Page:
    status: int
    headers: CIMultiDictProxy[str]
    body: str

    @property
    def text(self) -> str:
        """What a person reads: the page without its tags."""
        return html.unescape(re.sub(r"<[^>]+>", " ", self.body))

    @property
    def token(self) -> str:
        found = re.search(r'name="csrf" value="([^"]*)"', self.body)
        assert found is not None
        return found[1]

    @property
    def state(self) -> str:
        found = re.search(r'name="state" value="([^"]*)"', self.body)
        assert found is not None
        return html.unescape(found[1])

    @property
    def buttons(self) -> dict[str, str]:
        """Each step button's label and trigger."""
        found = re.findall(
            r'<button type="submit" name="b" value="([^"]*)">([^<]*)</button>', self.body
        )
        return {html.unescape(label): html.unescape(value) for value, label in found}


@dataclass
class Browser:
    """A browser with scripts off: it keeps the one cookie and follows redirects by hand."""

    client: TestClient[object, object]
    cookie: str | None = None
    locations: list[str] = field(default_factory=list)
    language: str = "en-GB"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept-Language": self.language}
        if self.cookie is not None:
            headers["Cookie"] = f"{COOKIE}={self.cookie}"
        return headers

    def _remember(self, headers: CIMultiDictProxy[str]) -> None:
        for raw in headers.getall("Set-Cookie", []):
            name, _, rest = raw.partition("=")
            value = rest.split(";", 1)[0]
            if name == COOKIE:
                self.cookie = value or None if "Max-Age=0" not in raw else None

    async def get(self, path: str = "/chat") -> Page:
        async with self.client.get(path, headers=self._headers(), allow_redirects=False) as resp:
            self._remember(resp.headers)
            return Page(resp.status, resp.headers, await resp.text())

    async def post(
        self,
        path: str,
        data: dict[str, str] | bytes | AsyncIterator[bytes],
        extra: dict[str, str] | None = None,
    ) -> Page:
        headers = {**self._headers(), **(extra or {})}
        if not isinstance(data, dict):
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        async with self.client.post(
            path, data=data, headers=headers, allow_redirects=False
        ) as resp:
            self._remember(resp.headers)
            if "Location" in resp.headers:
                self.locations.append(resp.headers["Location"])
            return Page(resp.status, resp.headers, await resp.text())

    async def press(self, page: Page, label: str) -> Page:
        sent = await self.post(
            "/chat", {"csrf": page.token, "state": page.state, "b": page.buttons[label]}
        )
        assert sent.status == 303, sent.text
        assert sent.headers["Location"] == "/chat"
        return await self.get()

    async def type(self, page: Page, words: str) -> Page:
        sent = await self.post("/chat", {"csrf": page.token, "state": page.state, "t": words})
        assert sent.status == 303
        assert sent.headers["Location"] == "/chat"
        return await self.get()

    @property
    def key(self) -> str:
        assert self.cookie is not None
        return chat_key(self.cookie)


@pytest.fixture
async def client(
    conversations: Conversations, parts: Parts, clock: FakeClock
) -> AsyncIterator[TestClient[object, object]]:
    app = web_chat_app(conversations, parts.spec, parts.words, LOCALES, secret=SECRET, clock=clock)
    async with TestClient(TestServer(app), cookie_jar=DummyCookieJar()) as test_client:
        yield test_client


@pytest.fixture
def browser(client: TestClient[object, object]) -> Browser:
    return Browser(client)


def assert_headers(page: Page) -> None:
    for name, value in HEADERS.items():
        assert page.headers.get(name) == value, (page.status, name)


# -- a whole conversation ---------------------------------------------------------------------


async def test_a_whole_conversation_without_javascript(browser: Browser) -> None:
    page = await browser.get()
    assert page.status == 200
    assert "are you in danger right now?" in page.text
    for label in TO_NEEDS:
        page = await browser.press(page, label)
    page = await browser.press(page, "Someone to talk to")
    assert "Where are you?" in page.text or "Which part of the UK" in page.text
    page = await browser.type(page, "Glasgow")
    assert SCOTLAND_LINE in page.text
    assert 'href="tel:' in page.body  # phone numbers can be tapped
    assert '<section class="card"' in page.body
    assert browser.locations and set(browser.locations) == {"/chat"}


async def test_every_page_has_exit_first_and_the_honest_words(browser: Browser) -> None:
    page = await browser.get()
    body = page.body
    exit_form = body.index('action="/chat/exit"')
    assert exit_form < body.index("<main")
    assert exit_form < body.index('action="/chat"')
    assert f'data-exit-url="{EXIT_URL}"' in body
    assert "Exit this page" in page.text
    assert "cannot clear your browser's history" in page.text
    assert "private window" in page.text
    assert 'for="typed"' in body and "Or type your answer" in page.text
    assert "<title>Help</title>" in body
    # No inline script or style, nothing from another origin.
    assert "<style" not in body and "style=" not in body
    assert re.findall(r"<script[^>]*>", body) == ['<script src="/static/web.js" defer>']
    assert "http://" not in body and "https://" not in body.replace(EXIT_URL, "")
    assert 'lang="en"' in body and 'dir="ltr"' in body


async def test_the_quick_exit_button_is_not_repeated_among_the_steps_buttons(
    browser: Browser,
) -> None:
    page = await browser.get()
    assert "Quick exit" not in page.buttons
    assert "I'm in danger now" in page.text or "Yes, I'm in danger now" in page.buttons


async def test_a_reload_shows_the_same_step(browser: Browser) -> None:
    page = await browser.get()
    page = await browser.press(page, "No, not right now")
    again = await browser.get()
    assert again.state == page.state
    assert "Welcome back" in again.text  # not taken as an answer


# -- headers and cookie ---------------------------------------------------------------------------


async def test_each_kind_of_response_carries_every_header(
    browser: Browser, client: TestClient[object, object]
) -> None:
    page = await browser.get()
    assert_headers(page)
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    pressed = await browser.post(
        "/chat", {"csrf": page.token, "state": page.state, "b": page.buttons["No, not right now"]}
    )
    assert pressed.status == 303
    assert_headers(pressed)
    refused = await browser.post("/chat", {"csrf": "wrong", "b": "x"})
    assert refused.status == 403
    assert_headers(refused)
    missing = await browser.get("/nowhere")
    assert missing.status == 404
    assert_headers(missing)
    wrong_method = await browser.get("/chat/exit")
    assert wrong_method.status == 405
    assert_headers(wrong_method)
    too_big = await browser.post("/chat", b"t=" + b"x" * MAX_BODY)
    assert too_big.status == 413
    assert_headers(too_big)
    for name, kind in (("web.css", "text/css"), ("web.js", "text/javascript")):
        static = await browser.get(f"/static/{name}")
        assert static.status == 200
        assert static.headers["Content-Type"] == f"{kind}; charset=utf-8"
        assert_headers(static)
        assert static.body.strip()
    assert (await browser.get("/static/other.js")).status == 404
    deep = await Browser(client).get("/chat?start=mk")
    assert deep.status == 303
    assert_headers(deep)
    left = await browser.post("/chat/exit", {"csrf": page.token})
    assert left.status == 303
    assert_headers(left)


async def test_the_cookie_is_random_httponly_secure_strict_and_has_no_expiry(
    client: TestClient[object, object],
) -> None:
    first, second = Browser(client), Browser(client)
    page = await first.get()
    await second.get()
    (raw,) = page.headers.getall("Set-Cookie")
    flags = {part.strip().split("=", 1)[0].lower() for part in raw.split(";")[1:]}
    assert {"httponly", "secure", "samesite", "path"} <= flags
    assert "SameSite=Strict" in raw and "Path=/" in raw
    assert "expires" not in flags and "max-age" not in flags
    assert first.cookie and second.cookie and first.cookie != second.cookie
    assert len(first.cookie) >= 43
    # Once set, it is not set again.
    assert "Set-Cookie" not in (await first.get()).headers


async def test_the_conversation_key_is_a_hash_not_the_cookie(
    browser: Browser, conversations: Conversations, tmp_path: Path
) -> None:
    await browser.get()
    assert browser.cookie is not None
    assert browser.key.startswith("web:")
    assert browser.cookie not in browser.key
    assert await conversations.exists(browser.key)
    assert browser.cookie.encode() not in stored_bytes(tmp_path)


# -- refusals -------------------------------------------------------------------------------------


async def test_a_post_without_the_right_token_is_refused_and_changes_nothing(
    browser: Browser, conversations: Conversations, db: SqliteStore
) -> None:
    page = await browser.get()
    async with db.read() as tx:
        before = await tx.load_session(browser.key)
    trigger = page.buttons["No, not right now"]
    for form in (
        {"state": page.state, "b": trigger},
        {"csrf": "0" * 64, "state": page.state, "b": trigger},
        {"csrf": page.token + "0", "state": page.state, "b": trigger},
    ):
        refused = await browser.post("/chat", form)
        assert refused.status == 403
        assert 'href="/chat"' in refused.body
        assert "Nothing has changed" in refused.text
    cookieless = Browser(browser.client)
    refused = await cookieless.post(
        "/chat", {"csrf": page.token, "state": page.state, "b": trigger}
    )
    assert refused.status == 403
    async with db.read() as tx:
        after = await tx.load_session(browser.key)
    assert before is not None and after is not None
    assert (after.state, after.updated_at) == (before.state, before.updated_at)


async def test_another_persons_token_does_not_work(client: TestClient[object, object]) -> None:
    mine, theirs = Browser(client), Browser(client)
    page = await mine.get()
    await theirs.get()
    refused = await theirs.post(
        "/chat", {"csrf": page.token, "state": page.state, "b": page.buttons["No, not right now"]}
    )
    assert refused.status == 403


async def test_a_body_over_the_limit_is_refused(browser: Browser, db: SqliteStore) -> None:
    page = await browser.get()
    body = f"csrf={page.token}&state={page.state}&t=".encode() + b"x" * MAX_BODY
    refused = await browser.post("/chat", body)
    assert refused.status == 413
    assert "too much" in refused.text

    async def chunks() -> AsyncIterator[bytes]:
        yield f"csrf={page.token}&state={page.state}&t=".encode()
        for _ in range(MAX_BODY // 1024 + 1):
            yield b"x" * 1024

    refused = await browser.post("/chat", chunks())  # no length given: stopped as it is read
    assert refused.status == 413
    async with db.read() as tx:
        session = await tx.load_session(browser.key)
    assert session is not None and session.state == page.state
    assert session.updated_at is not None
    ok = await browser.post("/chat", {"csrf": page.token, "state": page.state, "t": "x" * 4096})
    assert ok.status == 303  # the longest message Telegram takes is read


async def test_typed_words_over_telegrams_limit_are_refused_kindly(browser: Browser) -> None:
    page = await browser.get()
    page = await browser.press(page, "No, not right now")
    after = await browser.type(page, "help " * 900)  # 4,500 characters, danger words among them
    assert "too long" in after.text
    assert after.state == page.state
    assert "Welcome back" not in after.text


# -- stale buttons, deep links, languages, idle ---------------------------------------------------


async def test_a_stale_button_says_it_has_expired(browser: Browser) -> None:
    first = await browser.get()
    second = await browser.press(first, "No, not right now")
    assert second.state != first.state
    sent = await browser.post(
        "/chat",
        {"csrf": first.token, "state": first.state, "b": first.buttons["No, not right now"]},
    )
    assert sent.status == 303
    page = await browser.get()
    assert EXPIRED in page.text
    assert page.state == second.state


async def test_a_forged_button_says_it_has_expired(browser: Browser) -> None:
    page = await browser.get()
    no_state = {"b": page.buttons["No, not right now"]}
    for form in ({"b": "no_such_trigger", "state": page.state}, no_state):
        sent = await browser.post("/chat", {"csrf": page.token, **form})
        assert sent.status == 303
        assert EXPIRED in (await browser.get()).text


async def test_a_way_out_works_from_an_old_page(browser: Browser) -> None:
    first = await browser.get()
    await browser.press(first, "No, not right now")
    danger = next(trigger for label, trigger in first.buttons.items() if "danger now" in label)
    sent = await browser.post("/chat", {"csrf": first.token, "state": first.state, "b": danger})
    assert sent.status == 303
    page = await browser.get()
    assert "call 999" in page.text
    assert EXPIRED not in page.text


async def test_a_deep_link_sets_the_area_and_leaves_only_the_plain_address(
    browser: Browser, db: SqliteStore
) -> None:
    sent = await browser.get("/chat?start=mk")
    assert sent.status == 303
    assert sent.headers["Location"] == "/chat"
    async with db.read() as tx:
        session = await tx.load_session(browser.key)
    assert session is not None and session.answers["area"] == "milton-keynes"
    page = await browser.get()
    assert "are you in danger right now?" in page.text
    for label in TO_NEEDS:
        page = await browser.press(page, label)
    page = await browser.press(page, "Someone to talk to")
    assert "MK-Act" in page.text  # the area was known: no need to ask where


async def test_an_unknown_start_code_is_a_plain_start(browser: Browser) -> None:
    assert (await browser.get("/chat?start=<nonsense>")).status == 303
    page = await browser.get()
    assert "are you in danger right now?" in page.text


async def test_urdu_pages_are_right_to_left(client: TestClient[object, object]) -> None:
    browser = Browser(client, language="ur-PK,ur;q=0.9,en;q=0.5")
    page = await browser.get()
    assert '<html lang="ur" dir="rtl">' in page.body
    # The web chat's own words are in Urdu too, so nothing on the page is marked as English.
    assert '<button type="submit" class="exit-button">اس صفحے سے نکلیں</button>' in page.body
    assert 'lang="en"' not in page.body
    welsh = Browser(client, language="cy")
    assert '<html lang="cy" dir="ltr">' in (await welsh.get()).body


async def test_an_idle_conversation_is_forgotten_at_the_next_step(
    browser: Browser, clock: FakeClock
) -> None:
    page = await browser.get()
    page = await browser.press(page, "No, not right now")
    clock.advance(minutes=16)
    again = await browser.get()
    assert "We cleared our last chat" in again.text
    assert "are you in danger right now?" in again.text
    assert "If you leave this chat for 15 minutes, I forget it." in again.text
    assert "This page stays on the screen until you press Exit this page" in again.text


async def test_a_conversation_the_idle_sweep_forgot_says_so_when_the_page_comes_back(
    browser: Browser, clock: FakeClock, db: SqliteStore, conversations: Conversations
) -> None:
    page = await browser.get()
    await browser.press(page, "No, not right now")
    clock.advance(minutes=16)
    sweeper = Sweeper(db, clock, conversations.idle_after, keep_figures_days=730)
    assert await sweeper.forget_idle(KEY_PREFIX) == 1
    again = await browser.get()
    assert "We cleared our last chat" in again.text
    assert "are you in danger right now?" in again.text
    # Said once: the chat carries on from the first step as any other.
    assert "We cleared our last chat" not in (await browser.get()).text
    # A first visit is never told so.
    assert "We cleared our last chat" not in (await Browser(browser.client).get()).text


async def test_a_forgotten_conversation_leaves_no_cookie_and_no_forms(
    browser: Browser, conversations: Conversations
) -> None:
    page = await browser.get()
    page = await browser.press(page, "No, not right now")
    key = browser.key
    forgotten = await browser.type(page, "/forget")
    assert "I have erased everything" in forgotten.text
    assert not await conversations.exists(key)
    assert browser.cookie is None  # cleared by the page that says so
    assert "<form" not in forgotten.body.split("</header>", 1)[1]
    assert 'class="back" href="/chat"' in forgotten.body
    # Coming back is a first visit: a new conversation, not "we cleared our last chat".
    fresh = await browser.get()
    assert browser.cookie is not None and browser.key != key
    assert "We cleared our last chat" not in fresh.text
    assert "are you in danger right now?" in fresh.text


# -- the quick exit -------------------------------------------------------------------------------


async def test_exit_forgets_the_conversation_clears_the_cookie_and_leaves(
    browser: Browser, conversations: Conversations
) -> None:
    page = await browser.get()
    page = await browser.press(page, "No, not right now")
    key = browser.key
    assert await conversations.exists(key)
    left = await browser.post("/chat/exit", {"csrf": page.token})
    assert left.status == 303
    assert left.headers["Location"] == EXIT_URL
    (raw,) = left.headers.getall("Set-Cookie")
    assert raw.startswith(f"{COOKIE}=") and "Max-Age=0" in raw
    assert browser.cookie is None
    assert not await conversations.exists(key)
    fresh = await browser.get()  # coming back later: a new conversation, a new cookie
    assert browser.cookie is not None and browser.key != key
    assert "Welcome back" not in fresh.text


@pytest.mark.parametrize("how", ["typed", "button"])
@pytest.mark.parametrize("by_script", [False, True])
async def test_exit_typed_or_as_a_button_is_the_quick_exit(
    browser: Browser, conversations: Conversations, how: str, by_script: bool
) -> None:
    """Sent by a form, the exit redirects to the neutral site; sent by the page's script, which
    cannot follow a redirect to another site, it is 204 and the script goes there itself."""
    page = await browser.get()
    key = browser.key
    form = {"csrf": page.token, "state": page.state}
    form.update({"t": "exit"} if how == "typed" else {"b": "exit"})
    left = await browser.post("/chat", form, {FETCH_HEADER: "1"} if by_script else None)
    if by_script:
        assert left.status == 204 and "Location" not in left.headers
    else:
        assert left.status == 303
        assert left.headers["Location"] == EXIT_URL
    assert browser.cookie is None
    assert not await conversations.exists(key)


async def test_an_answer_sent_by_the_script_still_leads_to_the_next_step(
    browser: Browser,
) -> None:
    page = await browser.get()
    form = {"csrf": page.token, "state": page.state, "b": page.buttons["No, not right now"]}
    sent = await browser.post("/chat", form, {FETCH_HEADER: "1"})
    assert sent.status == 303 and sent.headers["Location"] == "/chat"
    assert "Who are you looking for help for?" in (await browser.get()).text


async def test_exit_always_leaves_even_without_a_token(
    browser: Browser, conversations: Conversations
) -> None:
    await browser.get()
    key = browser.key
    left = await browser.post("/chat/exit", {})
    assert left.status == 303
    assert left.headers["Location"] == EXIT_URL
    assert not await conversations.exists(key)
    stranger = await Browser(browser.client).post("/chat/exit", {})
    assert stranger.status == 303 and stranger.headers["Location"] == EXIT_URL


# -- no trace --------------------------------------------------------------------------------------


def stored_bytes(folder: Path) -> bytes:
    """Everything SQLite has on disk: the database, its write-ahead log and shared memory."""
    return b"".join(p.read_bytes() for p in sorted(folder.glob("pathways.db*")))


async def test_no_step_content_is_ever_in_an_address(browser: Browser) -> None:
    page = await browser.get("/chat?start=mk")
    page = await browser.get()
    for label in TO_NEEDS:
        page = await browser.press(page, label)
    page = await browser.press(page, "Someone to talk to")
    await browser.type(page, "Glasgow")
    await browser.post("/chat/exit", {"csrf": page.token})
    assert set(browser.locations) == {"/chat", EXIT_URL}


async def test_nothing_typed_is_logged_or_stored(
    browser: Browser, db: SqliteStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret_words = "zebracrossing marmalade"
    page = await browser.get()
    for label in TO_NEEDS:
        page = await browser.press(page, label)
    page = await browser.press(page, "Someone to talk to")
    page = await browser.type(page, secret_words)  # not a place: asked again
    assert secret_words not in page.text
    await browser.type(page, "Glasgow")
    assert secret_words not in caplog.text
    assert "zebracrossing" not in caplog.text
    async with db.read() as tx:
        session = await tx.load_session(browser.key)
    assert session is not None
    assert "zebracrossing" not in repr(session)
    assert b"zebracrossing" not in stored_bytes(tmp_path)


# -- the page's HTML -------------------------------------------------------------------------------


def test_text_becomes_escaped_paragraphs_and_lists() -> None:
    text = "First <b>line</b>\nsame paragraph\n\n- one & two\n- three\nafter\n\nLast"
    assert text_html(text) == (
        "<p>First &lt;b&gt;line&lt;/b&gt;<br>same paragraph</p>\n"
        "<ul><li>one &amp; two</li><li>three</li></ul>\n"
        "<p>after</p>\n"
        "<p>Last</p>"
    )


def test_the_exit_url_and_secret_are_checked(conversations: Conversations, parts: Parts) -> None:
    with pytest.raises(ValueError, match="exit URL"):
        web_chat_app(
            conversations, parts.spec, parts.words, LOCALES, exit_url="weather", secret=SECRET
        )
    with pytest.raises(ValueError, match="secret"):
        web_chat_app(conversations, parts.spec, parts.words, LOCALES, secret=b"short")


async def test_the_settings_reach_the_page_and_headers(
    conversations: Conversations, parts: Parts
) -> None:
    app = web_chat_app(
        conversations,
        parts.spec,
        parts.words,
        LOCALES,
        exit_url="https://example.org/news?x=<1>",
        title="Weather & news",
        frame_ancestors="https://partner.example",
        secret=SECRET,
    )
    async with TestClient(TestServer(app), cookie_jar=DummyCookieJar()) as test_client:
        page = await Browser(test_client).get()
    assert "<title>Weather &amp; news</title>" in page.body
    assert 'data-exit-url="https://example.org/news?x=&lt;1&gt;"' in page.body
    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors https://partner.example" in policy
    assert "form-action 'self' https://example.org;" in policy


@pytest.mark.parametrize(
    ("value", "href"),
    [
        ("0808 2000 247", "tel:08082000247"),
        ("+44 (0)20 7946 0000", "tel:+442079460000"),
        ("999", "tel:999"),
        ("see the website", None),
    ],
)
def test_phone_numbers_become_tel_links(value: str, href: str | None) -> None:
    assert phone_href(value) == href


async def test_the_script_finds_what_the_page_gives_it(browser: Browser) -> None:
    page = await browser.get()
    script = (await browser.get("/static/web.js")).body
    assert 'class="exit-form"' in page.body and "form.exit-form" in script
    assert "data-exit-url" in page.body and "data-exit-url" in script
    assert "window.location.replace(url)" in script
    assert "window.top.location.replace(url)" in script  # when framed by a partner
    assert "keepalive: leaving" in script and '"Shift"' in script
    # Page updates in place: the forms it sends, the header the server answers 204 to when the
    # chat has ended by the quick exit, and the step it moves focus to.
    assert 'class="answers"' in page.body and '"answers"' in script
    assert 'class="typed"' in page.body and '"typed"' in script
    assert f'"{FETCH_HEADER}"' in script and 'id="step"' in page.body and '"step"' in script
    assert ":focus-visible" in (await browser.get("/static/web.css")).body


async def test_an_empty_form_changes_nothing(browser: Browser, db: SqliteStore) -> None:
    page = await browser.get()
    for form in ({"csrf": page.token, "state": page.state}, {"csrf": page.token, "t": "   "}):
        sent = await browser.post("/chat", form)
        assert sent.status == 303 and sent.headers["Location"] == "/chat"
    async with db.read() as tx:
        session = await tx.load_session(browser.key)
    assert session is not None and session.state == page.state
