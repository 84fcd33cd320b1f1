"""Compiling LLVM IR text to machine code for the host CPU, with llvmlite.

``compile_ir`` optimizes for the host (its CPU name and features, O3 with
loop and SLP vectorization), emits an object file, keeps it in the disk cache
(:mod:`arignote.compiler.cache`) and links it into an in-process ORC JIT; a
warm cache skips LLVM's optimizer and code generator entirely (only the
object is linked). ``compile_kernel`` renders a Kernel first and returns a
:class:`CompiledKernel`, whose ``fn`` is a ctypes function with the calling
convention of :mod:`arignote.compiler.llvm` (ctypes releases the GIL during
the call, so a thread pool can run chunks in parallel).
"""
import ctypes
import itertools
import threading

import llvmlite
import llvmlite.binding as llvm

from arignote.compiler import cache
from arignote.compiler.llvm import error_symbol, render, symbol

_lock = threading.RLock()
_state = {}
_names = itertools.count()
_memo = {}  # cache key -> CompiledKernel: one link per kernel per process

#: void (i64* shape, i8** data, i64** strides, i64 start, i64 end)
KERNEL_CFUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                ctypes.c_int64, ctypes.c_int64)


def _init():
    """The target machine and the JIT, made once per process."""
    if not _state:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        llvm.initialize_native_asmparser()
        triple = llvm.get_process_triple()
        cpu, features = llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()
        target = llvm.Target.from_triple(triple)
        tm = target.create_target_machine(cpu=cpu, features=features, opt=3, reloc="pic",
                                          codemodel="default")
        _state.update(triple=triple, cpu=cpu, features=features, tm=tm,
                      lljit=llvm.create_lljit_compiler(tm))
    return _state


def target_id():
    """Everything about the target and compiler that decides the machine code."""
    s = _init()
    return (s["triple"], s["cpu"], s["features"], f"llvmlite {llvmlite.__version__}",
            "llvm " + ".".join(map(str, llvm.llvm_version_info)))


def cache_key(ir_text):
    return cache.make_key("arignote-kernel", ir_text, *target_id())


def optimize(ir_text):
    """The module parsed, verified and optimized at O3 for the host."""
    s = _init()
    with _lock:
        mod = llvm.parse_assembly(ir_text)
        mod.triple = s["triple"]
        mod.data_layout = str(s["tm"].target_data)
        mod.verify()
        pto = llvm.create_pipeline_tuning_options(speed_level=3)
        pto.loop_vectorization = True
        pto.slp_vectorization = True
        pto.loop_interleaving = True
        pto.loop_unrolling = True
        pb = llvm.create_pass_builder(s["tm"], pto)
        pb.getModulePassManager().run(mod, pb)
        return mod


def optimized_ir(ir_text):
    """The optimized IR as text (to see what LLVM made of a kernel)."""
    return str(optimize(ir_text))


def assembly(ir_text):
    """The host assembly of the kernel."""
    with _lock:
        return _init()["tm"].emit_assembly(optimize(ir_text))


def compile_object(ir_text):
    """Object code (bytes) for the host."""
    mod = optimize(ir_text)
    with _lock:
        return _init()["tm"].emit_object(mod)


class CompiledKernel:
    """A linked kernel: ``fn`` (ctypes) and the addresses of its exported symbols.

    The JIT library stays loaded as long as this object lives."""

    def __init__(self, ir, name, tracker, addresses, cache_hit):
        self.ir, self.name = ir, name
        self._tracker = tracker
        self.addresses = addresses
        self.address = addresses[name]
        self.fn = KERNEL_CFUNC(self.address)
        self.cache_hit = cache_hit
        err = addresses.get(name + ".error")
        self.error_flag = ctypes.c_int32.from_address(err) if err else None

    def __call__(self, shape, data, strides, start, end):
        self.fn(shape, data, strides, start, end)


def link(obj, exports):
    """Load object code into the JIT: {symbol: address} and the library's tracker."""
    s = _init()
    with _lock:
        builder = llvm.JITLibraryBuilder().add_object_img(obj).add_current_process()
        for name in exports:
            builder.export_symbol(name)
        tracker = builder.link(s["lljit"], f"arignote{next(_names)}")
    return tracker, {name: tracker[name] for name in exports}


def compile_ir(ir_text, name, exports=(), use_cache=True, directory=None):
    """Compile (or fetch from the caches) ``ir_text`` and link it; returns a CompiledKernel
    for the function ``name`` (``exports`` names further symbols to look up)."""
    key = cache_key(ir_text)
    memo_key = (key, name, tuple(exports))
    if use_cache and memo_key in _memo:
        return _memo[memo_key]
    if use_cache:
        obj, hit = cache.get_or_build(key, lambda: compile_object(ir_text), directory)
    else:
        obj, hit = compile_object(ir_text), False
    tracker, addresses = link(obj, [name, *exports])
    ck = CompiledKernel(ir_text, name, tracker, addresses, hit)
    if use_cache:
        _memo[memo_key] = ck
    return ck


def compile_kernel(kernel, use_cache=True, directory=None):
    """Render, compile and link ``kernel``: a CompiledKernel (see :mod:`.launch` to call it).

    Kernels with the same IR share one CompiledKernel; a kernel's non-scalar
    constants are arguments, so they are not part of it."""
    ir_text = render(kernel)
    flag = error_symbol(kernel)
    exports = (flag,) if f"@{flag} = global" in ir_text else ()
    return compile_ir(ir_text, symbol(kernel.name), exports, use_cache, directory)


def clear_memory_cache():
    """Forget the kernels linked in this process (the disk cache stays)."""
    _memo.clear()
