"""The emulated cluster's DNS, for processes the end-to-end runner starts.

Imported at interpreter start (this directory is on their PYTHONPATH), it makes
``socket.getaddrinfo`` answer Service names from the JSON file named by
``SKIPLOCK_E2E_DNS_FILE``: ``{"name:port": "ip:port"}`` (the Service's proxy). The file
is read again whenever it changes, so a Service created after a process started resolves
as it would through cluster DNS. Every client here resolves through ``getaddrinfo``
(PyMySQL, redis-py, aiohttp's default resolver, httpx/anyio) and connects to the address
it returns, port included. Other names resolve as usual."""

import json
import os
import socket

_PATH = os.environ.get("SKIPLOCK_E2E_DNS_FILE", "")

if _PATH:
    _system_getaddrinfo = socket.getaddrinfo
    _cache = {"mtime": -1.0, "entries": {}}

    def _entries():  # type: ignore[no-untyped-def]
        try:
            mtime = os.stat(_PATH).st_mtime
        except OSError:
            return {}
        if mtime != _cache["mtime"]:
            with open(_PATH, encoding="utf-8") as handle:
                _cache["entries"] = json.load(handle)
            _cache["mtime"] = mtime
        return _cache["entries"]

    def _getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        name = host.decode() if isinstance(host, bytes) else host
        target = _entries().get(f"{str(name).rstrip('.')}:{port}")
        if target is not None:
            ip, _, mapped = target.rpartition(":")
            return _system_getaddrinfo(ip, int(mapped), *args, **kwargs)
        return _system_getaddrinfo(host, port, *args, **kwargs)

    socket.getaddrinfo = _getaddrinfo
