"""`python -m bot doctor`: checks what a deployment needs and says what to fix.

Exit status 0 when nothing failed. A warning is advice: Pathways works, but look at it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TextIO

from bot.config import ConfigError, read_source, settings_from
from bot.ops import checks, online, postgres_checks
from bot.ops.findings import FAIL, WARN, Finding, fail, ok

Clock = Callable[[], datetime]


async def diagnose(
    env: Mapping[str, str],
    now: Clock,
    *,
    online_checks: bool = True,
    wait: float = 10.0,
    zone: str = "Europe/London",
) -> list[Finding]:
    try:
        source = read_source(env)
        settings = settings_from(source)
    except ConfigError as exc:
        return [
            fail("settings", str(exc), "Correct that setting, then run doctor again."),
            *checks.clock(now(), zone),
        ]
    where = (
        f"{settings.config_file} and the environment"
        if settings.config_file
        else ("the environment (no settings file)")
    )
    found = [ok("settings", f"Read from {where}; `config show` lists them.")]
    found.extend(checks.secrets(settings, bool(env.get("TELEGRAM_BOT_TOKEN", "").strip())))
    if online_checks and settings.token:
        found.extend(await online.telegram(settings, wait, now()))
    elif settings.token:
        found.append(ok("telegram", "Not asked (--offline)."))
    if settings.database_url:
        database, read_stored = await postgres_checks.database(settings, wait)
    else:
        database, read_stored = checks.database(settings), None
    found.extend(database)
    found.extend(checks.content(settings, now().date(), read_stored))
    found.extend(checks.webhook(settings))
    found.extend(checks.web_chat(settings))
    found.extend(await checks.web_chat_served(settings, wait))
    found.extend(checks.clock(now(), zone))
    return found


def report(found: list[Finding], out: TextIO) -> int:
    for finding in found:
        for line in finding.lines():
            print(line, file=out)
    failed = sum(1 for f in found if f.status == FAIL)
    warned = sum(1 for f in found if f.status == WARN)
    warnings = f"{warned} warning{'s' if warned != 1 else ''}"
    if failed:
        print(f"\n{failed} problem{'s' if failed != 1 else ''} to fix, {warnings}.", file=out)
        return 1
    print(f"\nAll is well ({warnings}).", file=out)
    return 0
