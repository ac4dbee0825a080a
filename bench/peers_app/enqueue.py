"""Enqueue N no-op tasks with one tool; prints the seconds it took (run in the peers venv)."""

from __future__ import annotations

import os
import sys
import time


def main() -> None:
    tool, count = sys.argv[1], int(sys.argv[2])
    started = time.perf_counter()
    if tool == "celery":
        from celery_app import noop

        for _ in range(count):
            noop.delay()
    elif tool == "rq":
        from redis import Redis
        from rq import Queue
        from rq_app import noop

        queue = Queue("bench", connection=Redis.from_url(os.environ["PEERS_REDIS_URL"]))
        for _ in range(count):
            queue.enqueue(noop)
    elif tool == "dramatiq":
        from dramatiq_app import noop

        for _ in range(count):
            noop.send()
    else:
        raise SystemExit(f"unknown tool {tool}")
    print(time.perf_counter() - started)


if __name__ == "__main__":
    main()
