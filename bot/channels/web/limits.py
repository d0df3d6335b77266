"""Per-client request limits for the web chat, without storing anyone's address.

Each client has a token bucket: `burst` requests at once, refilled at `per_second`. A client
over its limit is answered 429, with `Retry-After` and a kind page, and nothing is done. The
quick exit is never counted or refused (see `limit_requests`'s `exempt`).

Which client a request is from: behind the proxy that deploy/ sets up on the same machine,
every connection comes from a loopback address and the proxy names the person's address in
`X-Real-IP`. So `X-Real-IP` is believed only on a connection from a loopback address; from
anywhere else the connection's own address is the client, and the header (which anyone can
send) is ignored. A loopback connection that names nobody (the terminal user's own browser, or
a proxy not set up to send the header) is not limited: taking everyone behind such a proxy for
one client would refuse them all. An IPv6 client counts as its /64, as one home or phone is
usually given a whole /64 and could otherwise take a new address for each request.

Without storing addresses: a client's key is an HMAC of its address with a random key made in
each process and held only in memory (never written, never logged), so the keys cannot be
turned back into addresses once the process ends, and nothing here logs. The map of buckets is
in memory only, bounded (`RateLimit.clients`, the least recently seen forgotten first), and
forgets a client as soon as its bucket would be full again (`burst / per_second` seconds after
its last request): it holds only the clients of the last few seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from bot.engine.context import Clock

REAL_IP = "X-Real-IP"
IPV6_CLIENT_PREFIX = 64

TooMany = Callable[[web.Request], web.StreamResponse]  # the kind page, with status 429


@dataclass(frozen=True)
class RateLimit:
    """How many requests one client may make.

    Each step a person takes costs up to 4 requests: the POST, the GET it redirects to, and the
    style sheet and script (every response is `no-store`, so the browser asks for them again);
    a first visit costs 3. A person reading takes several seconds over a step, and even one who
    knows the way rarely taps more than once a second. A burst of 30 lets them take 7 steps at
    once; 2 a second sustained is a step every 2 seconds, faster than anyone reads one, while a
    flood from one address is served 2 requests a second. It is generous on purpose: people
    behind one shared address (a refuge's wifi, a mobile network's shared addresses) share one
    bucket. 10,000 clients at a time caps the memory at about 2 MB (measured).
    """

    burst: int = 30
    per_second: float = 2.0
    clients: int = 10_000

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_second <= 0 or self.clients < 1:
            raise ValueError("a rate limit needs a burst, a refill rate and room for clients")

    @property
    def refill_seconds(self) -> float:
        """How long an empty bucket takes to be full again."""
        return self.burst / self.per_second


DEFAULT_RATE_LIMIT = RateLimit()


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: datetime


class ClientLimits:
    """The buckets of the clients seen in the last few seconds, under keyed hashes."""

    def __init__(self, limit: RateLimit, clock: Clock) -> None:
        self.limit = limit
        self.clock = clock
        self._key = secrets.token_bytes(32)  # this process's only: never written or logged
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def held(self) -> list[str]:
        """The keys held now, least recently seen first."""
        return list(self._buckets)

    def client_key(self, address: str) -> str:
        return hmac.new(self._key, address.encode(), hashlib.sha256).hexdigest()[:32]

    def wait(self, address: str) -> float:
        """0 when the client may be served now (and the request is counted), else how many
        seconds until it may."""
        now = self.clock()
        self._forget_full(now)
        key = self.client_key(address)
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(float(self.limit.burst), now)
        # A clock set back never takes tokens away.
        elapsed = max((now - bucket.at).total_seconds(), 0.0)
        tokens = min(self.limit.burst, bucket.tokens + elapsed * self.limit.per_second)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.limit.per_second
        self._buckets[key] = _Bucket(tokens - 1 if wait == 0 else tokens, now)
        while len(self._buckets) > self.limit.clients:
            self._buckets.popitem(last=False)
        return wait

    def _forget_full(self, now: datetime) -> None:
        """A bucket that would be full again is the same as none: forget it. The map is in
        order of last request, so only its oldest end need be looked at."""
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            if (now - oldest.at).total_seconds() < self.limit.refill_seconds:
                return
            self._buckets.popitem(last=False)


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


def _client(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)


def client_address(request: web.BaseRequest) -> str | None:
    """Whom the limit counts this request against (an IPv6 client as its /64), or None for a
    local connection that names nobody, which is not limited. See the module's docstring."""
    peer = _ip(request.remote)
    if peer is not None and not peer.is_loopback:
        return _client(peer)
    named = _ip(request.headers.get(REAL_IP))
    return _client(named) if named is not None else None


def limit_requests(
    limits: ClientLimits, too_many: TooMany, exempt: Callable[[web.Request], bool]
) -> Middleware:
    """An aiohttp middleware that answers a client over its limit with `too_many` (429) and
    `Retry-After`, and leaves requests that `exempt` names alone (neither counted nor
    refused)."""

    @web.middleware
    async def limited(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not exempt(request):
            address = client_address(request)
            wait = limits.wait(address) if address is not None else 0.0
            if wait > 0:
                response = too_many(request)
                response.headers["Retry-After"] = str(math.ceil(wait))
                return response
        return await handler(request)

    return limited
