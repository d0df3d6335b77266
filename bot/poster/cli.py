"""`python -m bot poster`: a print-ready QR code that opens the bot on Telegram, or the web
chat, set to a start code."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from bot.app import StartupError, bundled_directory, start_codes
from bot.channels.web.pages import CHAT_PATH
from bot.config import Settings
from bot.directory.start_codes import link, web_link
from bot.poster.render import FORMATS, SIZES, draw

OK, PROBLEMS, USAGE = 0, 1, 2
USERNAME_VARIABLE = "PATHWAYS_BOT_USERNAME"
WEB_VARIABLE = "PATHWAYS_WEB_PUBLIC_URL"
FROM_SETTING = ""  # what `--web` given without a URL stands for: the address in WEB_VARIABLE
TRY_OUT_HOSTS = ("127.0.0.1", "localhost")  # the only hosts a plain http:// address may name


class UsageError(Exception):
    """A mistake in what was asked for, said in one line."""


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "poster",
        help="make a QR code for a poster, card or label",
        description="A print-ready QR code that opens the bot set to the code's area (and "
        "route): on Telegram, https://t.me/<bot>?start=<code>; with --web, the web chat's "
        "<URL>?start=<code>. Codes are in directory/start_codes.yaml.",
    )
    parser.add_argument("--code", required=True, help="a start code, e.g. mk")
    parser.add_argument("--out", type=Path, required=True, help="the file to write")
    parser.add_argument("--format", choices=FORMATS, help="png, svg or pdf (default: from --out)")
    parser.add_argument("--size", choices=sorted(SIZES), default="a4", help="a4, card or label")
    parser.add_argument("--caption", default="", help="neutral words under the code (optional)")
    parser.add_argument(
        "--bot-username", help=f"the bot's username, for Telegram (default: {USERNAME_VARIABLE})"
    )
    parser.add_argument(
        "--web",
        nargs="?",
        const=FROM_SETTING,
        metavar="URL",
        help="point at the web chat instead: its public https address, e.g. "
        f"https://help.example.org.uk/chat (--web alone: {WEB_VARIABLE})",
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        destination = _destination(args)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return USAGE
    try:
        codes = start_codes(settings.directory_dir, bundled_directory(settings.directory_dir))
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return PROBLEMS
    if args.code not in codes:
        known = ", ".join(sorted(codes)) or "none"
        print(f"Unknown start code '{args.code}'. Known: {known}", file=sys.stderr)
        return USAGE
    fmt = args.format or args.out.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        print("Choose --format png, svg or pdf (or end --out with one of them).", file=sys.stderr)
        return USAGE
    target = destination(args.code)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    draw(target, args.out, SIZES[args.size], fmt, args.caption)
    print(f"Wrote {args.out} ({args.size}, {fmt}) for {target}")
    return OK


def _destination(args: argparse.Namespace) -> Callable[[str], str]:
    """How a start code becomes the link to draw. The options decide; else the settings, the
    bot's username first (so the codes made before the web chat stay the same). One QR code
    points at one place, so never both options."""
    if args.web is not None and args.bot_username:
        raise UsageError("Give --web or --bot-username, not both: one QR code points at one place.")
    if args.web is not None:
        if args.web.strip():
            return partial(web_link, web_chat_address(args.web, "--web"))
        setting = os.environ.get(WEB_VARIABLE, "")
        if not setting.strip():
            raise UsageError(f"--web without a URL needs {WEB_VARIABLE} set.")
        return partial(web_link, web_chat_address(setting, WEB_VARIABLE))
    username = (args.bot_username or os.environ.get(USERNAME_VARIABLE, "")).strip().lstrip("@")
    if username:
        return partial(link, username)
    setting = os.environ.get(WEB_VARIABLE, "")
    if setting.strip():
        return partial(web_link, web_chat_address(setting, WEB_VARIABLE))
    raise UsageError(
        f"Say where the code leads: --bot-username NAME (or set {USERNAME_VARIABLE}) for "
        f"Telegram, or --web URL (or set {WEB_VARIABLE}) for the web chat."
    )


def web_chat_address(raw: str, source: str) -> str:
    """`raw` checked as the web chat's public address, from `source` (an option or setting).

    It is printed on paper, so only https (http just for trying it out on this machine), a
    host, and nothing a scanner or browser would treat oddly: no user:password, no #fragment.
    """
    address = raw.strip()
    parts = urlsplit(address)
    scheme = parts.scheme.lower()
    host = parts.hostname
    if any(c.isspace() or not c.isprintable() for c in address):
        problem = "must not contain spaces or control characters"
    elif scheme not in ("https", "http") or (scheme == "http" and host not in TRY_OUT_HOSTS):
        problem = "must start with https:// (http:// only for 127.0.0.1 or localhost)"
    elif not host:
        problem = "needs a host, like https://help.example.org.uk/chat"
    elif "@" in parts.netloc:
        problem = "must not hold a user name or password"
    elif "#" in address:
        problem = "must not have a #fragment"
    elif not _port_ok(address):
        problem = "has a port that is not a number up to 65535"
    else:
        if parts.path != CHAT_PATH:
            print(
                f"Check that {address} opens the web chat: it answers at {CHAT_PATH}.",
                file=sys.stderr,
            )
        return address
    raise UsageError(f"{source} {problem}: got {address!r}.")


def _port_ok(address: str) -> bool:
    try:
        urlsplit(address).port  # noqa: B018 (reading it is the check: a bad port raises)
    except ValueError:
        return False
    return True
