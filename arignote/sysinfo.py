"""What this machine gives Arignote: ``arignote info`` and ``arignote cache``.

``info`` answers the questions asked before reading a benchmark or filing a
bug: which versions (Arignote, Python, NumPy, llvmlite, LLVM), which CPU and
vector features the cpu backend compiles for, which BLAS the matrix products
call and with how many threads, which backends work here (each is tried on a
tiny function; one that fails says why), and where compiled kernels are
cached. ``cache clear`` removes the cached kernels, and only those.
"""
import os
import platform
import sys
import time

#: the CPU features that decide vector code, as LLVM names them
VECTOR_FEATURES = ("sse2", "sse4.1", "sse4.2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw",
                   "avx512vl", "avx512dq", "avx512bf16", "avx512fp16", "amx-tile", "neon", "sve", "sve2")


def _versions():
    import llvmlite
    import llvmlite.binding as llvm
    import numpy as np

    import arignote
    return [("arignote", arignote.__version__),
            ("Python", f"{platform.python_version()} ({platform.python_implementation()}, "
                       f"{sys.executable})"),
            ("NumPy", np.__version__),
            ("llvmlite", llvmlite.__version__),
            ("LLVM", ".".join(map(str, llvm.llvm_version_info)))]


def _cpu():
    from arignote.compiler.jit import _init
    from arignote.runtime.threads import n_threads

    state = _init()
    on = {f[1:] for f in state["features"].split(",") if f.startswith("+")}
    vector = [f for f in VECTOR_FEATURES if f in on]
    return [("platform", f"{platform.system()} {platform.machine()} ({state['triple']})"),
            ("CPU", f"{state['cpu']}, {os.cpu_count()} logical CPUs, {n_threads()} kernel threads "
                    f"(ARIGNOTE_NUM_THREADS)"),
            ("vector features", " ".join(vector) or "none of " + ", ".join(VECTOR_FEATURES))]


def blas():
    """'name version, N threads (path)' of the BLAS NumPy calls (matrix products),
    from threadpoolctl where it is installed, else from NumPy's build record."""
    import numpy as np
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        found = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if found:
            i = found[0]
            return (f"{i.get('internal_api')} {i.get('version')}, {i.get('num_threads')} threads, "
                    f"{i.get('threading_layer', '?')} ({i.get('filepath')})")
    try:
        built = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return (f"{built.get('name')} {built.get('version')} (as NumPy was built; install "
                f"threadpoolctl to see the one loaded and its threads)")
    except Exception as e:  # (older NumPy: no dicts mode)
        return f"unknown ({type(e).__name__}: {e})"


def direct_gemm():
    """Whether the cpu backend calls BLAS's gemm itself (an SGD step in one call), and whence."""
    from arignote.runtime import blas as direct
    if direct.gemm is None:
        return "no (no OpenBLAS found in NumPy, or ARIGNOTE_DIRECT_BLAS=0): products through NumPy"
    return f"yes, SGD steps as one gemm ({direct.library_path()})"


def backend_status():
    """[(name, 'ok (compiled and ran x + 1 in N ms)' | 'not usable: why')] for each
    registered backend, found by compiling and running a tiny function on it."""
    import numpy as np

    import arignote as ag
    import arignote.tensor as T
    from arignote import backends

    found = []
    for name in backends.available():
        x = T.dvector("x")
        start = time.perf_counter()
        try:
            got = ag.function([x], x + 1.0, backend=name)(np.arange(3.0))
            if not np.array_equal(got, [1.0, 2.0, 3.0]):
                raise ArithmeticError(f"x + 1 gave {got}")
            found.append((name, f"ok ({(time.perf_counter() - start) * 1e3:.0f} ms to compile and run "
                                f"x + 1)"))
        except Exception as e:  # (what the user needs is the reason, whatever it is)
            why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            found.append((name, f"not usable: {why}"))
    return found


def cache_entries(directory=None):
    """The files ``arignote cache clear`` would remove: compiled kernels (``xx/KEY.obj``)
    and temporary files of interrupted writes, nothing else."""
    from arignote.compiler import cache

    root = directory or cache.cache_dir()
    if not root.is_dir():
        return []
    return [f for sub in root.iterdir() if sub.is_dir() and len(sub.name) == 2 and not sub.is_symlink()
            for f in sub.iterdir()
            if f.is_file() and not f.is_symlink() and (f.suffix == ".obj" or f.name.startswith(".tmp-"))]


def _cache():
    from arignote.compiler import cache

    entries = cache_entries()
    size = sum(f.stat().st_size for f in entries)
    return [("cache", f"{cache.cache_dir()}: {len(entries)} kernels, {size / 2**20:.1f} MiB "
                      f"(ARIGNOTE_CACHE_DIR; `arignote cache clear` empties it)")]


def _settings():
    from arignote.config import config
    return [("config", f"floatX={config.floatX} backend={config.backend} mode={config.mode} "
                       f"fusion={config.fusion} (ARIGNOTE_FLAGS, THEANO_FLAGS)")]


def info(out=None, check_backends=True):
    """Print what this machine gives Arignote (``arignote info``) to ``out`` (stdout)."""
    out = out or sys.stdout
    rows = _versions() + _cpu() + [("BLAS", blas()), ("direct gemm", direct_gemm())] + \
        _settings() + _cache()
    width = max(len(k) for k, _ in rows) + 1
    for key, value in rows:
        print(f"{key + ':':<{width}} {value}", file=out)
    if check_backends:
        print("backends (each compiles and runs x + 1):", file=out, flush=True)
        for name, status in backend_status():
            print(f"  {name:<14} {status}", file=out, flush=True)


def clear_cache(out=None):
    """Remove every cached kernel (``arignote cache clear``); returns how many."""
    out = out or sys.stdout
    from arignote.compiler import cache

    entries = cache_entries()
    size = sum(f.stat().st_size for f in entries)
    for f in entries:
        f.unlink(missing_ok=True)
    for sub in {f.parent for f in entries}:
        try:
            sub.rmdir()  # (only if now empty)
        except OSError:
            pass
    print(f"removed {len(entries)} cached kernels ({size / 2**20:.1f} MiB) from {cache.cache_dir()}",
          file=out)
    return len(entries)


def add_commands(parser, sub):
    """``arignote --version``, ``arignote info`` and ``arignote cache [clear]``."""
    import arignote

    parser.add_argument("--version", action="version", version=f"arignote {arignote.__version__}")
    what = sub.add_parser("info", help="versions, CPU, BLAS, backends and cache of this machine",
                          description=__doc__.split("\n\n")[1].replace("``", ""))
    what.add_argument("--no-backends", action="store_true",
                      help="skip trying each backend (faster: no compiling)")
    what.set_defaults(run=_info_command)
    cached = sub.add_parser("cache", help="show or clear the cache of compiled kernels")
    cached.add_argument("action", nargs="?", choices=["show", "clear"], default="show")
    cached.set_defaults(run=_cache_command)


def _info_command(args):
    info(check_backends=not args.no_backends)
    return 0


def _cache_command(args):
    if args.action == "clear":
        clear_cache()
    else:
        print(_cache()[0][1])
    return 0
