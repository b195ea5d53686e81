"""A nightly batch job that times its work and pushes the result to a Prometheus Pushgateway.

Run it (the gateway from ``--gateway`` or ``$PUSHGATEWAY``, default ``127.0.0.1:9091``)::

    python example_apps/push_batch_job.py --gateway 127.0.0.1:9091 --job nightly_import --source orders

A successful run replaces the group ``job=<job>, source=<source>`` (PUT) with its
duration, record count, ``batch_job_success 1`` and ``batch_job_last_success_unixtime``.
``--fail`` makes the work raise: the job then pushes ``batch_job_success 0`` and
``batch_job_failures_total{exception=...} 1`` with POST, which keeps the last
success time of the group (alert on ``time() - batch_job_last_success_unixtime``),
and exits with status 1.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from typing import List, Optional

from pyrometer import CollectorRegistry, Counter, Gauge, push_to_gateway, pushadd_to_gateway


def do_work(fail: bool) -> int:
    """Stand-in for the real job: returns how many records it processed."""
    records = 0
    for _ in range(random.randint(50, 100)):
        records += 1
    time.sleep(0.05)
    if fail:
        raise RuntimeError("upstream export is missing")
    return records


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", default=os.environ.get("PUSHGATEWAY", "127.0.0.1:9091"))
    parser.add_argument("--job", default="nightly_import")
    parser.add_argument("--source", default="orders", help="grouping key value (source=...)")
    parser.add_argument("--fail", action="store_true", help="make the work raise (to see the failure path)")
    args = parser.parse_args(argv)

    # A fresh registry: only this job's series are pushed, not the process collectors.
    registry = CollectorRegistry()
    duration = Gauge("batch_job_duration_seconds", "Duration of the last run.", registry=registry)
    success = Gauge("batch_job_success", "1 if the last run succeeded, else 0.", registry=registry)
    records = Gauge("batch_job_records_processed", "Records the last run processed.", registry=registry)
    failures = Counter("batch_job_failures", "Runs that failed, by exception.", ["exception"], registry=registry)

    status = 0
    with duration.time():
        try:
            records.set(do_work(args.fail))
        except Exception as exc:  # report any failure, then exit non-zero
            failures.labels(type(exc).__name__).inc()
            success.set(0)
            print(f"job failed: {exc!r}", file=sys.stderr)
            status = 1
        else:
            success.set(1)
            # Only a successful run sets (and so pushes) this one; a failed run leaves the gateway's value.
            last_success = Gauge("batch_job_last_success_unixtime", "When the job last succeeded.", registry=registry)
            last_success.set_to_current_time()

    push = pushadd_to_gateway if status else push_to_gateway  # POST keeps the last success time; PUT replaces all
    push(args.gateway, job=args.job, registry=registry, grouping_key={"source": args.source})
    return status


if __name__ == "__main__":
    sys.exit(main())
