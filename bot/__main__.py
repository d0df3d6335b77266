"""Command line: `python -m bot run | console | flows check | flows graph`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bot import logs
from bot.app import (
    DatabaseUnavailable,
    StartupError,
    bundled_directory,
    open_pathways,
    typed_reader,
)
from bot.config import ConfigError, Settings, load_settings
from bot.directory import cli as directory_cli
from bot.engine.flows import FlowError, load_flows
from bot.engine.graph import markdown
from bot.engine.lint import lint, unreachable_services
from bot.i18n import available_locales
from bot.ops import cli as ops_cli
from bot.poster import cli as poster_cli
from bot.stats import cli as stats_cli
from bot.words.check import word_problems

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Pathways: a discreet first step towards help with domestic abuse.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser(
        "run",
        help="start Pathways (the terminal chat when TELEGRAM_BOT_TOKEN is not set)",
        description="Start Pathways. Without TELEGRAM_BOT_TOKEN this is the terminal chat.",
    )

    console = commands.add_parser(
        "console",
        help="chat in this terminal, with the same flows and directory",
        description="Chat in the terminal. Type an option's number or words, or a command "
        "(/exit, /danger, /help, /start, /language). Reads piped input one line at a time.",
    )
    console.add_argument("--db", type=Path, help="database file (default: var/pathways.db)")
    console.add_argument("--lang", metavar="CODE", help="language for a new conversation")
    console.add_argument(
        "--start", metavar="CODE", help="begin as a poster's link would (a start code)"
    )

    directory_cli.add_commands(commands)
    ops_cli.add_commands(commands)
    stats_cli.add_commands(commands)
    poster_cli.add_commands(commands)

    flows = commands.add_parser("flows", help="check the flows or draw them")
    flow_commands = flows.add_subparsers(dest="flows_command", required=True, metavar="ACTION")
    check = flow_commands.add_parser("check", help="lint flows/*.yaml; exit 1 listing problems")
    graph = flow_commands.add_parser("graph", help="print a Mermaid diagram of the flows")
    for sub in (check, graph):
        sub.add_argument("--dir", type=Path, help="the flows folder (default: flows/)")
    return parser


def _flows_check(settings: Settings, folder: Path) -> int:
    """The flows, and the typed-word lists beside them (flows/words/)."""
    problems: list[object]
    try:
        spec = load_flows(folder)
        locales = available_locales(settings.locales_dir)
        bundled = bundled_directory(settings.directory_dir)
        problems = [*lint(spec, bundled, locales), *unreachable_services(spec, bundled)]
        problems += word_problems(spec, typed_reader(spec, folder, settings.locales_dir))
    except FlowError as exc:
        problems = [*exc.problems]
    except StartupError as exc:
        problems = [exc]
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{len(problems)} problem(s) in the flows.", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"Flows are fine: {len(spec.states)} states in {len(spec.files)} files.")
    return EXIT_OK


def _flows_graph(folder: Path) -> int:
    try:
        spec = load_flows(folder)
    except FlowError as exc:
        print(exc, file=sys.stderr)
        return EXIT_PROBLEMS
    sys.stdout.write(markdown(spec))
    return EXIT_OK


async def _console(
    settings: Settings,
    db_path: Path,
    lang: str | None,
    start: str | None = None,
    serve_web: bool = False,
) -> int:
    """The terminal chat; with `serve_web` (`run`), the web chat beside it on the same
    conversations, until the terminal chat ends."""
    from bot.channels.console import ConsoleChat, stdin_reader
    from bot.channels.web.serve import serve_web_chat

    locales = available_locales(settings.locales_dir)
    if lang is not None and lang not in locales:
        print(f"Unknown language '{lang}'. Available: {', '.join(locales)}", file=sys.stderr)
        return EXIT_USAGE
    pathways = await open_pathways(settings, db_path=db_path)
    web_chat = None
    try:
        if serve_web:
            web_chat = await serve_web_chat(settings, pathways, _say)
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
        chat = ConsoleChat(
            pathways.conversations,
            pathways.parts.spec,
            pathways.parts.words,
            settings.locales_dir,
            sys.stdout,
            interactive,
            lang or "en",
        )
        await pathways.sweeper.purge_figures()
        return await chat.run(stdin_reader(interactive), start)
    finally:
        if web_chat is not None:
            await web_chat.close()
        await pathways.close()


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _telegram(settings: Settings) -> int:
    from telegram.error import InvalidToken, NetworkError

    from bot.channels.telegram.app import run

    try:
        run(settings)
    except StartupError:
        raise
    except InvalidToken:
        print(
            "Telegram did not accept TELEGRAM_BOT_TOKEN. Copy it again from @BotFather.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except NetworkError as exc:
        print(f"Could not reach the Telegram Bot API ({type(exc).__name__}).", file=sys.stderr)
        return EXIT_PROBLEMS
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command in ops_cli.COMMANDS:
            return ops_cli.run(args)
        settings = load_settings()
        # Warnings and errors only, and never a secret or a person's words.
        logs.configure(logging.WARNING, settings.secrets())
        if args.command == "directory":
            return asyncio.run(directory_cli.run(settings, args))
        if args.command == "poster":
            return poster_cli.run(settings, args)
        if args.command == "stats":
            return asyncio.run(stats_cli.run(settings, args))
        if args.command == "flows":
            folder = args.dir or settings.flows_dir
            if args.flows_command == "check":
                return _flows_check(settings, folder)
            return _flows_graph(folder)
        if args.command == "run" and settings.token:
            return _telegram(settings)
        if args.command == "run":
            print("No TELEGRAM_BOT_TOKEN set: starting the terminal chat.", file=sys.stderr)
        db_path = getattr(args, "db", None) or settings.db_path
        lang, start = getattr(args, "lang", None), getattr(args, "start", None)
        serve_web = args.command == "run"  # `console` is the terminal chat alone
        return asyncio.run(_console(settings, db_path, lang, start, serve_web))
    except DatabaseUnavailable as exc:
        print(exc, file=sys.stderr)
        return EXIT_PROBLEMS  # restarted by the service manager: the database may come back
    except (ConfigError, StartupError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception:
        # Through logging, so the redaction filter sees the traceback before anyone does.
        logging.getLogger("bot").exception("Pathways stopped on an unexpected error")
        return EXIT_PROBLEMS


if __name__ == "__main__":
    sys.exit(main())
