"""Compiling LLVM IR text to machine code for the host CPU, with llvmlite.

``compile_ir`` optimizes for the host (its CPU name and features, O2 for
kernels and O3 for helpers, with loop and SLP vectorization; level 0 also
generates code at O0, for helpers whose speed lies elsewhere), emits an object
file, keeps it in the disk cache (:mod:`arignote.compiler.cache`) and links it
into an in-process ORC JIT; a
warm cache skips LLVM's optimizer and code generator entirely (only the
object is linked). ``compile_kernel`` renders a Kernel first and returns a
:class:`CompiledKernel`, whose ``fn`` is a ctypes function with the calling
convention of :mod:`arignote.compiler.llvm` (ctypes releases the GIL during
the call, so a thread pool can run chunks in parallel).

Every thread compiles with an LLVM context and target machine of its own
(LLVM compiles concurrently only on separate ones). llvmlite serializes all
calls into LLVM with one global lock, so the two calls that take the time —
the optimization pipeline and code generation — are made through the raw
ctypes functions, which release the GIL and take no lock (llvmlite's private
``_cfn``, through :mod:`arignote.compiler.unsafe`; with
``ARIGNOTE_SAFE_CALLS=1`` they take the lock and threads compile in turn). Two ways use the
compile pool: ``prefetch(kernels)`` starts compiling all the kernels a
Program will ask for and returns at once (each later ``compile_kernel``
waits for its own kernel only), and inside ``with batch():``
``compile_kernel`` returns a kernel still compiling, linked at the block's
end. Otherwise, and for cache hits, everything happens in the caller. The
object code is the same either way.

Native code goes when nothing refers to it. A kernel compiled twice in one
process is linked once: the memo finds it while anything (a Function's
Program) still holds it, and keeps the last few asked for alive besides, so
compiling a graph, dropping it and compiling it again stays free. Each
library's resource tracker unloads its code when its CompiledKernel is
collected; ORC keeps the library's shell (its name and symbol tables, about
9 KB) until its engine goes, so libraries are linked into a new engine every
64, and an engine goes with the last of its libraries (each tracker holds
its engine). A process compiling graph after graph (a hyper-parameter
search) thus stays flat, but for LLVM's optimizer: llvmlite never frees the
instrumentation callbacks of each PassBuilder (about 90 KB per kernel
compiled, not linked, in llvmlite 0.50), which only the disk cache spares.
"""
import contextlib
import ctypes
import itertools
import os
import threading
import weakref
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import llvmlite
import llvmlite.binding as llvm
from llvmlite.binding import ffi

from arignote.compiler import cache
from arignote.compiler.llvm import error_symbol, render, symbol
from arignote.compiler.unsafe import unlocked

_lock = threading.RLock()
_state = {}
_names = itertools.count()
_memo = weakref.WeakValueDictionary()  # (cache key, name, exports) -> CompiledKernel, while held
_recent = OrderedDict()  # memo key -> the RECENT kernels asked for last, kept alive
_pending = {}  # CompiledKernel -> None: compiling on the pool, kept alive until linked
_memo_lock = threading.Lock()
RECENT = 32
_MAX_PENDING = 4096  # (kernels prefetched but never asked for are dropped beyond this)
_LIBRARIES_PER_ENGINE = 64
_local = threading.local()  # per thread: the LLVM compiler (pool threads), the open batch
_pool_lock = threading.Lock()
_pool = []

#: void (i64* shape, i8** data, i64** strides, i64 start, i64 end)
KERNEL_CFUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                ctypes.c_int64, ctypes.c_int64)


def _init():
    """The target machine and the JIT, made once per process."""
    if not _state:
        with _lock:
            if _state:
                return _state
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            llvm.initialize_native_asmparser()
            triple = llvm.get_process_triple()
            cpu, features = llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()
            tm = _target_machine(triple, cpu, features)
            _state.update(triple=triple, cpu=cpu, features=features, tm=tm,
                          data_layout=str(tm.target_data), lljit=None, linked=0)
    return _state


def _engine():
    """The ORC JIT to link the next library into (under ``_lock``): a new one every
    ``_LIBRARIES_PER_ENGINE`` libraries, so that engines, and the library shells
    ORC keeps until its engine goes, do not pile up (see the module's docstring)."""
    s = _init()
    if s["linked"] % _LIBRARIES_PER_ENGINE == 0:
        s["lljit"] = llvm.create_lljit_compiler(s["tm"])
    s["linked"] += 1
    return s["lljit"]


def _target_machine(triple, cpu, features, opt=3):
    return llvm.Target.from_triple(triple).create_target_machine(
        cpu=cpu, features=features, opt=opt, reloc="pic", codemodel="default")


def target_id():
    """Everything about the target and compiler that decides the machine code."""
    s = _init()
    return (s["triple"], s["cpu"], s["features"], f"llvmlite {llvmlite.__version__}",
            "llvm " + ".".join(map(str, llvm.llvm_version_info)))


#: the optimization level of kernels: O2 runs W1-W10 of ``make bench`` as fast as O3 did
#: (within the machine's noise) and compiles the W4 step's kernels in 60% of the time
#: (O3 adds, among others, non-trivial loop unswitching: loop copies per invariant
#: condition). Helpers (the call sequence, the pooling loops) are compiled once: O3
KERNEL_LEVEL = 2


def cache_key(ir_text, level=3):
    return cache.make_key("arignote-kernel", ir_text, f"O{level}", *target_id())


def _pass_builder(tm, level=3):
    """(pass builder, module pass manager): O``level`` with loop and SLP vectorization."""
    pto = llvm.create_pipeline_tuning_options(speed_level=level)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pto.loop_interleaving = True
    pto.loop_unrolling = True
    pb = llvm.create_pass_builder(tm, pto)
    return pb, pb.getModulePassManager()


def _parse(ir_text, context=None):
    s = _init()
    mod = llvm.parse_assembly(ir_text, context)
    mod.triple = s["triple"]
    mod.data_layout = s["data_layout"]
    mod.verify()
    return mod


def optimize(ir_text):
    """The module parsed, verified and optimized for the host as kernels are (O2)."""
    s = _init()
    with _lock:
        mod = _parse(ir_text)
        pb, mpm = _pass_builder(s["tm"], KERNEL_LEVEL)
        mpm.run(mod, pb)
        return mod


def optimized_ir(ir_text):
    """The optimized IR as text (to see what LLVM made of a kernel)."""
    return str(optimize(ir_text))


def assembly(ir_text):
    """The host assembly of the kernel."""
    with _lock:
        return _init()["tm"].emit_assembly(optimize(ir_text))


def _unlocked(name):
    """llvmlite's ``ffi.lib.<name>`` without llvmlite's global lock (see
    :func:`arignote.compiler.unsafe.unlocked`: locked when safe)."""
    return unlocked(getattr(ffi.lib, name))


class _Compiler:
    """One thread's LLVM: a context and a target machine of its own, so threads
    compile at once (the heavy calls are made without llvmlite's lock)."""

    def __init__(self):
        s = _init()
        self.context = llvm.create_context()
        self.tm = _target_machine(s["triple"], s["cpu"], s["features"])
        self.tm0 = None  # (the O0 code generator's, made when first asked for)
        self.run_passes = _unlocked("LLVMPY_RunNewModulePassManager")
        self.emit = _unlocked("LLVMPY_TargetMachineEmitToMemory")

    def target_machine(self, level):
        """The target machine generating code at O``level``: O0 (fast instruction selection
        and register allocation, a fraction of the time) for level 0, else the full one."""
        if level:
            return self.tm
        if self.tm0 is None:
            s = _init()
            self.tm0 = _target_machine(s["triple"], s["cpu"], s["features"], opt=0)
        return self.tm0

    def object_code(self, ir_text, level=3):
        mod = _parse(ir_text, self.context)
        try:
            tm = self.target_machine(level)
            pb, mpm = _pass_builder(tm, level)
            self.run_passes(mpm, mod, pb)
            with ffi.OutputString() as err:
                buf = self.emit(tm, mod, 1, err)
                if not buf:
                    raise RuntimeError(f"LLVM code generation failed: {err}")
            try:
                return ctypes.string_at(ffi.lib.LLVMPY_GetBufferStart(buf),
                                        ffi.lib.LLVMPY_GetBufferSize(buf))
            finally:
                ffi.lib.LLVMPY_DisposeMemoryBuffer(buf)
        finally:
            mod.close()


def compile_object(ir_text, level=3):
    """Object code (bytes) for the host, compiled by this thread's LLVM at O``level``."""
    compiler = getattr(_local, "compiler", None)
    if compiler is None:
        compiler = _local.compiler = _Compiler()
    return compiler.object_code(ir_text, level)


def compile_threads():
    """How many kernels compile at once: ``$ARIGNOTE_COMPILE_THREADS``, else the
    number of cores (at most 4)."""
    env = os.environ.get("ARIGNOTE_COMPILE_THREADS", "")
    if env.isdigit():
        return max(1, int(env))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(4, cores or 1)


def _executor():
    with _pool_lock:
        if not _pool:
            _pool.append(ThreadPoolExecutor(compile_threads(), thread_name_prefix="arignote-llvm"))
        return _pool[0]


def _forget_pool_after_fork():  # a forked child has none of the pool's threads
    global _pool_lock
    _pool_lock = threading.Lock()
    _pool.clear()
    _local.__dict__.clear()


os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _build(ir_text, key, use_cache, directory, level):
    """(object code, cache hit) of a kernel the disk cache does not hold."""
    obj = compile_object(ir_text, level)
    if use_cache:
        cache.store(key, obj, directory)
    return obj, False


class _Done:
    """A finished "future": the object code is at hand."""

    def __init__(self, *result):
        self._result = result

    def result(self):
        return self._result


_LINKED = frozenset({"fn", "address", "addresses", "error_flag", "cache_hit", "_tracker"})


class CompiledKernel:
    """A linked kernel: ``fn`` (ctypes) and the addresses of its exported symbols.

    Made in a :func:`batch`, it is still compiling: reading ``fn`` (or any other
    linked attribute) waits for the compile and links it. The JIT library stays
    loaded as long as this object lives, and is unloaded when it is collected."""

    def __init__(self, ir, name, exports=(), future=None):
        self.ir, self.name, self.exports = ir, name, tuple(exports)
        #: whether the kernel has an error flag (known before it is linked, unlike error_flag)
        self.raises = name + ".error" in self.exports
        self._future = future

    def _resolve(self):
        """Wait for the object code and link it (once; later calls return at once)."""
        with _lock:
            if self._future is None:
                return
            obj, hit = self._future.result()
            tracker, addresses = link(obj, [self.name, *self.exports])
            self._tracker, self.addresses, self.cache_hit = tracker, addresses, hit
            self.address = addresses[self.name]
            self.fn = KERNEL_CFUNC(self.address)
            err = addresses.get(self.name + ".error")
            self.error_flag = ctypes.c_int32.from_address(err) if err else None
            self._future = None
        with _memo_lock:
            _pending.pop(self, None)

    def __getattr__(self, attr):  # only reached while a linked attribute is missing
        if attr in _LINKED and self.__dict__.get("_future") is not None:
            self._resolve()
            return self.__dict__[attr]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")

    def __call__(self, shape, data, strides, start, end):
        self.fn(shape, data, strides, start, end)


def link(obj, exports):
    """Load object code into the JIT: {symbol: address} and the library's tracker."""
    with _lock:
        builder = llvm.JITLibraryBuilder().add_object_img(obj).add_current_process()
        for name in exports:
            builder.export_symbol(name)
        tracker = builder.link(_engine(), f"arignote{next(_names)}")
    return tracker, {name: tracker[name] for name in exports}


@contextlib.contextmanager
def batch():
    """Compile the kernels asked for inside the block side by side: there
    ``compile_kernel`` returns a CompiledKernel still compiling; the block's end
    waits for every one and links it, and raises the first compile error.
    Nested blocks join the outermost one."""
    if getattr(_local, "batch", None) is not None:
        yield
        return
    pending = _local.batch = []
    try:
        yield
    finally:
        _local.batch = None
        _finish(pending)


def _finish(pending):
    error = None
    for ck in pending:
        try:
            ck._resolve()
        except Exception as e:  # noqa: BLE001 - every kernel is settled before raising
            _forget(ck)
            error = error or e
    if error is not None:
        raise error


def _forget(ck):
    with _memo_lock:
        for k, v in list(_memo.items()):
            if v is ck:
                del _memo[k]
                _recent.pop(k, None)
        _pending.pop(ck, None)


def _recall(memo_key):
    """The CompiledKernel remembered under ``memo_key``, or None; a found one counts
    as asked for (it joins the recent ones kept alive)."""
    with _memo_lock:
        ck = _memo.get(memo_key)
        if ck is not None:
            _keep_recent(memo_key, ck)
        return ck


def _remember(memo_key, ck, pending):
    with _memo_lock:
        _memo[memo_key] = ck
        _keep_recent(memo_key, ck)
        if pending:
            _pending[ck] = None
            if len(_pending) > _MAX_PENDING:
                done = [c for c in _pending if c.__dict__.get("_future") is None or c._future.done()]
                for c in done[:len(_pending) - _MAX_PENDING]:
                    del _pending[c]


def _keep_recent(memo_key, ck):
    _recent[memo_key] = ck
    _recent.move_to_end(memo_key)
    while len(_recent) > RECENT:
        _recent.popitem(last=False)


def _compiled(ir_text, name, exports, use_cache, directory, background, level=3):
    """The memoized CompiledKernel of ``ir_text`` at O``level``, or a new one: from the
    disk cache, or compiling (on the pool when ``background``, else right here)."""
    key = cache_key(ir_text, level)
    memo_key = (key, name, exports)
    ck = _recall(memo_key) if use_cache else None
    if ck is not None:
        return ck
    obj = cache.load(key, directory) if use_cache else None
    if obj is not None:
        job = _Done(obj, True)
    elif background:
        job = _executor().submit(_build, ir_text, key, use_cache, directory, level)
    else:
        job = _Done(*_build(ir_text, key, use_cache, directory, level))
    ck = CompiledKernel(ir_text, name, exports, job)
    if use_cache:
        _remember(memo_key, ck, pending=not isinstance(job, _Done))
    return ck


def compile_ir(ir_text, name, exports=(), use_cache=True, directory=None, level=3):
    """Compile at O``level`` (or fetch from the caches) ``ir_text`` and link it; returns a
    CompiledKernel for the function ``name`` (``exports`` names further symbols to look up)."""
    pending = getattr(_local, "batch", None)
    ck = _compiled(ir_text, name, tuple(exports), use_cache, directory, pending is not None, level)
    job = ck.__dict__.get("_future")
    if job is None:
        return ck
    if pending is not None and not isinstance(job, _Done):
        pending.append(ck)  # linked at the end of the batch
        return ck
    try:
        ck._resolve()
    except BaseException:
        _forget(ck)
        raise
    return ck


_helpers = {}  # name -> (ctypes function or None, its CompiledKernel, kept alive)


def helper_function(make_ir, name, restype, *argtypes, level=3):
    """The process's ctypes handle on a helper the runtime JITs once (the trampoline, the
    call sequence, the thread pool's loops): ``make_ir()`` compiled at O``level`` through the
    disk cache (a fresh process would otherwise wait some 50 ms for them at its first call),
    ``name`` called as ``restype(*argtypes)``; None if it cannot be had (callers then do
    without it)."""
    if name not in _helpers:
        try:
            compiled = compile_ir(make_ir(), name, level=level)
            _helpers[name] = (ctypes.CFUNCTYPE(restype, *argtypes)(compiled.address), compiled)
        except Exception:  # pragma: no cover - a helper is an optimization, never required
            _helpers[name] = (None, None)
    return _helpers[name][0]


_rendered = {}  # Kernel -> (IR text, symbol, exports): prefetch renders once for compile_kernel
# (the last 64: a larger Program renders some kernels twice, a fraction of a millisecond each)


def _source(kernel):
    """(LLVM IR text, function symbol, exported symbols) of ``kernel``."""
    try:
        done = _rendered.get(kernel)
    except TypeError:  # an unhashable kernel: rendered each time
        done, kernel_key = None, None
    else:
        kernel_key = kernel
    if done is None:
        ir_text = render(kernel)
        done = (ir_text, symbol(kernel.name), (error_symbol(kernel),) if kernel.can_raise else ())
        if kernel_key is not None:
            if len(_rendered) >= 64:
                _rendered.pop(next(iter(_rendered)))
            _rendered[kernel_key] = done
    return done


def compile_kernel(kernel, use_cache=True, directory=None):
    """Render, compile and link ``kernel``: a CompiledKernel (see :mod:`.launch` to call it).

    Kernels with the same IR share one CompiledKernel; a kernel's non-scalar
    constants are arguments, so they are not part of it."""
    ir_text, name, exports = _source(kernel)
    return compile_ir(ir_text, name, exports, use_cache, directory, KERNEL_LEVEL)


def compile_kernels(kernels, use_cache=True, directory=None):
    """``compile_kernel`` of each kernel, compiled side by side: the CompiledKernels, linked."""
    with batch():
        return [compile_kernel(k, use_cache, directory) for k in kernels]


def prefetch(kernels, directory=None):
    """Start compiling ``kernels`` side by side on the pool and return at once.

    A later ``compile_kernel`` of one of them gets its CompiledKernel as soon as
    that kernel is done (the others go on compiling meanwhile); a compile error
    shows there. Made for a Program: prefetch all its kernels, then make its steps."""
    sources = [_source(kernel) for kernel in kernels]
    for source in sorted(sources, key=lambda s: -len(s[0])):  # the longest first: the pool ends sooner
        _compiled(*source, True, directory, background=True, level=KERNEL_LEVEL)


def clear_memory_cache():
    """Forget the kernels linked in this process (the disk cache stays); each one
    is unloaded when nothing else refers to it."""
    with _memo_lock:
        _memo.clear()
        _recent.clear()
        _pending.clear()
