"""Pathways' web server, on aiohttp: the Telegram webhook and the health check."""
