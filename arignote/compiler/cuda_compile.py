"""Compiling CUDA C for a GPU: NVRTC in process (``arignote[cuda]``: NVIDIA's
``cuda-bindings`` and ``nvidia-cuda-nvrtc`` wheels), else the toolkit's ``nvcc``,
to a cubin (and PTX) per architecture, through the content-addressed disk cache.

No GPU is needed to compile: ptxas (inside NVRTC) checks the code and reports
per kernel the registers, spills, stack and shared memory it uses
(:class:`Report`), which ``arignote dump --format cuda`` prints and the tests
check (no warnings, no spills in elementwise kernels: :func:`check_kernels`, which
caches each kernel's report by its own source and compiles new kernels together,
in large programs, or defers them to a directory). Options: ``--fmad=false``
(no contraction: a value has one value, as on the cpu), IEEE division and square
root, denormals kept (NVRTC's defaults).
"""
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace

from arignote.compiler import cache
from arignote.compiler import kernel as K
from arignote.compiler.cuda import DEVICE_HEADER, HEADER_NAME, batches, render, symbol, translation_unit
from arignote.errors import ArignoteError

#: the architectures every kernel is compiled for when no GPU says otherwise
ARCHS = ("sm_80", "sm_90")
OPTIONS = ("--fmad=false", "--std=c++17", "--ptxas-options=--verbose", "--ptxas-options=--warn-on-spills")


class CudaCompileError(ArignoteError, RuntimeError):
    """NVRTC or nvcc refused a kernel: the message holds its log."""


@dataclass(frozen=True)
class Report:
    """What ptxas said of one kernel for one architecture."""
    registers: int = 0
    spill_stores: int = 0
    spill_loads: int = 0
    stack: int = 0
    shared: int = 0
    warnings: tuple = ()

    def pretty(self):
        text = (f"{self.registers} registers, {self.spill_stores} bytes spill stores, "
                f"{self.spill_loads} bytes spill loads, {self.stack} bytes stack, "
                f"{self.shared} bytes shared memory")
        return text + "".join(f"\n  warning: {w}" for w in self.warnings)


@dataclass(frozen=True)
class Binary:
    """A kernel compiled for ``arch``: its cubin, PTX (None where the compiler gave none),
    the compiler's log and ptxas's :class:`Report`."""
    name: str
    arch: str
    cubin: bytes = field(repr=False)
    ptx: str = field(repr=False, default=None)
    log: str = ""
    report: Report = Report()
    cache_hit: bool = False


def _is_warning(line):
    """Whether a log line is a warning (NVRTC's closing remark on how to suppress
    warnings is none: in a unit of several kernels it would be pinned on all)."""
    return bool(re.search(r"\bwarning\b", line, re.IGNORECASE)) and not line.lstrip().startswith("Remark")


def parse_report(log, function=None):
    """The :class:`Report` in a compiler log (ptxas ``--verbose``), and its warnings
    (ptxas's and the front end's); ``function``: that kernel's, in the log of a
    translation unit of several (a warning naming no function is everyone's)."""
    if function is not None:
        sections = re.split(r"(?=ptxas info\s*: Compiling entry function ')", log)
        head = rf"ptxas info\s*: Compiling entry function '{re.escape(function)}'"
        mine = [s for s in sections if re.match(head, s)]
        warnings = [line for line in log.splitlines() if _is_warning(line)
                    and (f"'{function}'" in line or "function '" not in line)]
        return replace(parse_report(mine[0] if mine else ""), warnings=tuple(w.strip() for w in warnings))

    def num(pattern):
        m = re.search(pattern, log)
        return int(m.group(1)) if m else 0
    warnings = tuple(line.strip() for line in log.splitlines() if _is_warning(line))
    return Report(num(r"Used (\d+) registers"), num(r"(\d+) bytes spill stores"),
                  num(r"(\d+) bytes spill loads"), num(r"(\d+) bytes stack frame"),
                  num(r"(\d+) bytes smem"), warnings)


#: the variable naming the directory kernels are written to for a later check (:func:`defer`)
CHECK_DIR = "ARIGNOTE_CUDA_CHECK_DIR"
#: elementwise kernels with more outputs than this may spill (tests/compiler/test_cuda.py's
#: every-scalar-op kernels compute some 40 transcendentals at once: 255 registers are not
#: enough on sm_90); fusion makes no such kernels from user code
MANY_OUTPUTS = 8
#: ... and so may kernels holding more values than this at once (:func:`most_live`): the
#: gradient of a 1500-deep tanh chain fused into one kernel keeps 750 float64 activations
#: until the backward pass reads them; no register file holds that, and recomputing would
#: cost the square of the depth
MANY_LIVE = 128


def most_live(kernel):
    """The most values of ``kernel``'s body live at once (each from the instruction that
    defines it to its last use)."""
    last = {}
    for k, ins in enumerate(kernel.body):
        for a in K.args_of(ins):
            last[a] = k
    dying = {}
    for k in last.values():
        dying[k] = dying.get(k, 0) + 1
    live = most = 0
    for k in range(len(kernel.body)):
        live += k in last
        most = max(most, live)
        live -= dying.get(k, 0)
    return most


@dataclass(frozen=True)
class Checked:
    """What the check needs of a kernel: its CUDA C and ``extern "C"`` symbol, whether it
    is elementwise and whether it may spill (more than :data:`MANY_OUTPUTS` outputs, or
    more than :data:`MANY_LIVE` values live at once)."""
    name: str
    source: str
    symbol: str
    elementwise: bool
    may_spill: bool

    @classmethod
    def of(cls, kernel):
        return cls(kernel.name, render(kernel), symbol(kernel.name), not kernel.reduce_axes,
                   len(kernel.outputs) > MANY_OUTPUTS or most_live(kernel) > MANY_LIVE)


def problems(kernel, report):
    """What is wrong in ``report`` (of ``kernel``, or its :class:`Checked`) for a GPU:
    ptxas's and the front end's warnings, and spills in an elementwise kernel (they would
    cost a memory-bound kernel its bandwidth). Empty when all is well."""
    if not isinstance(kernel, Checked):
        kernel = Checked.of(kernel)
    found = [w for w in report.warnings if not (kernel.may_spill and "spilled" in w)]
    if kernel.elementwise and not kernel.may_spill and (report.spill_stores or report.spill_loads):
        found.append(f"spills in an elementwise kernel: {report.pretty()}")
    return found


@functools.cache
def nvrtc_available():
    """Whether NVRTC can be loaded (the ``cuda`` extra is installed)."""
    try:
        from cuda.bindings import nvrtc
        err, *_ = nvrtc.nvrtcVersion()
        return int(err) == 0
    except Exception:  # (ImportError, or a wheel without its library)
        return False


def compiler_version():
    """Which compiler :func:`compile_source` uses, for cache keys (None: none found)."""
    if nvrtc_available():
        from cuda.bindings import nvrtc
        _, major, minor = nvrtc.nvrtcVersion()
        return f"nvrtc {major}.{minor}"
    nvcc = shutil.which("nvcc")
    if nvcc:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
        return "nvcc " + out.strip().splitlines()[-1]
    return None


def _nvrtc(source, name, arch):
    from cuda.bindings import nvrtc

    def ok(result, what):
        err, *rest = result
        if int(err) != 0:
            raise CudaCompileError(f"{name}: NVRTC {what} failed: {err}")
        return rest[0] if len(rest) == 1 else rest

    prog = ok(nvrtc.nvrtcCreateProgram(source.encode(), f"{name}.cu".encode(), 1,
                                       [DEVICE_HEADER.encode()], [HEADER_NAME.encode()]), "create")
    try:
        opts = [o.encode() for o in (f"--gpu-architecture={arch}", *OPTIONS)]
        (err,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        size = ok(nvrtc.nvrtcGetProgramLogSize(prog), "log size")
        log = b" " * size
        nvrtc.nvrtcGetProgramLog(prog, log)
        log = log.rstrip(b"\0 ").decode(errors="replace")
        if int(err) != 0:
            raise CudaCompileError(f"{name}: NVRTC could not compile it for {arch}:\n{log}")
        size = ok(nvrtc.nvrtcGetCUBINSize(prog), "cubin size")
        cubin = b" " * size
        nvrtc.nvrtcGetCUBIN(prog, cubin)
        ptx = None
        err, size = nvrtc.nvrtcGetPTXSize(prog)
        if int(err) == 0 and size > 1:
            buf = b" " * size
            nvrtc.nvrtcGetPTX(prog, buf)
            ptx = buf.rstrip(b"\0").decode()
        return cubin, ptx, log
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def _nvcc(source, name, arch):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        raise CudaCompileError(f"{name}: no CUDA compiler: install arignote[cuda] (NVRTC) or the "
                               "CUDA toolkit (nvcc)")
    with tempfile.TemporaryDirectory(prefix="arignote-nvcc-") as where:
        with open(os.path.join(where, HEADER_NAME), "w") as f:
            f.write(DEVICE_HEADER)
        src = os.path.join(where, "k.cu")
        with open(src, "w") as f:
            f.write(source)
        out = os.path.join(where, "k.cubin")
        flags = ["--fmad=false", "-std=c++17", "-Xptxas", "--verbose,--warn-on-spills"]
        run = subprocess.run([nvcc, "--cubin", f"-arch={arch}", *flags, "-o", out, src],
                             capture_output=True, text=True)
        if run.returncode:
            raise CudaCompileError(f"{name}: nvcc could not compile it for {arch}:\n{run.stderr}")
        with open(out, "rb") as f:
            return f.read(), None, run.stdout + run.stderr


def compile_source(source, name, arch):
    """``source`` (CUDA C from :func:`~arignote.compiler.cuda.render`) compiled for
    ``arch``: a :class:`Binary`, from the disk cache when it was compiled before."""
    version = compiler_version()
    key = cache.make_key("cuda", source, DEVICE_HEADER, arch, OPTIONS, version)
    build = _nvrtc if version and version.startswith("nvrtc") else _nvcc

    def make():
        cubin, ptx, log = build(source, name, arch)
        ptx = (ptx or "").encode()
        return json.dumps({"log": log, "ptx": len(ptx)}).encode() + b"\n" + ptx + cubin

    payload, hit = cache.get_or_build(key, make)
    head, rest = payload.split(b"\n", 1)
    meta = json.loads(head)
    ptx, cubin = rest[:meta["ptx"]], rest[meta["ptx"]:]
    return Binary(name, arch, cubin, ptx.decode() or None, meta["log"], parse_report(meta["log"]), hit)


def compile_kernels(kernels, archs=ARCHS):
    """``[{arch: Binary}]`` of ``kernels`` rendered as CUDA C, compiled together (one
    compiler run per architecture and :func:`~arignote.compiler.cuda.batches` group):
    each :class:`Binary` holds its group's cubin (every kernel of the group, by its
    ``extern "C"`` name) and its own kernel's :class:`Report`."""
    sources = [render(k) for k in kernels]
    named = list(dict.fromkeys((s, symbol(k.name)) for s, k in zip(sources, kernels)))
    done = {}
    for group in batches(named):
        unit = translation_unit(group)
        for arch in archs:
            binary = compile_source(unit, group[0][1], arch)
            for item in group:
                done[item, arch] = replace(binary, name=item[1], report=parse_report(binary.log, item[1]))
    return [{arch: done[(s, symbol(k.name)), arch] for arch in archs} for s, k in zip(sources, kernels)]


def compile_kernel(kernel, archs=ARCHS):
    """``{arch: Binary}`` of ``kernel`` rendered as CUDA C."""
    return compile_kernels([kernel], archs)[0]


def check_archs():
    """The architectures backend 'cuda-emulated' also compiles each kernel for:
    ``$ARIGNOTE_CUDA_ARCHS`` (comma-separated; set but empty: none), else :data:`ARCHS`
    where NVRTC is installed (nvcc, a process per kernel and architecture, is too slow)."""
    env = os.environ.get("ARIGNOTE_CUDA_ARCHS")
    if env is not None:
        return tuple(a.strip() for a in env.split(",") if a.strip())
    return ARCHS if nvrtc_available() else ()


#: kernels per NVRTC program in the check: one program pays NVRTC's start, the header and
#: ptxas's once (measured, sm_90: 45 ms a kernel alone, 30 ms in 32s, 23 ms in 128s)
BATCH = 128
#: the line of a diagnostic in NVRTC's log: its file and line
_WHERE = re.compile(r"^(.*?)\((\d+)\): ")


def _split_log(log, unit, group):
    """``log`` (of ``unit``, the translation unit of ``group``) as each kernel's: a front-end
    diagnostic goes to the kernel whose lines it names (the header's go to all), ptxas's
    lines to all (:func:`parse_report` then picks each function's)."""
    starts = [n for n, line in enumerate(unit.splitlines(), 1) if re.fullmatch(r"namespace ag_k\d+ \{", line)]
    logs = [[] for _ in group]
    for line in log.splitlines():
        m = _WHERE.match(line)
        owner = None
        if m and m.group(1) != HEADER_NAME:
            owner = max((i for i, first in enumerate(starts) if first <= int(m.group(2))), default=None)
        for i, lines in enumerate(logs):
            if owner is None or owner == i:
                lines.append(line)
    return ["\n".join(lines) for lines in logs]


def _compile_group(group, arch):
    """``{symbol: Report}`` of ``group`` (:class:`Checked`, no symbol twice) compiled as one
    translation unit for ``arch``; a unit NVRTC refuses is halved until the error names
    the one kernel it is in."""
    unit = translation_unit([(c.source, c.symbol) for c in group])
    build = _nvrtc if nvrtc_available() else _nvcc
    try:
        _, _, log = build(unit, group[0].name if len(group) == 1 else f"{len(group)} kernels", arch)
    except CudaCompileError:
        if len(group) == 1:
            raise
        half = len(group) // 2
        return {**_compile_group(group[:half], arch), **_compile_group(group[half:], arch)}
    return {c.symbol: parse_report(mine, c.symbol) for c, mine in zip(group, _split_log(log, unit, group))}


def _report_key(checked, arch, version):
    return cache.make_key("cuda-report", checked.source, DEVICE_HEADER, arch, OPTIONS, version)


def reports(checked, archs=ARCHS):
    """``{(kernel, arch): Report}`` of ``checked`` (:class:`Checked`), each report cached
    on disk by its kernel's own source: only kernels not seen before are compiled, in
    programs of :data:`BATCH` kernels, the architectures' programs in parallel (NVRTC
    releases the GIL)."""
    version = compiler_version()
    found, missing = {}, {arch: [] for arch in archs}
    for c in dict.fromkeys(checked):
        for arch in archs:
            payload = cache.load(_report_key(c, arch, version))
            if payload is None:
                missing[arch].append(c)
            else:
                meta = json.loads(payload)
                found[c, arch] = Report(**{**meta, "warnings": tuple(meta["warnings"])})
    jobs = [(group, arch) for arch, todo in missing.items() for i in range(0, len(todo), BATCH)
            for group in batches([(c, c.symbol) for c in todo[i:i + BATCH]])]
    if not jobs:
        return found
    with ThreadPoolExecutor(min(len(jobs), os.cpu_count() or 1)) as pool:
        done = list(pool.map(lambda job: _compile_group([c for c, _ in job[0]], job[1]), jobs))
    for (group, arch), got in zip(jobs, done):
        for c, _ in group:
            found[c, arch] = report = got[c.symbol]
            cache.store(_report_key(c, arch, version), json.dumps(asdict(report)).encode())
    return found


def check_kernels(kernels, archs=ARCHS):
    """Compile ``kernels`` for ``archs`` (:func:`reports`); a :class:`CudaCompileError`
    naming each kernel a GPU would not take as it is (:func:`problems`). With
    ``$ARIGNOTE_CUDA_CHECK_DIR`` set, the kernels are written there instead, to be checked
    together later (:func:`check_dir`: fewer, larger NVRTC programs)."""
    checked = [Checked.of(k) for k in kernels]
    where = os.environ.get(CHECK_DIR)
    if where:
        defer(checked, where)
    else:
        _raise_problems(checked, reports(checked, archs))


def collect(kernels):
    """With ``$ARIGNOTE_CUDA_CHECK_DIR`` set, write the CUDA C of ``kernels`` there for
    :func:`check_dir`, whatever backend made them (scheduled for the GPU anew): how ``make
    test`` checks that every kernel its cpu runs make compiles for the GPUs too."""
    where = os.environ.get(CHECK_DIR)
    if where and kernels and check_archs():
        defer([Checked.of(replace(k, schedule=None)) for k in kernels], where)


def check_generated(kernels):
    """:func:`check_kernels` for the architectures of :func:`check_archs` (none: nothing):
    what backend 'cuda-emulated' does with every kernel it makes."""
    archs = check_archs()
    if archs:
        check_kernels(kernels, archs)


def _raise_problems(checked, found):
    bad = [f"{c.name} on {arch}: {p}" for (c, arch), report in found.items() for p in problems(c, report)]
    if bad:
        raise CudaCompileError("kernels that would not run well on a GPU:\n  " + "\n  ".join(bad))


def defer(checked, where):
    """Write ``checked`` (:class:`Checked`) into the directory ``where``, a file per kernel
    named by its content (a kernel written twice is one file)."""
    os.makedirs(where, exist_ok=True)
    for c in checked:
        text = json.dumps(asdict(c))
        path = os.path.join(where, cache.make_key(text)[:32] + ".json")
        if not os.path.exists(path):
            with tempfile.NamedTemporaryFile("w", dir=where, suffix=".tmp", delete=False) as f:
                f.write(text)
            os.replace(f.name, path)


def check_dir(where, archs=ARCHS):
    """Check every kernel :func:`defer` wrote into ``where`` (:func:`check_kernels`): the
    number of kernels checked."""
    names = sorted(n for n in os.listdir(where) if n.endswith(".json")) if os.path.isdir(where) else []
    checked = []
    for n in names:
        with open(os.path.join(where, n)) as f:
            checked.append(Checked(**json.load(f)))
    _raise_problems(checked, reports(checked, archs))
    return len(checked)


def main(where):
    """Check the kernels deferred into ``where`` (``make test``'s cuda-emulated tier): the
    exit status, 1 with the problems printed if any kernel has one."""
    archs = check_archs()
    if not archs:
        print("NVRTC check: skipped (no NVRTC: the cuda extra)")
        return 0
    began = time.perf_counter()
    try:
        count = check_dir(where, archs)
    except CudaCompileError as e:
        print(e)
        return 1
    print(f"NVRTC check: {count} kernels clean for {', '.join(archs)} ({time.perf_counter() - began:.1f} s)")
    return 0
