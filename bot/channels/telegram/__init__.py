"""The Telegram channel: python-telegram-bot v22 wiring. It translates, escapes, sends, tracks
and wipes; the conversation itself is the engine's."""
