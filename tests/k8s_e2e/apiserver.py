"""The API server of the emulated cluster: kmock's Kubernetes emulator, plus the few things
a real API server does that the chart's story depends on.

- Defaulting on create: ``uid``, ``creationTimestamp``, ``generation`` and
  ``generateName``; a Deployment without ``spec.replicas`` gets 1.
- A CustomResourceDefinition, once created, serves its resource (as the chart's
  ``crds/`` make TaskQueues exist).
- Authorization: requests carry a bearer token. ``admin`` (the test, standing in for
  Helm and kubectl) may do anything. A service account (``system:serviceaccount:NS:NAME``,
  the operator) may do what the Roles bound to it in the request's namespace allow, rule
  by rule (API group, resource and subresource, verb, resource name), and nothing once
  they are deleted, which is what ``helm uninstall`` does to the operator's Role. Every
  refusal is recorded, so a test can prove the chart's least-privilege Role suffices.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kmock

ADMIN_TOKEN = "admin"
RBAC = "rbac.authorization.k8s.io/v1"


@dataclass(frozen=True)
class Refusal:
    user: str
    verb: str
    group: str
    resource: str
    namespace: str | None
    name: str | None


def _verb(request: kmock.Request) -> str:
    action = request.action
    if action == kmock.action.FETCH:
        return "get"
    if action == kmock.action.LIST:
        return "list"
    if action == kmock.action.WATCH:
        return "watch"
    if action == kmock.action.CREATE:
        return "create"
    if action == kmock.action.DELETE:
        return "delete" if request.name else "deletecollection"
    return "patch" if str(request.method).upper().endswith("PATCH") else "update"


class ApiServer(kmock.KubernetesEmulator):
    """kmock's emulator with defaulting, CRD serving and namespaced RBAC."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.resources.load_bundled()  # the built-in kinds of a current cluster
        self.refusals: list[Refusal] = []
        self._counter = itertools.count(1)

    # --- the request path ------------------------------------------------------------

    async def _handle(self, request: kmock.Request) -> Any:
        # Discovery (no plural: /api/v1, /apis/group/version) is open to everyone, as the
        # system:discovery role makes it.
        if request.resource is not None and request.resource.plural:
            user = _bearer(request)
            refusal = self._authorize(user, request)
            if refusal is not None:
                self.refusals.append(refusal)
                raise kmock.KubernetesError(
                    status=403,
                    reason="Forbidden",
                    message=f'{user} cannot {refusal.verb} resource "{refusal.resource}" '
                    f'in API group "{refusal.group}" in namespace "{refusal.namespace}"',
                    details={"kind": refusal.resource},
                )
            if request.action == kmock.action.CREATE and isinstance(request.data, dict):
                self._default(request)
            if (
                request.action == kmock.action.UPDATE
                and request.subresource is None
                and isinstance(request.data, dict)
                and "spec" in request.data
            ):
                self._bump_generation(request)
        response = await super()._handle(request)
        if (
            request.action == kmock.action.CREATE
            and request.resource is not None
            and request.resource.plural == "customresourcedefinitions"
        ):
            self.serve_crd(request.data)
        return response

    def _default(self, request: kmock.Request) -> None:
        data: dict[str, Any] = request.data
        meta = data.setdefault("metadata", {})
        if meta.get("generateName") and not meta.get("name"):
            meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        meta.setdefault("generation", 1)
        meta["resourceVersion"] = str(next(self._counter))
        if data.get("kind") == "Deployment":
            data.setdefault("spec", {}).setdefault("replicas", 1)

    def _bump_generation(self, request: kmock.Request) -> None:
        key = (request.resource, request.namespace, request.name)
        if key in self.objects and not self.objects[key].deleted:
            current = int(self.objects[key].get("metadata", {}).get("generation", 1))
            request.data.setdefault("metadata", {})["generation"] = current + 1

    def serve_crd(self, crd: dict[str, Any]) -> None:
        """Serve the custom resource a CRD defines, as the API server does once it is
        established."""
        spec = crd["spec"]
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            key = f"{spec['group']}/{version['name']}/{spec['names']['plural']}"
            self.resources[key] = kmock.ResourceInfo(
                kind=spec["names"]["kind"],
                singular=spec["names"].get("singular"),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                verbs={"get", "list", "watch", "create", "patch", "update", "delete"},
                shortnames=set(spec["names"].get("shortNames", [])),
                subresources=set(version.get("subresources", {})),
            )

    # --- authorization -----------------------------------------------------------------

    def _authorize(self, user: str, request: kmock.Request) -> Refusal | None:
        if user == ADMIN_TOKEN:
            return None
        assert request.resource is not None
        group = request.resource.group or ""
        resource = request.resource.plural or ""
        if request.subresource:
            resource = f"{resource}/{request.subresource}"
        verb = _verb(request)
        namespace = request.namespace
        if namespace is not None and user.startswith("system:serviceaccount:"):
            for rule in self._rules_for(user, namespace):
                if _allows(rule, group=group, resource=resource, verb=verb, name=request.name):
                    return None
        return Refusal(user, verb, group, resource, namespace, request.name)

    def _rules_for(self, user: str, namespace: str) -> list[dict[str, Any]]:
        _, _, sa_namespace, sa_name = user.split(":", 3)
        rules: list[dict[str, Any]] = []
        bindings = self._live(f"{RBAC}/rolebindings", namespace)
        for binding in bindings:
            subjects = binding.get("subjects") or []
            if not any(
                s.get("kind") == "ServiceAccount"
                and s.get("name") == sa_name
                and s.get("namespace", namespace) == sa_namespace
                for s in subjects
            ):
                continue
            ref = binding["roleRef"]
            if ref.get("kind") != "Role":
                continue
            for role in self._live(f"{RBAC}/roles", namespace):
                if role["metadata"]["name"] == ref["name"]:
                    rules += role.get("rules") or []
        return rules

    def _live(self, resource: str, namespace: str) -> list[dict[str, Any]]:
        wanted = kmock.resource(resource)
        found = []
        for (res, ns, _name), obj in self.objects.items():
            if res == wanted and ns == namespace and not obj.deleted:
                found.append(obj.raw)
        return found


def _allows(
    rule: dict[str, Any], *, group: str, resource: str, verb: str, name: str | None
) -> bool:
    groups, resources, verbs = (
        rule.get("apiGroups", []),
        rule.get("resources", []),
        rule.get("verbs", []),
    )
    names = rule.get("resourceNames") or []
    return (
        (group in groups or "*" in groups)
        and (resource in resources or "*" in resources)
        and (verb in verbs or "*" in verbs)
        and (not names or name in names)
    )


def _bearer(request: kmock.Request) -> str:
    header = {k.lower(): v for k, v in request.headers.items()}.get("authorization", "")
    return header.removeprefix("Bearer ").strip() or "system:anonymous"
