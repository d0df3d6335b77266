"""The checks `doctor` makes without the Bot API: secrets, database, content, webhook, the web
chat and the clock. Only the web chat's own port is asked, and only on this machine. The
database here is the SQLite file; PostgreSQL's checks are in `postgres_checks.py`."""

from __future__ import annotations

import ipaddress
import os
import sqlite3
import stat
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from bot.app import StartupError, load_spec
from bot.channels.web.pages import CSS_PATH
from bot.channels.web.serve import chat_url
from bot.config import Settings, Web
from bot.directory.files import DirectoryData, read_folder
from bot.directory.index import DirectoryIndex
from bot.directory.validate import DirectoryError
from bot.engine.lint import lint
from bot.i18n import DOMAIN, SOURCE_LOCALE, available_locales
from bot.ops.backup import REQUIRED, stored_directory
from bot.ops.findings import Finding, fail, first, ok, warn
from bot.store.schema import latest_schema

# The only ports Telegram delivers webhooks to.
WEBHOOK_PORTS = (443, 80, 88, 8443)
SECRET_ADVICE = "openssl rand -hex 32"


def secrets(settings: Settings, env_token: bool) -> list[Finding]:
    found: list[Finding] = []
    if settings.token is None:
        found.append(
            fail(
                "token",
                "No bot token: `python -m bot run` would start the terminal chat, not Telegram.",
                "Put the token from @BotFather in a file only the service can read, and set "
                "TELEGRAM_BOT_TOKEN_FILE to its path (docs/deploy.md).",
            )
        )
    elif env_token:
        found.append(
            warn(
                "token",
                "The token is set in TELEGRAM_BOT_TOKEN. It looks right, but a variable set in a "
                "unit file's Environment= shows in `systemctl show`.",
                "Prefer TELEGRAM_BOT_TOKEN_FILE (systemd: LoadCredential=, see deploy/).",
            )
        )
    else:
        found.append(ok("token", "Set from a file, and it looks like a bot token."))
    for path in settings.secret_files:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            found.append(
                fail(
                    "secrets",
                    f"{path} holds a secret and other users can read it "
                    f"(mode {stat.filemode(mode)}).",
                    f"chmod 600 {path}",
                )
            )
    return found


# -- the database ------------------------------------------------------------------------------


def _uri(path: Path, mode: str) -> str:
    return f"file:{quote(str(path.resolve()))}?mode={mode}"


def database(settings: Settings) -> list[Finding]:
    path = settings.db_path
    if path.is_dir():
        return [fail("database", f"{path} is a folder.", "Set PATHWAYS_DB to a file's path.")]
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), Path("/"))
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            return [
                fail(
                    "database",
                    f"{path} does not exist and cannot be created: {parent} is not a writable "
                    "folder.",
                    "Create the folder and give it to the service's user "
                    "(systemd's StateDirectory= does this).",
                )
            ]
        return [ok("database", f"{path} is not created yet; `run` creates it at start.")]
    found = _permissions(path)
    try:
        conn = sqlite3.connect(_uri(path, "rw"), uri=True, isolation_level=None, timeout=5)
    except sqlite3.Error as exc:
        return [*found, _cannot_open(path, exc)]
    try:
        found.extend(_contents(conn, path))
    except sqlite3.Error as exc:
        found.append(_cannot_open(path, exc))
    finally:
        conn.close()
    return found


def _cannot_open(path: Path, exc: sqlite3.Error) -> Finding:
    return fail(
        "database",
        f"{path} cannot be opened for writing ({type(exc).__name__}: {exc}).",
        "Check the file and its folder belong to the service's user, or restore a backup "
        "(python -m bot restore BACKUP).",
    )


def _permissions(path: Path) -> list[Finding]:
    found = []
    if not os.access(path.parent, os.W_OK | os.X_OK):
        found.append(
            fail(
                "database",
                f"The folder {path.parent} is not writable: SQLite keeps its journal beside "
                "the database.",
                "Give the folder to the service's user (systemd: StateDirectory=).",
            )
        )
    owner = path.stat().st_uid
    for extra in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        if extra.exists() and extra.stat().st_uid != owner:
            found.append(
                fail(
                    "database",
                    f"{extra} belongs to another user than the database, so the bot may not "
                    "be able to open it (a command run as root?).",
                    "Stop the bot, then give the file to the database's owner (chown), and "
                    "run commands as the service's user.",
                )
            )
    if path.stat().st_mode & stat.S_IRWXO:
        found.append(
            warn(
                "database",
                f"Other users can read {path}, which holds live conversations.",
                f"chmod 600 {path} (the unit's UMask=0077 keeps new files private)",
            )
        )
    return found


def _contents(conn: sqlite3.Connection, path: Path) -> list[Finding]:
    tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    schema = int(conn.execute("PRAGMA user_version").fetchone()[0])
    latest = latest_schema()
    if not tables:
        return [ok("database", f"{path} is empty; `run` sets it up at start.")]
    if not tables >= REQUIRED or schema < 1:
        return [
            fail(
                "database",
                f"{path} is not a Pathways database.",
                "Point PATHWAYS_DB at the right file, or restore a backup.",
            )
        ]
    if schema > latest:
        return [
            fail(
                "database",
                f"{path} was made by a newer Pathways (schema {schema}; this one knows up to "
                f"{latest}).",
                "Install the newer Pathways again, or restore a backup made by this one.",
            )
        ]
    checked = [str(r[0]) for r in conn.execute("PRAGMA quick_check")]
    if checked != ["ok"]:
        return [
            fail(
                "database",
                f"{path} is damaged: {first(checked, 3)}",
                "Stop the bot and restore the latest backup (python -m bot restore BACKUP).",
            )
        ]
    try:
        conn.execute("BEGIN IMMEDIATE")  # proves it is writable, and changes nothing
        conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        return [
            fail(
                "database",
                f"{path} cannot be written ({exc}).",
                "Give the file and its folder to the service's user.",
            )
        ]
    if schema < latest:
        return [
            warn(
                "database",
                f"{path} is at schema {schema}; this Pathways is at {latest}. `run` migrates it "
                "at start.",
                "Take a backup first: python -m bot backup /var/backups/pathways/",
            )
        ]
    return [ok("database", f"{path} is writable and up to date (schema {schema}).")]


# -- flows, directory, translations ------------------------------------------------------------


def stored(settings: Settings) -> DirectoryData | None:
    """The directory in the database, if the database has one yet."""
    path = settings.db_path
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(_uri(path, "ro"), uri=True, timeout=5)
    except sqlite3.Error:
        return None  # the database check says why
    try:
        if "services" not in {
            str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }:
            return None
        if conn.execute("SELECT 1 FROM services LIMIT 1").fetchone() is None:
            return None
        return stored_directory(conn)
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def content(
    settings: Settings,
    today: date,
    read_stored: Callable[[], DirectoryData | None] | None = None,
) -> list[Finding]:
    """The bundled directory, the one in the database (`read_stored`: from PostgreSQL; by
    default from the SQLite file), the flows on it, and the translations."""
    found: list[Finding] = []
    fix_directory = f"python -m bot directory validate {settings.directory_dir}"
    try:
        bundled: DirectoryData | None = read_folder(settings.directory_dir)
    except DirectoryError as exc:
        bundled = None
        problems = [str(p) for p in exc.problems]
        found.append(
            fail(
                "directory",
                f"The bundled directory has problems:\n{first(problems)}",
                fix_directory,
            )
        )
    try:
        data = read_stored() if read_stored is not None else stored(settings)
        where = "in the database"
    except DirectoryError as exc:
        data = None
        problems = [str(p) for p in exc.problems]
        found.append(
            fail(
                "directory",
                f"The directory in the database has problems:\n{first(problems)}",
                "Import a corrected file (python -m bot directory import FILE) or restore a "
                "backup.",
            )
        )
    if data is None:
        data, where = bundled, "bundled (copied into the database at first start)"
    if data is not None:
        found.append(_staleness(data, where, settings.stale_days, today))
    found.extend(_flows(settings, data))
    found.extend(translations(settings))
    return found


def _staleness(data: DirectoryData, where: str, days: int, today: date) -> Finding:
    cutoff = today - timedelta(days=days)
    stale = sum(
        1
        for s in data.services.values()
        if s.verified_on is None or date.fromisoformat(s.verified_on) < cutoff
    )
    text = f"{len(data.services)} services, {where}; {stale} not checked in {days} days."
    if stale:
        return warn("directory", text, f"python -m bot directory stale --days {days}")
    return ok("directory", text)


def _flows(settings: Settings, data: DirectoryData | None) -> list[Finding]:
    fix = f"python -m bot flows check --dir {settings.flows_dir}"
    try:
        spec = load_spec(settings.flows_dir)
    except StartupError as exc:
        return [fail("flows", first(str(exc).splitlines()), fix)]
    index = DirectoryIndex(data.areas, data.services) if data else None
    problems = [str(p) for p in lint(spec, index, available_locales(settings.locales_dir))]
    if problems:
        return [fail("flows", f"The flows have problems:\n{first(problems)}", fix)]
    return [ok("flows", f"{len(spec.states)} states in {len(spec.files)} files, no problems.")]


def translations(settings: Settings) -> list[Finding]:
    folder = settings.locales_dir
    fix = "make translations (or: .venv/bin/pybabel compile -d locales -D messages)"
    if not folder.is_dir():
        return [fail("translations", f"There is no translations folder at {folder}.", fix)]
    locales = [code for code in available_locales(folder) if code != SOURCE_LOCALE]
    stale = []
    for code in locales:
        po = folder / code / "LC_MESSAGES" / f"{DOMAIN}.po"
        mo = po.with_suffix(".mo")
        if not mo.is_file() or mo.stat().st_mtime < po.stat().st_mtime:
            stale.append(code)
    if stale:
        return [
            fail(
                "translations",
                f"Not compiled, or older than their catalogue: {', '.join(stale)}.",
                fix,
            )
        ]
    return [ok("translations", f"Compiled for {', '.join(locales) or 'English only'}.")]


# -- webhook and clock -------------------------------------------------------------------------


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def webhook(settings: Settings) -> list[Finding]:
    found = []
    if settings.health is not None:
        found.append(
            ok("health", f"GET http://{settings.health.listen}:{settings.health.port}/healthz")
        )
    hook = settings.webhook
    if hook is None:
        return [ok("webhook", "Long polling: no public address or proxy needed."), *found]
    url = urlsplit(hook.url)
    port = url.port or 443
    if port not in WEBHOOK_PORTS:
        found.append(
            fail(
                "webhook",
                f"PATHWAYS_WEBHOOK_URL uses port {port}; Telegram only posts to ports "
                f"{', '.join(map(str, WEBHOOK_PORTS))}.",
                "Serve the public address on port 443 at the proxy.",
            )
        )
    host = url.hostname or ""
    if loopback(host) or _private(host):
        found.append(
            fail(
                "webhook",
                f"PATHWAYS_WEBHOOK_URL points at {host}, which Telegram cannot reach.",
                "Use the public name of the proxy, e.g. https://bot.example.org/telegram",
            )
        )
    public_path = url.path.strip("/")
    if public_path != hook.path:
        found.append(
            warn(
                "webhook",
                f"The public path /{public_path} differs from PATHWAYS_WEBHOOK_PATH /{hook.path}.",
                f"Make sure the proxy sends /{public_path} to "
                f"http://{hook.listen}:{hook.port}/{hook.path} (or make them the same).",
            )
        )
    if not loopback(hook.listen):
        found.append(
            warn(
                "webhook",
                f"The bot's web server listens on {hook.listen}, not only to the proxy on this "
                "machine.",
                "Set PATHWAYS_WEBHOOK_LISTEN=127.0.0.1 and let the proxy forward to it.",
            )
        )
    if len(hook.secret) < 32:
        found.append(
            warn(
                "webhook",
                "The webhook secret is short and could be guessed.",
                f"Make a new one with: {SECRET_ADVICE}",
            )
        )
    if not any(f.topic == "webhook" for f in found):
        found.append(
            ok(
                "webhook",
                f"{hook.url} -> proxy -> http://{hook.listen}:{hook.port}/{hook.path}, "
                "with a secret token.",
            )
        )
    return found


def _private(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_private
    except ValueError:
        return False


# -- the web chat ------------------------------------------------------------------------------

WEB_PROXY = "deploy/nginx-pathways.conf"


def web_chat(settings: Settings) -> list[Finding]:
    """Its address, and what in its settings a deployment should look at."""
    web = settings.web
    if web is None:
        return [ok("web chat", "Off: nothing served.")]
    found = [ok("web chat", f"Served at {chat_url(web)}, for the HTTPS proxy ({WEB_PROXY}).")]
    if not loopback(web.host):
        found.append(
            warn(
                "web chat",
                f"It listens on {web.host}, not only to the proxy on this machine: it serves "
                "plain HTTP to whoever reaches that address, and over HTTP browsers do not keep "
                "its cookie (it is Secure), so nobody could get past the first step.",
                "Set PATHWAYS_WEB_HOST=127.0.0.1 ([web] host) and let the proxy pass /chat to "
                f"it over HTTPS ({WEB_PROXY}).",
            )
        )
    if web.secret is None:
        found.append(
            warn(
                "web chat",
                "No forms secret: each start makes a random one, so a page opened before a "
                "restart asks the person to tap again.",
                f"Put one in a file only the service can read ({SECRET_ADVICE}) and set "
                "PATHWAYS_WEB_SECRET_FILE ([web] secret_file) to its path.",
            )
        )
    if web.frame_ancestors != "'none'":
        found.append(
            warn(
                "web chat",
                f"Pages of these sites may show it in a frame: {web.frame_ancestors}. In a "
                "frame, Exit this page takes the whole window away, but a site that "
                "sandboxes its frame without allow-top-navigation keeps its own page on the "
                "screen.",
                "Keep only the sites that embed it; PATHWAYS_WEB_FRAME_ANCESTORS=\"'none'\" "
                "([web] frame_ancestors) lets none.",
            )
        )
    return found


def _probe_host(web: Web) -> str | None:
    """Where this machine reaches the web chat's port: None unless it is this machine's own."""
    if loopback(web.host):
        return web.host
    try:
        address = ipaddress.ip_address(web.host)
    except ValueError:
        return None
    if address.is_unspecified:  # every address of this machine, its loopback one included
        return "::1" if address.version == 6 else "127.0.0.1"
    return None


async def web_chat_served(settings: Settings, wait: float) -> list[Finding]:
    """Whether the web chat's port is free for `run`, or already serving the web chat. Asked
    only on this machine's loopback address, and only for the chat's style sheet."""
    web = settings.web
    host = _probe_host(web) if web is not None else None
    if web is None or host is None:
        return []
    style_sheet = urljoin(chat_url(replace(web, host=host)), CSS_PATH)
    address = urlsplit(style_sheet).netloc
    # No proxy from the environment: this is a question for this machine only.
    async with httpx.AsyncClient(timeout=wait, trust_env=False) as client:
        try:
            response = await client.get(style_sheet)
        except httpx.ConnectError:
            return [ok("web chat", f"Nothing listens on {address} yet: `run` will.")]
        except httpx.HTTPError as exc:
            return [_port_taken(web, address, type(exc).__name__)]
    policy = response.headers.get("content-security-policy", "")
    if response.status_code == 200 and "frame-ancestors" in policy:
        return [ok("web chat", f"Answering on {address}: the bot is serving it.")]
    return [_port_taken(web, address, f"HTTP {response.status_code}")]


def _port_taken(web: Web, address: str, answer: str) -> Finding:
    return warn(
        "web chat",
        f"Something else answers on {address} ({answer}): `run` would carry on without the "
        "web chat.",
        f"Stop what uses port {web.port}, or move the web chat: PATHWAYS_WEB_PORT ([web] port), "
        f"and the proxy's proxy_pass with it ({WEB_PROXY}).",
    )


def clock(now: datetime, zone: str = "Europe/London") -> list[Finding]:
    found = []
    if now.year < 2025:
        found.append(
            fail(
                "clock",
                f"The system clock says {now:%Y-%m-%d %H:%M} UTC, which cannot be right.",
                "Set the clock and keep it synchronised (timedatectl set-ntp true).",
            )
        )
    try:
        local = now.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        found.append(
            fail(
                "time zone",
                f"No time zone data for {zone}: opening hours and reminders need UK time.",
                "pip install tzdata (it is in Pathways' requirements) or apt install tzdata",
            )
        )
        return found
    if not found:
        found.append(ok("clock", f"UK time is {local:%H:%M %Z} on {local:%a %d %b %Y}."))
    return found
