"""The cluster network: Service addresses and the DNS that names them.

Each ClusterIP Service port gets an address of its own (a TCP proxy on a spare loopback
port, as kube-proxy gives a Service its virtual IP). It forwards each connection to one
of the Service's ready endpoints, round robin, and listens only while there is one: a
Service with no ready endpoint refuses connections, as kube-proxy's REJECT rule does.
A terminating pod leaves the endpoints at once; the connections it already has stay.

Processes started by the runner resolve Service names through ``dns/sitecustomize.py``,
which reads the map this module keeps in a file:
``<service>[.<namespace>[.svc[.cluster.local]]]:<port>`` maps to the proxy's address.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.services import SPARE_PORTS
from tests.services import spare_port as _spare_port

Endpoint = tuple[str, int]
EndpointsOf = Callable[[], list[Endpoint]]

DNS_ENV = "SKIPLOCK_E2E_DNS_FILE"


def spare_port(host: str = "0.0.0.0") -> int:
    return _spare_port(host)


def _hold(port: int) -> socket.socket:
    """A socket bound to ``port`` but not listening: connections are refused, as by
    kube-proxy's REJECT rule, and no other socket can bind the port meanwhile."""
    sock = socket.socket()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


def _held_service_port() -> tuple[int, socket.socket]:
    # Below the ephemeral range (see tests.services), so no outgoing connection's local
    # port can take a Service's port; and the port stays bound while the Service refuses.
    for port in random.sample(SPARE_PORTS, 200):
        try:
            return port, _hold(port)
        except OSError:
            continue
    raise RuntimeError("no free Service port in 20000-32767")


@dataclass
class ServicePort:
    """One port of one Service: a listener while endpoints exist, and the forwarding."""

    endpoints: EndpointsOf
    port: int = 0  # chosen and held at construction
    server: asyncio.Server | None = None
    _held: socket.socket | None = None
    changes: list[tuple[float, str]] = field(default_factory=list)  # listening or not
    _next: itertools.count[int] = field(default_factory=itertools.count)
    _pipes: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.port:
            self._held = _hold(self.port)
        else:
            self.port, self._held = _held_service_port()

    async def sync(self) -> None:
        """Listen while there are endpoints; refuse (stop listening) while there are none."""
        if self.endpoints() and self.server is None:
            held, self._held = self._held, None
            if held is not None:  # listen on the socket that kept the port
                self.server = await asyncio.start_server(self._accept, sock=held)
            else:
                self.server = await asyncio.start_server(
                    self._accept, "127.0.0.1", self.port, reuse_address=True
                )
            self.changes.append((time.monotonic(), "open"))
        elif not self.endpoints() and self.server is not None:
            self.server.close()
            self.server = None
            with contextlib.suppress(OSError):  # keep the port while refusing
                self._held = _hold(self.port)
            self.changes.append((time.monotonic(), "closed"))

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        if self._held is not None:
            self._held.close()
            self._held = None
        for task in list(self._pipes):
            task.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        choices = self.endpoints()
        if not choices:
            writer.close()
            return
        host, port = choices[next(self._next) % len(choices)]
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        for task in (
            asyncio.create_task(_pipe(reader, up_writer)),
            asyncio.create_task(_pipe(up_reader, writer)),
        ):
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class Dns:
    """Service names to proxy addresses, in a file every process the runner starts reads."""

    def __init__(self, namespace: str, path: Path) -> None:
        self.namespace = namespace
        self.path = path
        self.entries: dict[str, str] = {}
        self._write()

    def add(self, service: str, port: int, target: int) -> None:
        for name in (
            service,
            f"{service}.{self.namespace}",
            f"{service}.{self.namespace}.svc",
            f"{service}.{self.namespace}.svc.cluster.local",
        ):
            self.entries[f"{name}:{port}"] = f"127.0.0.1:{target}"
        self._write()

    def remove(self, service: str) -> None:
        for key in [k for k in self.entries if k.split(":")[0].split(".")[0] == service]:
            del self.entries[key]
        self._write()

    def env(self) -> dict[str, str]:
        return {DNS_ENV: str(self.path)}

    def _write(self) -> None:
        # Replaced whole, so a reader never sees half a file.
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(self.entries))
        os.replace(partial, self.path)
