"""Screenshots of the web chat for partners, for docs/web.md: `make screenshots`
(`python -m tests.web_screenshots`).

Serves the web chat on 127.0.0.1 (a free port, no access log) with the bundled flows and
directory, on a throwaway database, and saves what a phone shows (390 x 844 CSS pixels, the
top of the page, PNG) of the first page, the first step for each audience, the danger page and
a services page with cards, into docs/web/. The clock is fixed (a Thursday morning), so the
opening hours shown do not change from one run to the next; the pages do when the flows, the
directory or the page's look change, and then the screenshots are made again and committed.

Needs Debian's Chromium, as the browser tests do (`make chromium`, or CHROMIUM_PATH).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from playwright.async_api import Page, ViewportSize, async_playwright

from bot.app import Parts, build
from bot.channels.web import web_chat_app
from bot.conversation import Conversations
from bot.store.sqlite import SqliteStore
from tests.conftest import DIRECTORY, FLOWS, LOCALES, ROOT, FakeClock

OUT = ROOT / "docs" / "web"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
PHONE: ViewportSize = {"width": 390, "height": 844}
NOT_NOW = "No, not right now"


@dataclass(frozen=True)
class Shot:
    name: str  # docs/web/<name>.png
    taps: tuple[str, ...]  # the buttons tapped from the first page, by their labels
    start: str = ""  # a start code in the link (`/chat?start=<code>`)
    scroll_to: str | None = None  # shown from this element down, not from the page's top


SHOTS = (
    Shot("opening", ()),
    Shot("someone-harmed", (NOT_NOW, "Me")),
    Shot("friend-or-family", (NOT_NOW, "Someone I'm worried about")),
    Shot("professional", (NOT_NOW, "I'm a professional or volunteer")),
    Shot("own-behaviour", (NOT_NOW, "I'm worried about my own behaviour")),
    Shot("danger", ("Yes, I'm in danger now",)),
    # From a Milton Keynes poster's link: local services first.
    Shot(
        "services",
        (NOT_NOW, "Me", "Yes, I can talk", "Skip the questions", "Someone to talk to"),
        start="mk",
        scroll_to="#step",
    ),
)


async def tap(page: Page, label: str) -> None:
    """Taps a step's button, then waits for the next step to be shown (in place, with the
    page's script; the old step is marked first, the new one is not)."""
    await page.locator("#step").evaluate("step => step.setAttribute('data-before', '')")
    await page.locator("main form.answers").get_by_role("button", name=label, exact=True).click()
    await page.locator("#step:not([data-before])").wait_for()
    await page.wait_for_load_state()


async def take(chat: str, shots: tuple[Shot, ...], out: Path) -> list[Path]:
    saved = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            for shot in shots:
                context = await browser.new_context(
                    viewport=PHONE, locale="en-GB", is_mobile=True, has_touch=True
                )
                try:
                    page = await context.new_page()
                    await page.goto(chat + (f"?start={shot.start}" if shot.start else ""))
                    for label in shot.taps:
                        await tap(page, label)
                    # No button shown as hovered where the last one was tapped; from the top
                    # (the page's script moves focus to a new step, which can scroll a long
                    # one), or from the element asked for.
                    await page.mouse.move(0, 0)
                    if shot.scroll_to is None:
                        await page.evaluate("window.scrollTo(0, 0)")
                    else:
                        await page.locator(shot.scroll_to).evaluate("e => e.scrollIntoView()")
                    path = out / f"{shot.name}.png"
                    await page.screenshot(path=path)
                    saved.append(path)
                finally:
                    await context.close()
        finally:
            await browser.close()
    return saved


async def serve_and_take(parts: Parts, clock: FakeClock, out: Path) -> list[Path]:
    """The web chat on a free port of 127.0.0.1, with no access log, while the shots are
    taken."""
    with tempfile.TemporaryDirectory() as folder:
        store = await SqliteStore.open(Path(folder) / "screenshots.db")
        conversations = Conversations(parts.engine, store, clock, timedelta(minutes=15))
        app = web_chat_app(
            conversations,
            parts.spec,
            parts.words,
            LOCALES,
            secret=secrets.token_bytes(32),
            clock=clock,
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            host, port = runner.addresses[0][:2]
            return await take(f"http://{host}:{port}/chat", SHOTS, out)
        finally:
            await runner.cleanup()
            await store.close()


def main(out: Path = OUT) -> list[Path]:
    if not CHROMIUM.is_file():
        raise SystemExit(f"no Chromium at {CHROMIUM}: run `make chromium` (or set CHROMIUM_PATH)")
    out.mkdir(parents=True, exist_ok=True)
    clock = FakeClock()
    return asyncio.run(serve_and_take(build(FLOWS, DIRECTORY, LOCALES, clock=clock), clock, out))


if __name__ == "__main__":
    for saved in main():
        print(f"{saved.relative_to(ROOT)}: {saved.stat().st_size // 1024} KB")
