"""(i) End to end on PostgreSQL: one instance polling, and one and two in webhook mode.

The same load as (b) (bench/e2e.py: people playing the scenario transcripts against the fake
Bot API on 127.0.0.1, the real `python -m bot run` in processes of their own), with the bot on
PostgreSQL (`PATHWAYS_DATABASE_URL`), each configuration in a fresh schema of its own, dropped
afterwards:

- one instance polling (as `python -m bot run` on PostgreSQL with no webhook: it takes the lead,
  `bot/leader.py`, and polls): closed-load throughput, then latency at a paced rate;
- one instance in webhook mode, and two behind a round-robin balancer in this process (what
  nginx's `upstream` does: each update posted to the next instance's webhook, with the secret
  header, on kept-alive connections, several at once). The fake keeps no update for
  getUpdates: each goes to the balancer as it is made (`FakeBotApi.listen`);
- the same webhook run on SQLite, so that what the webhook changes and what PostgreSQL changes
  can be told apart, beside (b)'s SQLite polling run.

CPU time per update is read for the bot processes (user and system, all threads, summed over
the instances) and, when the server runs on this machine, for the PostgreSQL server processes
working for the run: the backends of the run's own connections (told apart by their
`application_name`) and the server's background processes (WAL writer, checkpointer,
background writer, autovacuum), from /proc/<pid>/stat.

The server is `PATHWAYS_BENCH_DATABASE_URL`, else `PATHWAYS_TEST_DATABASE_URL`, else the local
test server the tests use; when none answers the section is skipped, saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import socket
import threading
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import aiohttp
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from tests.fakebot import FakeBotApi

from . import e2e
from .machine import LoadMeter
from .scenarios import Script
from .sizes import Sizes

URL_VARIABLE = "PATHWAYS_BENCH_DATABASE_URL"
TEST_URL_VARIABLE = "PATHWAYS_TEST_DATABASE_URL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"  # the tests' local server
SECRET = "bench-webhook-secret"
WEBHOOK_PATH = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
GRACE = 5.0  # seconds a stopped bot may take to finish its queue before it is killed
# The server's settings that bear on the figures, shown with them.
SETTINGS = (
    "fsync",
    "synchronous_commit",
    "wal_sync_method",
    "shared_buffers",
    "autovacuum",
    "max_connections",
)
# Log lines worth reporting: warnings and errors, but for the start-up's own.
PROBLEM = re.compile(r"\b(WARNING|ERROR|CRITICAL|Traceback)\b")
EXPECTED = ("starting on Telegram with", "leading: this instance polls Telegram")

SQLITE_POLLING = "sqlite, polling"
SQLITE_WEBHOOK = "sqlite, webhook"
POLLING = "postgres, polling"
WEBHOOK_ONE = "postgres, webhook, 1 instance"
WEBHOOK_TWO = "postgres, webhook, 2 instances"


def paced_label(rate: float) -> str:
    return f"{POLLING} paced {rate:g}/s"


@dataclass(frozen=True)
class Server:
    where: str  # host:port/database, never the user or password
    version: str
    settings: dict[str, str]
    cpu_readable: bool  # its processes are this machine's, readable in /proc


@dataclass
class PostgresResult:
    server: Server
    loads: dict[str, e2e.LoadResult]
    reference_from_b: bool  # the SQLite polling run is (b)'s, not one of this section's own
    problems: dict[str, list[str]]  # run label -> the bot log lines worth a look
    date: str
    others: float  # cores other processes kept busy meanwhile
    seconds: float  # how long the section took
    rates: tuple[float, ...] = ()  # the paced runs': updates a second offered
    turns: int = 1  # runs each of one webhook instance and two, taking turns

    @property
    def paced(self) -> list[tuple[float, e2e.LoadResult]]:
        return [(rate, self.loads[paced_label(rate)]) for rate in self.rates]


@dataclass(frozen=True)
class PostgresSkipped:
    reason: str
    date: str


# -- the server -----------------------------------------------------------------------------------


class Unavailable(Exception):
    """No PostgreSQL server to run on: the section is skipped, saying why."""


def database_url() -> str:
    return (
        os.environ.get(URL_VARIABLE, "").strip()
        or os.environ.get(TEST_URL_VARIABLE, "").strip()
        or DEFAULT_URL
    )


def where(url: str) -> str:
    """host:port/database of an address: never its user or password."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "an address libpq cannot read"
    host = params.get("host") or "localhost"
    return f"{host}:{params.get('port') or 5432}/{params.get('dbname') or '(default)'}"


def connect(url: str) -> psycopg.Connection[Any]:
    """The bench's own connection, to make and drop schemas and read pg_stat_activity."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise Unavailable(
            f"{URL_VARIABLE} must be a postgresql:// address (the bot reads no other form)"
        )
    try:
        conn = psycopg.connect(
            url, autocommit=True, connect_timeout=5, application_name="pathways-bench"
        )
    except psycopg.Error as exc:
        raise Unavailable(
            f"no PostgreSQL server answers at {where(url)} ({type(exc).__name__}: "
            f"{_first_line(exc)}); start one, or point {URL_VARIABLE} at one"
        ) from None
    # A schema left in use would make DROP SCHEMA wait: fail instead of hanging.
    conn.execute("SET lock_timeout = '30s'")
    return conn


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


def describe_server(conn: psycopg.Connection[Any], url: str) -> Server:
    version = str(_one(conn, "SHOW server_version"))
    settings = {name: str(_one(conn, f"SHOW {name}")) for name in SETTINGS}
    return Server(where(url), f"PostgreSQL {version}", settings, _is_local(conn))


def _one(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query).fetchone()
    return row[0] if row else None


def _is_local(conn: psycopg.Connection[Any]) -> bool:
    """Whether the server process of this connection is one of this machine's, in /proc."""
    pid = _one(conn, "SELECT pg_backend_pid()")
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
    except OSError:
        return False


def schema_url(base: str, schema: str, application: str) -> str:
    """The address of `schema` on the server of `base`, its connections named `application`."""
    parts = urlsplit(base)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("options", "application_name")]
    query += [("options", f"-c search_path={schema}"), ("application_name", application)]
    new_query = urlencode(query, quote_via=quote)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, new_query, parts.fragment))


@contextlib.contextmanager
def fresh_schema(conn: psycopg.Connection[Any]) -> Iterator[str]:
    """A schema of its own for one run, dropped afterwards."""
    schema = f"pathways_bench_{uuid.uuid4().hex[:12]}"
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield schema
    finally:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


class ServerCpu:
    """CPU time of the PostgreSQL server processes working for one run: the backends of the
    connections named `application` (the bot's pools and its leader's lock connection) and
    the server's background processes (WAL writer, checkpointer, background writer,
    autovacuum), which work for everyone using the server at the time. A backend that ends
    within the window is missed; one that starts within it counts from its start."""

    def __init__(self, url: str, application: str) -> None:
        self.application = application
        self._conn = psycopg.connect(url, autocommit=True, application_name="pathways-bench-cpu")
        self._start: dict[int, float] = {}

    def _sample(self) -> dict[int, float]:
        rows = self._conn.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE application_name = %s OR backend_type <> 'client backend'",
            (self.application,),
        ).fetchall()
        found: dict[int, float] = {}
        for (pid,) in rows:
            with contextlib.suppress(OSError, ValueError, IndexError):
                found[int(pid)] = e2e.process_cpu_seconds(int(pid))
        return found

    def start(self) -> None:
        self._start = self._sample()

    def stop(self) -> float:
        end = self._sample()
        return sum(seconds - self._start.get(pid, 0.0) for pid, seconds in end.items())

    def close(self) -> None:
        self._conn.close()


# -- the instances and the balancer ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _healthy(port: int) -> bool:
    try:
        with _NO_PROXY.open(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
            return int(answer.status) == 200
    except OSError:
        return False


@dataclass
class Instance:
    bot: e2e.BotProcess
    webhook: str  # where its webhook listens, on 127.0.0.1 ("" when it polls)


def start_instance(
    fake: FakeBotApi, workdir: Path, database_url: str | None, webhook: bool
) -> Instance:
    """`python -m bot run` on the database given (else SQLite), polling or with a webhook;
    returned once it polls, or once its health check says it is serving."""
    env: dict[str, str] = {}
    if database_url:
        env["PATHWAYS_DATABASE_URL"] = database_url
    if not webhook:
        return Instance(e2e.start_bot("pathways", fake, workdir, env=env), "")
    port, health = free_port(), free_port()
    env |= {
        "PATHWAYS_WEBHOOK_URL": f"https://bot.example.org/{WEBHOOK_PATH}",
        "PATHWAYS_WEBHOOK_SECRET": SECRET,
        "PATHWAYS_WEBHOOK_PORT": str(port),
        "PATHWAYS_HEALTH_PORT": str(health),
    }
    bot = e2e.start_bot("pathways", fake, workdir, env=env, ready=lambda: _healthy(health))
    return Instance(bot, f"http://127.0.0.1:{port}/{WEBHOOK_PATH}")


class Balancer:
    """What nginx's `upstream` does in front of the instances: each update the fake makes is
    posted to the next instance's webhook in turn (to the one after if it does not answer),
    on kept-alive connections, as many at once as come. Runs its own event loop in a thread
    of this process (its CPU time counts with the fake's and the people's)."""

    def __init__(self, fake: FakeBotApi, webhooks: list[str]) -> None:
        self.fake = fake
        self.webhooks = webhooks
        self.delivered: Counter[str] = Counter()
        self.failures = 0
        self._turns = itertools.count()
        self._loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="balancer")

    def __enter__(self) -> Balancer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(10)
        self.fake.listen(self._take)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.fake.listen(None)
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _open(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), trust_env=False
        )

    async def _close(self) -> None:
        # Updates still on their way when the run ends are given up, as a proxy stopping does.
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def _take(self, update: dict[str, Any]) -> None:
        # Called by the fake, in the people's thread, as each update is made.
        self._loop.call_soon_threadsafe(self._send, update)

    def _send(self, update: dict[str, Any]) -> None:
        task = self._loop.create_task(self._deliver(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, update: dict[str, Any]) -> None:
        assert self._session is not None
        first = next(self._turns)
        for step in range(len(self.webhooks)):
            url = self.webhooks[(first + step) % len(self.webhooks)]
            try:
                async with self._session.post(
                    url, json=update, headers={SECRET_HEADER: SECRET}
                ) as answer:
                    await answer.read()
                    if answer.status == 200:
                        self.delivered[url] += 1
                        return
            except aiohttp.ClientError:
                pass
            self.failures += 1


# -- the runs -------------------------------------------------------------------------------------


@dataclass
class _Run:
    """One configuration: which database, how many instances, polling or webhook."""

    label: str
    postgres: bool
    instances: int = 1
    webhook: bool = False
    rate: float | None = None  # paced load (else closed)
    turn: int = 0  # of several runs of one configuration
    problems: list[str] = field(default_factory=list)

    @property
    def folder(self) -> str:
        name = "".join(c if c.isalnum() else "-" for c in self.label)
        return f"{name}-{self.turn + 1}" if self.turn else name


def combined(results: list[e2e.LoadResult]) -> e2e.LoadResult:
    """Several runs of one configuration as one: counts, times and CPU added up, latencies
    pooled (so a rate is over all their measured windows)."""
    if len(results) == 1:
        return results[0]
    first = results[0]
    return replace(
        first,
        seconds=sum(x.seconds for x in results),
        handled=sum(x.handled for x in results),
        offered=sum(x.offered for x in results),
        latencies=[t for x in results for t in x.latencies],
        conversations=sum(x.conversations for x in results),
        unanswered=sum(x.unanswered for x in results),
        mismatches=sum(x.mismatches for x in results),
        bot_cpu_seconds=sum(x.bot_cpu_seconds for x in results),
        driver_cpu_seconds=sum(x.driver_cpu_seconds for x in results),
        rss_kib_start=min(x.rss_kib_start for x in results),
        rss_kib_max=max(x.rss_kib_max for x in results),
        api_calls=sum(x.api_calls for x in results),
        polls=sum(x.polls for x in results),
        refused=sum(x.refused for x in results),
        exit_latencies=[t for x in results for t in x.exit_latencies],
        exits_uncleared=sum(x.exits_uncleared for x in results),
        database_cpu_seconds=sum(x.database_cpu_seconds for x in results),
    )


def _problems(log: Path) -> list[str]:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return [f"{log.name}: no log"]
    return [
        f"{log.parent.name}: {line.strip()}"
        for line in lines
        if PROBLEM.search(line) and not any(words in line for words in EXPECTED)
    ]


def _measure(
    run: _Run,
    *,
    workdir: Path,
    scripts: list[Script],
    sizes: Sizes,
    conn: psycopg.Connection[Any] | None,
    base_url: str,
    server: Server | None,
) -> e2e.LoadResult:
    folder = workdir / run.folder
    with contextlib.ExitStack() as stack:
        fake = stack.enter_context(e2e.LoadFake())
        url: str | None = None
        meter: ServerCpu | None = None
        if run.postgres:
            assert conn is not None and server is not None
            schema = stack.enter_context(fresh_schema(conn))
            application = f"pathways-bench-{schema.rsplit('_', 1)[-1]}"
            url = schema_url(base_url, schema, application)
            if server.cpu_readable:
                meter = ServerCpu(base_url, application)
                stack.callback(meter.close)
        instances: list[Instance] = []

        def stop_all() -> None:
            for instance in instances:
                instance.bot.stop(GRACE)
            for instance in instances:
                run.problems += _problems(instance.bot.log)
                status = instance.bot.process.returncode
                name = instance.bot.log.parent.name
                if status == -9:  # a saturated bot's queue left: no fault, but worth saying
                    run.problems.append(f"{name}: killed, not done {GRACE:g} s after SIGTERM")
                elif status not in (0, None):
                    run.problems.append(f"{name}: exit status {status}")

        stack.callback(stop_all)
        for n in range(run.instances):
            where_ = folder / f"instance-{n + 1}" if run.instances > 1 else folder
            instances.append(start_instance(fake, where_, url, run.webhook))
        balancer: Balancer | None = None
        if run.webhook:
            balancer = stack.enter_context(Balancer(fake, [i.webhook for i in instances]))
        bots: e2e.Bot = (
            instances[0].bot if len(instances) == 1 else e2e.BotGroup([i.bot for i in instances])
        )
        result = e2e.load(
            run.label,
            fake,
            bots,
            scripts,
            people=sizes.people if run.rate is None else sizes.paced_people,
            seconds=sizes.seconds,
            warmup=sizes.warmup,
            rate=run.rate,
            drain=0.0 if run.rate is None else 5.0,
            database=meter,
            instances=run.instances,
        )
        if balancer is not None and balancer.failures:
            run.problems.append(f"balancer: {balancer.failures} posts not answered 200")
    return result


def run(
    sizes: Sizes,
    workdir: Path,
    scripts: list[Script],
    reference: e2e.LoadResult | None = None,
    say: Callable[[str], None] = print,
) -> PostgresResult | PostgresSkipped:
    """The section, or why it was skipped. `reference`: (b)'s SQLite polling run at the same
    load, when there is one (else this section runs its own)."""
    meter = LoadMeter()
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    url = database_url()
    try:
        conn = connect(url)
    except Unavailable as exc:
        say(f"PostgreSQL: skipped: {exc}")
        return PostgresSkipped(str(exc), date)
    with conn:
        server = describe_server(conn, url)
        say(f"PostgreSQL: {server.version} at {server.where}")
        runs = [] if reference is not None else [_Run(SQLITE_POLLING, postgres=False)]
        runs += [_Run(POLLING, postgres=True)]
        runs += [_Run(paced_label(r), postgres=True, rate=r) for r in sizes.postgres_paced_rates]
        runs += [_Run(SQLITE_WEBHOOK, postgres=False, webhook=True)]
        # One webhook instance and two take turns, in the order A B B A (and so on), and each
        # figure is over all of its runs: a change in the machine's other load while they run
        # then weighs on both alike.
        for turn in range(sizes.postgres_turns):
            pair = [
                _Run(WEBHOOK_ONE, postgres=True, webhook=True, turn=turn),
                _Run(WEBHOOK_TWO, postgres=True, instances=2, webhook=True, turn=turn),
            ]
            runs += pair if turn % 2 == 0 else pair[::-1]
        measured: dict[str, list[e2e.LoadResult]] = {}
        if reference is not None:
            measured[SQLITE_POLLING] = [replace(reference, label=SQLITE_POLLING)]
        for one in runs:
            say(f"end to end: {one.label}{f' (turn {one.turn + 1})' if one.turn else ''} ...")
            result = _measure(
                one,
                workdir=workdir,
                scripts=scripts,
                sizes=sizes,
                conn=conn,
                base_url=url,
                server=server,
            )
            measured.setdefault(one.label, []).append(result)
            for line in one.problems[:5]:
                say(f"  {line}")
        order = [SQLITE_POLLING, *dict.fromkeys(r.label for r in runs if r.label != SQLITE_POLLING)]
    problems: dict[str, list[str]] = {}
    for one in runs:
        if one.problems:
            problems.setdefault(one.label, []).extend(one.problems)
    return PostgresResult(
        server=server,
        loads={label: combined(measured[label]) for label in order},
        reference_from_b=reference is not None,
        problems=problems,
        date=date,
        others=meter.others(),
        seconds=meter.seconds(),
        rates=sizes.postgres_paced_rates,
        turns=sizes.postgres_turns,
    )
