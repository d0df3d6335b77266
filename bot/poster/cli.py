"""`python -m bot poster`: a print-ready QR code that opens the bot set to a start code."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bot.app import StartupError, bundled_directory, start_codes
from bot.config import Settings
from bot.directory.start_codes import link
from bot.poster.render import FORMATS, SIZES, draw

OK, PROBLEMS, USAGE = 0, 1, 2
USERNAME_VARIABLE = "PATHWAYS_BOT_USERNAME"


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "poster",
        help="make a QR code for a poster, card or label",
        description="A print-ready QR code for https://t.me/<bot>?start=<code>, which opens "
        "the bot set to the code's area (and route). Codes are in directory/start_codes.yaml.",
    )
    parser.add_argument("--code", required=True, help="a start code, e.g. mk")
    parser.add_argument("--out", type=Path, required=True, help="the file to write")
    parser.add_argument("--format", choices=FORMATS, help="png, svg or pdf (default: from --out)")
    parser.add_argument("--size", choices=sorted(SIZES), default="a4", help="a4, card or label")
    parser.add_argument("--caption", default="", help="neutral words under the code (optional)")
    parser.add_argument("--bot-username", help=f"the bot's username (default: {USERNAME_VARIABLE})")


def run(settings: Settings, args: argparse.Namespace) -> int:
    username = (args.bot_username or os.environ.get(USERNAME_VARIABLE, "")).strip().lstrip("@")
    if not username:
        print(f"Say which bot: --bot-username NAME, or set {USERNAME_VARIABLE}.", file=sys.stderr)
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
    target = link(username, args.code)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    draw(target, args.out, SIZES[args.size], fmt, args.caption)
    print(f"Wrote {args.out} ({args.size}, {fmt}) for {target}")
    return OK
