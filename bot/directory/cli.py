"""`python -m bot directory ...`: what service managers use to keep the directory true."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TextIO

from bot.app import StartupError, load_spec, open_store, seed_if_empty, utc_now
from bot.config import Settings
from bot.directory import changes
from bot.directory.files import DirectoryData, read_folder, read_import, to_csv, to_yaml
from bot.directory.hours import describe
from bot.directory.index import DirectoryIndex
from bot.directory.model import AUDIENCES, NEEDS, Area
from bot.directory.places import AcrossBorder
from bot.directory.validate import DirectoryError
from bot.engine.lint import directory_problems
from bot.engine.machine import signposted
from bot.engine.spec import ServiceQuery, Where
from bot.store.interface import Store

OK, PROBLEMS, USAGE = 0, 1, 2
MAX_DAYS = 36_500  # a hundred years: any check older than that is as good as none


def _days(raw: str) -> int:
    try:
        days = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{raw}' is not a whole number of days") from None
    if not 0 <= days <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"{days} is not between 0 and {MAX_DAYS:,} days")
    return days


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "directory",
        help="check, import, export and search the service directory",
        description="Keep the service directory true. The directory lives in the database "
        "(PATHWAYS_DB); it is filled from directory/ the first time.",
    )
    actions = parser.add_subparsers(dest="directory_command", required=True, metavar="ACTION")

    # Files are read within the limits of bot.directory.files (size, entries, YAML aliases),
    # and only if they are files: never a device or a pipe.
    validate = actions.add_parser("validate", help="check a directory file or folder")
    validate.add_argument("path", type=Path, help="a .yaml or .csv file, or a folder")

    importing = actions.add_parser(
        "import", help="add or update services from a file, all or nothing"
    )
    importing.add_argument("path", type=Path, help="a .yaml or .csv file, or a folder")
    importing.add_argument(
        "--dry-run", action="store_true", help="show what would change, and change nothing"
    )

    export = actions.add_parser("export", help="write the directory as YAML or CSV")
    export.add_argument("--format", choices=("yaml", "csv"), default="yaml")
    export.add_argument("--out", type=Path, help="a file to write (default: the screen)")

    search = actions.add_parser("search", help="what a person in a place would be shown")
    search.add_argument("place", help='a postcode, town or nation, e.g. "MK9" or "Wales"')
    search.add_argument(
        "--for",
        dest="audience",
        default="victim",
        choices=sorted(AUDIENCES),
        help="who is asking (victim)",
    )
    search.add_argument(
        "--need",
        choices=sorted(NEEDS),
        help="what they need (default: what the chat shows this audience, e.g. talk for victim)",
    )
    search.add_argument("--at", help="a date and time, e.g. 2026-12-25T10:00 (default: now)")

    stale = actions.add_parser("stale", help="entries not checked for a while, or never")
    stale.add_argument("--days", type=_days, default=180, help="how old a check may be (180)")


def _err(text: str) -> None:
    print(text, file=sys.stderr)


async def _open(settings: Settings) -> tuple[Store, DirectoryData]:
    store = await open_store(settings)
    try:
        async with store.transaction() as tx:
            await seed_if_empty(tx, settings.directory_dir, utc_now)
            data = await tx.load_directory()
    except BaseException:
        await store.close()
        raise
    return store, data


def _validate(settings: Settings, path: Path) -> int:
    try:
        if path.is_dir():
            data = read_folder(path)
        else:
            data = read_import(path, read_folder(settings.directory_dir).areas)
    except DirectoryError as exc:
        for problem in exc.problems:
            _err(problem)
        _err(f"{len(exc.problems)} problem(s); nothing was changed.")
        return PROBLEMS
    print(f"{path}: {len(data.services)} services, {len(data.areas)} areas, no problems.")
    return OK


def _flow_problems(settings: Settings, data: DirectoryData) -> list[str]:
    """What the flows need from the directory (e.g. {emergency.phone}) that it would lack."""
    spec = load_spec(settings.flows_dir)
    return directory_problems(spec, DirectoryIndex(data.areas, data.services))


async def _import(settings: Settings, path: Path, dry_run: bool, out: TextIO) -> int:
    _err(f"Reading {path} ...")
    db, current = await _open(settings)
    try:
        try:
            incoming = read_import(path, current.areas)
        except DirectoryError as exc:
            for problem in exc.problems:
                _err(problem)
            _err(f"{len(exc.problems)} problem(s); nothing was changed.")
            return PROBLEMS
        found = changes.compare(current, incoming)
        for change in found:
            if change.kind != "unchanged":
                print(change, file=out)
        print(changes.summary(found), file=out)
        broken = _flow_problems(settings, changes.merged(current, incoming))
        if broken:
            for problem in broken:
                _err(problem)
            _err("The conversation needs these details; nothing was changed.")
            return PROBLEMS
        if dry_run:
            print("Dry run: nothing was changed.", file=out)
            return OK
        async with db.transaction() as tx:
            written = await tx.apply_directory(incoming, utc_now())
        print(f"Imported: {written} entries written.", file=out)
        return OK
    finally:
        await db.close()


async def _export(settings: Settings, fmt: str, target: Path | None) -> int:
    db, data = await _open(settings)
    await db.close()
    text = to_csv(data.services.values()) if fmt == "csv" else to_yaml(data)
    if target is None:
        sys.stdout.write(text)
    else:
        await asyncio.to_thread(target.write_text, text, encoding="utf-8", newline="")
        _err(f"Wrote {len(data.services)} services to {target}.")
    return OK


def _when(raw: str | None) -> datetime:
    if raw is None:
        return utc_now()
    moment = datetime.fromisoformat(raw)
    if moment.tzinfo is None:
        from zoneinfo import ZoneInfo

        moment = moment.replace(tzinfo=ZoneInfo("Europe/London"))
    return moment


async def _search(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    try:
        at = _when(args.at)
    except ValueError:
        _err(f"--at: '{args.at}' is not a date and time like 2026-12-25T10:00")
        return USAGE
    try:
        query = _chat_query(settings, args.audience)
    except StartupError as exc:
        _err(str(exc))
        return PROBLEMS
    needs = (args.need,) if args.need else query.needs if query else ()
    db, data = await _open(settings)
    await db.close()
    index = DirectoryIndex(data.areas, data.services)
    # The chat's own reading of a place (bot.directory.places), so this shows what it shows.
    place = index.resolve_place(args.place)
    area = place if isinstance(place, Area) else None
    if isinstance(place, AcrossBorder):
        nations = " or ".join(n.replace("-", " ").title() for n in place.nations)
        print(
            f"'{args.place}' may be in {nations}: the chat asks which. Showing every nation.",
            file=out,
        )
    elif area is None:
        print(
            f"'{args.place}' is not a place Pathways knows: the chat asks which part of the UK."
            " Showing every nation.",
            file=out,
        )
    else:
        names = [a.name for a_id in index.chain(area.id) if (a := index.area(a_id))]
        print(f"'{args.place}' is {' < '.join(names)}.", file=out)
    asked = (
        replace(query, needs=needs)
        if query
        else ServiceQuery(args.audience, needs, (), Where("", 0))
    )
    found = signposted(index, asked, area.id if area else None, None, at)
    need_words = ", ".join(needs) or "anything"
    print(f"For {args.audience}, needing {need_words}, at {at:%a %d %b %Y %H:%M}:", file=out)
    for number, service in enumerate(found, start=1):
        state = {True: "open", False: "closed", None: "hours unknown"}[index.open_now(service, at)]
        line = "24-hour line" if service.nation_helpline else ", ".join(service.areas)
        print(f"{number:3}. {service.name} [{state}; {line}]", file=out)
        print(f"     {describe(service.hours, 'en_GB')}", file=out)
    return OK


def _chat_query(settings: Settings, audience: str) -> ServiceQuery | None:
    """The services the chat shows this audience once it knows where they are: its route's
    own services step (victim.services for victim), else the first step for that audience."""
    spec = load_spec(settings.flows_dir)
    own = spec.states.get(f"{audience}.services")
    if own is not None and own.services is not None and own.services.audience == audience:
        return own.services
    queries = [
        state.services
        for state in spec.states.values()
        if state.services is not None and state.services.audience == audience
    ]
    return next(iter(queries), None)


async def _stale(settings: Settings, days: int, out: TextIO) -> int:
    db, data = await _open(settings)
    await db.close()
    cutoff = (utc_now() - timedelta(days=days)).date()
    old = [
        s
        for s in data.services.values()
        if s.verified_on is None or date.fromisoformat(s.verified_on) < cutoff
    ]
    old.sort(key=lambda s: (s.verified_on or "", s.id))
    for service in old:
        when = service.verified_on or "never checked"
        print(f"{when:>14}  {service.id}  ({service.name}; source: {service.source})", file=out)
    print(f"{len(old)} of {len(data.services)} services not checked in {days} days.", file=out)
    return OK


async def run(settings: Settings, args: argparse.Namespace) -> int:
    command = args.directory_command
    try:
        if command == "validate":
            return _validate(settings, args.path)
        if command == "import":
            return await _import(settings, args.path, args.dry_run, sys.stdout)
        if command == "export":
            return await _export(settings, args.format, args.out)
        if command == "search":
            return await _search(settings, args, sys.stdout)
        return await _stale(settings, args.days, sys.stdout)
    except DirectoryError as exc:
        _err("The stored directory has problems:\n" + str(exc))
        return PROBLEMS
    except StartupError as exc:
        _err(str(exc))
        return USAGE
