"""The deployment guide and the files in deploy/: every command in docs/deploy.md is run here
(in a scratch folder, against the fake Bot API) or named with what checks it instead, and the
systemd units pass systemd's own checks."""

from __future__ import annotations

import asyncio
import configparser
import getpass
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import EXIT_USAGE, _parser
from bot.channels.web.chat import MAX_BODY, STATIC_TYPES
from bot.channels.web.pages import CHAT_PATH, EXIT_PATH
from bot.config import OPTIONS, SECRET_FORMAT
from bot.web.server import Site, WebServer, health_app
from tests.conftest import ROOT
from tests.fakebot import TOKEN, FakeBotApi
from tests.test_ops_doctor import GOOD_ME, compile_locales

DEPLOY = ROOT / "deploy"
GUIDE = ROOT / "docs" / "deploy.md"
DEFAULTS = {o.env: o.default for o in OPTIONS}

# Commands the guide gives that a test cannot run here, and what checks them instead.
ELSEWHERE: dict[str, str] = {
    "sudo apt install ": "system packages; nothing else here would run without them",
    "sudo useradd ": "the service's user, named by the units (test_the_units_agree)",
    "sudo git ": "version control of the code; doctor checks what it brings",
    "cd /opt/pathways": "the units' WorkingDirectory (test_the_units_agree)",
    "sudo make translations": "doctor: translations compiled",
    "sudoedit /etc/pathways/pathways.toml": "the toml blocks are applied by this test",
    "sudo cp deploy/nginx-pathways.conf ": "test_the_nginx_example_matches_the_defaults",
    "sudo ln -s /etc/nginx/": "nginx; doctor reports Telegram's last delivery error",
    "sudo certbot ": "TLS at the proxy; doctor reports Telegram's last delivery error",
    "sudo nginx -t": "test_nginx_accepts_the_example, where nginx is installed",
    "sudo systemctl reload nginx": "nginx",
    "sudo cp deploy/pathways": "test_the_units_pass_systemd_analyze",
    "sudo systemctl daemon-reload": "test_the_units_pass_systemd_analyze",
    "sudo systemctl stop pathways": "the service stops cleanly on SIGTERM (test_telegram_process)",
    "sudo systemctl start pathways": "test_run_serves_telegram... (test_telegram_process)",
    "sudo systemctl restart pathways": "as stop and start",
    "systemctl status pathways": "systemd",
    "systemctl is-active pathways": "systemd",
    "systemctl list-timers ": "test_the_units_pass_systemd_analyze",
    "journalctl -u pathways": "the service logs to the journal; test_logs and the process tests",
    "ls -l ": "a listing",
}


@dataclass
class Scratch:
    """The server's folders, made inside tmp_path."""

    root: Path
    env: dict[str, str]
    health_port: int = 0
    ran: list[str] = field(default_factory=list)

    def path(self, text: str) -> str:
        for real, folder in (
            ("/etc/pathways", "etc"),
            ("/var/lib/pathways", "lib"),
            ("/var/backups/pathways", "backups"),
            ("/usr/local/bin", "bin"),
        ):
            text = text.replace(real, str(self.root / folder))
        return text

    @property
    def config(self) -> Path:
        return self.root / "etc" / "pathways.toml"

    def newest_backup(self) -> str:
        found = sorted((self.root / "backups").glob("pathways-*.db"))
        assert found, "the guide restores a backup before taking one"
        return str(found[-1])


def commands(text: str) -> Iterator[tuple[str, str]]:
    """("sh", a command) and ("toml", a block), in the order the guide gives them."""
    for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        kind, body = match.groups()
        if kind == "toml":
            yield kind, body
        elif kind == "sh":
            for line in body.replace("\\\n", " ").splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    yield kind, line.strip()
        else:
            assert kind in ("", "text"), f"a ```{kind} block in the guide is not checked"


def write_toml(path: Path, document: dict[str, dict[str, Any]]) -> None:
    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, int):
            return str(item)
        if isinstance(item, list):
            return "[" + ", ".join(value(i) for i in item) + "]"
        return '"' + str(item).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = []
    for section, table in document.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {value(item)}" for key, item in table.items())
    path.write_text("\n".join(lines) + "\n")


def apply_toml(scratch: Scratch, block: str) -> None:
    """What the guide asks the reader to set, set in the scratch settings file."""
    document = tomllib.loads(scratch.config.read_text())
    for section, table in tomllib.loads(scratch.path(block)).items():
        document.setdefault(section, {}).update(table)
    write_toml(scratch.config, document)


def run(scratch: Scratch, argv: list[str], shell: str | None = None) -> str:
    result = subprocess.run(
        argv if shell is None else ["sh", "-c", shell],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=scratch.env,
        timeout=120,
    )
    shown = shell or shlex.join(argv)
    assert result.returncode == 0, f"{shown}\n{result.stdout}\n{result.stderr}"
    assert TOKEN not in result.stdout + result.stderr
    scratch.ran.append(shown)
    return result.stdout


def carry_out(scratch: Scratch, line: str) -> None:
    if line.startswith("sudo pathways "):
        words = [scratch.path(w) for w in shlex.split(line)[2:]]
        words = [scratch.newest_backup() if re.search(r"pathways-\d{8}T", w) else w for w in words]
        out = run(scratch, [str(scratch.root / "bin" / "pathways"), *words])
        if words[0] == "doctor":
            assert "All is well" in out, out
    elif line.startswith("sudo install "):
        words = shlex.split(scratch.path(line))[1:]
        # Nobody called pathways here: ownership is the one thing left out.
        for flag in ("-o", "-g"):
            while flag in words:
                at = words.index(flag)
                del words[at : at + 2]
        run(scratch, words)
    elif line.startswith("openssl rand "):
        run(scratch, [], shell=scratch.path(line).replace("sudo ", ""))
        written = Path(scratch.path(line).split(" tee ", 1)[1].split()[0])  # whichever secret
        secret = written.read_text().strip()
        assert SECRET_FORMAT.match(secret) and len(secret) >= 32
    elif line.startswith("sudo mv "):
        run(scratch, shlex.split(scratch.path(line))[1:])
    elif line == "sudoedit /etc/pathways/telegram-token":
        (scratch.root / "etc" / "telegram-token").write_text(TOKEN + "\n")
    elif line.startswith("sudo systemctl enable --now pathways.service"):
        # The service starts, and makes its database, as `run` does.
        run(scratch, [str(scratch.root / "bin" / "pathways"), "directory", "stale"])
    elif line.startswith("curl "):
        port_line = line.replace(":8081/", f":{scratch.health_port}/")
        assert run(scratch, shlex.split(port_line)) == "ok"
    else:
        covered = [reason for prefix, reason in ELSEWHERE.items() if line.startswith(prefix)]
        assert covered, f"docs/deploy.md: nothing runs or checks `{line}`"


@pytest.fixture(scope="module")
def compiled_locales(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_locales(tmp_path_factory.mktemp("locales"))


@pytest.fixture
def health_port() -> Iterator[int]:
    """A health check, as a running bot would answer it."""
    loop = asyncio.new_event_loop()
    server = WebServer()
    port = _free_port()
    loop.run_until_complete(server.start([Site(health_app(lambda: True), "127.0.0.1", port)]))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield port
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.run_until_complete(server.close())
    loop.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_every_command_in_the_guide_runs(
    tmp_path: Path, compiled_locales: Path, health_port: int
) -> None:
    (tmp_path / "bin").mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PATHWAYS_", "TELEGRAM_"))}
    with FakeBotApi() as fake:
        fake.respond("getMe", GOOD_ME)
        scratch = Scratch(
            tmp_path,
            {
                **clean,
                "PATHWAYS_HOME": str(ROOT),
                "PATHWAYS_USER": getpass.getuser(),
                "PATHWAYS_CONFIG": str(tmp_path / "etc" / "pathways.toml"),
                "TELEGRAM_API_BASE_URL": fake.base_url,
                "PATHWAYS_LOCALES": str(compiled_locales),
            },
            health_port,
        )
        for kind, item in commands(GUIDE.read_text(encoding="utf-8")):
            if kind == "toml":
                apply_toml(scratch, item)
            else:
                carry_out(scratch, item)
    assert fake.refused == []
    ran = "\n".join(scratch.ran)
    for needed in ("doctor", "config show", "backup", "restore --check", "restore", "curl"):
        assert needed in ran, f"the guide no longer runs {needed}"
    settings = tomllib.loads(scratch.config.read_text())
    assert settings["webhook"]["url"].startswith("https://")  # the webhook part ran too


# -- the files in deploy/ -------------------------------------------------------------------------


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / name)
    return parser


def values(path: Path, key: str) -> list[str]:
    return [
        line.split("=", 1)[1]
        for line in path.read_text().splitlines()
        if line.startswith(f"{key}=")
    ]


def test_the_units_agree() -> None:
    service, backup = DEPLOY / "pathways.service", DEPLOY / "pathways-backup.service"
    for path in (service, backup):
        assert values(path, "User") == ["pathways"]
        assert values(path, "WorkingDirectory") == ["/opt/pathways"]
        assert "PATHWAYS_CONFIG=/etc/pathways/pathways.toml" in values(path, "Environment")
        assert values(path, "UMask") == ["0077"]
        assert values(path, "StateDirectory") == ["pathways"]
        # Secrets are never written into a unit (systemctl show would print them).
        assert not any("TOKEN=" in v or "SECRET=" in v for v in values(path, "Environment"))
    (run_line,) = values(service, "ExecStart")
    assert run_line == "/opt/pathways/.venv/bin/python -m bot run"
    assert values(service, "RestartPreventExitStatus") == [str(EXIT_USAGE)]
    (backup_line,) = values(backup, "ExecStart")
    argv = shlex.split(backup_line)
    assert argv[:3] == ["/opt/pathways/.venv/bin/python", "-m", "bot"]
    args = _parser().parse_args(argv[3:])
    assert args.command == "backup" and args.keep
    assert values(backup, "ReadWritePaths") == [str(args.path)]
    timer = unit("pathways-backup.timer")
    assert timer["Timer"]["Persistent"] == "true"
    # The wrapper runs commands as the service does.
    wrapper = (DEPLOY / "pathways").read_text()
    assert "${PATHWAYS_HOME:-/opt/pathways}" in wrapper
    assert "${PATHWAYS_USER:-pathways}" in wrapper
    assert "${PATHWAYS_CONFIG:-/etc/pathways/pathways.toml}" in wrapper
    assert os.access(DEPLOY / "pathways", os.X_OK)


analyze = shutil.which("systemd-analyze")


@pytest.mark.skipif(analyze is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize(
    ("name", "most"), [("pathways.service", 1.5), ("pathways-backup.service", 1.0)]
)
def test_the_units_pass_systemd_analyze(tmp_path: Path, name: str, most: float) -> None:
    assert analyze is not None
    for file in ("pathways.service", "pathways-backup.service", "pathways-backup.timer"):
        # verify wants ExecStart's program to exist: point it at this checkout's.
        text = (DEPLOY / file).read_text().replace("/opt/pathways/.venv/bin/python", sys.executable)
        (tmp_path / file).write_text(text)
    verify = subprocess.run(
        [analyze, "verify", str(tmp_path / name)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0, verify.stderr
    security = subprocess.run(
        [analyze, "security", "--offline=true", str(tmp_path / name)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
    assert found, security.stdout + security.stderr
    assert float(found.group(1)) <= most, security.stdout


@dataclass
class Block:
    """An nginx block: its directive's words (`location = /telegram`), what is set directly in
    it (name: arguments), and the blocks inside it."""

    words: list[str]
    settings: dict[str, list[list[str]]] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)

    def setting(self, name: str) -> list[list[str]]:
        return self.settings.get(name, [])


def parse_nginx(text: str) -> Block:
    """The configuration's blocks and directives (no quoted strings: the example has none)."""
    top = Block([])
    open_blocks = [top]
    words: list[str] = []
    for token in re.findall(r"#[^\n]*|[{};]|[^\s{};#]+", text):
        if token.startswith("#"):
            continue
        if token == "{":
            block = Block(words)
            open_blocks[-1].blocks.append(block)
            open_blocks.append(block)
        elif token == ";":
            open_blocks[-1].settings.setdefault(words[0], []).append(words[1:])
        elif token == "}":
            assert not words, f"unfinished directive {words}"
            open_blocks.pop()
        else:
            words.append(token)
            continue
        words = []
    assert len(open_blocks) == 1 and not words, "unbalanced braces"
    return top


def location_for(server: Block, path: str) -> Block:
    """The location nginx picks for a path: an exact match, else the first regular expression
    that matches, else the longest prefix."""
    locations = [b for b in server.blocks if b.words[0] == "location"]
    assert not any(b.words[1] == "^~" for b in locations), "this test does not know ^~"
    for block in locations:
        if block.words[1:] == ["=", path]:
            return block
    for block in locations:
        if block.words[1] in ("~", "~*"):
            flags = re.IGNORECASE if block.words[1] == "~*" else 0
            if re.search(block.words[2], path, flags):
                return block
    prefixes = [b for b in locations if len(b.words) == 2 and path.startswith(b.words[1])]
    assert prefixes, f"no location for {path}"
    return max(prefixes, key=lambda b: len(b.words[1]))


def effective(server: Block, location: Block, name: str) -> list[list[str]]:
    """A setting as it applies in a location: its own, else the server's."""
    return location.setting(name) or server.setting(name)


def size(value: str) -> int:
    units = {"k": 1024, "m": 1024 * 1024}
    return int(value[:-1]) * units[value[-1].lower()] if value[-1].isalpha() else int(value)


@pytest.fixture(scope="module")
def nginx_server() -> Block:
    (server,) = parse_nginx((DEPLOY / "nginx-pathways.conf").read_text()).blocks
    assert server.words == ["server"]
    return server


def test_the_nginx_example_matches_the_defaults(nginx_server: Block) -> None:
    text = (DEPLOY / "nginx-pathways.conf").read_text()
    path, port = DEFAULTS["PATHWAYS_WEBHOOK_PATH"], DEFAULTS["PATHWAYS_WEBHOOK_PORT"]
    listen = DEFAULTS["PATHWAYS_WEBHOOK_LISTEN"]
    assert f"location = /{path} {{" in text
    assert f"proxy_pass http://{listen}:{port}/{path};" in text
    assert "limit_except POST" in text
    assert "access_log off;" in text and "server_tokens off;" in text
    assert re.search(r"listen 443 ssl;", text)
    assert location_for(nginx_server, f"/{path}").setting("proxy_pass") == [
        [f"http://{listen}:{port}/{path}"]
    ]


def test_the_nginx_example_serves_https_only(nginx_server: Block) -> None:
    listens = nginx_server.setting("listen")
    assert listens and all("ssl" in words for words in listens), listens
    assert nginx_server.setting("ssl_certificate") and nginx_server.setting("ssl_certificate_key")


# What a browser asks the web chat for: its page, its exit, and its two static files.
WEB_CHAT_PATHS = [CHAT_PATH, EXIT_PATH, *(f"/static/{name}" for name in STATIC_TYPES)]


def test_the_nginx_example_passes_the_web_chat_and_nothing_else(nginx_server: Block) -> None:
    web_chat = f"http://{DEFAULTS['PATHWAYS_WEB_HOST']}:{DEFAULTS['PATHWAYS_WEB_PORT']}"
    for path in WEB_CHAT_PATHS:
        # No path in proxy_pass: the request goes on as it came, ?start=<code> included.
        assert location_for(nginx_server, path).setting("proxy_pass") == [[web_chat]], path
    for path in (
        "/",
        "/chatroom",
        "/chat/",
        "/chat/exit/x",
        "/static/",
        "/static/x.js",
        "/healthz",
    ):
        assert location_for(nginx_server, path).setting("return") == [["404"]], path


def test_the_nginx_example_keeps_no_trace_of_the_web_chat(nginx_server: Block) -> None:
    location = location_for(nginx_server, CHAT_PATH)
    # The chat's rate limit reads the person's address from here, and only from 127.0.0.1.
    assert ["X-Real-IP", "$remote_addr"] in location.setting("proxy_set_header")
    # No log of its requests, nor of its errors, which nginx writes with the client's address.
    assert effective(nginx_server, location, "access_log") == [["off"]]
    assert location.setting("error_log") == [["/dev/null"]]
    # The chat's own limit on a body; a body within it is held in memory, never written to a
    # temporary file, and neither is a page.
    (limit,) = effective(nginx_server, location, "client_max_body_size")
    assert size(limit[0]) == MAX_BODY
    (buffer,) = location.setting("client_body_buffer_size")
    assert size(buffer[0]) >= MAX_BODY
    assert location.setting("proxy_max_temp_file_size") == [["0"]]
    # The same location serves every one of the chat's paths, so all of this holds for each.
    assert all(location_for(nginx_server, path) is location for path in WEB_CHAT_PATHS)


nginx = os.environ.get("NGINX_PATH") or shutil.which("nginx")
openssl = shutil.which("openssl")


@pytest.mark.skipif(nginx is None or openssl is None, reason="nginx or openssl is not installed")
def test_nginx_accepts_the_example(tmp_path: Path) -> None:
    """`nginx -t` on the example as shipped, with a certificate made here for its name."""
    assert nginx is not None and openssl is not None
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-days", "1", "-subj", "/CN=bot.example.org"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    site = (DEPLOY / "nginx-pathways.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/bot.example.org/", f"{tmp_path}/")
    (tmp_path / "site.conf").write_text(site)
    temp = "\n".join(
        f"    {kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path / 'nginx.pid'};\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n{temp}\n    include {tmp_path / 'site.conf'};\n}}\n"
    )
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr


def test_the_wrapper_refuses_an_ordinary_user(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # As root it would switch user; check it names the user it needs instead.
        env = {**os.environ, "PATHWAYS_USER": "nobody-here", "PATHWAYS_HOME": str(ROOT)}
        result = subprocess.run(
            [str(DEPLOY / "pathways"), "config", "show"], capture_output=True, text=True, env=env
        )
        assert result.returncode != 0
        assert "nobody-here" in result.stderr
        return
    env = {**os.environ, "PATHWAYS_USER": "pathways", "PATHWAYS_HOME": str(ROOT)}
    result = subprocess.run(
        [str(DEPLOY / "pathways"), "doctor"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 2 and "sudo pathways doctor" in result.stderr
