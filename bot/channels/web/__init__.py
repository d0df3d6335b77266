"""The web chat: the same conversations as Telegram, as pages a partner's website links to.

See docs/web.md. `web_chat_app` builds the aiohttp application from the parts a running
Pathways already has.
"""

from bot.channels.web.chat import web_chat_app

__all__ = ["web_chat_app"]
