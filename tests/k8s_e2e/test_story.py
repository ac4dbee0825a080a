"""The Helm install as users run it, end to end with no cluster: the chart rendered with
its defaults (timings shortened by values-e2e.yaml), applied to an emulated API server in
Helm's order, every Deployment's pods run as processes from the rendered commands and
environment, the real operator among them, hooks in their phase.

The story: install (pods start before MySQL and the schema and wait) -> `helm test` ->
2,000 tasks, some failing, some delayed, some long -> the operator scales the workers to
the maximum -> every task ends succeeded or dead after its retries, none lost, none run
twice -> the workers scale back to the minimum -> a worker SIGKILLed mid-task has its tasks
rescued and finished elsewhere -> `helm uninstall` in Helm's order leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any

import pymysql
import pytest
from sqlalchemy.engine import make_url

from tests.k8s_e2e import records
from tests.k8s_e2e.conftest import FULL, TENANTS, Install, until

pytestmark = [pytest.mark.k8s_e2e, pytest.mark.slow, pytest.mark.timeout(600)]

API, WORKER, OPERATOR = f"{FULL}-api", f"{FULL}-worker", f"{FULL}-operator"
MIN, MAX = 1, 4  # values-e2e.yaml
LEASE_S = 3.0


def workload(rng: random.Random) -> list[dict[str, Any]]:
    """2,000 tasks: quick ones, flaky ones (fail once), failing ones (dead after 3
    attempts), delayed ones, and long ones (twice the lease: heartbeats must hold it)."""
    kinds = [("quick", 1600), ("flaky", 150), ("failing", 100), ("delayed", 100), ("long", 50)]
    tasks = []
    for kind, count in kinds:
        for _ in range(count):
            seconds = {"long": rng.uniform(2 * LEASE_S, 2 * LEASE_S + 1)}.get(
                kind, rng.uniform(0.05, 0.15)
            )
            task: dict[str, Any] = {
                "type": "e2e.work",
                "tenant": rng.choice(TENANTS),
                "payload": {
                    "kind": kind,
                    "seconds": round(seconds, 3),
                    "fail_attempts": {"flaky": 1, "failing": 99}.get(kind, 0),
                },
                "max_attempts": 3,
            }
            if kind == "delayed":
                task["delay_s"] = round(rng.uniform(2, 8), 2)
            tasks.append(task)
    rng.shuffle(tasks)
    return tasks


def database(c: Install) -> pymysql.connections.Connection:  # type: ignore[type-arg]
    standin = c.cluster.standins[f"{FULL}-mysql"]
    url = make_url(standin.server_url)  # type: ignore[union-attr]
    return pymysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        database=standin.database,  # type: ignore[union-attr]
        autocommit=True,
    )


def task_rows(c: Install) -> dict[int, dict[str, Any]]:
    conn = database(c)
    try:
        with conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute(
                "SELECT id, state, attempt, attempt_base, payload, last_error, lease_owner"
                " FROM tasks"
            )
            return {int(r["id"]): r for r in cur.fetchall()}
    finally:
        conn.close()


async def set_min_replicas(c: Install, replicas: int) -> None:
    """``kubectl patch taskqueue``: the operator follows the spec change."""
    tq = c.cluster.get("skiplock.dev/v1alpha1", "TaskQueue", FULL)
    assert tq is not None
    await c.cluster.request(
        "PATCH", c.cluster.path(tq), {"spec": {"autoscaling": {"minReplicas": replicas}}}
    )


async def keeps_the_busy_worker(c: Install, admin: Any) -> None:
    """Two workers, one running a long task and one idle: lowering the TaskQueue's minimum
    to one removes the idle one. The operator marked each pod's deletion cost from its
    busy slots before it lowered the replicas; the ReplicaSet controller (here, the
    runner) removes the cheapest. The long task finishes where it started, once."""
    await set_min_replicas(c, 2)
    await until(lambda: c.ready(WORKER) == 2, within=60, what="two ready workers")
    task = {"type": "e2e.work", "tenant": "e2e-acme", "payload": {"kind": "busy", "seconds": 15}}
    task_id = (await admin.post("/api/tasks", json=task)).json()["id"]

    def busy_pod() -> str:
        row = task_rows(c)[task_id]
        return str(row["lease_owner"]).split(":")[0] if row["state"] == "running" else ""

    busy = await until(busy_pod, within=30, what="the long task running")

    async def reported_busy() -> bool:
        # The operator marks costs from what the workers report (GET /api/workers, sent
        # with each heartbeat); a scale-down before that report cannot know the busy pod.
        body = (await admin.get("/api/workers")).json()
        return any(i["id"].rpartition(":")[0] == busy and i["busy"] > 0 for i in body["instances"])

    await until(reported_busy, within=30, what="the busy worker's report")
    before = len(c.cluster.scale_downs)
    await set_min_replicas(c, MIN)
    await until(
        lambda: [p.name for p in c.cluster.pods_of(WORKER)] == [busy],
        within=60,
        what="only the busy worker left",
    )
    (victim, costs, _), *_ = c.cluster.scale_downs[before:]
    assert victim != busy and costs[victim] is not None and costs[busy] is not None
    assert costs[victim] < costs[busy], costs
    await until(
        lambda: task_rows(c)[task_id]["state"] == "succeeded", within=60, what="the long task"
    )
    (run,) = records.read(c.records)[task_id]
    assert run.pod == busy and run.outcome == "end"


def logs(c: Install, deployment: str) -> str:
    return "\n".join(p.process.tail(400) for p in c.cluster.pods_of(deployment) if p.process)


class Replicas:
    """Samples the worker Deployment's replicas, pods and ready pods (on the wall clock, to
    compare with the handler records) while the story runs."""

    def __init__(self, c: Install) -> None:
        self.c = c
        self.samples: list[tuple[float, int, int, int]] = []
        self.task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            pods = len(self.c.cluster.pods_of(WORKER))
            self.samples.append((time.time(), self.c.replicas(WORKER), pods, self.c.ready(WORKER)))
            await asyncio.sleep(0.1)

    def first(self, since: float, ok: Any) -> float:
        """Seconds from ``since`` to the first sample where ``ok(replicas, pods, ready)``."""
        for at, replicas, pods, ready in self.samples:
            if at >= since and ok(replicas, pods, ready):
                return round(at - since, 1)
        failed = self.task.exception() if self.task.done() else None
        raise AssertionError(f"no such sample in {self.samples[-5:]} ({failed!r})")


async def test_the_rendered_chart_scales_with_the_queue_loses_nothing_and_uninstalls_cleanly(
    installed_chart: Install,
) -> None:
    c = installed_chart
    report: dict[str, Any] = {}

    # --- install ------------------------------------------------------------------------
    started = time.monotonic()
    await c.install()
    await c.api_up()
    await until(lambda: c.ready(WORKER) >= MIN, within=60, what="a ready worker")

    def condition(kind: str) -> dict[str, Any]:
        tq = c.cluster.get("skiplock.dev/v1alpha1", "TaskQueue", FULL) or {}
        found = [x for x in tq.get("status", {}).get("conditions", []) if x["type"] == kind]
        return found[0] if found else {}

    # The TaskQueue's tenants do not exist yet: the operator says so and changes nothing.
    await until(
        lambda: condition("Ready").get("reason") == "TenantNotFound",
        within=60,
        what="the TaskQueue reporting its missing tenants",
    )
    async with c.client() as admin:
        for name in TENANTS:  # what `skiplock tenant create` in an api pod does
            created = await admin.post("/api/tenants", json={"name": name})
            assert created.status_code == 201, created.text
    await until(
        lambda: condition("Ready").get("status") == "True", within=60, what="the TaskQueue Ready"
    )
    report["install_s"] = round(time.monotonic() - started, 1)
    assert not c.cluster.failures
    # The engine pods started before MySQL answered and before the schema existed, waited
    # (saying so) instead of failing, and became ready only after the migration Job.
    api_log = logs(c, API)
    assert "waiting for MySQL at rel-skiplock-mysql:3306" in api_log
    assert "Traceback" not in api_log + logs(c, WORKER)
    ((hook, migrating_from, _),) = c.hook_runs
    assert hook == f"post-install/{FULL}-migrate"
    for pod in c.cluster.pods_of(API):
        # Ready only once the Job had written the schema: after the Job started. (Its end
        # is when Helm saw it complete, which a readiness probe may beat by a moment; and
        # the Deployment controller may create a pod just after the Job starts, so when
        # the pod was created is not ordered against the Job either.)
        assert pod.probing and pod.probing.ready_since
        assert pod.probing.ready_since > migrating_from

    code, test_log = await c.helm_test()
    assert code == 0, test_log
    assert "ok: 1 task(s) ran" in test_log

    # --- the operator applied the TaskQueue's tenant settings ------------------------
    async with c.client() as admin:

        async def tenants_applied() -> bool:
            names = {t["name"]: t for t in (await admin.get("/api/tenants")).json()["items"]}
            return all(n in names for n in TENANTS) and names["e2e-acme"]["weight"] == 2

        await until(tenants_applied, within=30, what="the TaskQueue's tenant weights applied")

        # --- 2,000 tasks --------------------------------------------------------------
        tasks = workload(random.Random(20261203))
        sampler = Replicas(c)
        submitted_wall, submitted_at = time.time(), time.monotonic()
        ids: list[int] = []
        for start in range(0, len(tasks), 200):
            response = await admin.post(
                "/api/tasks/batch", json={"tasks": tasks[start : start + 200]}
            )
            assert response.status_code == 201, response.text
            ids += [t["id"] for t in response.json()["items"]]
        assert len(set(ids)) == 2000
        kinds = {i: t["payload"]["kind"] for i, t in zip(ids, tasks, strict=True)}

        await until(
            lambda: c.replicas(WORKER) == MAX, within=60, what=f"{MAX} worker replicas", every=0.1
        )
        report["scale_up_to_max_replicas_s"] = round(time.time() - submitted_wall, 1)
        await until(
            lambda: c.ready(WORKER) == MAX, within=60, what=f"{MAX} ready workers", every=0.1
        )
        report["scale_up_to_max_ready_s"] = round(time.time() - submitted_wall, 1)

        def all_finished() -> bool:
            rows = task_rows(c)
            return all(rows[i]["state"] in ("succeeded", "dead") for i in ids)

        await until(all_finished, within=240, what="every task succeeded or dead", every=1.0)
        report["all_2000_finished_s"] = round(time.monotonic() - submitted_at, 1)

        rows = task_rows(c)
        outcomes = Counter(
            (kinds[i], rows[i]["state"], rows[i]["attempt"] - rows[i]["attempt_base"]) for i in ids
        )
        assert outcomes == {
            ("quick", "succeeded", 1): 1600,
            ("flaky", "succeeded", 2): 150,
            ("failing", "dead", 3): 100,
            ("delayed", "succeeded", 1): 100,
            ("long", "succeeded", 1): 50,
        }, outcomes
        runs = records.read(c.records)
        assert records.completed_twice(runs) == []
        assert records.overlapping(runs, died={}) == []
        last_finished = max(r.ended or 0.0 for rs in runs.values() for r in rs)
        report["slot_utilisation_at_max"] = records.utilisation(runs, slots=MAX * 4)
        assert {t for t in ids if any(r.outcome == "end" for r in runs.get(t, []))} == {
            i for i in ids if rows[i]["state"] == "succeeded"
        }
        report["tasks_lost"] = sum(1 for i in ids if rows[i]["state"] not in ("succeeded", "dead"))
        report["tasks_run_twice"] = len(records.completed_twice(runs))
        assert max(r for _, r, _, _ in sampler.samples) == MAX  # never past the maximum

        # --- back to the minimum --------------------------------------------------------
        await until(lambda: c.replicas(WORKER) == MIN, within=60, what=f"{MIN} worker replica")
        await until(
            lambda: len(c.cluster.pods_of(WORKER)) == MIN,
            within=60,
            what="surplus workers gone",
            every=0.1,
        )
        # Counted from the moment the last of the 2,000 finished (the handler records).
        report["scale_down_surplus_pods_gone_s"] = round(time.time() - last_finished, 1)
        sampler.task.cancel()
        report["scale_down_to_min_replicas_s"] = sampler.first(
            last_finished, lambda r, _p, _ready: r == MIN
        )
        # Every removed worker that had started drained and exited 0. (One the operator
        # added and removed while it was still importing Python dies of the SIGTERM, as
        # such a pod does in a cluster: it had nothing to drain.)
        drained = {
            name: code
            for name, code in c.cluster.stopped.items()
            if name.startswith(WORKER) and " started (roles:" in c.cluster.log_of(name)
        }
        assert drained and set(drained.values()) == {0}, drained
        # The operator marked idle workers the cheapest to delete (pod-deletion-cost from
        # their busy slots), and those went first.
        assert c.cluster.scale_downs
        report["scale_downs"] = [
            f"{v[-5:]}:{costs[v]} of {sorted((c or 0) for c in costs.values())}"
            + (" (unready)" if v in unready else "")
            for v, costs, unready in c.cluster.scale_downs
        ]
        report["worker_restarts"] = sum(p.restarts for p in c.cluster.pods_of(WORKER))
        taken: set[str] = set()  # victims already chosen in the same scale-down
        for i, (victim, costs, unready) in enumerate(c.cluster.scale_downs):
            assert None not in costs.values(), costs  # every worker was marked
            if i == 0 or costs is not c.cluster.scale_downs[i - 1][1]:
                taken = set()  # one scale-down shares one snapshot of the costs
            # An unready pod goes first; among the ready ones left, the cheapest.
            if victim not in unready:
                left = [cost or 0 for name, cost in costs.items() if name not in unready | taken]
                assert costs[victim] == min(left), (victim, costs, unready, taken)
            taken.add(victim)

        # --- a worker killed mid-task ---------------------------------------------------
        long_task = {
            "type": "e2e.work",
            "tenant": "e2e-acme",
            "payload": {"kind": "kill", "seconds": 8},
        }
        response = await admin.post("/api/tasks/batch", json={"tasks": [long_task] * 4})
        victims_ids = [t["id"] for t in response.json()["items"]]
        (worker,) = c.cluster.pods_of(WORKER)

        def running_on_worker() -> bool:
            r = task_rows(c)
            return all(r[i]["state"] == "running" for i in victims_ids)

        await until(running_on_worker, within=30, what="the four tasks running")
        killed_at = time.time()
        await c.cluster.kill_pod(worker.name)

        def rescued_and_done() -> bool:
            r = task_rows(c)
            return all(r[i]["state"] == "succeeded" for i in victims_ids)

        await until(
            rescued_and_done,
            within=90,
            what="the killed worker's tasks finished elsewhere",
            every=0.5,
        )
        runs = records.read(c.records)
        for task_id in victims_ids:
            first, second = runs[task_id][0], runs[task_id][-1]
            assert first.pod == worker.name and first.ended is None  # died with the pod
            assert second.pod != worker.name and second.outcome == "end"
        rows = task_rows(c)
        assert all(
            "lease expired" in (rows[i]["last_error"] or "") or rows[i]["attempt"] == 2
            for i in victims_ids
        )
        assert records.overlapping(runs, died={worker.name: killed_at}) == []
        assert records.completed_twice(runs) == []
        report["rescued_after_kill_s"] = round(
            max(runs[i][-1].started for i in victims_ids) - killed_at, 1
        )

        # --- a scale-down keeps the busy worker ---------------------------------------
        await keeps_the_busy_worker(c, admin)

    assert c.cluster.api.refusals == [], "the operator's Role is missing a permission"

    print("k8s e2e report:", report)

    # --- helm uninstall -----------------------------------------------------------------
    uninstall_at = time.monotonic()
    running = [p.name for p in c.cluster.pods.values()]
    await c.uninstall()
    await until(lambda: not c.cluster.pods, within=60, what="every pod stopped")
    report["uninstall_pods_s"] = round(time.monotonic() - uninstall_at, 1)
    # Every pod stopped on SIGTERM, within its grace period, though MySQL and Redis (whose
    # StatefulSets Helm deletes before the Deployments) were already going away.
    assert {name: c.cluster.stopped[name] for name in running} == dict.fromkeys(running, 0)
    # Helm deletes the TaskQueue last, after the operator and its Role: it must not wait
    # on a finalizer nobody is left to remove.
    await until(
        lambda: c.cluster.get("skiplock.dev/v1alpha1", "TaskQueue", FULL) is None,
        within=30,
        what="the TaskQueue deleted",
    )
    report["uninstall_s"] = round(time.monotonic() - uninstall_at, 1)
    left = sorted(
        f"{o['kind']}/{o['metadata']['name']}"
        for kind in (
            "Deployment",
            "Service",
            "ConfigMap",
            "Secret",
            "Role",
            "RoleBinding",
            "ServiceAccount",
            "StatefulSet",
            "PodDisruptionBudget",
            "Job",
            "Pod",
            "TaskQueue",
        )
        for o in c.cluster.live(kind)
    )
    assert left == [f"Secret/{FULL}", f"Secret/{FULL}-keys"]  # resource-policy: keep
    print("k8s e2e report:", report)
