"""Who may read a metrics endpoint: a client-address allow-list, basic auth users, bearer tokens.

Every exporter takes an optional ``protection``; without one the endpoint is open,
as in prometheus_client. ::

    import os
    from pyrometer import start_http_server
    from pyrometer.protection import Protection

    protection = Protection(
        allow_from=["10.0.0.0/8", "fd00::/8", "127.0.0.1"],
        basic_auth={"prometheus": "$2b$12$...", "ops": os.environ["OPS_PASSWORD"]},  # bcrypt hash or plaintext
        bearer_tokens=[os.environ["SCRAPE_TOKEN"]],
    )
    start_http_server(8000, protection=protection)  # or certfile=/keyfile= too: credentials travel in the clear
    # The same keyword works for make_wsgi_app, make_asgi_app, make_aiohttp_handler,
    # MetricsResource, PrometheusDjangoView.as_view and MetricsHandler.factory.

A request from an address outside ``allow_from`` gets 403. Then, when users or
tokens are configured, the request needs valid basic *or* bearer credentials, else
401 with a ``WWW-Authenticate`` challenge (``Basic realm="metrics"`` when users are
configured). On the Prometheus side that is ``basic_auth:`` or ``authorization:``
in the scrape config.

The address is the TCP peer as the server reports it; ``X-Forwarded-For`` is never
read, since any client can send it. Behind a reverse proxy, let the server rewrite
the peer address (uvicorn ``--proxy-headers``, Werkzeug's ``ProxyFix``) or filter at
the proxy. An IPv4-mapped IPv6 address (``::ffff:10.1.2.3``, from a dual-stack
socket) counts as its IPv4 address, in the allow-list and from clients.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import logging
import re
import secrets
from http import HTTPStatus
from typing import Any, Iterable, List, Mapping, Optional, Tuple, Union

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
AddressSpec = Union[str, ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network, ipaddress.IPv6Network]

__all__ = ["Protection"]

logger = logging.getLogger("pyrometer.protection")

_BCRYPT_PREFIX = re.compile(r"\$2[abxy]\$")
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_CACHE_SIZE = 256


def _printable(value: str) -> bool:
    return value.isprintable() and not any(c.isspace() for c in value)


def _items(value: Any, what: str) -> List[Any]:
    """``value`` as a list; a lone string counts as one item rather than as its characters."""
    if isinstance(value, (str, bytes)):
        return [value]
    try:
        return list(value)
    except TypeError:
        raise TypeError(f"{what} must be an iterable, not {type(value).__name__}") from None


def _network(spec: AddressSpec) -> Network:
    """One allow-list entry as a network, IPv4-mapped IPv6 networks turned into IPv4 ones."""
    if isinstance(spec, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        net: Network = spec
    elif isinstance(spec, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        net = ipaddress.ip_network(spec)
    elif isinstance(spec, str):
        try:
            net = ipaddress.ip_network(spec.strip().strip("[]"))
        except ValueError as exc:
            raise ValueError(f"allow_from entry {spec!r} is not an IP address or CIDR network: {exc}") from None
    else:
        raise TypeError(f"allow_from entries must be str or ipaddress objects, not {type(spec).__name__}")
    if isinstance(net, ipaddress.IPv6Network) and net.prefixlen >= 96 and net.subnet_of(_MAPPED):
        mapped = net.network_address.ipv4_mapped
        assert mapped is not None
        return ipaddress.IPv4Network((int(mapped), net.prefixlen - 96))
    return net


def _client(addr: Optional[str]) -> Optional[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]:
    """The client's address, IPv4-mapped IPv6 as IPv4; ``None`` when absent or not an IP (a Unix socket)."""
    if not addr:
        return None
    try:
        ip = ipaddress.ip_address(addr.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _users(basic_auth: Any) -> Tuple[Tuple[bytes, bytes, bool], ...]:
    """``(user, secret, secret_is_bcrypt_hash)`` per user, validated."""
    if not isinstance(basic_auth, Mapping):
        raise TypeError(f"basic_auth must be a mapping of user to password, not {type(basic_auth).__name__}")
    if not basic_auth:
        raise ValueError("basic_auth is empty; pass None to configure no users")
    users = []
    for user, password in basic_auth.items():
        if not isinstance(user, str) or not isinstance(password, str):
            raise TypeError("basic_auth users and passwords must be str")
        if not user or ":" in user or not user.isprintable():
            raise ValueError(f"basic_auth user {user!r} must be non-empty and printable, without ':'")
        if not password:
            raise ValueError(f"basic_auth password of user {user!r} is empty")
        is_hash = _BCRYPT_PREFIX.match(password) is not None
        if is_hash and not _BCRYPT_HASH.fullmatch(password):
            raise ValueError(f"basic_auth password of user {user!r} starts like a bcrypt hash but is not a valid one")
        users.append((user.encode("utf-8"), password.encode("utf-8"), is_hash))
    return tuple(users)


def _tokens(bearer_tokens: Any) -> Tuple[bytes, ...]:
    tokens = _items(bearer_tokens, "bearer_tokens")
    if not tokens:
        raise ValueError("bearer_tokens is empty; pass None to configure no tokens")
    for token in tokens:
        if not isinstance(token, str):
            raise TypeError(f"bearer tokens must be str, not {type(token).__name__}")
        if not token or not _printable(token):
            raise ValueError("bearer tokens must be non-empty and printable, without whitespace")
    return tuple(t.encode("utf-8") for t in tokens)


def _import_bcrypt() -> Any:
    try:
        import bcrypt
    except ImportError as exc:
        raise ImportError("basic_auth has bcrypt password hashes, which need bcrypt: pip install bcrypt") from exc
    return bcrypt


class Protection:
    """Who may read a metrics endpoint; immutable once built, safe to share between threads and servers.

    ``allow_from``: IP addresses and CIDR networks (IPv4, IPv6) clients must come
    from. ``basic_auth``: user to plaintext password or bcrypt hash (``$2b$...``,
    needs the ``bcrypt`` package). ``bearer_tokens``: accepted tokens. At least one
    is needed; configuration errors raise ``ValueError``/``TypeError`` here.
    """

    __slots__ = ("_bcrypt", "_cache_key", "_networks", "_tokens", "_users", "_verified")

    def __init__(
        self,
        *,
        allow_from: Optional[Iterable[AddressSpec]] = None,
        basic_auth: Optional[Mapping[str, str]] = None,
        bearer_tokens: Optional[Iterable[str]] = None,
    ) -> None:
        """Validate and freeze the configuration."""
        if allow_from is None and basic_auth is None and bearer_tokens is None:
            raise ValueError("Protection needs allow_from, basic_auth or bearer_tokens; "
                             "pass protection=None for an open endpoint")
        networks: Tuple[Network, ...] = ()
        if allow_from is not None:
            networks = tuple(_network(spec) for spec in _items(allow_from, "allow_from"))
            if not networks:
                raise ValueError("allow_from is empty, which refuses everyone; pass None to allow every address")
        users = _users(basic_auth) if basic_auth is not None else ()
        init = object.__setattr__
        init(self, "_networks", networks)
        init(self, "_users", users)
        init(self, "_tokens", _tokens(bearer_tokens) if bearer_tokens is not None else ())
        init(self, "_bcrypt", _import_bcrypt() if any(is_hash for _, _, is_hash in users) else None)
        # Scrapes repeat every few seconds with the same credentials; remembering a
        # verified bcrypt login (by keyed digest, never the password) spares a full
        # bcrypt per scrape. Failed attempts are never remembered, so guessing stays slow.
        init(self, "_cache_key", secrets.token_bytes(32))
        init(self, "_verified", set())

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Protection is immutable; build a new one")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Protection is immutable; build a new one")

    def __repr__(self) -> str:
        # Counts only: a repr ends up in logs and tracebacks, secrets must not.
        parts = []
        if self._networks:
            parts.append(f"allow_from={[str(n) for n in self._networks]!r}")
        if self._users:
            parts.append(f"basic_auth=<{len(self._users)} user(s)>")
        if self._tokens:
            parts.append(f"bearer_tokens=<{len(self._tokens)} token(s)>")
        return f"Protection({', '.join(parts)})"

    @property
    def challenge(self) -> Optional[str]:
        """The ``WWW-Authenticate`` value sent with a 401, or ``None`` when no credentials are configured."""
        if self._users:
            return 'Basic realm="metrics"'
        if self._tokens:
            return 'Bearer realm="metrics"'
        return None

    def address_allowed(self, client_addr: Optional[str]) -> bool:
        """Whether the allow-list (if any) admits ``client_addr``; an unknown address is refused."""
        if not self._networks:
            return True
        ip = _client(client_addr)
        return ip is not None and any(ip in net for net in self._networks)

    def credentials_valid(self, authorization: Optional[str]) -> bool:
        """Whether an ``Authorization`` header value carries valid credentials (true when none are configured)."""
        if not self._users and not self._tokens:
            return True
        scheme, _, value = (authorization or "").strip().partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == "basic" and self._users:
            try:
                user, colon, password = base64.b64decode(value, validate=True).partition(b":")
            except ValueError:  # binascii.Error is a ValueError
                return False
            return bool(colon) and self._basic_valid(user, password)
        if scheme == "bearer" and self._tokens:
            try:
                token = value.encode("utf-8")
            except UnicodeEncodeError:
                return False
            return self._token_valid(token)
        return False

    def check(self, authorization: Optional[str], client_addr: Optional[str]) -> HTTPStatus:
        """The verdict on a request: ``OK`` to serve it, ``FORBIDDEN`` (address) or ``UNAUTHORIZED``."""
        if not self.address_allowed(client_addr):
            logger.debug("refused a metrics request from %s: address not allowed", client_addr)
            return HTTPStatus.FORBIDDEN
        if not self.credentials_valid(authorization):
            logger.debug("refused a metrics request from %s: %s credentials", client_addr,
                         "wrong" if authorization else "no")
            return HTTPStatus.UNAUTHORIZED
        return HTTPStatus.OK

    def _token_valid(self, token: bytes) -> bool:
        ok = False
        for known in self._tokens:  # no early exit: the time taken does not say which token matched
            ok |= hmac.compare_digest(known, token)
        return ok

    def _basic_valid(self, user: bytes, password: bytes) -> bool:
        ok = False
        user_hash: Optional[bytes] = None
        for name, secret, is_hash in self._users:  # every entry is compared, whoever asks
            same_user = hmac.compare_digest(name, user)
            if is_hash:
                if same_user:
                    user_hash = secret
            else:
                ok |= same_user & hmac.compare_digest(secret, password)
        if self._bcrypt is not None:
            # An unknown user pays for a bcrypt check too, so timing does not reveal who exists.
            hashed = user_hash if user_hash is not None else next(s for _, s, h in self._users if h)
            ok |= self._bcrypt_valid(user, password, hashed) and user_hash is not None
        return ok

    def _bcrypt_valid(self, user: bytes, password: bytes, hashed: bytes) -> bool:
        key = hmac.new(self._cache_key, b"\0".join((user, password, hashed)), "sha256").digest()
        if key in self._verified:
            return True
        try:
            valid = bool(self._bcrypt.checkpw(password, hashed))
        except ValueError:  # bcrypt>=5 refuses passwords over 72 bytes
            return False
        if valid:
            if len(self._verified) >= _CACHE_SIZE:
                self._verified.clear()
            self._verified.add(key)
        return valid
