"""python-telegram-bot's requests answered by the fake Bot API in process, with no HTTP.

In the spirit of aiogram-dialog's `BotClient`: the real Application, its handlers and its Bot
run as in production, but each Bot API call is answered by `FakeBotApi` directly (with the
same schema checks, limits and faults), and updates are put straight on the Application's
update queue. Scenario and flow tests run this way; transport, faults, crashes and the process
as deployed keep the fake on 127.0.0.1 over real HTTP.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from tests.fakebot.schema import UploadedFile
from tests.fakebot.server import FakeBotApi


class InProcessRequest(BaseRequest):
    def __init__(self, fake: FakeBotApi) -> None:
        self.fake = fake

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    @property
    def read_timeout(self) -> float:
        return 1.0

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if parts.path.startswith("/file/"):
            data = self.fake.download(parts.path)
            return (200, data) if data is not None else (404, b"Not Found")
        raw: dict[str, object] = {}
        if request_data is not None:
            raw.update(request_data.json_parameters)
            for name, (filename, content, mimetype) in (request_data.multipart_data or {}).items():
                data = content if isinstance(content, bytes) else content.read()
                raw[name] = UploadedFile(name, filename, mimetype, data)
        answer = self.fake.answer_in_process(path, raw)
        if answer == "timeout":
            raise TimedOut("the fake Bot API did not answer in time")
        if isinstance(answer, str):
            raise NetworkError("the fake Bot API dropped the connection")
        status, payload = answer
        return status, json.dumps(payload, ensure_ascii=False).encode()
