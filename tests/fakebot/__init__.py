"""An offline fake Telegram Bot API server for end-to-end tests (see `server.FakeBotApi`)."""

from .schema import RequestError, Schema, UploadedFile, default_schema, parse_html
from .server import FAULTS, TOKEN, ChatMessage, FakeBotApi, RequestRecord

__all__ = [
    "FAULTS",
    "TOKEN",
    "ChatMessage",
    "FakeBotApi",
    "RequestError",
    "RequestRecord",
    "Schema",
    "UploadedFile",
    "default_schema",
    "parse_html",
]
