"""The web chat on the open web: per-client request limits that never store an address, and no
response naming the server software. Over real HTTP on 127.0.0.1, with the test's clock: the
proxy's `X-Real-IP` names each client, as deploy/ sets it up."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import DummyCookieJar, web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from multidict import CIMultiDictProxy

from bot.app import Parts
from bot.channels.web import pages, web_chat_app
from bot.channels.web.chat import COOKIE, LIMITS
from bot.channels.web.limits import (
    ClientLimits,
    RateLimit,
    client_address,
)
from bot.conversation import Conversations
from bot.web.server import health_app, webhook_app
from tests.conftest import LOCALES, FakeClock
from tests.test_web_chat import EXIT_URL, HEADERS, SECRET

# A small limit, so a test reaches it in a few requests: 5 at once, then one every 4 seconds.
LIMIT = RateLimit(burst=5, per_second=0.25, clients=100)
A, B = "198.51.100.7", "203.0.113.42"

Client = TestClient[web.Request, web.Application]
Answer = tuple[int, CIMultiDictProxy[str], str]


def make_client(app: web.Application) -> Client:
    return TestClient(TestServer(app), cookie_jar=DummyCookieJar())


@pytest.fixture
def app(conversations: Conversations, parts: Parts, clock: FakeClock) -> web.Application:
    return web_chat_app(
        conversations,
        parts.spec,
        parts.words,
        LOCALES,
        secret=SECRET,
        clock=clock,
        rate_limit=LIMIT,
    )


@pytest.fixture
async def client(app: web.Application) -> AsyncIterator[Client]:
    async with make_client(app) as test_client:
        yield test_client


async def get(client: Client, path: str = "/chat", *, ip: str | None = A) -> Answer:
    headers = {"X-Real-IP": ip} if ip is not None else {}
    async with client.get(path, headers=headers, allow_redirects=False) as resp:
        return resp.status, resp.headers, await resp.text()


async def post(
    client: Client, path: str, form: dict[str, str], *, ip: str = A, cookie: str | None = None
) -> Answer:
    headers = {"X-Real-IP": ip}
    if cookie is not None:
        headers["Cookie"] = f"{COOKIE}={cookie}"
    async with client.post(path, data=form, headers=headers, allow_redirects=False) as resp:
        return resp.status, resp.headers, await resp.text()


async def use_up(client: Client, ip: str = A, *, leave: int = 0) -> None:
    """Spend the client's burst on pages, all served, but for `leave` of them."""
    for _ in range(LIMIT.burst - leave):
        status, _headers, _body = await get(client, ip=ip)
        assert status == 200


def cookie_of(headers: CIMultiDictProxy[str]) -> str:
    found = re.search(rf"{COOKIE}=([^;]+)", headers["Set-Cookie"])
    assert found is not None
    return found[1]


def form_field(body: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', body)
    assert found is not None
    return html.unescape(found[1])


# -- the limit ---------------------------------------------------------------------------------


async def test_the_burst_is_served_then_a_kind_429_until_the_bucket_refills(
    client: Client, clock: FakeClock
) -> None:
    await use_up(client)
    status, headers, body = await get(client)
    assert status == 429
    assert headers["Retry-After"] == "4"  # one request every 4 seconds
    assert pages.TOO_MANY in html.unescape(body)
    assert 'action="/chat/exit"' in body  # Exit this page is on it
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    for name, value in HEADERS.items():
        assert headers.get(name) == value, name
    # The static files and unknown paths count too.
    assert (await get(client, "/static/web.css"))[0] == 429
    assert (await get(client, "/nowhere"))[0] == 429

    clock.advance(seconds=3)
    status, headers, _body = await get(client)
    assert status == 429 and headers["Retry-After"] == "1"
    clock.advance(seconds=1)
    assert (await get(client))[0] == 200
    assert (await get(client))[0] == 429  # one more, not another burst
    clock.advance(seconds=LIMIT.refill_seconds)
    await use_up(client)  # a whole burst again


async def test_a_refused_answer_changes_nothing(client: Client, clock: FakeClock) -> None:
    status, headers, first = await get(client)
    assert status == 200
    cookie = cookie_of(headers)
    await use_up(client, leave=1)
    form = {"csrf": form_field(first, "csrf"), "state": form_field(first, "state")}
    form["b"] = re.findall(r'name="b" value="([^"]*)"', first)[0]
    status, _headers, body = await post(client, "/chat", form, cookie=cookie)
    assert status == 429
    assert "Nothing has changed" in html.unescape(body)
    clock.advance(seconds=LIMIT.refill_seconds)
    async with client.get("/chat", headers={"X-Real-IP": A, "Cookie": f"{COOKIE}={cookie}"}) as r:
        again = await r.text()
    assert form_field(again, "state") == form_field(first, "state")


async def test_each_client_has_its_own_limit(client: Client) -> None:
    await use_up(client, A)
    assert (await get(client, ip=A))[0] == 429
    await use_up(client, B)  # untouched by A's requests
    assert (await get(client, ip=B))[0] == 429


async def test_a_local_connection_that_names_nobody_is_not_limited(client: Client) -> None:
    # The terminal user's own browser, or a proxy that does not send X-Real-IP: taken for one
    # client, everyone behind it would be refused together.
    for _ in range(LIMIT.burst * 3):
        assert (await get(client, ip=None))[0] == 200


async def test_the_quick_exit_is_never_refused_nor_counted(client: Client) -> None:
    await use_up(client, leave=1)
    for _ in range(LIMIT.burst * 2):
        status, headers, _body = await post(client, "/chat/exit", {})
        assert status == 303
        assert headers["Location"] == EXIT_URL
    assert (await get(client))[0] == 200  # the exits took nothing from the burst
    assert (await get(client))[0] == 429
    status, headers, _body = await post(client, "/chat/exit", {})
    assert status == 303 and headers["Location"] == EXIT_URL
    # Only the exit's route: anything else at its path is counted.
    assert (await get(client, "/chat/exit"))[0] == 429


async def test_the_map_is_bounded_and_forgets_clients_whose_bucket_is_full_again(
    conversations: Conversations, parts: Parts, clock: FakeClock
) -> None:
    limit = RateLimit(burst=5, per_second=0.25, clients=3)
    app = web_chat_app(
        conversations,
        parts.spec,
        parts.words,
        LOCALES,
        secret=SECRET,
        clock=clock,
        rate_limit=limit,
    )
    async with make_client(app) as client:
        for n in range(8):
            assert (await get(client, ip=f"192.0.2.{n}"))[0] == 200
        assert len(app[LIMITS]) == 3
        clock.advance(seconds=limit.refill_seconds - 1)
        await get(client, ip=B)
        assert len(app[LIMITS]) == 3  # the others are not full yet: the oldest made room
        clock.advance(seconds=1)
        await get(client, ip=A)
        assert len(app[LIMITS]) == 2  # B and A: the rest would be full again


def test_the_map_holds_at_most_its_clients_under_a_flood() -> None:
    clock = FakeClock()
    limits = ClientLimits(RateLimit(clients=1000), clock)
    for n in range(5000):
        assert limits.wait(f"10.0.{n // 256}.{n % 256}") == 0
    assert len(limits) == 1000
    newest = limits.held()[-1]
    assert newest == limits.client_key("10.0.19.135")  # the 5000th, the last one seen


def test_the_limit_needs_sensible_numbers() -> None:
    for bad in ({"burst": 0}, {"per_second": 0}, {"clients": 0}):
        with pytest.raises(ValueError):
            RateLimit(**bad)  # type: ignore[arg-type]


# -- which client, and no address kept -----------------------------------------------------------


def request(remote: str, real_ip: str | None = None) -> web.BaseRequest:
    headers = {"X-Real-IP": real_ip} if real_ip is not None else {}
    return make_mocked_request("GET", "/chat", headers=headers).clone(remote=remote)


def test_x_real_ip_is_believed_only_from_a_loopback_connection() -> None:
    assert client_address(request("127.0.0.1", A)) == A
    assert client_address(request("::1", A)) == A
    assert client_address(request("127.0.0.1")) is None  # local, names nobody: not limited
    assert client_address(request("127.0.0.1", "not an address")) is None
    # From anywhere else, the header is anyone's to send: the connection's address counts.
    assert client_address(request(B, A)) == B
    assert client_address(request(B)) == B
    assert client_address(request("10.1.2.3", "127.0.0.1")) == "10.1.2.3"


def test_an_ipv6_client_is_its_64_and_a_mapped_ipv4_is_the_ipv4() -> None:
    one = client_address(request("127.0.0.1", "2001:db8:1:2:aaaa::1"))
    other = client_address(request("2001:db8:1:2:bbbb::9"))
    assert one == other == "2001:db8:1:2::/64"
    assert client_address(request("2001:db8:1:3::1")) == "2001:db8:1:3::/64"
    assert client_address(request("::ffff:198.51.100.7")) == A


async def test_no_address_is_logged_or_kept_as_a_key(
    app: web.Application, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await use_up(client, A)
    await get(client, ip=A)  # refused
    await get(client, ip=B)
    assert "198.51.100" not in caplog.text and "203.0.113" not in caplog.text
    limits = app[LIMITS]
    held = limits.held()
    assert len(held) == 2
    assert all(A not in key and B not in key for key in held)
    assert set(held) == {limits.client_key(A), limits.client_key(B)}
    # Keyed by this process's random key: another process's keys for A are unrelated.
    assert ClientLimits(LIMIT, FakeClock()).client_key(A) != limits.client_key(A)


# -- no Server header ----------------------------------------------------------------------------


async def test_no_response_of_the_web_chat_names_the_server(client: Client) -> None:
    answers = [
        await get(client),  # a page
        await get(client, "/static/web.js"),
        await get(client, "/nowhere"),  # 404
        await get(client, "/chat?start=mk"),  # 303
        await post(client, "/chat/exit", {}),  # 303 to the exit site
        await post(client, "/chat", {"csrf": "wrong"}),  # 403
    ]
    await use_up(client, B)
    answers.append(await get(client, ip=B))
    assert [status for status, _h, _b in answers] == [200, 200, 404, 303, 303, 403, 429]
    for status, headers, _body in answers:
        assert "Server" not in headers, status  # aiohttp's default names it and Python


async def server_header(app: web.Application, method: str, path: str) -> tuple[int, str | None]:
    async with make_client(app) as client, client.request(method, path) as resp:
        return resp.status, resp.headers.get("Server")


async def test_the_health_check_and_the_webhook_do_not_name_the_server() -> None:
    async def deliver(_update: dict[str, object]) -> None:
        return None

    assert await server_header(health_app(lambda: True), "GET", "/healthz") == (200, None)
    assert await server_header(health_app(lambda: False), "GET", "/healthz") == (503, None)
    webhook = webhook_app("telegram", "s3cret", deliver)
    assert await server_header(webhook, "POST", "/telegram") == (403, None)
    webhook = webhook_app("telegram", "s3cret", deliver)
    assert await server_header(webhook, "GET", "/elsewhere") == (404, None)
