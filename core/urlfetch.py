"""Fetching a user-given URL without letting it reach inside our network (SSRF).

Images from URLs, Classify URL and Quick Test URL all fetch through `fetch`. The rules:

- http and https only; no user:password@, no backslashes, spaces or control characters.
- The host is resolved once, *every* address it resolves to is checked, and the connection
  goes to the checked address (so a second DNS answer cannot swap in 127.0.0.1: DNS rebinding).
  TLS still verifies the certificate against the host name.
- Refused: loopback, private, shared (CGNAT), link-local (cloud metadata), multicast,
  unspecified, reserved and documentation ranges, IPv4 and IPv6, in any spelling: the OS
  resolver turns 2130706433, 0177.0.0.1 and 127.1 into 127.0.0.1 before we check, and an IPv6
  address that carries an IPv4 one (::ffff:a.b.c.d, ::a.b.c.d, 6to4, Teredo, NAT64) is
  checked as that IPv4 address too.
- Redirects are followed by hand, at most `max_redirects`, each one checked like the first URL.
- The body is capped at `max_bytes` and the whole fetch at `timeout` seconds.
- Credentials (`headers`) go to one origin only, `credentials_origin` (scheme, host and port),
  and only on the first request: never to a redirect's target, which a remote chooses.
- Errors are in our words: what a remote sent (a banner, a status line, a body) never reaches
  `FetchError.message`, so a caller can show it to a user without turning the fetcher into a
  port scanner with output.

`allow` lists networks that skip the address check: empty in production, 127.0.0.1 in tests
that serve images from a local server.

Plain Python (no Django) so the rules can be tested on their own.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

MAX_REDIRECTS = 5
REDIRECTS = {301, 302, 303, 307, 308}
MAX_URL_LENGTH = 2048
_CHUNK = 64 * 1024
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class FetchError(Exception):
    """The URL was refused or could not be fetched; `message` says why, for the caller.

    `kind` sorts the failure for callers that word their own message: "invalid" (the URL
    itself), "refused" (an address or scheme we don't fetch), "unreachable" (no connection),
    "timeout", "protocol" (the answer was not HTTP), "tls", "status" (see `status`),
    "redirect" and "too_large"."""

    def __init__(
        self,
        message: str,
        *,
        refused: bool = False,
        status: int | None = None,
        kind: str = "",
    ) -> None:
        super().__init__(message)
        self.message, self.refused, self.status = message, refused, status
        self.kind = kind or ("refused" if refused else "status" if status else "invalid")


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    data: bytes
    content_type: str


def parse_networks(entries: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip()]


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in _NAT64 or 1 < int(ip) <= 0xFFFFFFFF:  # NAT64, or deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: IPAddress) -> str | None:
    """Why this address may not be fetched from, or None when it is a public one."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None and (reason := address_refusal(inner)):
            return reason
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.version == 4 and ip in _SHARED, "a shared (carrier-grade NAT) address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "a non-public address"),
    )
    for refused, reason in checks:
        if refused:
            return reason
    return None


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL as the fetcher connects to it: the unit credentials are
    scoped to. FetchError for a URL the fetcher would not fetch."""
    scheme, host, port, _path = _check_url(url)
    return scheme, host, port


def _check_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path+query) of an acceptable URL, or FetchError."""
    if not url or len(url) > MAX_URL_LENGTH:
        raise FetchError("The URL is empty or too long.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 or ch == "\\" for ch in url):
        raise FetchError("The URL contains spaces, control characters or backslashes.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError("The URL is not valid.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError("Only http and https URLs can be fetched.", refused=True)
    if "@" in parts.netloc:
        raise FetchError("URLs with a user name or password are not fetched.", refused=True)
    host = parts.hostname
    if not host:
        raise FetchError("The URL has no host.")
    try:
        # Internationalised names go on the wire (DNS, Host header, SNI) in their ASCII form.
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise FetchError(f"The host {host!r} is not a valid name.") from None
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return scheme, host, port or (443 if scheme == "https" else 80), path


def refusal_without_lookup(url: str, allow: Iterable[Network] = ()) -> str | None:
    """Why `url` would be refused, when that is known without asking DNS: its host is an
    address in any spelling (127.1, 0x7f000001, [::ffff:127.0.0.1]...) or a localhost name.
    None otherwise: a name is checked when it is fetched, on every address it resolves to.
    For a form's quick answer; `fetch` checks again."""
    try:
        _scheme, host, port, _path = _check_url(url)
    except FetchError as exc:
        return exc.message
    if host == "localhost" or host.endswith(".localhost"):  # RFC 6761: always loopback
        candidates = ["127.0.0.1", "::1"]
    else:
        try:
            infos = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
            )
        except (socket.gaierror, UnicodeError):
            return None  # a name, not an address
        candidates = [str(info[4][0]).split("%", 1)[0] for info in infos]
    allowed = list(allow)
    for candidate in candidates:
        ip = ipaddress.ip_address(candidate)
        if not any(ip in network for network in allowed) and (reason := address_refusal(ip)):
            return f"The host {host!r} is {reason}; only public addresses are fetched."
    return None


def _resolve(host: str, port: int, allow: list[Network]) -> list[str]:
    """The addresses to connect to: every address the host resolves to must be acceptable."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchError(f"The host {host!r} could not be resolved.", kind="unreachable") from None
    addresses = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not any(ip in network for network in allow):
            reason = address_refusal(ip)
            if reason:
                raise FetchError(
                    f"The URL's host {host!r} is {reason}; only public addresses are fetched.",
                    refused=True,
                )
        addresses.append(str(ip))
    if not addresses:
        raise FetchError(f"The host {host!r} could not be resolved.", kind="unreachable")
    return list(dict.fromkeys(addresses))


def _connect(addresses: list[str], port: int, timeout: float | None) -> socket.socket:
    """A connection to the first checked address that answers (as create_connection would
    try a name's addresses, but only the ones we checked)."""
    error: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            error = exc
    assert error is not None
    raise error


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, addresses: list[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = _connect(self._addresses, self.port, self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, addresses: list[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._addresses = addresses

    def connect(self) -> None:
        sock = _connect(self._addresses, self.port, self.timeout)
        # The certificate is checked against the name in the URL, not the address.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def fetch(
    url: str,
    *,
    max_bytes: int,
    timeout: float = 10.0,
    allow: Iterable[Network] = (),
    user_agent: str = "custom-vision-fetch/1",
    headers: Mapping[str, str] | None = None,
    credentials_origin: str | None = None,
    accept: str = "image/*",
    max_redirects: int = MAX_REDIRECTS,
) -> Fetched:
    """GET `url` under the rules above.

    `headers` (a key) go on the first request only, never across a redirect, and, when
    `credentials_origin` is given, only if the URL has exactly that scheme, host and port: a
    link elsewhere (a storage link, another port of the same host) must not carry a key."""
    allowed = list(allow)
    scoped = origin(credentials_origin) if credentials_origin else None
    deadline = time.monotonic() + timeout
    for hop in range(max_redirects + 1):
        scheme, host, port, path = _check_url(url)
        addresses = _resolve(host, port, allowed)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError("Fetching the URL took too long.", kind="timeout")
        kind = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
        connection = kind(host, port, addresses, remaining)
        try:
            sent = {"User-Agent": user_agent, "Accept": accept}
            if headers and hop == 0 and scoped in (None, (scheme, host, port)):
                sent |= dict(headers)
            connection.request("GET", path, headers=sent)
            response = connection.getresponse()
            if response.status in REDIRECTS:
                location = response.getheader("Location")
                if not location or max_redirects == 0:
                    raise FetchError(
                        f"The URL redirected (HTTP {response.status}).",
                        status=response.status,
                        kind="redirect",
                    )
                url = urljoin(url, location)
                continue
            if response.status != 200:
                raise FetchError(
                    f"The URL answered HTTP {response.status}.", status=response.status
                )
            return Fetched(url, _read(response, max_bytes, deadline), _type(response))
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise _failure(exc) from None
        finally:
            connection.close()
    raise FetchError(f"The URL redirected more than {max_redirects} times.", kind="redirect")


def _failure(exc: Exception) -> FetchError:
    """Our words for a failed exchange. The exception's own text is never used: http.client's
    BadStatusLine carries the remote's first line (an SSH or database banner), and socket
    errors would make every answer a port scan's report."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return FetchError("Fetching the URL took too long.", kind="timeout")
    if isinstance(exc, ssl.SSLCertVerificationError):
        # OpenSSL's fixed reason and verification text, about the name we asked for.
        return FetchError(
            f"The site's TLS certificate could not be verified ({exc.reason}: "
            f"{exc.verify_message}).",
            kind="tls",
        )
    if isinstance(exc, ssl.SSLError):
        return FetchError(f"The TLS connection failed ({exc.reason}).", kind="tls")
    if isinstance(exc, ConnectionRefusedError) or not isinstance(
        exc, ConnectionError | http.client.HTTPException | ValueError
    ):
        return FetchError("The server could not be reached.", kind="unreachable")
    if isinstance(exc, ConnectionError):  # reset or closed (RemoteDisconnected too)
        return FetchError("The server closed the connection without answering.", kind="protocol")
    return FetchError("The server's answer was not valid HTTP.", kind="protocol")


def _type(response: http.client.HTTPResponse) -> str:
    return (response.getheader("Content-Type") or "").split(";")[0].strip().lower()


def _read(response: http.client.HTTPResponse, max_bytes: int, deadline: float) -> bytes:
    too_big = FetchError(
        f"The image at the URL is larger than {max_bytes // (1024 * 1024)} MB.", kind="too_large"
    )
    length = response.getheader("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise too_big
    chunks, size = [], 0
    while chunk := response.read1(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise too_big
        if time.monotonic() > deadline:
            raise FetchError("Fetching the URL took too long.", kind="timeout")
        chunks.append(chunk)
    return b"".join(chunks)
