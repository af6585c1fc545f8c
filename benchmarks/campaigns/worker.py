"""``cultiveat worker`` with the job lease shortened (benchmark only).

The core requeues a job whose worker died once its lease (300 s) expires; the benchmark
kills a worker on purpose and would otherwise wait five minutes for the recovery, so the
lease is set from ``BENCH_LEASE_SECONDS`` here. Nothing else differs from the real command.
"""

import os
import sys

import cultiveat_core.jobs.queue as queue

queue.LEASE_SECONDS = float(os.environ.get("BENCH_LEASE_SECONDS", "300"))

from cultiveat_core.cli import main  # noqa: E402

sys.argv = ["cultiveat", "worker", *sys.argv[1:]]
main()
