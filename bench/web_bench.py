"""(h) The web chat: each step's server time at 50 steps a second, and each page's weight.

The real `web_chat_app` (bot/channels/web/chat.py) runs in a process of its own, served by
aiohttp on 127.0.0.1 with no access log, on `Conversations` over a SQLite file (WAL) built as
`open_pathways` builds them for `python -m bot run`. The bench adds one middleware around the
chat's own, outermost, which times each request's handler (reading the form, the step, its
transaction, rendering the page) and sends that time back in a `Server-Timing` header. The
chat's per-client rate limit is on, as deployed; it leaves alone loopback connections that
name no client (`X-Real-IP`), as these do.

This process plays the people, each a browser with scripts off: an `aiohttp.ClientSession`
with its own cookie jar. A step is one action of a scenario transcript (tests/scenarios/):
the first visit (`GET /chat`), a button pressed or words typed (`POST /chat` with the form's
token and state read from the page, then the `GET /chat` its 303 leads to), or Exit this page
(`POST /chat/exit`; its redirect to the exit site is not followed). A step's server time is
the sum of its requests' handler times.

1. Every transcript is walked once, all at once. This warms the server, and weighs every page
   the transcripts show: its HTML, plus /static/web.css and /static/web.js as served.
2. Then steps are offered at `rate` a second for `warmup + seconds`, as a Poisson stream
   fixed in advance (open loop): each goes to a person whose last step has been answered, or
   to a new person when none is free, so a slow server never slows what is offered. The
   steps offered after the warm-up are measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import random
import secrets
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from multiprocessing.connection import Connection, wait
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from bot.app import open_parts
from bot.channels.web import web_chat_app
from bot.channels.web.chat import DEFAULT_EXIT_URL
from bot.channels.web.pages import CHAT_PATH, CSS_PATH, EXIT_PATH, JS_PATH
from bot.conversation import Conversations
from bot.store.sqlite import SqliteStore

from .common import DIRECTORY, FLOWS, LOCALES, fixed_clock, percentile
from .machine import LoadMeter
from .scenarios import Action, Script, load_scripts

IDLE_AFTER = timedelta(minutes=15)
TIMING = "Server-Timing"
QUICK_EXIT = "Quick exit"  # a transcript's way out; the web chat's is Exit this page, on top
LANGUAGE = "en-GB"
START_SECONDS = 60.0  # for the server process to build everything and listen
# What this process asks of the server's, over a pipe.
CPU, STOP = "cpu", "stop"


@dataclass(frozen=True)
class WebSizes:
    rate: float = 50.0  # steps a second offered
    seconds: float = 24.0  # measured
    warmup: float = 3.0  # offered at the same rate before the measured window
    people: int = 100  # free to act at the start; more join when none is free


FULL_WEB = WebSizes()
QUICK_WEB = WebSizes(rate=20.0, seconds=1.0, warmup=0.5, people=5)


@dataclass(frozen=True)
class WebResult:
    rate: float  # steps a second asked for
    seconds: float  # the measured window
    steps: int  # offered in the measured window
    answered: int  # of those, answered
    p50_ms: float  # server time per step
    p99_ms: float
    slowest_ms: float
    browser_p50_ms: float  # from the step's scheduled moment to its page read, in this process
    browser_p99_ms: float
    cpu_seconds: float  # the server process's, over the measured window
    people: int  # browsers used in the paced load
    failures: int  # answers other than the page (or redirect) expected
    mismatches: int  # a transcript's button not on the page shown
    scripts: int
    walked: int  # transcripts walked to the end in step 1
    page_bytes: int  # the heaviest page's HTML
    page_state: str  # the step it shows
    static_bytes: int  # /static/web.css and /static/web.js
    date: str
    others: float  # cores other processes kept busy meanwhile

    @property
    def answered_per_second(self) -> float:
        return self.answered / self.seconds

    @property
    def cpu_ms_per_step(self) -> float:
        return self.cpu_seconds * 1000 / self.answered if self.answered else float("nan")

    @property
    def page_with_static_bytes(self) -> int:
        return self.page_bytes + self.static_bytes


# -- the server process -----------------------------------------------------------------------


@web.middleware
async def server_timing(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler's time, the chat's own middlewares included, in a `Server-Timing` header."""
    started = time.perf_counter_ns()
    response = await handler(request)
    response.headers[TIMING] = f"app;dur={(time.perf_counter_ns() - started) / 1e6:.3f}"
    return response


def _serve(database: Path, pipe: Connection) -> None:
    asyncio.run(_serving(database, pipe))


async def _serving(database: Path, pipe: Connection) -> None:
    store = await SqliteStore.open(database)
    runner: web.AppRunner | None = None
    try:
        parts = await open_parts(store, FLOWS, DIRECTORY, LOCALES, fixed_clock)
        conversations = Conversations(parts.engine, store, fixed_clock, IDLE_AFTER, parts.directory)
        app = web_chat_app(
            conversations,
            parts.spec,
            parts.words,
            LOCALES,
            secret=secrets.token_bytes(32),
            clock=fixed_clock,
        )
        app.middlewares.insert(0, server_timing)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        gc.freeze()  # as the running bot keeps what start-up built out of the collector's way
        pipe.send(runner.addresses[0][1])
        while await asyncio.to_thread(pipe.recv) != STOP:
            pipe.send(time.process_time())
    finally:
        if runner is not None:
            await runner.cleanup()
        await store.close()


@dataclass
class Server:
    url: str
    pipe: Connection

    async def cpu_seconds(self) -> float:
        """The server process's CPU time so far (all its threads)."""

        def ask() -> float:
            self.pipe.send(CPU)
            return float(self.pipe.recv())

        return await asyncio.to_thread(ask)


@contextlib.contextmanager
def serving(workdir: Path) -> Iterator[Server]:
    """The web chat in a process of its own, on a fresh database in `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    process = spawn.Process(target=_serve, args=(workdir / "web.db", theirs), name="web-chat")
    process.start()
    try:
        # Its port, or its end if it failed first.
        if ours not in wait([ours, process.sentinel], START_SECONDS):
            raise RuntimeError("the web chat's process did not start listening")
        yield Server(f"http://127.0.0.1:{ours.recv()}", ours)
    finally:
        with contextlib.suppress(OSError):
            ours.send(STOP)
        process.join(10.0)
        if process.is_alive():
            process.terminate()
            process.join()


# -- the people -------------------------------------------------------------------------------


@dataclass
class Form:
    action: str
    hidden: dict[str, str] = field(default_factory=dict)
    inputs: set[str] = field(default_factory=set)  # other fields' names
    buttons: dict[str, str] = field(default_factory=dict)  # label -> value of those named "b"


class _Forms(HTMLParser):
    """The forms of a page, as a browser would send them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._inside = False
        self._button: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(Form(found.get("action", "")))
            self._inside = True
        elif not self._inside:
            return
        elif tag == "input" and found.get("type") == "hidden":
            self.forms[-1].hidden[found.get("name", "")] = found.get("value", "")
        elif tag == "input":
            self.forms[-1].inputs.add(found.get("name", ""))
        elif tag == "button" and found.get("name") == "b":
            self._button = (found.get("value", ""), [])

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False
        elif tag == "button" and self._button is not None:
            value, words = self._button
            self.forms[-1].buttons[" ".join("".join(words).split())] = value
            self._button = None


@dataclass(frozen=True)
class Page:
    forms: tuple[Form, ...]

    @classmethod
    def read(cls, html: str) -> Page:
        parser = _Forms()
        parser.feed(html)
        parser.close()
        return cls(tuple(parser.forms))

    @property
    def state(self) -> str:
        return next((f.hidden["state"] for f in self.forms if "state" in f.hidden), "")

    def pressing(self, label: str) -> dict[str, str] | None:
        """What the form holding this button sends when it is pressed; None if none holds it."""
        for form in self.forms:
            if label in form.buttons:
                return {**form.hidden, "b": form.buttons[label]}
        return None

    def typing(self, words: str) -> dict[str, str] | None:
        form = next((f for f in self.forms if "t" in f.inputs), None)
        return None if form is None else {**form.hidden, "t": words}

    def leaving(self) -> dict[str, str] | None:
        form = next((f for f in self.forms if f.action == EXIT_PATH), None)
        return None if form is None else dict(form.hidden)


@dataclass
class Person:
    """One browser: its own cookie jar, playing one transcript after another."""

    session: aiohttp.ClientSession
    script: int
    at: int = 0  # the next action of the transcript
    page: Page | None = None

    def begin_again(self, scripts: int) -> None:
        """The next transcript, as someone new in a fresh browser."""
        self.script = (self.script + 1) % scripts
        self.at = 0
        self.page = None
        self.session.cookie_jar.clear()


@dataclass
class Heaviest:
    bytes: int = 0
    state: str = ""


class Unexpected(Exception):
    """The server answered a step otherwise than a browser expects."""


def _server_ms(response: aiohttp.ClientResponse) -> float:
    timing = response.headers.get(TIMING, "")
    _, found, duration = timing.partition(";dur=")
    if not found:
        raise Unexpected(f"no {TIMING} header")
    return float(duration)


class People:
    def __init__(self, url: str, scripts: list[Script]) -> None:
        self.url = url
        self.scripts = scripts
        self.everyone: list[Person] = []
        self.heaviest = Heaviest()
        self.failures = 0
        self.mismatches = 0

    def join(self, script: int) -> Person:
        jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[self.url])
        session = aiohttp.ClientSession(
            base_url=self.url, cookie_jar=jar, headers={"Accept-Language": LANGUAGE}
        )
        person = Person(session, script % len(self.scripts))
        self.everyone.append(person)
        return person

    async def close(self) -> None:
        for person in self.everyone:
            await person.session.close()

    async def static_bytes(self) -> int:
        person = self.join(0)
        total = 0
        for path in (CSS_PATH, JS_PATH):
            async with person.session.get(path) as response:
                if response.status != 200:
                    raise Unexpected(f"{path}: {response.status}")
                total += len(await response.read())
        return total

    async def step(self, person: Person) -> float | None:
        """The person's next action; returns its server time in ms (None when the
        transcript did not match the page, or the server answered otherwise)."""
        script = self.scripts[person.script]
        action = script.actions[person.at]
        try:
            server_ms, page = await self._act(person, action)
        except Unexpected:
            self.failures += 1
            person.begin_again(len(self.scripts))
            return None
        if page is None and action.words != QUICK_EXIT:
            self.mismatches += 1
            person.begin_again(len(self.scripts))
            return None
        person.page = page
        person.at += 1
        if page is None or person.at == len(script.actions):
            person.begin_again(len(self.scripts))
        return server_ms

    async def _act(self, person: Person, action: Action) -> tuple[float, Page | None]:
        if person.at == 0:  # the transcript's /start: the first visit
            return await self._page(person, "GET", None)
        shown = person.page
        assert shown is not None
        if action.kind == "tap" and action.words == QUICK_EXIT:
            form = shown.leaving()
            if form is None:
                return 0.0, None
            async with person.session.post(EXIT_PATH, data=form, allow_redirects=False) as left:
                if left.status != 303 or left.headers.get("Location") != DEFAULT_EXIT_URL:
                    raise Unexpected(f"exit: {left.status}")
                await left.read()
                return _server_ms(left), None
        sent: Mapping[str, str] | None = (
            shown.pressing(action.words) if action.kind == "tap" else shown.typing(action.words)
        )
        if sent is None:
            return 0.0, None
        return await self._page(person, "POST", sent)

    async def _page(
        self, person: Person, method: str, form: Mapping[str, str] | None
    ) -> tuple[float, Page]:
        """A request to /chat, its redirect followed: the page it leads to."""
        async with person.session.request(method, CHAT_PATH, data=form) as response:
            body = await response.read()
            if response.status != 200 or response.url.path != CHAT_PATH:
                raise Unexpected(f"{response.status} at {response.url.path}")
            if any(r.status != 303 for r in response.history):
                raise Unexpected("a redirect other than 303")
            server_ms = sum(_server_ms(r) for r in (*response.history, response))
        page = Page.read(body.decode("utf-8"))
        if len(body) > self.heaviest.bytes:
            self.heaviest = Heaviest(len(body), page.state)
        return server_ms, page

    async def walk_every_script(self) -> int:
        """Each transcript once, to its end, all at once; returns how many got there."""

        async def walk(number: int) -> bool:
            person = self.join(number)
            while await self.step(person) is not None:
                if person.at == 0:  # begun again: that transcript is done
                    return True
            return False

        return sum(await asyncio.gather(*(walk(n) for n in range(len(self.scripts)))))


@dataclass
class _Sample:
    server_ms: float
    browser_ms: float


async def _offer(
    people: People, server: Server, sizes: WebSizes, seed: int
) -> tuple[list[_Sample], int, float]:
    """Steps offered at `sizes.rate` a second (open loop); returns the measured window's
    samples, how many steps it offered, and the server's CPU seconds over it."""
    rnd = random.Random(seed)
    loop = asyncio.get_running_loop()
    free = deque(people.join(n) for n in range(sizes.people))
    samples: list[_Sample] = []
    offered = 0
    running: set[asyncio.Task[None]] = set()

    async def play(person: Person, due: float, measured: bool) -> None:
        server_ms = await people.step(person)
        if measured and server_ms is not None:
            samples.append(_Sample(server_ms, (loop.time() - due) * 1000))
        free.append(person)

    start = loop.time()
    measured_from = start + sizes.warmup
    end = measured_from + sizes.seconds
    cpu_from: asyncio.Task[float] | None = None
    due = start
    while True:
        due += rnd.expovariate(sizes.rate)
        if due >= end:
            break
        await asyncio.sleep(max(0.0, due - loop.time()))
        measured = due >= measured_from
        if measured and cpu_from is None:
            cpu_from = asyncio.create_task(server.cpu_seconds())
        offered += measured
        person = free.popleft() if free else people.join(len(people.everyone))
        task = asyncio.create_task(play(person, due, measured))
        running.add(task)
        task.add_done_callback(running.discard)
    await asyncio.gather(*running)
    cpu_to = await server.cpu_seconds()
    cpu = cpu_to - await cpu_from if cpu_from is not None else 0.0
    return samples, offered, cpu


async def _run(server: Server, scripts: list[Script], sizes: WebSizes, seed: int) -> WebResult:
    people = People(server.url, scripts)
    try:
        static_bytes = await people.static_bytes()
        walked = await people.walk_every_script()
        joined = len(people.everyone)
        samples, offered, cpu = await _offer(people, server, sizes, seed)
        paced = len(people.everyone) - joined
    finally:
        await people.close()
    server_ms = [s.server_ms for s in samples]
    browser_ms = [s.browser_ms for s in samples]
    return WebResult(
        rate=sizes.rate,
        seconds=sizes.seconds,
        steps=offered,
        answered=len(samples),
        p50_ms=percentile(server_ms, 0.5),
        p99_ms=percentile(server_ms, 0.99),
        slowest_ms=max(server_ms, default=float("nan")),
        browser_p50_ms=percentile(browser_ms, 0.5),
        browser_p99_ms=percentile(browser_ms, 0.99),
        cpu_seconds=cpu,
        people=paced,
        failures=people.failures,
        mismatches=people.mismatches,
        scripts=len(scripts),
        walked=walked,
        page_bytes=people.heaviest.bytes,
        page_state=people.heaviest.state,
        static_bytes=static_bytes,
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        others=0.0,
    )


def run(
    workdir: Path,
    sizes: WebSizes = FULL_WEB,
    scripts: list[Script] | None = None,
    seed: int = 20,
) -> WebResult:
    meter = LoadMeter()
    with serving(workdir) as server:
        result = asyncio.run(_run(server, scripts or load_scripts(), sizes, seed))
    # Read once the server's process has ended, so that its CPU time counts as ours.
    return replace(result, others=meter.others())


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        result = run(Path(folder))
    print(
        f"{result.answered:,} of {result.steps:,} steps answered at {result.rate:g}/s: server "
        f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms; heaviest page "
        f"{result.page_with_static_bytes / 1024:.1f} KB with its styles and scripts "
        f"({result.page_state}); {result.failures} failures, {result.mismatches} mismatches"
    )
