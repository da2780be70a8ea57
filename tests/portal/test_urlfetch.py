"""The SSRF-safe fetcher: every refused address class, in every spelling, refused before any
connection is made; redirects checked hop by hop; size and time capped."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from core import urlfetch
from core.urlfetch import FetchError, address_refusal, fetch, parse_networks
from tests.servers import start_server

REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "::1": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "fc00::1": "private",
    "fd12:3456::1": "private",
    "169.254.169.254": "link-local",  # cloud metadata
    "fe80::1": "link-local",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "ff02::1": "multicast",
    "0.0.0.0": "unspecified",  # noqa: S104
    "::": "unspecified",
    "240.0.0.1": "reserved",
    "255.255.255.255": "",
    "100.64.0.1": "shared",
    "192.0.2.1": "",  # documentation ranges are not public either
    "2001:db8::1": "",
    "::ffff:127.0.0.1": "loopback",  # IPv4-mapped
    "::ffff:169.254.169.254": "link-local",
    "::ffff:10.0.0.1": "private",
    "::127.0.0.1": "loopback",  # IPv4-compatible (deprecated)
    "2002:7f00:1::": "loopback",  # 6to4 of 127.0.0.1
    "2002:a00:1::": "private",  # 6to4 of 10.0.0.1
    "64:ff9b::a9fe:a9fe": "link-local",  # NAT64 of 169.254.169.254
    "2001:0:4136:e378:8000:63bf:80ff:fffe": "loopback",  # Teredo with client 127.0.0.1
}


@pytest.mark.parametrize(("address", "kind"), REFUSED.items())
def test_each_refused_class(address, kind):
    reason = address_refusal(ipaddress.ip_address(address))
    assert reason is not None, address
    assert kind in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "1.1.1.1"])
def test_public_addresses_pass(address):
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.fixture
def no_connections(monkeypatch):
    """Fail the test if anything connects: a refused URL must be refused before connecting."""
    made: list[object] = []

    def refuse(address, *args, **kwargs):
        made.append(address)
        raise AssertionError(f"connected to {address}")

    monkeypatch.setattr(urlfetch.socket, "create_connection", refuse)
    return made


@pytest.fixture
def trap():
    """A server on 127.0.0.1 that must not be reached."""
    state, server = start_server()
    state.serve("/img", b"secret")
    yield state
    server.shutdown()
    server.server_close()


def spellings(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/img",
        f"http://localhost:{port}/img",
        f"http://2130706433:{port}/img",  # decimal
        f"http://0177.0.0.1:{port}/img",  # octal
        f"http://0x7f.0.0.1:{port}/img",  # hex
        f"http://0x7f000001:{port}/img",
        f"http://127.1:{port}/img",  # short form
        f"http://[::1]:{port}/img",
        f"http://[::ffff:127.0.0.1]:{port}/img",  # IPv4-mapped IPv6
        f"http://[::ffff:7f00:1]:{port}/img",
        f"http://0:{port}/img",
        f"http://0.0.0.0:{port}/img",
        f"HTTP://LOCALHOST:{port}/img",
    ]


def test_every_spelling_of_loopback_is_refused_and_nothing_is_fetched(trap):
    for url in spellings(trap.port):
        with pytest.raises(FetchError) as info:
            fetch(url, max_bytes=1024)
        assert info.value.refused, (url, info.value.message)
    # A trailing dot is not resolvable here; either way nothing is fetched.
    with pytest.raises(FetchError):
        fetch(f"http://127.0.0.1.:{trap.port}/img", max_bytes=1024)
    assert trap.hits == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://10.0.0.1/",
        "http://192.168.0.1:8080/",
        "http://[fd00::1]/",
        "http://224.0.0.1/",
        "http://100.64.0.1/",
        "http://240.0.0.1/",
    ],
)
def test_private_and_special_addresses_are_refused_without_connecting(url, no_connections):
    with pytest.raises(FetchError) as info:
        fetch(url, max_bytes=1024)
    assert info.value.refused
    assert no_connections == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/a.jpg",
        "gopher://example.com/",
        "dict://example.com:11211/",
        "http://user:pass@example.com/a.jpg",
        "http://example.com@127.0.0.1/a.jpg",
        "http://127.0.0.1\\@example.com/",
        "http://exa mple.com/",
        "javascript:alert(1)",
        "",
    ],
)
def test_other_schemes_and_tricks_are_refused(url, no_connections):
    with pytest.raises(FetchError):
        fetch(url, max_bytes=1024)
    assert no_connections == []


def test_a_name_resolving_to_a_private_address_is_refused(monkeypatch, no_connections):
    """DNS can point any name at an inside address: the check is on what it resolves to."""

    def resolve(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]

    monkeypatch.setattr(urlfetch.socket, "getaddrinfo", resolve)
    with pytest.raises(FetchError) as info:
        fetch("http://images.example.com/cat.jpg", max_bytes=1024)
    assert "private" in info.value.message
    assert no_connections == []


def test_any_private_answer_among_several_refuses(monkeypatch, no_connections):
    def resolve(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    monkeypatch.setattr(urlfetch.socket, "getaddrinfo", resolve)
    with pytest.raises(FetchError):
        fetch("http://images.example.com/cat.jpg", max_bytes=1024)
    assert no_connections == []


def test_the_connection_goes_to_the_checked_address(monkeypatch, image_server):
    """Resolved once: the socket connects to the address that was checked, while the Host
    header keeps the name (no second lookup that DNS rebinding could answer differently)."""
    image_server.serve("/a.jpg", b"JPEGDATA")
    lookups: list[str] = []

    def resolve(host, port, *args, **kwargs):
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(urlfetch.socket, "getaddrinfo", resolve)
    got = fetch(
        f"http://images.example.com:{image_server.port}/a.jpg",
        max_bytes=1024,
        allow=parse_networks(["127.0.0.1/32"]),
    )
    assert got.data == b"JPEGDATA"
    # One lookup of the name; connecting to the checked literal address resolves nothing.
    assert lookups[0] == "images.example.com"
    assert set(lookups[1:]) <= {"127.0.0.1"}


def test_allow_list_lets_a_local_server_through(image_server):
    url = image_server.serve("/ok.jpg", b"\xff\xd8data")
    assert fetch(url, max_bytes=1024, allow=parse_networks(["127.0.0.1"])).data == b"\xff\xd8data"
    with pytest.raises(FetchError):
        fetch(url, max_bytes=1024)  # and nothing without it


def test_a_redirect_to_a_refused_address_is_refused_and_not_followed(image_server, trap):
    """The first hop is allow-listed (127.0.0.1); the redirect goes to 127.0.0.2, which is not."""
    second, server = start_server("127.0.0.2")
    try:
        second.serve("/img", b"secret")
        first = image_server.serve("/go", status=302, location=second.url("/img"))
        with pytest.raises(FetchError) as info:
            fetch(first, max_bytes=1024, allow=parse_networks(["127.0.0.1/32"]))
        assert info.value.refused
        assert image_server.hits == ["/go"] and second.hits == []
    finally:
        server.shutdown()
        server.server_close()


def test_a_redirect_to_metadata_is_refused(image_server, monkeypatch):
    first = image_server.serve(
        "/go", status=301, location="http://169.254.169.254/latest/meta-data/"
    )
    with pytest.raises(FetchError) as info:
        fetch(first, max_bytes=1024, allow=parse_networks(["127.0.0.1/32"]))
    assert "link-local" in info.value.message


def test_redirects_are_followed_a_few_times_then_refused(image_server):
    allow = parse_networks(["127.0.0.1/32"])
    image_server.serve("/final.jpg", b"img")
    image_server.serve("/hop", status=307, location="/final.jpg")
    assert fetch(image_server.url("/hop"), max_bytes=1024, allow=allow).data == b"img"
    image_server.serve("/loop", status=302, location="/loop")
    with pytest.raises(FetchError) as info:
        fetch(image_server.url("/loop"), max_bytes=1024, allow=allow)
    assert "redirected more than" in info.value.message


def test_size_is_capped_with_and_without_content_length(image_server):
    allow = parse_networks(["127.0.0.1/32"])
    big = b"x" * (300 * 1024)
    for path, send_length in (("/big", True), ("/big-stream", False)):
        image_server.serve(path, big, send_length=send_length)
        with pytest.raises(FetchError) as info:
            fetch(image_server.url(path), max_bytes=100 * 1024, allow=allow)
        assert "larger than" in info.value.message


def test_time_is_capped(image_server):
    image_server.serve("/slow", b"img", delay=3)
    with pytest.raises(FetchError) as info:
        fetch(
            image_server.url("/slow"),
            max_bytes=1024,
            timeout=0.5,
            allow=parse_networks(["127.0.0.1/32"]),
        )
    assert "too long" in info.value.message


def test_http_errors_say_the_status(image_server):
    with pytest.raises(FetchError) as info:
        fetch(image_server.url("/missing"), max_bytes=1024, allow=parse_networks(["127.0.0.1"]))
    assert "404" in info.value.message


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server on 127.0.0.1 with a self-signed certificate for "localhost"."""
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    state, server = start_server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield state, cert
    server.shutdown()
    server.server_close()


def test_https_verifies_the_certificate_against_the_name(tls_server, monkeypatch):
    state, cert = tls_server
    state.serve("/a.jpg", b"tls-image")
    allow = parse_networks(["127.0.0.1/32", "::1/128"])
    url = f"https://localhost:{state.port}/a.jpg"
    with pytest.raises(FetchError) as info:  # self-signed: not trusted by default
        fetch(url, max_bytes=1024, allow=allow)
    assert "CERTIFICATE_VERIFY_FAILED" in info.value.message
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust it: now the name must match
    assert fetch(url, max_bytes=1024, allow=allow).data == b"tls-image"
    with pytest.raises(FetchError) as info:
        fetch(f"https://127.0.0.1:{state.port}/a.jpg", max_bytes=1024, allow=allow)
    assert "match" in info.value.message or "mismatch" in info.value.message


def test_international_names_are_resolved_in_ascii(monkeypatch, no_connections):
    asked: list[str] = []

    def resolve(host, port, *args, **kwargs):
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.9", port))]

    monkeypatch.setattr(urlfetch.socket, "getaddrinfo", resolve)
    with pytest.raises(FetchError) as info:
        fetch("http://bücher.example/cat.jpg", max_bytes=1024)
    assert asked == ["xn--bcher-kva.example"] and info.value.refused
    with pytest.raises(FetchError):
        fetch("http://" + "a" * 70 + ".example/", max_bytes=1024)  # a label over 63 characters
    assert no_connections == []


# --- Credentials go to one origin, on the first request only ------------------------------

KEY = {"Training-Key": "secret-key"}


def keys_seen(server) -> list[str | None]:
    return [h.get("Training-Key") for h in server.headers]


def test_credentials_go_to_their_origin_and_nowhere_else(image_server):
    allow = parse_networks(["127.0.0.1/32"])
    origin = f"http://127.0.0.1:{image_server.port}"
    url = image_server.serve("/a.jpg", b"img")
    fetch(url, max_bytes=1024, allow=allow, headers=KEY, credentials_origin=origin + "/")
    assert keys_seen(image_server) == ["secret-key"]
    other, server = start_server()  # the same host, another port
    try:
        elsewhere = other.serve("/b.jpg", b"img")
        fetch(elsewhere, max_bytes=1024, allow=allow, headers=KEY, credentials_origin=origin)
        assert keys_seen(other) == [None]
    finally:
        server.shutdown()
        server.server_close()
    # Another scheme for the same host and port is another origin too.
    https = f"https://127.0.0.1:{image_server.port}"
    fetch(url, max_bytes=1024, allow=allow, headers=KEY, credentials_origin=https)
    assert keys_seen(image_server) == ["secret-key", None]


def test_credentials_never_cross_a_redirect(image_server):
    """Not to another port, and not even back to the origin: the remote picks the target."""
    allow = parse_networks(["127.0.0.1/32"])
    origin = f"http://127.0.0.1:{image_server.port}"
    other, server = start_server()
    try:
        target = other.serve("/moved.jpg", b"img")
        image_server.serve("/away", status=302, location=target)
        image_server.serve("/home.jpg", b"img")
        image_server.serve("/here", status=307, location="/home.jpg")
        for path in ("/away", "/here"):
            fetch(
                origin + path, max_bytes=1024, allow=allow, headers=KEY, credentials_origin=origin
            )
            fetch(origin + path, max_bytes=1024, allow=allow, headers=KEY)  # no origin given
        assert keys_seen(other) == [None, None]
        # /away twice, then /here and /home.jpg twice: the key on each first request only.
        key = "secret-key"
        assert keys_seen(image_server) == [key, key, key, None, key, None]
    finally:
        server.shutdown()
        server.server_close()


def test_no_redirects_when_told(image_server):
    allow = parse_networks(["127.0.0.1/32"])
    image_server.serve("/final.jpg", b"img")
    image_server.serve("/hop", status=301, location="/final.jpg")
    with pytest.raises(FetchError) as info:
        fetch(image_server.url("/hop"), max_bytes=1024, allow=allow, max_redirects=0)
    assert info.value.kind == "redirect" and info.value.status == 301
    assert image_server.hits == ["/hop"]


# --- What a remote sends is never in a message --------------------------------------------


def test_a_banner_is_not_in_the_error(banner_port):
    with pytest.raises(FetchError) as info:
        fetch(
            f"http://127.0.0.1:{banner_port}/",
            max_bytes=1024,
            allow=parse_networks(["127.0.0.1/32"]),
        )
    assert "OpenSSH" not in info.value.message and "banner" not in info.value.message
    assert info.value.kind == "protocol"
    assert info.value.message == "The server's answer was not valid HTTP."


def test_a_closed_port_is_unreachable_in_our_words():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError) as info:
        fetch(f"http://127.0.0.1:{port}/", max_bytes=1024, allow=parse_networks(["127.0.0.1"]))
    assert info.value.kind == "unreachable"
    assert info.value.message == "The server could not be reached."


@pytest.fixture
def banner_port():
    """A loopback port that greets like sshd and closes."""
    import threading

    listener = socket.create_server(("127.0.0.1", 0))

    def greet() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"SSH-2.0-OpenSSH_9.6 banner-text\r\n")

    thread = threading.Thread(target=greet, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    thread.join(timeout=5)
    listener.close()


# --- A quick answer for literal addresses, without DNS -------------------------------------


def test_refusal_without_lookup_knows_every_spelling_of_an_address(monkeypatch):
    def no_dns(host, port, *args, flags=0, **kwargs):
        if not flags & socket.AI_NUMERICHOST:
            raise AssertionError(f"asked DNS about {host}")
        return real(host, port, *args, flags=flags, **kwargs)

    real = socket.getaddrinfo
    monkeypatch.setattr(urlfetch.socket, "getaddrinfo", no_dns)
    for url in spellings(9102):
        assert urlfetch.refusal_without_lookup(url), url
    assert urlfetch.refusal_without_lookup("http://a.localhost/")
    assert urlfetch.refusal_without_lookup("http://10.1/")  # 10.0.0.1
    assert urlfetch.refusal_without_lookup("http://cv.example.com/") is None  # checked on fetch
    assert urlfetch.refusal_without_lookup("http://8.8.8.8/") is None
    allow = parse_networks(["127.0.0.0/8", "::1/128"])
    assert urlfetch.refusal_without_lookup("http://127.1:9102/", allow) is None
