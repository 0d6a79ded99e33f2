"""nlpops' HTTP/1.1 protocol (``nlpops.serve.http``) over raw sockets: what HTTP clients rely on (pipelining,
``Expect: 100-continue``, HEAD, HTTP/1.0, keep-alive) and what an attacker may send (huge heads, huge chunked
bodies, garbage, upgrades, clients that vanish): each gets a clear answer or a closed connection, and the
service keeps answering everyone else."""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import socket
import time
from collections.abc import Iterator

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serve_support import live_server, make_app

from nlpops.bundle import Bundle
from nlpops.checklist import ServingSettings
from nlpops.serve.http import MAX_HEAD_BYTES

CLASSIFY = b'{"texts": ["my card has not arrived"]}'


def _post(body: bytes = CLASSIFY, *, extra: bytes = b"", version: bytes = b"1.1") -> bytes:
    return (
        b"POST /v1/classify HTTP/" + version + b"\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n" % len(body) + extra + b"\r\n" + body
    )


def _read_response(
    sock: socket.socket, buffer: bytearray, *, head: bool = False
) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """One response from ``sock`` (``buffer`` keeps what arrived beyond it): status line, headers, body
    (none when it answers a HEAD request)."""
    while b"\r\n\r\n" not in buffer:
        _receive(sock, buffer)
    top, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    status, *lines = top.split(b"\r\n")
    assert status.startswith(b"HTTP/1.1 "), f"not a status line: {status[:100]!r}"
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(b":") for line in lines)}
    start = len(top) + 4
    end = start if head or status.split()[1] == b"100" else start + int(headers.get(b"content-length", b"0"))
    while len(buffer) < end:
        _receive(sock, buffer)
    body = bytes(buffer[start:end])
    del buffer[:end]
    return status, headers, body


def _receive(sock: socket.socket, buffer: bytearray) -> None:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError(f"closed before a whole response: {bytes(buffer[:200])!r}")
    buffer += chunk


def _closed(sock: socket.socket, within_s: float = 10) -> bool:
    """The server closed ``sock`` (EOF or reset) within ``within_s``; anything it sent first is skipped."""
    sock.settimeout(within_s)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


@pytest.fixture(scope="module")
def url(tiny_bundle: Bundle) -> Iterator[str]:
    serving = ServingSettings(max_body_bytes=4096, keep_alive_timeout_s=1.0, header_timeout_s=2.0)
    app = make_app(tiny_bundle.path, max_body_bytes=4096)
    with live_server(app, serving=serving) as base:
        yield base


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _healthy(url: str) -> bool:
    with _connect(url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = _read_response(sock, bytearray())
        return status.startswith(b"HTTP/1.1 200") and body == b'{"status":"ok"}'


def test_pipelined_requests_are_answered_in_order_on_one_connection(url: str) -> None:
    texts = [f"text number {i}" for i in range(50)]
    requests = [_post(orjson.dumps({"texts": [t], "return_scores": False})) for t in texts]
    requests.insert(25, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    with _connect(url) as sock:
        sock.sendall(b"".join(requests))  # all at once: the server must queue them and answer one by one
        buffer = bytearray()
        answers = [_read_response(sock, buffer) for _ in requests]
    assert all(status.startswith(b"HTTP/1.1 200") for status, _, _ in answers)
    assert answers[25][2] == b'{"status":"ok"}'
    classified = [orjson.loads(body) for i, (_, _, body) in enumerate(answers) if i != 25]
    assert len(classified) == 50 and all(len(doc["predictions"]) == 1 for doc in classified)


def test_pipelined_requests_in_bursts_from_a_client_that_reads_late_all_arrive(url: str) -> None:
    # large answers (the OpenAPI document) the client does not read for a while: the server's write buffer
    # fills (it stops reading and waits for the client), and each burst arrives while earlier ones are queued
    bursts, per_burst = 4, 60
    with _connect(url) as sock:
        for _ in range(bursts):
            sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * per_burst)
            time.sleep(0.05)
        time.sleep(0.5)
        buffer = bytearray()
        answers = [_read_response(sock, buffer) for _ in range(bursts * per_burst)]
    assert len(answers[0][2]) > 10_000
    assert all(status.startswith(b"HTTP/1.1 200") and body == answers[0][2] for status, _, body in answers)


def test_expect_100_continue_gets_its_interim_answer_before_the_body(url: str) -> None:
    with _connect(url) as sock:
        head, _, body = _post(extra=b"Expect: 100-continue\r\n").partition(b"\r\n\r\n")
        sock.sendall(head + b"\r\n\r\n")
        buffer = bytearray()
        status, _, _ = _read_response(sock, buffer)
        assert status == b"HTTP/1.1 100 Continue"
        sock.sendall(body)
        status, headers, answer = _read_response(sock, buffer)
    assert status.startswith(b"HTTP/1.1 200") and headers[b"content-type"] == b"application/json"
    assert orjson.loads(answer)["predictions"][0]["label"] in {"card", "money"}


def test_answers_carry_the_current_date(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        _, headers, _ = _read_response(sock, bytearray())
    sent = email.utils.parsedate_to_datetime(headers[b"date"].decode())
    assert abs((sent - datetime.datetime.now(datetime.UTC)).total_seconds()) < 120


def test_head_gets_the_headers_and_no_body(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        buffer = bytearray()
        status, headers, body = _read_response(sock, buffer, head=True)
        assert status.startswith(b"HTTP/1.1 405") and int(headers[b"content-length"]) > 0 and body == b""
        assert _read_response(sock, buffer)[2] == b'{"status":"ok"}'  # the next answer is not shifted


def test_http_1_0_without_keep_alive_is_answered_and_closed(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall(_post(version=b"1.0"))
        status, headers, _ = _read_response(sock, bytearray())
        assert status.startswith(b"HTTP/1.1 200") and headers[b"connection"] == b"close"
        assert _closed(sock)


def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        _read_response(sock, bytearray())
        started = time.monotonic()
        assert _closed(sock, within_s=10)
        assert 0.5 < time.monotonic() - started < 8


def test_a_request_head_over_the_limit_gets_431_and_the_connection_closes(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 10) + b"\r\n\r\n")
        status, _, body = _read_response(sock, bytearray())
        assert status.startswith(b"HTTP/1.1 431")
        error = orjson.loads(body)["error"]
        assert error["code"] == "request_head_too_large" and str(MAX_HEAD_BYTES) in error["message"]
        assert _closed(sock)
    assert _healthy(url)


def test_a_chunked_body_over_the_limit_gets_413_without_being_buffered(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall(
            b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"a" * 1000
        for _ in range(5):  # 5,000 bytes against a 4,096-byte limit; the client is still sending
            sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        status, headers, body = _read_response(sock, bytearray())
        assert status.startswith(b"HTTP/1.1 413") and headers[b"connection"] == b"close"
        assert "4096" in orjson.loads(body)["error"]["message"]
        assert _closed(sock)
    assert _healthy(url)


def test_an_upgrade_request_is_answered_then_the_connection_closes(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n")
        status, headers, body = _read_response(sock, bytearray())
        assert status.startswith(b"HTTP/1.1 200") and body == b'{"status":"ok"}'
        assert headers[b"connection"] == b"close" and _closed(sock)


def test_a_client_that_leaves_in_the_middle_of_its_body_harms_no_one(url: str) -> None:
    for _ in range(20):
        with _connect(url) as sock:
            sock.sendall(_post()[:-10])  # the body is 10 bytes short, then the client is gone
    assert _healthy(url)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(min_size=1, max_size=300))
def test_any_bytes_get_an_answer_or_a_closed_connection_and_the_service_stays_up(url: str, garbage: bytes) -> None:
    with _connect(url) as sock:
        sock.settimeout(5)
        try:
            sock.sendall(garbage + b"\r\n\r\n")
            received = sock.recv(65536)
        except TimeoutError:  # an unfinished request (a body still to come): the header deadline ends it
            received = b""
        except (ConnectionResetError, BrokenPipeError):
            received = b""
    assert received == b"" or received.startswith(b"HTTP/1.1 ")
    assert b"Traceback" not in received
    assert _healthy(url)


def test_malformed_http_gets_a_json_400_and_the_connection_closes(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        status, _, body = _read_response(sock, bytearray())
        error = orjson.loads(body)["error"]
        assert status.startswith(b"HTTP/1.1 400") and error["code"] == "invalid_http"
        assert error["message"].startswith("Invalid HTTP request")
        assert _closed(sock)


def test_garbage_after_a_request_closes_the_connection_once_that_request_is_answered(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall(_post() + b"NOT HTTP AT ALL\r\n\r\n")  # one packet: the request is answered first
        status, headers, body = _read_response(sock, bytearray())
        assert status.startswith(b"HTTP/1.1 200") and orjson.loads(body)["predictions"]
        assert headers[b"connection"] == b"close" and _closed(sock)


def test_a_slow_body_does_not_stop_the_keep_alive_timeout_after_its_answer(url: str) -> None:
    with _connect(url) as sock:  # header deadline 2 s: its timer fires while the request waits for its body
        head, _, body = _post().partition(b"\r\n\r\n")
        sock.sendall(head + b"\r\n\r\n")
        time.sleep(2.5)
        sock.sendall(body)
        status, _, _ = _read_response(sock, bytearray())
        assert status.startswith(b"HTTP/1.1 200")
        answered = time.monotonic()
        assert _closed(sock, within_s=10)
        assert time.monotonic() - answered < 3  # the keep-alive timeout (1 s), not never


@pytest.mark.parametrize(
    "target", [b"/healthz", b"/healthz?probe=1", b"/health%7A", b"http://x/healthz", b"/healthz#top"]
)
def test_the_route_is_found_however_the_client_spells_the_target(url: str, target: bytes) -> None:
    with _connect(url) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = _read_response(sock, bytearray())
    assert status.startswith(b"HTTP/1.1 200") and body == b'{"status":"ok"}', (target, status)


def test_a_path_that_is_not_ascii_gets_a_400(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall("GET /héalthz HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        status, _, _ = _read_response(sock, bytearray())
    assert status.split()[1] == b"400"


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_of_exactly_the_limit_is_accepted_and_one_byte_more_is_not(url: str, chunked: bool) -> None:
    limit = 4096  # the fixture's serving.max_body_bytes
    for size, expected in ((limit, b"200"), (limit + 1, b"413")):
        prefix, suffix = b'{"texts": ["', b'"]}'
        body = prefix + b"a" * (size - len(prefix) - len(suffix)) + suffix
        assert len(body) == size
        with _connect(url) as sock:
            if chunked:  # no length announced: the limit applies while the body arrives
                sock.sendall(
                    b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % size + body + b"\r\n0\r\n\r\n"
                )
            else:
                sock.sendall(_post(body))
            status, _, _ = _read_response(sock, bytearray())
        assert status.split()[1] == expected, (size, chunked, status)


def _count(url: str, route: str, status: int) -> float:
    with _connect(url) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        _, _, text = _read_response(sock, bytearray())
    wanted = f'nlpops_http_requests_total{{route="{route}",status="{status}"}} '.encode()
    return sum(float(line[len(wanted) :]) for line in text.splitlines() if line.startswith(wanted))


def test_a_request_whose_client_left_during_its_body_is_finished_and_counted(url: str) -> None:
    before = _count(url, "/v1/classify", 400)
    with _connect(url) as sock:
        sock.sendall(_post()[:-10])  # the core waits for the rest of the body
        time.sleep(0.2)
    deadline = time.monotonic() + 10
    while _count(url, "/v1/classify", 400) < before + 1:  # the core learnt the client left, and answered
        assert time.monotonic() < deadline, "the request of a client that left was never finished"
        time.sleep(0.05)


def test_the_connection_cap_holds_round_after_round_and_closed_connections_are_forgotten(
    tiny_bundle: Bundle,
) -> None:
    cap = 8
    serving = ServingSettings(max_connections=cap)
    with live_server(make_app(tiny_bundle.path), serving=serving) as base:
        for _ in range(30):  # opened and closed: none of them may keep counting against the cap
            with _connect(base) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                _read_response(sock, bytearray())
        for _round in range(2):
            with contextlib.ExitStack() as stack:
                idle = []
                for _ in range(cap + 4):
                    idle.append(stack.enter_context(_connect(base)))
                    time.sleep(0.02)  # in order: the oldest are closed first
                assert _healthy(base)  # one more connection
                closed = [_closed(sock, within_s=0.5) for sock in idle]
                assert closed == [True] * 5 + [False] * (cap - 1), closed  # exactly the oldest, down to the cap
            time.sleep(0.3)


def test_a_request_line_and_headers_sent_in_pieces_are_put_together(url: str) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + b"b" * 3000 + b"\r\n\r\n"
    with _connect(url) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(request), 7):  # the URL itself arrives in two pieces
            sock.sendall(request[start : start + 7])
            if start < 40:
                time.sleep(0.02)
        status, _, body = _read_response(sock, bytearray())
    assert status.startswith(b"HTTP/1.1 200") and body == b'{"status":"ok"}'


def test_a_url_over_the_head_limit_gets_431(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall(b"GET /" + b"a" * MAX_HEAD_BYTES + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, _ = _read_response(sock, bytearray())
    assert status.startswith(b"HTTP/1.1 431")


def test_a_connection_busy_within_the_keep_alive_window_stays_open_and_closes_after_the_last_answer(
    url: str,
) -> None:
    with _connect(url) as sock:  # keep-alive 1 s, header deadline 2 s (the fixture)
        buffer = bytearray()
        for _ in range(2):  # the first answer's keep-alive timer fires while the second answer's runs: it re-arms
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _read_response(sock, buffer)[2] == b'{"status":"ok"}'
            time.sleep(0.6)
        last = time.monotonic() - 0.6
        assert _closed(sock, within_s=10)
        assert 0.9 < time.monotonic() - last < 3
