"""The Telegram channel: python-telegram-bot v22 wiring. It translates, escapes, sends, tracks
and wipes; the conversation itself is the engine's."""

import os

# Opt in now to python-telegram-bot's coming behaviour (durations as timedelta), which
# `sender._seconds` already handles, instead of a deprecation warning on every 429.
os.environ.setdefault("PTB_TIMEDELTA", "1")
