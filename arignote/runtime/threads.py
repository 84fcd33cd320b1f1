"""A persistent pool of worker threads for kernels that split into chunks.

A compiled kernel takes ``[start, end)`` on its outermost parallel axis and
releases the GIL while it runs (ctypes calls do), so Python threads run
chunks truly in parallel. Small calls stay on the calling thread. The chunks
depend only on the problem size, never on the number of threads, so results
are the same bit for bit whatever the machine.
"""
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

#: below this many elements of work a kernel runs on the calling thread
MIN_PARALLEL_WORK = 1 << 16
#: chunks are at least this much work, so scheduling stays cheap
MIN_CHUNK_WORK = 1 << 15
MAX_CHUNKS = 64

_lock = threading.Lock()
_pool = None


def n_threads():
    """Worker threads: ``ARIGNOTE_NUM_THREADS`` or the CPUs this process may use."""
    env = os.environ.get("ARIGNOTE_NUM_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _get_pool():
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=n_threads(), thread_name_prefix="arignote")
        return _pool


def chunks(extent, work_per_item, min_items=1):
    """Split ``range(extent)`` into ``[start, end)`` chunks by problem size alone,
    each at least ``min_items`` long (when there are that many)."""
    total = extent * max(work_per_item, 1)
    if extent <= 1 or total < MIN_PARALLEL_WORK:
        return [(0, extent)]
    n = min(MAX_CHUNKS, max(1, extent // max(min_items, 1)), max(1, total // MIN_CHUNK_WORK))
    bounds = [extent * k // n for k in range(n + 1)]
    return [(bounds[k], bounds[k + 1]) for k in range(n) if bounds[k] < bounds[k + 1]]


def parallel_for(run, extent, work_per_item, min_items=1):
    """Call ``run(start, end)`` over chunks of ``range(extent)``, in parallel when large."""
    run_parts(run, chunks(extent, work_per_item, min_items))


def run_parts(run, parts):
    """Call ``run(start, end)`` once per part, on the calling thread and the pool's
    workers. Each thread takes the next part until none is left (one task per worker,
    not one per part: a submission costs microseconds); which thread runs a part never
    changes what it computes."""
    workers = min(n_threads(), len(parts)) - 1
    if workers <= 0:
        for start, end in parts:
            run(start, end)
        return
    counter = itertools.count()  # next() on it is atomic under the GIL

    def work():
        for k in counter:
            if k >= len(parts):
                return
            run(*parts[k])

    futures = [_get_pool().submit(work) for _ in range(workers)]
    try:
        work()
    finally:
        for f in futures:
            f.result()
