"""Settings: environment variables over a settings file (`pathways.toml`) over defaults.

Every setting has an environment variable, and all but the secrets a key in the settings file
(`OPTIONS` lists them, each with its one declared default; `pathways.toml.example` documents
them). The secrets (the bot token and the webhook secret) come only from the environment, as
the value or as the path of a file holding it, never from the settings file, and are never
printed. PostgreSQL's address (PATHWAYS_DATABASE_URL) may be in the file, but its password only
in the environment or a libpq password file; it is never printed either. A bad setting stops
start-up with a message naming it and saying how to fix it.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from difflib import get_close_matches
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = PROJECT_ROOT / "pathways.toml"
CONFIG_VARIABLE = "PATHWAYS_CONFIG"
TOKEN_FORMAT = re.compile(r"^\d{5,}:[A-Za-z0-9_-]{30,}$")
SECRET_FORMAT = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}
SHORT_DESCRIPTION_LIMIT, DESCRIPTION_LIMIT = 120, 512  # Telegram's limits


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Option:
    """One setting: its environment variable, its key in the settings file, its default and what
    it means. This is the one place each default is declared: it is written as the environment
    would hold it and read by the same code as a value that is set (a relative path is relative
    to the project), and the documentation shows it."""

    env: str
    key: str  # "section.name" in pathways.toml; "" for a secret, never read from the file
    kind: str  # what the file must hold: text, path, int, port, bool, ids or time
    default: str  # the value when neither the environment nor the file sets it; "" is unset
    meaning: str
    shown: str = ""  # the documentation's words for the default, where the value cannot say it

    @property
    def secret(self) -> bool:
        return not self.key

    @property
    def documented(self) -> str:
        """The default as the documentation (README, pathways.toml.example) shows it."""
        return self.shown or self.default or "unset"


OPTIONS: tuple[Option, ...] = (
    Option(
        "TELEGRAM_BOT_TOKEN", "", "text", "",
        "the bot's token from @BotFather; unset (and no token file) means the terminal chat",
    ),
    Option(
        "TELEGRAM_BOT_TOKEN_FILE", "telegram.token_file", "path", "",
        "a file holding the token, readable only by the service (instead of the variable)",
    ),
    Option(
        "TELEGRAM_API_BASE_URL", "telegram.api_base_url", "text", "",
        "another Bot API server, in python-telegram-bot's base_url form, "
        "e.g. http://127.0.0.1:8081/bot",
        shown="Telegram's",
    ),
    Option(
        "PATHWAYS_SHORT_DESCRIPTION", "telegram.short_description", "text", "",
        "the bot's short description (its profile and shared links; up to 120 characters), "
        "set at start-up; unset leaves what BotFather has",
    ),
    Option(
        "PATHWAYS_DESCRIPTION", "telegram.description", "text", "",
        "the text an empty chat shows before /start (up to 512 characters), set at start-up; "
        "unset leaves what BotFather has",
    ),
    Option(
        "PATHWAYS_WEBHOOK_URL", "webhook.url", "text", "",
        "webhook mode: the public https address Telegram posts to; unset means long polling",
    ),
    Option(
        "PATHWAYS_WEBHOOK_SECRET", "", "text", "",
        "webhook mode: the secret token Telegram sends back (1-256 of A-Za-z0-9_-)",
    ),
    Option(
        "PATHWAYS_WEBHOOK_SECRET_FILE", "webhook.secret_file", "path", "",
        "a file holding the webhook secret (instead of the variable)",
    ),
    Option(
        "PATHWAYS_WEBHOOK_LISTEN", "webhook.listen", "text", "127.0.0.1",
        "webhook mode: the address the bot's web server listens on, behind the TLS proxy",
    ),
    Option("PATHWAYS_WEBHOOK_PORT", "webhook.port", "port", "8443", "webhook mode: its port"),
    Option(
        "PATHWAYS_WEBHOOK_PATH", "webhook.path", "text", "telegram",
        "webhook mode: the path it serves updates on",
    ),
    Option(
        "PATHWAYS_HEALTH_PORT", "health.port", "int", "0",
        "a port answering GET /healthz with 'ok' (and nothing else) while the bot runs",
        shown="0 (off)",
    ),
    Option(
        "PATHWAYS_HEALTH_LISTEN", "health.listen", "text", "127.0.0.1",
        "the address the health check listens on",
    ),
    Option(
        "PATHWAYS_IDLE_MINUTES", "conversation.idle_minutes", "int", "15",
        "a conversation left this long is wiped and forgotten",
    ),
    Option(
        "PATHWAYS_SWEEP_SECONDS", "conversation.sweep_seconds", "int", "30",
        "how often idle Telegram chats and web conversations are looked for",
    ),
    Option(
        "PATHWAYS_DELETE_TYPED", "conversation.delete_typed", "bool", "true",
        "delete the person's typed messages once read",
    ),
    Option(
        "PATHWAYS_COVER_MESSAGE", "conversation.cover_message", "text", "",
        "a neutral message sent after a quick exit (off when unset)",
    ),
    Option(
        "PATHWAYS_OWNER_IDS", "managers.owner_ids", "ids", "",
        "service managers who may add editors: numeric Telegram user ids",
        shown="none",
    ),
    Option(
        "PATHWAYS_STALE_DAYS", "managers.stale_days", "int", "180",
        'an entry not checked for this long is "stale"',
    ),
    Option(
        "PATHWAYS_REMINDER_TIME", "managers.reminder_time", "time", "09:00",
        "when managers get the daily stale list (UK time)",
    ),
    Option(
        "PATHWAYS_STATS_DAYS", "statistics.keep_days", "int", "730",
        "how long the anonymous daily figures are kept",
    ),
    Option(
        "PATHWAYS_DB", "paths.database", "path", "var/pathways.db",
        "the SQLite database: directory, editors, audit trail, live conversations",
    ),
    Option(
        "PATHWAYS_DATABASE_URL", "database.url", "text", "",
        "PostgreSQL instead of the SQLite file: a postgresql:// address; its password only in "
        "the variable or a libpq password file, never in the settings file",
    ),
    Option(
        "PATHWAYS_WEB", "web.enabled", "bool", "true",
        "serve the web chat (/chat) beside the terminal chat or Telegram",
    ),
    Option(
        "PATHWAYS_WEB_HOST", "web.host", "text", "127.0.0.1",
        "the address the web chat listens on, behind the HTTPS proxy",
    ),
    Option("PATHWAYS_WEB_PORT", "web.port", "port", "8080", "the web chat's port"),
    Option(
        "PATHWAYS_WEB_EXIT_URL", "web.exit_url", "text", "https://www.bbc.co.uk/weather",
        "where Exit this page sends the person: a neutral https site",
    ),
    Option(
        "PATHWAYS_WEB_TITLE", "web.title", "text", "Help",
        "the web chat's page title, neutral, as a browser tab shows it",
    ),
    Option(
        "PATHWAYS_WEB_FRAME_ANCESTORS", "web.frame_ancestors", "text", "'none'",
        "the sites that may show the web chat in a frame (CSP frame-ancestors)",
    ),
    Option(
        "PATHWAYS_WEB_SECRET", "", "text", "",
        "the web chat's forms secret (16 or more characters); unset is random per process",
        shown="random",
    ),
    Option(
        "PATHWAYS_WEB_SECRET_FILE", "web.secret_file", "path", "",
        "a file holding the web chat's secret (instead of the variable)",
    ),
    Option("PATHWAYS_FLOWS", "paths.flows", "path", "flows/", "the conversation flows"),
    Option("PATHWAYS_DIRECTORY", "paths.directory", "path", "directory/", "the bundled directory"),
    Option("PATHWAYS_LOCALES", "paths.locales", "path", "locales/", "translations"),
)  # fmt: skip

_BY_ENV = {o.env: o for o in OPTIONS}
_BY_KEY = {o.key: o for o in OPTIONS if o.key}
_SECTIONS = sorted({o.key.split(".")[0] for o in OPTIONS if o.key})
# Keys someone might use to put a secret in the file, and where it belongs instead.
_SECRET_KEYS = {
    "token": "TELEGRAM_BOT_TOKEN_FILE (or TELEGRAM_BOT_TOKEN)",
    "bot_token": "TELEGRAM_BOT_TOKEN_FILE (or TELEGRAM_BOT_TOKEN)",
    "secret": "PATHWAYS_WEBHOOK_SECRET_FILE (or PATHWAYS_WEBHOOK_SECRET)",
    "secret_token": "PATHWAYS_WEBHOOK_SECRET_FILE (or PATHWAYS_WEBHOOK_SECRET)",
    "webhook_secret": "PATHWAYS_WEBHOOK_SECRET_FILE (or PATHWAYS_WEBHOOK_SECRET)",
    "web_secret": "PATHWAYS_WEB_SECRET_FILE (or PATHWAYS_WEB_SECRET)",
}
_WEB_SECRET = _SECRET_KEYS["web_secret"]


# -- where each raw value comes from ----------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Raw settings: the environment over the settings file over each option's default. An empty
    variable is unset."""

    env: Mapping[str, str]
    file: Path | None = None
    from_file: Mapping[str, str] = field(default_factory=dict)  # variable -> raw value

    def get(self, name: str) -> str:
        value = self.env.get(name, "").strip() or self.from_file.get(name, "").strip()
        return value or _default(_BY_ENV[name])

    def origin(self, name: str) -> str:
        """'environment', the settings file's key and path, or 'default'."""
        if self.env.get(name, "").strip():
            return "environment"
        if self.from_file.get(name, "").strip():
            return f"{self.file}: [{_BY_ENV[name].key.replace('.', '] ', 1)}"
        return "default"

    def label(self, name: str) -> str:
        """How an error names the setting: as the person wrote it."""
        if not self.env.get(name, "").strip() and self.from_file.get(name, "").strip():
            section, key = _BY_ENV[name].key.split(".")
            return f"{key} in [{section}] of {self.file} ({name})"
        return name


def _default(option: Option) -> str:
    """The option's default as a raw value: a default path is in the project, wherever Pathways
    is run from (as a relative path in the settings file is relative to the file)."""
    if option.kind == "path" and option.default:
        return str(PROJECT_ROOT / option.default)
    return option.default


def config_file(env: Mapping[str, str]) -> Path | None:
    """PATHWAYS_CONFIG if set (it must exist), else pathways.toml in the project if present."""
    named = env.get(CONFIG_VARIABLE, "").strip()
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(
                f"{CONFIG_VARIABLE} names {path}, which is not a file; "
                "create it (see pathways.toml.example) or unset the variable"
            )
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def read_source(env: Mapping[str, str] | None = None) -> Source:
    env = os.environ if env is None else env
    path = config_file(env)
    if path is None:
        return Source(env)
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({type(exc).__name__})") from None
    return Source(env, path, _flatten(document, path))


def _flatten(document: Mapping[str, Any], path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for section, table in document.items():
        if section in _SECRET_KEYS:
            raise _secret_in_file(path, section, section)
        if not isinstance(table, dict):
            raise ConfigError(
                f"{path}: '{section}' must be in a section, e.g. [paths] then database = ..."
            )
        if section not in _SECTIONS:
            raise ConfigError(f"{path}: unknown section [{section}]{_did_you_mean(section)}")
        for key, value in table.items():
            if key in _SECRET_KEYS:
                raise _secret_in_file(path, f"[{section}] {key}", key, section)
            option = _BY_KEY.get(f"{section}.{key}")
            if option is None:
                known = [k.split(".")[1] for k in _BY_KEY if k.startswith(section + ".")]
                hint = f"; did you mean '{m[0]}'?" if (m := get_close_matches(key, known)) else ""
                raise ConfigError(
                    f"{path}: unknown setting '{key}' in [{section}]{hint} "
                    f"(known: {', '.join(known)})"
                )
            values[option.env] = _from_toml(option, value, path)
    return values


def _did_you_mean(section: str) -> str:
    close = get_close_matches(section, _SECTIONS)
    known = ", ".join(f"[{s}]" for s in _SECTIONS)
    return (f"; did you mean [{close[0]}]?" if close else "") + f" (known: {known})"


def _secret_in_file(path: Path, where: str, key: str, section: str = "") -> ConfigError:
    # The value is never repeated: it is a secret.
    belongs = _WEB_SECRET if section == "web" else _SECRET_KEYS[key]
    return ConfigError(
        f"{path}: {where} holds a secret, and secrets are never read from the settings file. "
        f"Remove it, and set {belongs} in the service's environment instead"
    )


_KIND_WORDS = {
    "text": "text in quotes",
    "path": "a path in quotes",
    "int": "a whole number, like 15",
    "port": "a port number, like 8443",
    "bool": "true or false",
    "ids": "a list of numeric Telegram user ids, like [123456789]",
    "time": 'a time like "09:00"',
}


def _from_toml(option: Option, value: object, path: Path) -> str:
    """The file's value as the string the environment variable would hold."""
    kind = option.kind
    text: str | None = None
    if isinstance(value, str) and kind != "ids":
        text = value
    elif isinstance(value, bool):
        text = ("true" if value else "false") if kind == "bool" else None
    elif isinstance(value, int):
        text = str(value) if kind in ("int", "port") else None
    elif isinstance(value, time) and kind == "time":
        text = value.isoformat(timespec="minutes")
    elif kind == "ids" and isinstance(value, list | str):
        items = value if isinstance(value, list) else [value]
        if all(isinstance(i, int | str) and not isinstance(i, bool) for i in items):
            text = ",".join(str(i) for i in items)
    if text is None:
        section, key = option.key.split(".")
        raise ConfigError(
            f"{key} in [{section}] of {path} must be {_KIND_WORDS[kind]} ({option.env})"
        )
    if kind == "path" and text.strip() and not Path(text.strip()).is_absolute():
        # A relative path in the file is relative to the file, wherever it is run from.
        text = str(path.parent / text.strip())
    return text


# -- reading each setting -----------------------------------------------------------------------


def _path(src: Source, name: str) -> Path:
    return Path(src.get(name))


def _positive_int(src: Source, name: str, unit: str = "minutes") -> int:
    raw = src.get(name)
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        label = src.label(name)
        raise ConfigError(f"{label} must be a whole number of {unit}, 1 or more (got '{raw}')")
    return int(raw)


def _port(src: Source, name: str, *, allow_off: bool = False) -> int:
    raw = src.get(name)
    if raw.isascii() and raw.isdigit() and (allow_off or int(raw) > 0) and int(raw) < 65536:
        return int(raw)
    off = " (0 turns it off)" if allow_off else ""
    raise ConfigError(f"{src.label(name)} must be a port number, 1 to 65535{off} (got '{raw}')")


def _flag(src: Source, name: str) -> bool:
    raw = src.get(name).lower()
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise ConfigError(f"{src.label(name)} must be true or false (got '{raw}')")


def _secret(src: Source, name: str, files: list[Path]) -> str | None:
    """A secret from its variable or from the file its _FILE setting names, never both."""
    direct = src.env.get(name, "").strip()
    file_setting = f"{name}_FILE"
    named = src.get(file_setting)
    if direct and src.env.get(file_setting, "").strip():
        raise ConfigError(f"set {name} or {file_setting}, not both")
    if direct or not named:
        return direct or None
    path = Path(named)
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeError) as exc:
        raise ConfigError(
            f"{src.label(file_setting)} names {path}, which cannot be read "
            f"({type(exc).__name__}); check the path and that the service may read it"
        ) from None
    if not value:
        raise ConfigError(f"{src.label(file_setting)} names {path}, which is empty")
    files.append(path)
    return value


_DATABASE_EXAMPLE = "postgresql://pathways@db.example.org:5432/pathways"


def _database_url(src: Source) -> str | None:
    """PostgreSQL's address, or None for SQLite. The value is never repeated in an error: it
    may hold a password."""
    raw = src.get("PATHWAYS_DATABASE_URL")
    if not raw:
        return None
    label = src.label("PATHWAYS_DATABASE_URL")
    if not raw.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            f"{label} must be a postgresql:// address, like {_DATABASE_EXAMPLE} "
            "(unset it to keep the SQLite file PATHWAYS_DB)"
        )
    try:
        password = database_password(raw)
    except ValueError:
        raise ConfigError(
            f"{label} is not an address PostgreSQL can read; write it like {_DATABASE_EXAMPLE}"
        ) from None
    if password and not src.env.get("PATHWAYS_DATABASE_URL", "").strip():
        raise ConfigError(
            f"{label} holds a password, and secrets are never read from the settings file. "
            "Remove it, and give the password in a libpq password file (passfile=... in the "
            "address, or PGPASSFILE in the service's environment), or set the whole address "
            "in PATHWAYS_DATABASE_URL in the service's environment instead"
        )
    return raw


def database_password(url: str) -> str | None:
    """The password a PostgreSQL address holds, as libpq reads it (ValueError if unreadable)."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        found = conninfo_to_dict(url).get("password")
    except ProgrammingError as exc:
        raise ValueError("not a PostgreSQL address") from exc
    return str(found) if found else None


def password_forms(url: str) -> list[str]:
    """Every password in the address, as libpq reads it and as written (percent-encoded)."""
    parts = urlsplit(url)
    written = [parts.netloc.rpartition("@")[0].partition(":")[2]]
    written += [value for key, value in parse_qsl(parts.query) if key == "password"]
    return [database_password(url) or "", *written, *map(unquote, written)]


def without_password(url: str) -> str:
    """The address with its password, if any, replaced by ****: to show where the data is."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, hosts = netloc.rsplit("@", 1)
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:****@{hosts}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(key == "password" for key, _value in pairs):
        query = urlencode([(k, "****" if k == "password" else v) for k, v in pairs], safe="*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _token(src: Source, files: list[Path]) -> str | None:
    token = _secret(src, "TELEGRAM_BOT_TOKEN", files)
    if token is not None and not TOKEN_FORMAT.match(token):
        where = (
            "TELEGRAM_BOT_TOKEN"
            if src.env.get("TELEGRAM_BOT_TOKEN", "").strip()
            else ("the file TELEGRAM_BOT_TOKEN_FILE names")
        )
        raise ConfigError(
            f"{where} does not look like a bot token (digits, a colon, then letters); "
            "copy it again from @BotFather, or unset it to use the terminal chat"
        )
    return token


def _api_base_url(src: Source) -> str | None:
    raw = src.get("TELEGRAM_API_BASE_URL")
    if not raw:
        return None
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", raw):
        # The value is not repeated: a mistaken paste could hold the token.
        raise ConfigError(
            f"{src.label('TELEGRAM_API_BASE_URL')} must be an http(s) address ending where the "
            "token goes, like http://127.0.0.1:8081/bot"
        )
    return raw


# Accounts Telegram itself sends as: never a person who could manage the directory. (A message
# from an anonymous group admin carries 1087968824, whoever the admin is.)
TELEGRAM_ACCOUNTS = {
    777000: "Telegram's service notifications",
    1087968824: "GroupAnonymousBot, for anonymous group admins",
    136817688: "Channel_Bot, for channels writing in groups",
}


def _owner_ids(src: Source) -> frozenset[int]:
    raw = src.get("PATHWAYS_OWNER_IDS")
    ids = [part.strip() for part in raw.replace(";", ",").split(",") if part.strip()]
    if not all(part.isascii() and part.isdigit() for part in ids):
        raise ConfigError(
            f"{src.label('PATHWAYS_OWNER_IDS')} must be numeric Telegram user ids separated by "
            "commas (not @usernames, which can change hands); ask @userinfobot for yours"
        )
    found = frozenset(int(part) for part in ids)
    for account in sorted(found & set(TELEGRAM_ACCOUNTS)):
        raise ConfigError(
            f"{src.label('PATHWAYS_OWNER_IDS')}: {account} is Telegram's own account "
            f"({TELEGRAM_ACCOUNTS[account]}), not a person's; use your own numeric user id "
            "(ask @userinfobot)"
        )
    return found


def _reminder_time(src: Source) -> time:
    raw = src.get("PATHWAYS_REMINDER_TIME")
    try:
        return time.fromisoformat(raw)
    except ValueError:
        label = src.label("PATHWAYS_REMINDER_TIME")
        raise ConfigError(f"{label} must be a time like 09:00 (got '{raw}')") from None


def _text(src: Source, name: str, limit: int) -> str | None:
    raw = src.get(name)
    if len(raw) > limit:
        raise ConfigError(f"{src.label(name)} must be {limit} characters or fewer")
    return raw or None


def _webhook_path(src: Source) -> str:
    # "/" alone is the default path, as an unset one is.
    return src.get("PATHWAYS_WEBHOOK_PATH").strip("/") or _BY_ENV["PATHWAYS_WEBHOOK_PATH"].default


def _webhook(src: Source, files: list[Path]) -> Webhook | None:
    port = _port(src, "PATHWAYS_WEBHOOK_PORT")  # checked even when unused: no surprises
    url = src.get("PATHWAYS_WEBHOOK_URL")
    if not url:
        return None
    if not url.startswith("https://"):
        label = src.label("PATHWAYS_WEBHOOK_URL")
        raise ConfigError(f"{label} must start with https:// (Telegram requires TLS)")
    secret = _secret(src, "PATHWAYS_WEBHOOK_SECRET", files) or ""
    if not SECRET_FORMAT.match(secret):
        raise ConfigError(
            "PATHWAYS_WEBHOOK_SECRET is needed in webhook mode: 1 to 256 characters of "
            "A-Z, a-z, 0-9, _ and - (for example from: openssl rand -hex 32), in the variable "
            "or in a file named by PATHWAYS_WEBHOOK_SECRET_FILE"
        )
    return Webhook(
        url=url,
        secret=secret,
        listen=src.get("PATHWAYS_WEBHOOK_LISTEN"),
        port=port,
        path=_webhook_path(src),
    )


def _health(src: Source, webhook: Webhook | None) -> Health | None:
    port = _port(src, "PATHWAYS_HEALTH_PORT", allow_off=True)
    if not port:
        return None
    health = Health(port, src.get("PATHWAYS_HEALTH_LISTEN"))
    if webhook is not None and webhook.port == health.port:
        raise ConfigError(
            f"{src.label('PATHWAYS_HEALTH_PORT')} must differ from PATHWAYS_WEBHOOK_PORT "
            f"({webhook.port}): the health check has a port of its own"
        )
    return health


WEB_SECRET_MIN = 16  # characters, as the web chat's tokens need at least 16 bytes
_EXIT_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s\"'<>;,\\]*)?$")
# One source of CSP's frame-ancestors: 'self', or a scheme, host and port, `*.` allowed.
_FRAME_SOURCE = re.compile(
    r"^('self'|https?:|(https?://)?(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:([0-9]{1,5}|\*))?)$"
)
TITLE_LIMIT = 60


def _exit_url(src: Source) -> str:
    raw = src.get("PATHWAYS_WEB_EXIT_URL")
    if not _EXIT_URL.match(raw):
        raise ConfigError(
            f"{src.label('PATHWAYS_WEB_EXIT_URL')} must be a full https:// address of a neutral "
            f"site, like {_BY_ENV['PATHWAYS_WEB_EXIT_URL'].default} (got '{raw}')"
        )
    return raw


def _frame_ancestors(src: Source) -> str:
    raw = " ".join(src.get("PATHWAYS_WEB_FRAME_ANCESTORS").split())
    parts = raw.split(" ")
    # A bare none or self is a host name to a browser: almost certainly a missing quote.
    bare = any(part.lower() in ("none", "self") for part in parts)
    if raw == "'none'" or (not bare and all(_FRAME_SOURCE.match(part) for part in parts)):
        return raw
    raise ConfigError(
        f"{src.label('PATHWAYS_WEB_FRAME_ANCESTORS')} must be 'none' (with its quotes), or the "
        "sites that may frame the chat separated by spaces, like "
        f"\"'self' https://www.example.gov.uk\" (got '{raw}')"
    )


def _web_title(src: Source) -> str:
    raw = " ".join(src.get("PATHWAYS_WEB_TITLE").split())
    if not raw or len(raw) > TITLE_LIMIT:
        raise ConfigError(
            f"{src.label('PATHWAYS_WEB_TITLE')} must be 1 to {TITLE_LIMIT} characters"
        )
    return raw


def _web(src: Source, files: list[Path], others: dict[str, int]) -> Web | None:
    """The web chat, or None when PATHWAYS_WEB is off. Each setting is checked either way."""
    on = _flag(src, "PATHWAYS_WEB")
    port = _port(src, "PATHWAYS_WEB_PORT")
    exit_url, title = _exit_url(src), _web_title(src)
    frame_ancestors = _frame_ancestors(src)
    secret = _secret(src, "PATHWAYS_WEB_SECRET", files)
    if secret is not None and len(secret) < WEB_SECRET_MIN:
        raise ConfigError(
            f"PATHWAYS_WEB_SECRET must be {WEB_SECRET_MIN} characters or more (for example "
            "from: openssl rand -hex 32), in the variable or in a file named by "
            "PATHWAYS_WEB_SECRET_FILE"
        )
    if not on:
        return None
    for name, used in others.items():
        if used == port:
            raise ConfigError(
                f"{src.label('PATHWAYS_WEB_PORT')} must differ from {name} ({port}): "
                "the web chat has a port of its own"
            )
    return Web(
        host=src.get("PATHWAYS_WEB_HOST"),
        port=port,
        exit_url=exit_url,
        title=title,
        frame_ancestors=frame_ancestors,
        secret=secret,
    )


# -- the settings ----------------------------------------------------------------------------

# Nothing set: every value is its option's default. The dataclasses' defaults are read from it
# by the same code as `settings_from`, so that a default is declared once, in OPTIONS.
_NOTHING_SET = Source({})


@dataclass(frozen=True)
class Webhook:
    url: str  # the public https address Telegram posts updates to
    secret: str = field(repr=False)  # must come back in X-Telegram-Bot-Api-Secret-Token
    listen: str = _NOTHING_SET.get("PATHWAYS_WEBHOOK_LISTEN")
    port: int = _port(_NOTHING_SET, "PATHWAYS_WEBHOOK_PORT")
    path: str = _webhook_path(_NOTHING_SET)


@dataclass(frozen=True)
class Health:
    """A plain HTTP check for a monitor or the proxy; it says "ok" and nothing else."""

    port: int
    listen: str = _NOTHING_SET.get("PATHWAYS_HEALTH_LISTEN")


@dataclass(frozen=True)
class Web:
    """The web chat (docs/web.md), served beside the channel."""

    host: str = _NOTHING_SET.get("PATHWAYS_WEB_HOST")
    port: int = _port(_NOTHING_SET, "PATHWAYS_WEB_PORT")
    exit_url: str = _exit_url(_NOTHING_SET)
    title: str = _web_title(_NOTHING_SET)
    frame_ancestors: str = _frame_ancestors(_NOTHING_SET)
    # The forms' secret; None: random bytes for each process (a page opened before a restart
    # then asks the person to tap again).
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Settings:
    token: str | None = field(repr=False)
    db_path: Path
    idle_minutes: int
    flows_dir: Path
    directory_dir: Path
    locales_dir: Path
    api_base_url: str | None = _api_base_url(_NOTHING_SET)
    webhook: Webhook | None = _webhook(_NOTHING_SET, [])  # noqa: RUF009 (None: long polling)
    delete_typed: bool = _flag(_NOTHING_SET, "PATHWAYS_DELETE_TYPED")
    cover_message: str | None = _NOTHING_SET.get("PATHWAYS_COVER_MESSAGE") or None
    sweep_seconds: int = _positive_int(_NOTHING_SET, "PATHWAYS_SWEEP_SECONDS", unit="seconds")
    # Service managers who may add and remove editors.
    owner_ids: frozenset[int] = _owner_ids(_NOTHING_SET)
    # Entries not checked for this long are listed for managers, at reminder_time (UK time).
    stale_days: int = _positive_int(_NOTHING_SET, "PATHWAYS_STALE_DAYS", unit="days")
    reminder_time: time = _reminder_time(_NOTHING_SET)  # noqa: RUF009 (a time is immutable)
    # Anonymous daily figures older than this are deleted.
    stats_days: int = _positive_int(_NOTHING_SET, "PATHWAYS_STATS_DAYS", unit="days")
    # The bot's profile, set at start-up when given.
    short_description: str | None = _text(
        _NOTHING_SET, "PATHWAYS_SHORT_DESCRIPTION", SHORT_DESCRIPTION_LIMIT
    )
    description: str | None = _text(_NOTHING_SET, "PATHWAYS_DESCRIPTION", DESCRIPTION_LIMIT)
    health: Health | None = _health(_NOTHING_SET, None)  # noqa: RUF009 (None: off)
    web: Web | None = _web(_NOTHING_SET, [], {})  # noqa: RUF009 (None: off)
    # PostgreSQL instead of the SQLite file at db_path; it may hold a password.
    database_url: str | None = field(default=_database_url(_NOTHING_SET), repr=False)
    config_file: Path | None = None  # the settings file read, if any
    secret_files: tuple[Path, ...] = ()  # files the secrets were read from

    @property
    def api_file_url(self) -> str | None:
        """Where files are downloaded from, beside the Bot API address."""
        if self.api_base_url and self.api_base_url.rstrip("/").endswith("/bot"):
            return self.api_base_url.rstrip("/")[: -len("/bot")] + "/file/bot"
        return None

    def secrets(self) -> tuple[str, ...]:
        """Values that must never reach a log."""
        found = [self.token or ""]
        if self.webhook:
            found.append(self.webhook.secret)
        if self.web and self.web.secret:
            found.append(self.web.secret)
        if self.database_url:
            found.extend(password_forms(self.database_url))
        return tuple(dict.fromkeys(s for s in found if s))

    @property
    def database_shown(self) -> str:
        """Where the data is, for `config show`: never the password."""
        if self.database_url:
            return without_password(self.database_url)
        return f"(unset: SQLite at {self.db_path})"


def settings_from(src: Source) -> Settings:
    files: list[Path] = []
    token = _token(src, files)
    webhook = _webhook(src, files)
    health = _health(src, webhook)
    others = {"PATHWAYS_WEBHOOK_PORT": webhook.port} if webhook else {}
    if health is not None:
        others["PATHWAYS_HEALTH_PORT"] = health.port
    return Settings(
        token=token,
        db_path=_path(src, "PATHWAYS_DB"),
        idle_minutes=_positive_int(src, "PATHWAYS_IDLE_MINUTES"),
        flows_dir=_path(src, "PATHWAYS_FLOWS"),
        directory_dir=_path(src, "PATHWAYS_DIRECTORY"),
        locales_dir=_path(src, "PATHWAYS_LOCALES"),
        api_base_url=_api_base_url(src),
        webhook=webhook,
        delete_typed=_flag(src, "PATHWAYS_DELETE_TYPED"),
        cover_message=src.get("PATHWAYS_COVER_MESSAGE") or None,
        sweep_seconds=_positive_int(src, "PATHWAYS_SWEEP_SECONDS", unit="seconds"),
        owner_ids=_owner_ids(src),
        stale_days=_positive_int(src, "PATHWAYS_STALE_DAYS", unit="days"),
        reminder_time=_reminder_time(src),
        stats_days=_positive_int(src, "PATHWAYS_STATS_DAYS", unit="days"),
        short_description=_text(src, "PATHWAYS_SHORT_DESCRIPTION", SHORT_DESCRIPTION_LIMIT),
        description=_text(src, "PATHWAYS_DESCRIPTION", DESCRIPTION_LIMIT),
        health=health,
        web=_web(src, files, others),
        database_url=_database_url(src),
        config_file=src.file,
        secret_files=tuple(files),
    )


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The effective settings: `env` (default: the process environment) over the settings
    file named by PATHWAYS_CONFIG, or pathways.toml in the project when there is one."""
    return settings_from(read_source(env))
