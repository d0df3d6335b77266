"""What the figures were measured on: the machine, the software, and how busy it was."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

LIBRARIES = (
    "python-telegram-bot",
    "httpx",
    "httpcore",
    "anyio",
    "sniffio",
    "aiohttp",
    "aiosqlite",
    "transitions",
)


def _cpuinfo() -> tuple[str, str]:
    model = mhz = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown":
                model = value.strip()
            elif key.strip() == "cpu MHz" and mhz == "unknown":
                mhz = f"{float(value):,.0f} MHz"
    except OSError:
        pass
    return model, mhz


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@dataclass(frozen=True)
class Machine:
    date: str
    cpu: str
    cores: int
    memory: str
    system: str
    python: str
    libraries: dict[str, str]

    def lines(self) -> list[str]:
        libraries = ", ".join(f"{name} {version}" for name, version in self.libraries.items())
        return [
            f"- Date: {self.date}",
            f"- CPU: {self.cpu}, {self.cores} cores",
            f"- Memory: {self.memory}",
            f"- System: {self.system}",
            f"- Python: {self.python}",
            f"- Libraries: {libraries}",
        ]


def describe() -> Machine:
    model, mhz = _cpuinfo()
    libraries = {name: _version(name) for name in LIBRARIES}
    libraries["SQLite"] = sqlite3.sqlite_version
    return Machine(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        cpu=f"{model} at {mhz}",
        cores=os.cpu_count() or 1,
        memory=_memory(),
        system=platform.platform(),
        python=f"{platform.python_implementation()} {sys.version.split()[0]}",
        libraries=libraries,
    )


def _busy_seconds() -> float:
    """CPU seconds every core has spent busy since boot (from /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(v) for v in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    busy = sum(ticks[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    usage = os.times()
    return usage.user + usage.system + usage.children_user + usage.children_system


class LoadMeter:
    """How many cores other processes kept busy while the benchmarks ran: figures measured
    on a machine someone else is using at the same time are slower than they would be."""

    def __init__(self) -> None:
        self.started = datetime.now(UTC)
        self._wall = os.times().elapsed
        self._busy = _busy_seconds()
        self._own = _own_seconds()

    def others(self) -> float:
        """Average cores used by other processes since the meter started."""
        wall = os.times().elapsed - self._wall
        if wall <= 0:
            return 0.0
        busy = _busy_seconds() - self._busy
        own = _own_seconds() - self._own
        return max(0.0, (busy - own) / wall)

    def seconds(self) -> float:
        return os.times().elapsed - self._wall
