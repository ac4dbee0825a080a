"""The operator's own configuration, which TaskQueues cannot change: pure.

Whoever may write a TaskQueue must not be able to make the operator send the keys it can
read to a server of their choosing. So the engines the operator talks to come from its
own flags or environment (``--engine-url``, ``SKIPLOCK_OPERATOR_ENGINE_URLS``; the chart
sets the release's api Service), and a TaskQueue may only pick one of them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_CLUSTER_DOMAIN = "cluster.local"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class EngineNotAllowed(ValueError):
    """The URL a TaskQueue names is not one the operator was configured to use."""


def split_list(text: str | None) -> tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``."""
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


@dataclass(frozen=True)
class OperatorConfig:
    """What the operator is allowed to do, set by whoever deploys it."""

    # Engine base URLs the operator may send keys to; the first one is also what a
    # TaskQueue without spec.engine.url uses. Empty: no engine at all.
    engine_urls: tuple[str, ...] = ()
    # The operator's own namespace: a bare Service name like ``skiplock-api`` resolves
    # there, so it is the same engine as ``skiplock-api.<namespace>.svc``.
    own_namespace: str | None = None
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    # Namespaces whose TaskQueues the operator serves (and checks for tenant conflicts);
    # empty means every namespace.
    watch_namespaces: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for url in self.engine_urls:
            self.canonical(url)  # refuse a malformed allow-list at start, not per pass

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, watch_namespaces: Iterable[str] = ()
    ) -> OperatorConfig:
        """``SKIPLOCK_OPERATOR_ENGINE_URLS`` (comma-separated), ``SKIPLOCK_OPERATOR_NAMESPACE``
        (else ``POD_NAMESPACE``) and ``SKIPLOCK_OPERATOR_CLUSTER_DOMAIN``."""
        return cls(
            engine_urls=split_list(env.get("SKIPLOCK_OPERATOR_ENGINE_URLS")),
            own_namespace=env.get("SKIPLOCK_OPERATOR_NAMESPACE") or env.get("POD_NAMESPACE"),
            cluster_domain=env.get("SKIPLOCK_OPERATOR_CLUSTER_DOMAIN") or DEFAULT_CLUSTER_DOMAIN,
            watch_namespaces=tuple(watch_namespaces),
        )

    def canonical(self, url: str) -> str:
        """One spelling per engine: lower-case scheme and host, explicit port, no trailing
        slash, and in-cluster Service names in the ``name.namespace.svc`` form. Raises
        EngineNotAllowed for anything that is not a plain http(s) base URL."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise EngineNotAllowed(f"engine URL {url!r} is malformed: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise EngineNotAllowed(f"engine URL {url!r} must be http:// or https://")
        if parts.username is not None or parts.password is not None:
            raise EngineNotAllowed(f"engine URL {url!r} must not carry credentials")
        if parts.query or parts.fragment:
            raise EngineNotAllowed(f"engine URL {url!r} must not have a query or fragment")
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            raise EngineNotAllowed(f"engine URL {url!r} has no host")
        host = self._service_host(host)
        shown = f"[{host}]" if ":" in host else host
        path = parts.path.rstrip("/")
        return f"{scheme}://{shown}:{port or _DEFAULT_PORTS[scheme]}{path}"

    def resolve_engine(self, url: str | None) -> str:
        """The allowed URL to send requests to for a TaskQueue naming ``url`` (None: the
        default engine). The answer is always the operator's own spelling, never the
        TaskQueue's."""
        if not self.engine_urls:
            raise EngineNotAllowed(
                "the operator has no engine URL configured (--engine-url or "
                "SKIPLOCK_OPERATOR_ENGINE_URLS), so it sends no keys anywhere"
            )
        if not url:
            return self.engine_urls[0].rstrip("/")
        wanted = self.canonical(url)
        for allowed in self.engine_urls:
            if self.canonical(allowed) == wanted:
                return allowed.rstrip("/")
        raise EngineNotAllowed(
            f"engine URL {url} is not one this operator may use; allowed: "
            + ", ".join(self.engine_urls)
        )

    def _service_host(self, host: str) -> str:
        if _is_ip(host):
            return host
        if "." not in host:
            # A bare name resolves in the operator's own namespace (the pod's DNS search
            # path); without knowing it, the name is compared as written.
            return f"{host}.{self.own_namespace}.svc" if self.own_namespace else host
        suffix = f".svc.{self.cluster_domain}"
        if host.endswith(suffix):
            return host[: -len(self.cluster_domain) - 1]
        return host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
