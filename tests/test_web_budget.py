"""The web chat's page budget: every page the scenario transcripts show weighs under 30 KB
with its styles and scripts, and none makes the browser ask another site for anything.

The weights are measured here, as served: the HTML of each page plus /static/web.css and
/static/web.js, uncompressed (every response is `no-store`, so a browser fetches all three
for each step). `make bench` reports the heaviest (docs/benchmarks.md, section h).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer

from bot.app import Parts
from bot.channels.web import web_chat_app
from bot.channels.web.chat import DEFAULT_EXIT_URL
from bot.channels.web.pages import CSS_PATH, EXIT_PATH, JS_PATH
from bot.conversation import Conversations
from tests.conftest import LOCALES, FakeClock
from tests.test_scenarios import SCENARIOS, load
from tests.test_web_chat import SECRET, Browser, Page

BUDGET_BYTES = 30 * 1024
QUICK_EXIT = "Quick exit"  # a transcript's way out; the web chat's is Exit this page, on top
# Attributes whose value the browser fetches, or goes to, as an address.
ADDRESSES = frozenset(
    {"src", "href", "action", "formaction", "srcset", "poster", "data", "ping", "manifest"}
)


class _OffSite(HTMLParser):
    """Every address in a page that is not on this site: any absolute or scheme-relative
    URL, in whatever attribute, and any address attribute that is not a path here or a
    `tel:` link. The exit form's `data-exit-url` is where the exit goes, and is allowed."""

    def __init__(self, exit_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.exit_url = exit_url
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            address = (value or "").strip()
            if name == "data-exit-url" and address == self.exit_url:
                continue
            parts = urlsplit(address)
            elsewhere = parts.netloc != "" or parts.scheme in ("http", "https")
            if name in ADDRESSES and parts.scheme not in ("", "tel"):
                elsewhere = True
            if elsewhere:
                self.found.append(f"<{tag} {name}={address!r}>")


def off_site(html: str, exit_url: str = DEFAULT_EXIT_URL) -> list[str]:
    parser = _OffSite(exit_url)
    parser.feed(html)
    parser.close()
    return parser.found


@pytest.fixture
async def client(
    conversations: Conversations, parts: Parts, clock: FakeClock
) -> AsyncIterator[TestClient[object, object]]:
    app = web_chat_app(conversations, parts.spec, parts.words, LOCALES, secret=SECRET, clock=clock)
    async with TestClient(TestServer(app), cookie_jar=DummyCookieJar()) as test_client:
        yield test_client


async def static_files(browser: Browser) -> dict[str, str]:
    """The style sheet and script, as served now (another change may have grown them)."""
    found = {}
    for path in (CSS_PATH, JS_PATH):
        served = await browser.get(path)
        assert served.status == 200, path
        found[path] = served.body
    return found


async def transcript_pages(browser: Browser, path: Path) -> list[Page]:
    """Every page a transcript shows, the first visit included; it ends at a quick exit."""
    pages = [await browser.get()]
    for step in load(path).steps:
        page = pages[-1]
        if step.tap == QUICK_EXIT:
            left = await browser.post(EXIT_PATH, {"csrf": page.token})
            assert left.status == 303 and left.headers["Location"] == DEFAULT_EXIT_URL
            break
        if step.tap is not None:
            pages.append(await browser.press(page, step.tap))
        else:
            pages.append(await browser.type(page, step.type or ""))
    return pages


def weight(page: Page) -> int:
    return len(page.body.encode("utf-8"))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
async def test_every_page_of_the_transcript_fits_the_budget_and_stays_on_this_site(
    path: Path, client: TestClient[object, object]
) -> None:
    browser = Browser(client)
    static = await static_files(browser)
    with_static = sum(len(body.encode("utf-8")) for body in static.values())
    pages = await transcript_pages(browser, path)
    assert len(pages) > 1
    for number, page in enumerate(pages):
        assert page.status == 200
        where = f"page {number} ({page.state})"
        total = weight(page) + with_static
        assert total < BUDGET_BYTES, f"{where}: {total:,} bytes with its styles and scripts"
        assert off_site(page.body) == [], where


async def test_the_style_sheet_and_script_ask_no_other_site(
    client: TestClient[object, object],
) -> None:
    # An absolute address, a scheme-relative one opening a string or url(), or an import.
    elsewhere = re.compile(r"https?://|[\"'(]\s*//|@import")
    for path, body in (await static_files(Browser(client))).items():
        assert elsewhere.findall(body) == [], path


def test_an_address_elsewhere_is_found() -> None:
    """The check above would see a page that asked another site for something."""
    assert off_site('<a href="tel:+443001234567">call</a><a href="/chat">back</a>') == []
    assert off_site(f'<form action="/chat/exit" data-exit-url="{DEFAULT_EXIT_URL}">') == []
    assert off_site('<link rel="stylesheet" href="https://fonts.example.net/a.css">') == [
        "<link href='https://fonts.example.net/a.css'>"
    ]
    assert off_site('<script src="//cdn.example.net/x.js"></script>') == [
        "<script src='//cdn.example.net/x.js'>"
    ]
    assert off_site('<img src="data:image/png;base64,AAAA">') == [
        "<img src='data:image/png;base64,AAAA'>"
    ]
    assert off_site('<form data-exit-url="https://elsewhere.example.org/">') != []
    assert off_site('<div data-next="http://example.org/">') != []
