"""The thread pools for kernels that split into chunks.

A compiled kernel takes ``[start, end)`` on its outermost parallel axis, so
threads can run its chunks truly in parallel. On Linux a prepared kernel
call runs on the :class:`NativePool`: workers that wait in native code
(:mod:`arignote.compiler.pool_ir`), a dispatch being one ctypes call with no
Python between the caller and the workers (a ``ThreadPoolExecutor`` costs
tens of microseconds per dispatch, more than a medium kernel's run).
Elsewhere, and for Python callables (``parallel_for``), a Python pool runs
them: ctypes calls release the GIL. Small calls stay on the calling thread.
The chunks depend only on the problem size, never on the number of threads
or on which pool runs them, so results are the same bit for bit whatever the
machine.
"""
import atexit
import ctypes
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from arignote.compiler import pool_ir
from arignote.compiler.jit import KERNEL_CFUNC, helper_function

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


def chunks(extent, work_per_item, min_items=1, align=1):
    """Split ``range(extent)`` into ``[start, end)`` chunks by problem size alone,
    each at least ``min_items`` long (when there are that many), every bound but the
    last a multiple of ``align``."""
    total = extent * max(work_per_item, 1)
    if extent <= 1 or total < MIN_PARALLEL_WORK:
        return [(0, extent)]
    n = min(MAX_CHUNKS, max(1, extent // max(min_items, align, 1)), max(1, total // MIN_CHUNK_WORK))
    bounds = [extent * k // n // align * align for k in range(n)] + [extent]
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


#: rounds a caller waiting for the last chunks, or an idle worker, spins before it
#: sleeps: about 12 us (a pause is 24 ns on the EPYC measured), so back-to-back kernels
#: find the workers awake while a BLAS call in between gets the cores back
SPIN = 1 << 9
#: the chunk bounds kept, by (extent, work per item, least items per chunk)
_MAX_BOUNDS = 256
_bounds = {}
_native = []  # [the NativePool] once made ([None]: none here)


def chunk_bounds(extent, work_per_item, min_items=1, align=1):
    """``chunks`` as ``(int64 array of the n + 1 bounds, its address, n)``, memoized
    (a caller holds the array as long as it uses the address)."""
    key = (extent, work_per_item, min_items, align)
    got = _bounds.get(key)
    if got is None:
        parts = chunks(extent, work_per_item, min_items, align)
        array = (ctypes.c_int64 * (len(parts) + 1))(*[a for a, _ in parts], parts[-1][1])
        if len(_bounds) >= _MAX_BOUNDS:
            _bounds.clear()
        got = _bounds[key] = (array, ctypes.addressof(array), len(parts))
    return got


class NativePool:
    """``n_threads() - 1`` workers waiting in native code for the jobs :meth:`run`
    publishes (see :mod:`arignote.compiler.pool_ir`); the caller takes chunks too."""

    def __init__(self, run, worker, workers):
        self.memory = (ctypes.c_int64 * pool_ir.POOL_WORDS)()
        self.address = ctypes.addressof(self.memory)
        self.memory[pool_ir.FIELDS["spin"]] = SPIN
        self._run = run
        #: the dispatch's native address (the call sequence calls it)
        self.run_address = ctypes.cast(run, ctypes.c_void_p).value
        self.threads = [threading.Thread(target=worker, args=(self.address,), daemon=True,
                                         name=f"arignote-pool-{k}") for k in range(workers)]
        for t in self.threads:
            t.start()

    def run(self, fn, args, bounds, n):
        """Run kernel ``fn`` (its native address) on packed ``args`` (shape, data, strides)
        in the ``n`` chunks of the bounds at address ``bounds``."""
        self._run(self.address, fn, *args, bounds, n)

    def close(self):
        """Stop the workers (they return from native code and end)."""
        self.memory[pool_ir.FIELDS["shutdown"]] = 1
        self._run(self.address, None, None, None, None, None, 0)  # (a job of no chunks wakes them)
        for t in self.threads:
            t.join(timeout=1.0)


def native_pool():
    """The process's :class:`NativePool`, started on first use; None where there is
    none (no futex, or its code could not be compiled)."""
    if _native:
        return _native[0]
    with _lock:
        if not _native:
            _native.append(_start_native())
    return _native[0]


def _start_native():
    if pool_ir.futex_number() is None:
        return None
    p = ctypes.c_void_p
    # O0: control flow around atomics and futexes, which optimizing does not speed up,
    # compiled in 6 ms instead of 30 at a process's first parallel call
    run = helper_function(lambda: pool_ir.pool_ir(pool_ir.RUN), pool_ir.RUN,
                          None, p, p, p, p, p, p, ctypes.c_int64, level=0)
    worker = helper_function(lambda: pool_ir.pool_ir(pool_ir.WORKER), pool_ir.WORKER, None, p, level=0)
    if run is None or worker is None:
        return None
    pool = NativePool(run, worker, n_threads() - 1)
    atexit.register(pool.close)
    return pool


def _forget_after_fork():  # a forked child has none of the pools' threads
    global _lock, _pool
    _lock, _pool = threading.Lock(), None
    _native.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


class KernelRunner:
    """``runner(call)``: a prepared kernel call (:class:`~arignote.compiler.launch.Call`)
    run in chunks of its outermost parallel axis, each at least ``min_items`` long, on
    the native pool (the Python pool where there is none); one chunk runs right here.

    A row kernel walking short rows in tiles (``row_tile`` rows; short: at most
    ``short_work`` work per row, its passes counted) is cut at multiples of the tile:
    the rows of a chunk's partial tile run one by one, in another order of each row's
    sum than a tile's, so unaligned chunks would give bits that depend on the threads."""

    def __init__(self, min_items=1, row_tile=0, short_work=0):
        self.min_items, self.row_tile, self.short_work = min_items, row_tile, short_work
        if pool_ir.futex_number() is None:  # (no native split: calls go the general way)
            self.split = None

    def _bounds(self, end, work):
        per_item = max(work, 1) // max(end, 1)
        align = self.row_tile if self.row_tile and per_item <= self.short_work else 1
        return chunk_bounds(end, per_item, self.min_items, align)

    def bounds(self, call):
        """``chunk_bounds`` of ``call``: its work, per item of the chunked axis."""
        return self._bounds(call.end, call.work)

    def __call__(self, call):
        array, address, n = self.bounds(call)
        if n == 1:
            call.fn(*call.args, 0, call.end)
            return
        pool = native_pool()
        if pool is None or call.address is None:
            run_parts(call.run, [(array[k], array[k + 1]) for k in range(n)])
        else:
            pool.run(call.address, call.args, address, n)

    def split(self, fn, shape, data, strides, end, work):
        """Run kernel ``fn`` (its native address) on packed arguments (their addresses)
        over ``[0, end)`` in chunks of ``work`` (a launcher's fast runner calls this);
        on the calling thread where the native pool could not be had."""
        array, address, n = self._bounds(end, work)
        pool = native_pool()
        if pool is None:  # pragma: no cover - (its code failed to compile)
            KERNEL_CFUNC(fn)(shape, data, strides, 0, end)
        else:
            pool.run(fn, (shape, data, strides), address, n)

    def native_job(self, call):
        """``call`` as a native dispatch: (the pool's dispatch address, the pool's
        address, bounds array, its address, chunks), None where there is no native pool."""
        pool = native_pool()
        if pool is None or call.address is None:
            return None
        return (pool.run_address, pool.address, *self.bounds(call))
