"""The web chat in a real browser: Debian's Chromium, headless, driven by Playwright.

The scenario transcripts are walked by clicking the buttons and typing into "Or type your
answer", with JavaScript on and off; axe-core checks every page they show against WCAG 2.2 AA;
Exit this page is tried by its button, by Shift pressed three times and without JavaScript; the
pages reflow at 400% zoom (320 CSS px wide); Urdu pages are right to left; and no request ever
leaves 127.0.0.1.

The chat is served by aiohttp on 127.0.0.1 in each test's own event loop. Playwright's sync API
runs in one thread of its own (one browser per module), so it never blocks that loop: each
walk is handed to the thread and awaited. Nothing sleeps: Playwright waits for navigations and
for text, and the test waits for the server to have answered the exit.

Skipped, with the reason, when there is no Chromium (`make test` installs Debian's).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.app import Parts
from bot.channels.web import web_chat_app
from bot.channels.web.chat import COOKIE, chat_key
from bot.channels.web.pages import EXIT_PATH
from bot.conversation import Conversations
from tests.conftest import LOCALES, FakeClock
from tests.test_scenarios import SCENARIOS, Scenario, check_never, check_step, load

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
if not CHROMIUM.is_file():
    pytest.skip(
        f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium package "
        "(or set CHROMIUM_PATH)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extras")
axe_package = pytest.importorskip("axe_playwright_python", reason="in the dev extras")
expect = sync_api.expect

T = TypeVar("T")
SECRET = b"a test secret of enough bytes"
AXE_SOURCE = (Path(axe_package.__file__).parent / "axe.min.js").read_text(encoding="utf-8")
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE_RUN = """async (tags) => {
  const results = await axe.run(document, {
    runOnly: {type: "tag", values: tags},
    resultTypes: ["violations"],
  });
  return results.violations.map((v) =>
    `${v.id} (${v.impact}): ${v.help}: ` + v.nodes.map((n) => n.target.join(" ")).join(", "));
}"""
# 400% zoom of a 1280 px wide window (WCAG 1.4.10).
NARROW = {"width": 320, "height": 640}
WIDE = {"width": 1280, "height": 800}
QUICK_EXIT = "Quick exit"  # the way out that the web chat shows as "Exit this page" at the top
TYPE_LABEL = "Or type your answer"
REQUIRED = ("01_", "07_", "22_", "30_")
LEFT_AT = "Who are you looking for help for?"  # the step Exit this page leaves from


# -- the browser, in a thread of its own ---------------------------------------------------------


class Chromium:
    """One headless Chromium for the module, driven from one thread (Playwright's sync API
    belongs to the thread that started it)."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chromium")
        self.playwright: Any = None
        self.browser: Any = None

    def _start(self) -> None:
        self.playwright = sync_api.sync_playwright().start()
        self.browser = self.playwright.chromium.launch(executable_path=str(CHROMIUM))

    def _stop(self) -> None:
        if self.browser is not None:
            self.browser.close()
        if self.playwright is not None:
            self.playwright.stop()

    async def run(self, job: Callable[..., T], *args: Any) -> T:
        """Runs `job(browser, *args)` in the browser's thread; the event loop stays free to
        serve the pages."""
        return await asyncio.get_running_loop().run_in_executor(
            self.pool, partial(job, self.browser, *args)
        )


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    chrome = Chromium()
    chrome.pool.submit(chrome._start).result()
    try:
        yield chrome
    finally:
        chrome.pool.submit(chrome._stop).result()
        chrome.pool.shutdown()


# -- the chat and a neutral site, on 127.0.0.1 ---------------------------------------------------


@dataclass
class Site:
    chat: str  # http://127.0.0.1:<port>/chat
    exit_url: str  # the neutral site Exit this page leads to (a second local server)
    partner: str  # a page on another site that links to the chat
    conversations: Conversations
    exited: asyncio.Event  # set once the server has answered an exit

    @property
    def framing(self) -> str:
        """The partner's page with the chat in a frame (when the site lets it be framed)."""
        return self.partner.replace("/partner", "/framing")

    @property
    def chat_origin(self) -> str:
        parts = urlsplit(self.chat)
        return f"{parts.scheme}://{parts.netloc}"


NEUTRAL = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{0}</title></head>'
    "<body><main><h1>{0}</h1><p>{1}</p></main></body></html>"
)


FRAMING = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A partner</title></head>'
    '<body><main><h1>A partner</h1><iframe title="Help" src="{0}"></iframe></main></body></html>'
)


async def _neutral(request: web.Request) -> web.Response:
    title, text = {
        "/weather": ("Weather", "Sunny spells."),
        "/partner": ("A partner", "Our advice pages."),
    }[request.path]
    return web.Response(text=NEUTRAL.format(title, text), content_type="text/html")


@pytest.fixture
async def site(
    request: pytest.FixtureRequest, conversations: Conversations, parts: Parts, clock: FakeClock
) -> AsyncIterator[Site]:
    """The chat, and a neutral site for the exit and the partner's pages. Parametrized with
    True (indirectly), the partner may frame the chat (`/framing`, an iframe of it)."""
    framed = bool(getattr(request, "param", False))
    chat_address: list[str] = []

    async def framing(_request: web.Request) -> web.Response:
        return web.Response(text=FRAMING.format(chat_address[0]), content_type="text/html")

    neutral = web.Application()
    neutral.router.add_get("/weather", _neutral)
    neutral.router.add_get("/partner", _neutral)
    neutral.router.add_get("/framing", framing)
    async with TestServer(neutral, host="127.0.0.1") as other:
        exit_url = str(other.make_url("/weather"))
        partner_origin = str(other.make_url("/")).rstrip("/")
        app = web_chat_app(
            conversations,
            parts.spec,
            parts.words,
            LOCALES,
            exit_url=exit_url,
            frame_ancestors=partner_origin if framed else "'none'",
            secret=SECRET,
            clock=clock,
        )
        exited = asyncio.Event()

        async def note_exit(request: web.Request, _response: web.StreamResponse) -> None:
            if request.path == EXIT_PATH:
                exited.set()

        app.on_response_prepare.append(note_exit)
        async with TestServer(app, host="127.0.0.1", access_log=None) as server:
            chat_address.append(str(server.make_url("/chat")))
            yield Site(
                chat=str(server.make_url("/chat")),
                exit_url=exit_url,
                partner=str(other.make_url("/partner")),
                conversations=conversations,
                exited=exited,
            )


# -- what every page is checked for ------------------------------------------------------------


CHECKED: set[str] = set()  # pages axe has passed (the browser's thread only)


def check_axe(page: Any, where: str) -> None:
    """axe-core on the page as shown: no WCAG 2.2 AA violation. Injected with `evaluate`, since
    the page's Content-Security-Policy refuses inline scripts. A page already checked (the
    same HTML but for its form token) is not checked again: the transcripts share their first
    steps."""
    seen = re.sub(r'name="csrf" value="[^"]*"', "", page.content())
    if seen in CHECKED:
        return
    page.evaluate(AXE_SOURCE)
    violations = page.evaluate(AXE_RUN, WCAG_22_AA)
    assert violations == [], f"{where}: axe found\n" + "\n".join(violations)
    CHECKED.add(seen)


def check_reflow(page: Any, where: str) -> None:
    """No horizontal scrolling (WCAG 1.4.10)."""
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{where}: {scroll} px of content in a {inner} px window"


@dataclass
class Visit:
    """One browser context: what it asked for, and the chat's key while it had one."""

    requests: list[str] = field(default_factory=list)
    key: str | None = None

    def remember_key(self, context: Any) -> None:
        for cookie in context.cookies():
            if cookie["name"] == COOKIE:
                self.key = chat_key(cookie["value"])

    def check_stayed_local(self) -> None:
        assert self.requests, "nothing was requested"
        away = [u for u in self.requests if urlsplit(u).hostname != "127.0.0.1"]
        assert away == [], f"requests left 127.0.0.1: {away}"


def open_context(browser: Any, visit: Visit, **options: Any) -> Any:
    context = browser.new_context(**{"locale": "en-GB", "viewport": WIDE, **options})
    context.set_default_timeout(10_000)
    context.on("request", lambda request: visit.requests.append(request.url))
    return context


def answer(page: Any, javascript: bool, act: Callable[[], None]) -> None:
    """Taps or types (`act`), then waits for the next step: a new page without JavaScript;
    with it, the same page with its step replaced in place (the old step is marked first, and
    the new one is not)."""
    if not javascript:
        with page.expect_navigation():
            act()
        return
    page.locator("#step").evaluate("step => step.setAttribute('data-before', '')")
    act()
    page.locator("#step:not([data-before])").wait_for()


# -- the scenario transcripts --------------------------------------------------------------------


@dataclass
class Walked:
    visit: Visit
    exited: bool = False


def walk(browser: Any, site: Site, scenario: Scenario, javascript: bool) -> Walked:
    """The transcript in the browser: each button clicked by its label, each answer typed, each
    step's words looked for on the page that follows. With JavaScript, axe checks every page.
    Without it, the window is 320 px wide and every page must reflow; axe is not run there (it
    needs the page's scripts to run, and the server sends the same HTML either way)."""
    visit = Visit()
    walked = Walked(visit)
    viewport = WIDE if javascript else NARROW
    context = open_context(browser, visit, java_script_enabled=javascript, viewport=viewport)
    try:
        page = context.new_page()
        page.goto(site.chat)
        shown: list[str] = []

        def check_page(where: str) -> None:
            shown.append(page.locator("body").inner_text())
            if javascript:
                check_axe(page, where)
            else:
                check_reflow(page, where)

        check_page("the first page")
        visit.remember_key(context)
        for number, step in enumerate(scenario.steps, start=1):
            where = f"step {number} ({step.tap or step.type!r})"
            if step.tap == QUICK_EXIT:
                # The web chat's quick exit is the button at the top of every page.
                page.get_by_role("button", name="Exit this page", exact=True).click()
                page.wait_for_url(site.exit_url)
                text = page.locator("body").inner_text()
                for words in step.gone:
                    assert words not in text, f"{where}: {words!r} still shown"
                walked.exited = True
                break
            if step.tap is not None:
                button = page.locator("main form.answers").get_by_role(
                    "button", name=step.tap, exact=True
                )
                answer(page, javascript, button.click)
            else:
                field_ = page.get_by_label(TYPE_LABEL, exact=True)
                field_.fill(step.type or "")
                answer(page, javascript, partial(field_.press, "Enter"))
            assert page.url == site.chat, f"{where}: at {page.url}"
            check_page(where)
            check_step(number, step.for_the_web(), shown[-1])
        check_never(scenario, "\n".join(shown))
    finally:
        context.close()
    return walked


# With JavaScript (axe on every page): the required transcripts and a few more that reach the
# other routes, the service cards and the quick exit; every transcript with
# PATHWAYS_BROWSER_ALL=1 (all pass; about 100 s on 2 cores, too long for `make test`). Without
# JavaScript (at 320 px wide): the required ones.
MORE = ("08_", "10_", "13_", "17_", "21_", "23_", "26_")
WALKS = [
    *[
        pytest.param(p, True, id=f"{p.stem}-js")
        for p in SCENARIOS
        if os.environ.get("PATHWAYS_BROWSER_ALL") == "1" or p.stem[:3] in REQUIRED + MORE
    ],
    *[pytest.param(p, False, id=f"{p.stem}-no-js") for p in SCENARIOS if p.stem[:3] in REQUIRED],
]


@pytest.mark.parametrize(("path", "javascript"), WALKS)
async def test_scenario_in_the_browser(
    path: Path, javascript: bool, chromium: Chromium, site: Site
) -> None:
    walked = await chromium.run(walk, site, load(path), javascript)
    walked.visit.check_stayed_local()
    assert walked.visit.key is not None
    if walked.exited:
        await asyncio.wait_for(site.exited.wait(), timeout=10)
        assert not await site.conversations.exists(walked.visit.key)
    else:
        assert await site.conversations.exists(walked.visit.key)


def test_the_required_transcripts_are_walked() -> None:
    assert {p.stem[:3] for p in SCENARIOS} >= set(REQUIRED)
    assert len(WALKS) >= 2 * len(REQUIRED) + len(MORE)


# -- Exit this page ------------------------------------------------------------------------------


def leave(browser: Any, site: Site, how: str) -> Visit:
    """From a partner's page to the chat, then out: by the button, one step in, or by Shift
    pressed three times on the first page (with JavaScript), or by the button's form, one step
    in (without)."""
    visit = Visit()
    context = open_context(browser, visit, java_script_enabled=how != "no-js")
    try:
        page = context.new_page()
        page.goto(site.partner)
        page.goto(site.chat)
        if how != "shift":
            answer(
                page,
                how != "no-js",
                page.get_by_role("button", name="No, not right now", exact=True).click,
            )
            expect(page.locator("main")).to_contain_text(LEFT_AT)
        visit.remember_key(context)
        if how == "shift":
            for _ in range(3):
                page.keyboard.press("Shift")
        else:
            page.get_by_role("button", name="Exit this page", exact=True).click()
        page.wait_for_url(site.exit_url)
        expect(page.locator("h1")).to_have_text("Weather")
        if how == "no-js":
            # The form post was answered before the browser left: the cookie is gone.
            assert COOKIE not in {c["name"] for c in context.cookies()}
        page.go_back()
        if how == "no-js":
            # Each step's POST and redirect added an entry for /chat, and the exit replaces
            # only the last one: Back reaches /chat again, but the page is not kept (no-store)
            # and the server has forgotten the chat, so the step left is not shown.
            expect(page.locator("main")).to_contain_text("are you in danger right now?")
            expect(page.locator("main")).not_to_contain_text(LEFT_AT)
        else:
            # The steps updated the page in place (no new history entries), and
            # location.replace put the neutral site in the chat's one entry: Back goes to the
            # page before the chat, never to the chat.
            page.wait_for_url(site.partner)
            expect(page.locator("h1")).to_have_text("A partner")
    finally:
        context.close()
    return visit


@pytest.mark.parametrize("how", ["button", "shift", "no-js"])
async def test_exit_this_page_leaves_and_the_server_forgets(
    how: str, chromium: Chromium, site: Site
) -> None:
    visit = await chromium.run(leave, site, how)
    visit.check_stayed_local()
    assert visit.key is not None
    # With JavaScript the exit is sent in the background as the page is replaced: wait until
    # the server has answered it.
    await asyncio.wait_for(site.exited.wait(), timeout=10)
    assert not await site.conversations.exists(visit.key)


def leave_a_frame(browser: Any, site: Site, javascript: bool) -> Visit:
    """The chat in a frame on the partner's page: Exit this page takes the whole window to the
    exit address, not just the frame, and Back goes to the page before the partner's (with
    JavaScript; without it, the exit form's target is the whole window)."""
    visit = Visit()
    context = open_context(browser, visit, java_script_enabled=javascript)
    try:
        page = context.new_page()
        page.goto(site.partner)
        page.goto(site.framing)
        chat = page.frame_locator("iframe")
        expect(chat.locator("main")).to_contain_text("are you in danger right now?")
        chat.get_by_role("button", name="Exit this page", exact=True).click()
        page.wait_for_url(site.exit_url)
        expect(page.locator("h1")).to_have_text("Weather")
        if javascript:
            page.go_back()
            page.wait_for_url(site.partner)
    finally:
        context.close()
    return visit


@pytest.mark.parametrize("site", [True], indirect=True, ids=["framed"])
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
async def test_exit_this_page_leaves_the_partners_page_too(
    chromium: Chromium, site: Site, javascript: bool
) -> None:
    visit = await chromium.run(leave_a_frame, site, javascript)
    visit.check_stayed_local()
    await asyncio.wait_for(site.exited.wait(), timeout=10)


# -- Urdu, right to left -------------------------------------------------------------------------


def urdu(browser: Any, site: Site) -> tuple[Visit, str | None, str | None]:
    visit = Visit()
    context = open_context(
        browser, visit, viewport=NARROW, locale="ur", extra_http_headers={"Accept-Language": "ur"}
    )
    try:
        page = context.new_page()
        page.goto(site.chat)
        html = page.locator("html")
        lang, direction = html.get_attribute("lang"), html.get_attribute("dir")
        check_axe(page, "the first page in Urdu")
        check_reflow(page, "the first page in Urdu")
    finally:
        context.close()
    return visit, lang, direction


async def test_urdu_pages_are_right_to_left(chromium: Chromium, site: Site) -> None:
    visit, lang, direction = await chromium.run(urdu, site)
    assert (lang, direction) == ("ur", "rtl")
    visit.check_stayed_local()


# -- page updates without reloads (JavaScript) ---------------------------------------------------


@dataclass
class InPlace:
    visit: Visit
    history: list[int] = field(default_factory=list)  # history.length after each step
    focused: list[str] = field(default_factory=list)  # what had focus after each step
    left_to: str = ""


FOCUSED = "() => document.activeElement.id || document.activeElement.className"


def in_place(browser: Any, site: Site) -> InPlace:
    """Three answers with JavaScript (a tap, a slip typed, a tap), then "exit" typed."""
    done = InPlace(Visit())
    context = open_context(browser, done.visit)
    try:
        page = context.new_page()
        page.goto(site.partner)
        page.goto(site.chat)
        done.history.append(page.evaluate("history.length"))
        done.visit.remember_key(context)
        steps = [
            page.get_by_role("button", name="No, not right now", exact=True).click,
            lambda: type_in(page, "professinal"),
            page.get_by_role("button", name="I'm a professional or volunteer", exact=True).click,
        ]
        for step in steps:
            answer(page, True, step)
            done.history.append(page.evaluate("history.length"))
            done.focused.append(page.evaluate(FOCUSED))
        check_axe(page, "a page updated in place")
        type_in(page, "exit")
        page.wait_for_url(site.exit_url)
        done.left_to = page.url
    finally:
        context.close()
    return done


def type_in(page: Any, words: str) -> None:
    field_ = page.get_by_label(TYPE_LABEL, exact=True)
    field_.fill(words)
    field_.press("Enter")


async def test_steps_update_the_page_in_place(chromium: Chromium, site: Site) -> None:
    done = await chromium.run(in_place, site)
    done.visit.check_stayed_local()
    # No step added a history entry: Back from the chat goes to the page before it.
    assert len(set(done.history)) == 1, done.history
    # Focus moved to the new words each time: the step, or "Did you mean ...?" when there is one.
    assert done.focused == ["step", "notices", "step"], done.focused
    # "exit" typed is the quick exit: the server forgot the chat, and the page left for the
    # neutral site.
    assert done.left_to == site.exit_url
    assert done.visit.key is not None
    assert not await site.conversations.exists(done.visit.key)
