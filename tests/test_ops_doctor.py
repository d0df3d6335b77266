"""`python -m bot doctor`: all is well on a sound deployment, and each broken thing it claims to
check is caught, with its fix. Online checks run against the fake Bot API."""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from aiohttp import web
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from psycopg import sql

from bot.app import Parts
from bot.channels.web import web_chat_app
from bot.channels.web.pages import CSS_PATH
from bot.conversation import Conversations
from bot.ops.doctor import diagnose
from bot.ops.findings import FAIL, OK, WARN, Finding
from bot.ops.postgres_checks import server, transport
from bot.store.schema import latest_schema
from bot.web.server import Site, WebServer, health_app
from tests.conftest import DIRECTORY, FLOWS, LOCALES, ROOT, Database
from tests.fakebot import TOKEN, FakeBotApi
from tests.test_ops_backup import make_live
from tests.test_ops_postgres_backup import (
    ON_POSTGRES,
    PASSWORD,
    make_live_postgres,
    postgres_url,
    schema_of,
)

Env = dict[str, str]
SECRET = "f3b1c8e0d2a4469bb7e5c3a1d9f00e7c"
GOOD_ME = {
    "id": int(TOKEN.split(":")[0]),
    "is_bot": True,
    "first_name": "Information",
    "username": "pathways_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}

LATEST = latest_schema("postgresql")  # the schema this Pathways migrates to


def real_now() -> datetime:
    return datetime.now(UTC)


def compile_locales(folder: Path) -> Path:
    """The shipped catalogues, compiled as `make translations` does, whatever the checkout has."""
    target = folder / "locales"
    shutil.copytree(LOCALES, target, ignore=shutil.ignore_patterns("*.mo"))
    for po in target.glob("*/LC_MESSAGES/messages.po"):
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name)
        with po.with_suffix(".mo").open("wb") as out:
            write_mo(out, catalog)
    return target


@pytest.fixture(scope="module")
def compiled_locales(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_locales(tmp_path_factory.mktemp("locales"))


@pytest.fixture
def fake() -> Iterator[FakeBotApi]:
    with FakeBotApi() as server:
        server.respond("getMe", GOOD_ME)
        yield server
    assert server.refused == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def env(tmp_path: Path, fake: FakeBotApi, compiled_locales: Path) -> Env:
    """A sound deployment: the token in a private file, a live database, compiled catalogues,
    and the web chat on a port of its own with a forms secret."""
    token = tmp_path / "telegram-token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    db = tmp_path / "state" / "pathways.db"
    await make_live(db)
    db.chmod(0o600)
    return {
        "TELEGRAM_BOT_TOKEN_FILE": str(token),
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "PATHWAYS_DB": str(db),
        "PATHWAYS_LOCALES": str(compiled_locales),
        "PATHWAYS_FLOWS": str(FLOWS),
        "PATHWAYS_DIRECTORY": str(DIRECTORY),
        "PATHWAYS_WEB_PORT": str(free_port()),
        "PATHWAYS_WEB_SECRET": SECRET,
    }


async def run_doctor(
    env: Env, now: Callable[[], datetime] = real_now, **options: object
) -> list[Finding]:
    return await diagnose(env, now, wait=3, **options)  # type: ignore[arg-type]


def only(found: list[Finding], status: str) -> list[Finding]:
    return [f for f in found if f.status == status]


def assert_caught(found: list[Finding], status: str, topic: str, pattern: str) -> Finding:
    hits = [f for f in found if f.status == status and f.topic == topic]
    for finding in hits:
        if re.search(pattern, finding.text):
            return finding
    shown = "\n".join(line for f in found for line in f.lines())
    raise AssertionError(f"no {status} {topic} matching {pattern!r} in:\n{shown}")


def cli(*args: str, env: Env) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PATHWAYS_", "TELEGRAM_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**clean, **env},
    )


# -- all is well --------------------------------------------------------------------------------


async def test_a_sound_deployment_is_well(env: Env) -> None:
    found = await run_doctor(env)
    assert only(found, FAIL) == []
    # The bundled directory ships entries not yet checked: that is a to-do, not a fault.
    assert [f.topic for f in only(found, WARN)] == ["directory"]
    topics = {f.topic for f in only(found, OK)}
    assert {"settings", "token", "telegram", "database", "flows", "translations"} <= topics
    assert {"webhook", "web chat", "clock"} <= topics
    assert_caught(found, OK, "telegram", "@pathways_test_bot")
    assert_caught(found, OK, "web chat", f"http://127.0.0.1:{env['PATHWAYS_WEB_PORT']}/chat")
    assert_caught(found, OK, "clock", "Agrees with Telegram's")


def test_doctor_as_a_command_exits_0_only_when_all_is_well(env: Env) -> None:
    result = cli("doctor", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All is well (1 warning)." in result.stdout
    assert TOKEN not in result.stdout + result.stderr
    broken = cli("doctor", env={**env, "TELEGRAM_BOT_TOKEN_FILE": "", "TELEGRAM_BOT_TOKEN": ""})
    assert broken.returncode == 1
    assert "1 problem to fix" in broken.stdout


async def test_offline_asks_nobody(env: Env, fake: FakeBotApi) -> None:
    found = await run_doctor(env, online_checks=False)
    assert fake.requests == []
    assert_caught(found, OK, "telegram", "Not asked")
    assert only(found, FAIL) == []


# -- each thing it checks, broken ---------------------------------------------------------------


async def test_a_bad_setting_is_named(env: Env, tmp_path: Path) -> None:
    config = tmp_path / "pathways.toml"
    config.write_text("[conversation]\nidle_minutes = 0\n")
    found = await run_doctor({**env, "PATHWAYS_CONFIG": str(config)})
    assert_caught(found, FAIL, "settings", r"idle_minutes in \[conversation\] of .*1 or more")


async def test_no_token(env: Env) -> None:
    found = await run_doctor({**env, "TELEGRAM_BOT_TOKEN_FILE": ""})
    finding = assert_caught(found, FAIL, "token", "No bot token")
    assert "TELEGRAM_BOT_TOKEN_FILE" in finding.fix


async def test_a_token_in_the_environment_is_advised_against(env: Env) -> None:
    found = await run_doctor({**env, "TELEGRAM_BOT_TOKEN_FILE": "", "TELEGRAM_BOT_TOKEN": TOKEN})
    assert_caught(found, WARN, "token", "systemctl show")


async def test_a_token_file_others_can_read(env: Env) -> None:
    os.chmod(env["TELEGRAM_BOT_TOKEN_FILE"], 0o644)
    found = await run_doctor(env)
    finding = assert_caught(found, FAIL, "secrets", "other users can read it")
    assert finding.fix.startswith("chmod 600 ")


async def test_a_token_telegram_refuses(env: Env, tmp_path: Path) -> None:
    other = tmp_path / "other-token"
    other.write_text("987654321:ZZHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ")
    other.chmod(0o600)
    found = await run_doctor({**env, "TELEGRAM_BOT_TOKEN_FILE": str(other)})
    finding = assert_caught(found, FAIL, "telegram", r"did not accept the token \(HTTP 401\)")
    assert "@BotFather" in finding.fix
    assert "ZZHdq" not in "\n".join(line for f in found for line in f.lines())


async def test_the_bot_api_out_of_reach(env: Env, fake: FakeBotApi) -> None:
    closed = fake.base_url
    fake.stop()
    found = await run_doctor({**env, "TELEGRAM_API_BASE_URL": closed})
    finding = assert_caught(found, FAIL, "telegram", r"Could not reach the Bot API at 127\.0\.0\.1")
    assert "--offline" in finding.fix
    fake.start()  # so the fixture can stop it


async def test_botfather_settings_to_change(env: Env, fake: FakeBotApi) -> None:
    fake.respond("getMe", {**GOOD_ME, "can_join_groups": True, "can_read_all_group_messages": True})
    found = await run_doctor(env)
    assert "/setjoingroups" in assert_caught(found, WARN, "telegram", "added to groups").fix
    assert "/setprivacy" in assert_caught(found, WARN, "telegram", "Privacy mode is off").fix


async def test_a_clock_that_disagrees_with_telegram(env: Env) -> None:
    found = await run_doctor(env, now=lambda: real_now() + timedelta(minutes=5))
    finding = assert_caught(found, FAIL, "clock", r"\d+ seconds ahead of Telegram's")
    assert "timedatectl set-ntp true" in finding.fix


async def test_an_impossible_clock_and_no_time_zone_data(env: Env) -> None:
    found = await run_doctor(
        env,
        now=lambda: datetime(2001, 1, 1, tzinfo=UTC),
        online_checks=False,
        zone="Nowhere/Atlantis",
    )
    assert_caught(found, FAIL, "clock", "cannot be right")
    assert_caught(found, FAIL, "time zone", "No time zone data for Nowhere/Atlantis")


async def test_telegram_reports_failed_webhook_deliveries(env: Env, fake: FakeBotApi) -> None:
    hook = {
        **env,
        "PATHWAYS_WEBHOOK_URL": "https://bot.example.org/telegram",
        "PATHWAYS_WEBHOOK_SECRET": SECRET,
    }
    fake.respond(
        "getWebhookInfo",
        {
            "url": "https://bot.example.org/telegram",
            "has_custom_certificate": False,
            "pending_update_count": 150,
            "last_error_date": int(real_now().timestamp()) - 60,
            "last_error_message": "Wrong response from the webhook: 502 Bad Gateway",
        },
    )
    found = await run_doctor(hook)
    assert_caught(found, WARN, "webhook", "502 Bad Gateway")
    assert_caught(found, WARN, "webhook", "150 updates are waiting")


def spoil_newer(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 999")


def spoil_foreign(db: Path) -> None:
    db.unlink()
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")


def spoil_damaged(db: Path) -> None:
    from tests.test_ops_backup import malformed

    malformed(db)


def spoil_behind(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        conn.execute(f"PRAGMA user_version = {version - 1}")


def spoil_readable(db: Path) -> None:
    db.chmod(0o644)


def spoil_folder(db: Path) -> None:
    shutil.rmtree(db.parent)
    db.mkdir(parents=True)


def spoil_parent(db: Path) -> None:
    shutil.rmtree(db.parent)
    db.parent.write_text("a file where the folder should be")


@pytest.mark.parametrize(
    ("spoil", "status", "pattern"),
    [
        (spoil_newer, FAIL, r"made by a newer Pathways \(schema 999"),
        (spoil_foreign, FAIL, "is not a Pathways database"),
        (spoil_damaged, FAIL, "is damaged|cannot be opened"),
        (spoil_behind, WARN, r"is at schema \d+; this Pathways is at \d+"),
        (spoil_readable, WARN, "Other users can read"),
        (spoil_folder, FAIL, "is a folder"),
        (spoil_parent, FAIL, "cannot be created"),
    ],
)
async def test_database_problems(
    env: Env, spoil: Callable[[Path], None], status: str, pattern: str
) -> None:
    spoil(Path(env["PATHWAYS_DB"]))
    found = await run_doctor(env, online_checks=False)
    assert_caught(found, status, "database", pattern)


async def test_a_missing_database_is_fine_before_the_first_start(env: Env, tmp_path: Path) -> None:
    found = await run_doctor({**env, "PATHWAYS_DB": str(tmp_path / "new" / "p.db")})
    assert_caught(found, OK, "database", "not created yet")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
async def test_a_journal_file_left_by_another_user(env: Env) -> None:
    db = Path(env["PATHWAYS_DB"])
    with sqlite3.connect(db) as conn:  # leaves -wal and -shm while open
        conn.execute("SELECT 1 FROM services").fetchall()
        shm = f"{db}-shm"
        os.chown(shm, 65534, 65534)
        found = await run_doctor(env, online_checks=False)
    finding = assert_caught(found, FAIL, "database", "belongs to another user")
    assert "chown" in finding.fix


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anything")
async def test_a_database_the_service_cannot_write(env: Env) -> None:
    db = Path(env["PATHWAYS_DB"])
    db.parent.chmod(0o500)
    try:
        found = await run_doctor(env, online_checks=False)
    finally:
        db.parent.chmod(0o700)
    assert_caught(found, FAIL, "database", "not writable|cannot be")


async def test_broken_flows_are_named_by_file_and_line(env: Env, flows_copy: Path) -> None:
    victim = flows_copy / "victim.yaml"
    victim.write_text(victim.read_text().replace("goto: not_safe", "goto: victim.nedds"))
    found = await run_doctor({**env, "PATHWAYS_FLOWS": str(flows_copy)}, online_checks=False)
    finding = assert_caught(found, FAIL, "flows", r"victim\.yaml:\d+: unknown destination")
    assert "flows check" in finding.fix


async def test_a_broken_bundled_directory(env: Env, tmp_path: Path) -> None:
    folder = tmp_path / "directory"
    shutil.copytree(DIRECTORY, folder)
    services = folder / "services.yaml"
    services.write_text(services.read_text().replace("hours: 24/7", "hours: Mnday 10:00-12:00", 1))
    found = await run_doctor({**env, "PATHWAYS_DIRECTORY": str(folder)}, online_checks=False)
    finding = assert_caught(found, FAIL, "directory", "bundled directory has problems")
    assert "Mnday" in finding.text and "directory validate" in finding.fix


async def test_a_broken_directory_in_the_database(env: Env) -> None:
    with sqlite3.connect(env["PATHWAYS_DB"]) as conn:
        conn.execute(
            "UPDATE services SET data = json_set(data, '$.hours', 'Mnday 10:00-12:00') "
            "WHERE id = 'samaritans'"
        )
    found = await run_doctor(env, online_checks=False)
    assert_caught(found, FAIL, "directory", "directory in the database has problems")


async def test_stale_entries_are_counted(env: Env) -> None:
    with sqlite3.connect(env["PATHWAYS_DB"]) as conn:
        total = int(conn.execute("SELECT count(*) FROM services").fetchone()[0])
        conn.execute("UPDATE services SET data = json_set(data, '$.verified_on', '2020-01-01')")
    found = await run_doctor(env, online_checks=False)
    finding = assert_caught(found, WARN, "directory", f"{total} not checked in 180 days")
    assert finding.fix == "python -m bot directory stale --days 180"


async def test_translations_not_compiled(env: Env, tmp_path: Path, compiled_locales: Path) -> None:
    folder = tmp_path / "locales"
    shutil.copytree(compiled_locales, folder)
    (folder / "cy" / "LC_MESSAGES" / "messages.mo").unlink()
    pl = folder / "pl" / "LC_MESSAGES"
    os.utime(pl / "messages.mo", (1, 1))  # older than its catalogue
    found = await run_doctor({**env, "PATHWAYS_LOCALES": str(folder)}, online_checks=False)
    finding = assert_caught(found, FAIL, "translations", "cy, pl")
    assert "make translations" in finding.fix


@pytest.mark.parametrize(
    ("url", "extra", "status", "pattern"),
    [
        ("https://bot.example.org:8080/telegram", {}, FAIL, "uses port 8080"),
        ("https://127.0.0.1/telegram", {}, FAIL, "Telegram cannot reach"),
        ("https://bot.example.org/hooks/tg", {}, WARN, "public path /hooks/tg differs"),
        (
            "https://bot.example.org/telegram",
            {"PATHWAYS_WEBHOOK_LISTEN": "0.0.0.0"},
            WARN,
            "listens on 0.0.0.0",
        ),
        (
            "https://bot.example.org/telegram",
            {"PATHWAYS_WEBHOOK_SECRET": "short"},
            WARN,
            "secret is short",
        ),
        ("https://bot.example.org/telegram", {}, OK, "proxy -> http://127.0.0.1:8443/telegram"),
    ],
)
async def test_webhook_settings(env: Env, url: str, extra: Env, status: str, pattern: str) -> None:
    hook = {**env, "PATHWAYS_WEBHOOK_URL": url, "PATHWAYS_WEBHOOK_SECRET": SECRET, **extra}
    found = await run_doctor(hook, online_checks=False)
    assert_caught(found, status, "webhook", pattern)


# -- the web chat -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "pattern", "fix"),
    [
        ({"PATHWAYS_WEB_HOST": "0.0.0.0"}, "listens on 0.0.0.0.*plain HTTP", "HOST=127.0.0.1"),
        ({"PATHWAYS_WEB_HOST": "192.0.2.7"}, "listens on 192.0.2.7", "nginx-pathways.conf"),
        ({"PATHWAYS_WEB_SECRET": ""}, "No forms secret", "PATHWAYS_WEB_SECRET_FILE"),
        (
            {"PATHWAYS_WEB_FRAME_ANCESTORS": "'self' https://www.example.gov.uk"},
            "may show it in a frame: 'self' https://www.example.gov.uk",
            "FRAME_ANCESTORS=\"'none'\"",
        ),
    ],
    ids=["every-address", "another-address", "no-secret", "framed"],
)
async def test_web_chat_settings_to_look_at(env: Env, extra: Env, pattern: str, fix: str) -> None:
    found = await run_doctor({**env, **extra}, online_checks=False)
    assert fix in assert_caught(found, WARN, "web chat", pattern).fix
    assert only(found, FAIL) == []


async def test_the_web_chat_off(env: Env) -> None:
    found = await run_doctor({**env, "PATHWAYS_WEB": "off"}, online_checks=False)
    assert [f.text for f in found if f.topic == "web chat"] == ["Off: nothing served."]


async def test_an_exit_address_without_https_is_refused_by_the_settings(env: Env) -> None:
    found = await run_doctor(
        {**env, "PATHWAYS_WEB_EXIT_URL": "http://www.bbc.co.uk/weather"}, online_checks=False
    )
    assert_caught(found, FAIL, "settings", "PATHWAYS_WEB_EXIT_URL must be a full https://")


Serve = Callable[[web.Application], Awaitable[None]]


@pytest.fixture
async def serve(env: Env) -> AsyncIterator[Serve]:
    """Serves an app on 127.0.0.1 at the web chat's port, for the test's length."""
    server = WebServer()

    async def start(app: web.Application) -> None:
        await server.start([Site(app, "127.0.0.1", int(env["PATHWAYS_WEB_PORT"]))])

    yield start
    await server.close()


async def test_the_web_chat_port_free_for_run(env: Env) -> None:
    found = await run_doctor(env, online_checks=False)
    assert_caught(found, OK, "web chat", f"Nothing listens on 127.0.0.1:{env['PATHWAYS_WEB_PORT']}")
    # Listening on every address, it is asked on the loopback one.
    everywhere = await run_doctor({**env, "PATHWAYS_WEB_HOST": "0.0.0.0"}, online_checks=False)
    assert_caught(everywhere, OK, "web chat", "Nothing listens on 127.0.0.1:")


async def test_the_web_chat_being_served(
    env: Env, serve: Serve, conversations: Conversations, parts: Parts
) -> None:
    app = web_chat_app(conversations, parts.spec, parts.words, LOCALES, secret=SECRET.encode())
    await serve(app)
    found = await run_doctor(env, online_checks=False)
    assert_caught(found, OK, "web chat", "Answering on 127.0.0.1:.*the bot is serving it")
    assert [f for f in only(found, WARN) if f.topic == "web chat"] == []


def another_site() -> web.Application:
    """A web server with a style sheet of its own at the chat's path, and no chat."""

    async def style_sheet(_request: web.Request) -> web.Response:
        return web.Response(text="body {}", content_type="text/css")

    app = web.Application()
    app.router.add_get(CSS_PATH, style_sheet)
    return app


@pytest.mark.parametrize(
    ("other", "answer"),
    [(lambda: health_app(lambda: True), "HTTP 404"), (another_site, "HTTP 200")],
)
async def test_the_web_chat_port_taken_by_something_else(
    env: Env, serve: Serve, other: Callable[[], web.Application], answer: str
) -> None:
    await serve(other())
    found = await run_doctor(env, online_checks=False)
    finding = assert_caught(found, WARN, "web chat", rf"Something else answers .*\({answer}\)")
    assert "PATHWAYS_WEB_PORT" in finding.fix


async def test_no_address_but_this_machine_is_asked(env: Env, serve: Serve) -> None:
    # Something answers on the port here; a web chat set to another machine's address is not
    # looked for at all, here or there.
    await serve(health_app(lambda: True))
    found = await run_doctor({**env, "PATHWAYS_WEB_HOST": "192.0.2.7"}, online_checks=False)
    assert not any(re.search("Nothing listens|Answering|Something else", f.text) for f in found)


# -- PostgreSQL ---------------------------------------------------------------------------------


@pytest.fixture
async def pg_env(env: Env, database: Database, tmp_path: Path) -> Env:
    """A sound deployment on PostgreSQL: its address holds a password (trust authentication
    never asks for it), and the SQLite file is nowhere."""
    await make_live_postgres(database)
    return {
        **env,
        "PATHWAYS_DATABASE_URL": postgres_url(database, password=PASSWORD),
        "PATHWAYS_DB": str(tmp_path / "nowhere" / "pathways.db"),
    }


def shown(found: list[Finding]) -> str:
    return "\n".join(line for f in found for line in f.lines())


def in_schema(database: Database, *statements: str) -> None:
    with psycopg.connect(database.location, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[call-overload]


@ON_POSTGRES
async def test_a_sound_deployment_on_postgres_is_well(pg_env: Env) -> None:
    found = await run_doctor(pg_env, online_checks=False)
    assert only(found, FAIL) == []
    assert [f.topic for f in only(found, WARN)] == ["directory"]
    assert_caught(found, OK, "database", r"PostgreSQL 1\d\.\d+ answers at 127\.0\.0\.1:\d+")
    assert_caught(
        found, OK, "database", rf"The schema pathways_test_\w+ is up to date \(schema {LATEST}\)"
    )
    assert_caught(found, OK, "database", "may read and write Pathways' tables")
    assert_caught(found, OK, "backup", r"pg_dump and pg_restore \d+ are here")
    # The directory is read from PostgreSQL, never from a SQLite file.
    assert_caught(found, WARN, "directory", r"services, in the database")
    assert "nowhere" not in shown(found) and PASSWORD not in shown(found)


@ON_POSTGRES
def test_doctor_on_postgres_as_a_command_never_shows_the_password(pg_env: Env) -> None:
    result = cli("doctor", "--offline", env=pg_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert quote(PASSWORD, safe="") not in result.stdout + result.stderr


@ON_POSTGRES
async def test_a_database_out_of_reach(pg_env: Env, database: Database) -> None:
    away = postgres_url(database, password=PASSWORD, port=free_port())
    found = await run_doctor({**pg_env, "PATHWAYS_DATABASE_URL": away}, online_checks=False)
    finding = assert_caught(found, FAIL, "database", r"Cannot connect to postgresql://.*:\*\*\*\*@")
    assert "Connection refused" in finding.text and "firewall" in finding.fix
    assert PASSWORD not in shown(found) and quote(PASSWORD, safe="") not in shown(found)


def behind(database: Database) -> None:
    in_schema(database, "UPDATE schema_version SET version = version - 1")


def newer(database: Database) -> None:
    in_schema(database, "UPDATE schema_version SET version = 999")


def foreign(database: Database) -> None:
    in_schema(database, "DROP TABLE services", "DROP TABLE schema_version")


def broken_directory(database: Database) -> None:
    in_schema(
        database,
        "UPDATE services SET data = jsonb_set(data::jsonb, '{hours}', "
        "'\"Mnday 10:00-12:00\"')::text WHERE id = 'samaritans'",
    )


@pytest.mark.parametrize(
    ("spoil", "status", "topic", "pattern"),
    [
        (
            behind,
            WARN,
            "database",
            rf"is at schema {LATEST - 1}; this Pathways is at {LATEST}\. `run` migrates it",
        ),
        (newer, FAIL, "database", r"last used by a newer Pathways \(schema 999"),
        (foreign, FAIL, "database", "holds tables, but not a Pathways database"),
        (broken_directory, FAIL, "directory", "directory in the database has problems"),
    ],
)
@ON_POSTGRES
async def test_postgres_schema_problems(
    pg_env: Env,
    database: Database,
    spoil: Callable[[Database], None],
    status: str,
    topic: str,
    pattern: str,
) -> None:
    spoil(database)
    found = await run_doctor(pg_env, online_checks=False)
    assert_caught(found, status, topic, pattern)


@ON_POSTGRES
async def test_an_empty_schema_and_one_that_does_not_exist(
    pg_env: Env, database: Database, postgres_server: psycopg.Connection
) -> None:
    other = f"{schema_of(database)}_empty"
    postgres_server.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(other)))
    try:
        empty = postgres_url(database, schema=other)
        found = await run_doctor({**pg_env, "PATHWAYS_DATABASE_URL": empty}, online_checks=False)
        assert_caught(found, OK, "database", "is empty: `run` creates the tables at start")
        assert_caught(found, WARN, "directory", r"bundled \(copied into the database")
        assert only(found, FAIL) == []
    finally:
        postgres_server.execute(sql.SQL("DROP SCHEMA {}").format(sql.Identifier(other)))
    found = await run_doctor({**pg_env, "PATHWAYS_DATABASE_URL": empty}, online_checks=False)
    finding = assert_caught(found, FAIL, "database", r"search_path \(.*_empty\) names none")
    assert "CREATE SCHEMA" in finding.fix


@pytest.fixture
def role(postgres_server: psycopg.Connection) -> Iterator[str]:
    """A role of its own, with no rights until a test grants them; gone afterwards."""
    name = f"pathways_test_role_{uuid.uuid4().hex[:8]}"
    postgres_server.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        postgres_server.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        postgres_server.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def grant(database: Database, role: str, rights: str, on: str) -> None:
    statement = sql.SQL("GRANT {} ON {} TO {}").format(
        sql.SQL(rights),
        sql.SQL(on).format(sql.Identifier(schema_of(database))),
        sql.Identifier(role),
    )
    with psycopg.connect(database.location, autocommit=True) as conn:
        conn.execute(statement)


@ON_POSTGRES
async def test_what_a_role_without_rights_is_told(
    pg_env: Env, database: Database, role: str
) -> None:
    as_role = {**pg_env, "PATHWAYS_DATABASE_URL": postgres_url(database, user=role)}
    found = await run_doctor(as_role, online_checks=False)
    finding = assert_caught(found, FAIL, "database", "names none that exists and the role may use")
    assert "GRANT USAGE" in finding.fix

    grant(database, role, "USAGE", "SCHEMA {}")
    grant(database, role, "SELECT", "ALL TABLES IN SCHEMA {}")
    found = await run_doctor(as_role, online_checks=False)
    finding = assert_caught(found, FAIL, "database", "lacks rights Pathways needs")
    assert re.search(
        r"needs: INSERT, UPDATE, DELETE on admin_sessions, .*, sessions\.$", finding.text
    )
    assert finding.fix.startswith("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA")
    assert_caught(found, WARN, "database", "may not create tables .* a later upgrade would fail")
    finding = assert_caught(found, WARN, "database", f"The role {role} does not own Pathways'")
    assert "erased conversations stay in pending_wipes and sessions as dead rows" in finding.text
    assert "OWNER TO" in finding.fix

    grant(database, role, "SELECT, INSERT, UPDATE, DELETE", "ALL TABLES IN SCHEMA {}")
    behind(database)
    found = await run_doctor(as_role, online_checks=False)
    finding = assert_caught(found, FAIL, "database", "may not create tables .* could not set up")
    assert finding.fix.startswith("GRANT CREATE ON SCHEMA")
    assert not [f for f in only(found, FAIL) if "lacks rights" in f.text]


def test_the_servers_version_against_what_the_store_needs() -> None:
    assert server(110022, "db.example.org", 5432, "pathways").status == FAIL
    assert "needs 12 or newer" in server(110022, "db", 5432, "pathways").text
    assert server(120000, "db", 5432, "pathways").status == OK
    assert "PostgreSQL 18.1 answers at db:5432" in server(180001, "db", 5432, "pathways").text
    assert "at /var/run/postgresql," in server(150020, "/var/run/postgresql", 5432, "p").text


@pytest.mark.parametrize(
    ("local", "sslmode", "encrypted", "status", "pattern"),
    [
        (True, "disable", False, None, ""),
        (False, "prefer", False, FAIL, "is not encrypted"),
        (False, "require", True, WARN, r"certificate is not checked \(sslmode=require\)"),
        (False, "prefer", True, WARN, r"not checked \(sslmode=prefer\)"),
        (False, "verify-ca", True, OK, "certificate checked"),
        (False, "verify-full", True, OK, "certificate and name checked"),
    ],
)
def test_a_connection_to_another_machine_must_be_encrypted(
    local: bool, sslmode: str, encrypted: bool, status: str | None, pattern: str
) -> None:
    found = transport("db.example.org", local, sslmode, encrypted)
    if status is None:
        assert found == []
        return
    (finding,) = found
    assert finding.status == status and re.search(pattern, finding.text)
    if status != OK:
        assert "sslmode=verify-full" in finding.fix


@ON_POSTGRES
async def test_backups_without_the_postgres_tools(
    pg_env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # where no pg_dump is
    found = await run_doctor(pg_env, online_checks=False)
    finding = assert_caught(found, WARN, "backup", "pg_dump and pg_restore not installed here")
    assert "postgresql-client-" in finding.fix
