"""Tools for hostile tests against real ``skiplock serve`` processes: a raw HTTP client
that sends a body as slowly or as much as it likes and stops once the server answers,
a probe that measures another request's latency meanwhile, and the process's memory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size so far (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


@dataclass
class RawAnswer:
    status: int | None
    headers: dict[str, str]
    body: bytes
    sent: int  # body bytes the server let us send before it answered
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.body)


def _read_response(sock: socket.socket, *, deadline: float) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def raw_post(
    port: int,
    path: str,
    body: Iterable[bytes],
    *,
    headers: dict[str, str] | None = None,
    content_length: int | None = None,
    timeout_s: float = 60.0,
) -> RawAnswer:
    """POST ``body`` chunk by chunk (chunked encoding unless ``content_length`` is given),
    stopping as soon as the server answers or stops reading; returns the answer and how
    much of the body went out."""
    started = time.monotonic()
    deadline = started + timeout_s
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    chunked = content_length is None
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {content_length}")
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        finished = True
        for chunk in body:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:  # the server answered (or closed) before the body was all sent
                finished = False
                break
            framed = b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk
            try:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                sock.sendall(framed)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                finished = False
                break
            sent += len(chunk)
        if finished and chunked:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(b"0\r\n\r\n")
        try:
            status, got, text = _read_response(sock, deadline=deadline)
        except (ConnectionError, TimeoutError):
            return RawAnswer(None, {}, b"", sent, time.monotonic() - started)
    return RawAnswer(status, got, text, sent, time.monotonic() - started)


def repeated(
    unit: bytes, total: int, *, head: bytes = b"", tail: bytes = b"", chunk: int = 1 << 16
) -> Iterable[bytes]:
    """``head``, whole ``unit``s, spaces, then ``tail``: exactly ``total`` bytes of valid
    JSON (when the parts are), produced as they are sent, never held whole by the test."""
    yield head
    room = total - len(head) - len(tail)
    units = room // len(unit)
    per_block = max(1, chunk // len(unit))
    while units > 0:
        n = min(per_block, units)
        units -= n
        yield unit * n
    yield b" " * (room % len(unit)) + tail


@dataclass
class LatencyProbe:
    """Calls ``path`` back to back in a thread and records each answer's latency."""

    url: str
    path: str = "/api/health"
    pause_s: float = 0.01
    headers: dict[str, str] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=60) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    r = client.get(self.path)
                    if r.status_code != 200:
                        self.failures.append(f"{r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self.latencies.append(time.monotonic() - started)
                self._stop.wait(self.pause_s)

    def __enter__(self) -> LatencyProbe:
        self._thread.start()
        self.wait_for(5)  # connected and answering before anything hostile starts
        return self

    def wait_for(self, answers: int, *, timeout_s: float = 30) -> None:
        """Until the probe has had ``answers`` more answers."""
        wanted = len(self.latencies) + answers
        deadline = time.monotonic() + timeout_s
        while len(self.latencies) < wanted:
            assert time.monotonic() < deadline, f"the {self.path} probe got no answers"
            time.sleep(0.005)

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)
        assert not self._thread.is_alive(), f"the {self.path} probe is stuck"

    @property
    def worst(self) -> float:
        return max(self.latencies, default=0.0)


class EventStream:
    """One ``GET /api/sse/events`` read in the background until the server ends it."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self._client = httpx.AsyncClient(
            base_url=url, headers=headers, timeout=httpx.Timeout(10.0, read=None)
        )
        self.status: int | None = None
        self.body: Any = None
        self.lines: list[str] = []
        self.closed_by_server = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._response: httpx.Response | None = None

    async def __aenter__(self) -> EventStream:
        request = self._client.build_request("GET", "/api/sse/events")
        self._response = await self._client.send(request, stream=True)
        self.status = self._response.status_code
        if self.status != 200:
            self.body = json.loads(await self._response.aread())
            return self
        self._reader = asyncio.create_task(self._read())
        deadline = time.monotonic() + 10
        while not any("connected" in line for line in self.lines):
            assert time.monotonic() < deadline, "no greeting on the event stream"
            await asyncio.sleep(0.01)
        return self

    async def _read(self) -> None:
        assert self._response is not None
        with contextlib.suppress(httpx.HTTPError):
            async for line in self._response.aiter_lines():
                self.lines.append(line)
        self.closed_by_server.set()

    async def ended_within(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self.closed_by_server.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def __aexit__(self, *_: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._response is not None:
            await self._response.aclose()
        await self._client.aclose()
