"""The CUDA renderer: a :class:`~arignote.compiler.kernel.Kernel` becomes CUDA C.

The semantics are decided below the renderers: a kernel is rendered
decomposed (:mod:`arignote.compiler.decompose`), so what is left is one row
of :data:`_SCALAR` per (primitive op, kind), and the transcendentals are
:mod:`arignote.compiler.mathlib`'s polynomials through the C emitter
(:class:`CudaEmitter`), as on the cpu; sin, cos, tan, pow and arctan2 are
CUDA's own (exact range reduction, as the cpu backend's libm calls).

The scalar level (types, literals, the op table) is :mod:`arignote.compiler.cuda_scalar`,
the kernels with reduced axes :mod:`arignote.compiler.cuda_rows`; this module renders the
rest and assembles the source.

The source includes ``arignote_cuda.h``: a small header with two
implementations, :data:`DEVICE_HEADER` for NVRTC (intrinsics, warp shuffles)
and the emulator's (:mod:`arignote.compiler.cuda_emulate`), so the very same
text runs on a GPU and, compiled as C++, on the CPU.

One kernel, ``extern "C" __global__ void <name>(const ag_args a)``: ``a.n``
the index-space extents, ``a.p[k]`` the base pointer of param ``k``, ``a.s``
the strides in elements (param by param, dimension by dimension), ``a.err`` an
``int`` flag (each Check sets it with ``atomicMax`` to ``1 +`` the index of its
error in ``Kernel.errors``: the last error wins, as on the cpu). All 8-byte
fields: the launcher packs them as one int64 array, passed by value.

* Without reduced axes: a grid-stride loop over the flattened parallel points
  (C order of the schedule's ``loop_order``, the last axis fastest: adjacent
  threads read adjacent elements).
* With reduced axes (reductions, row kernels of several passes): one block per
  parallel point (a grid-stride loop over them). Per pass, each of ``lanes``
  lanes (``ag_lanes``: from the reduced length only) folds its own accumulators
  over the flattened reduced points ``lane, lane + lanes, ...`` (C order), the
  block's threads sharing out the lanes; :func:`ag_lane_reduce` combines the
  lanes as a fixed tree, every thread gets the result, and a ``__syncthreads()``
  ends the pass: the bits never depend on ``blockDim``, the grid or the order
  threads run in. Per-point values (even levels) are computed by every thread,
  stored by thread 0. A float max/min keeps NumPy's choice between +0.0 and
  -0.0 with a second, exact integer reduction of the zeros' positions (as the
  LLVM renderer does), so the result does not depend on how the points are
  shared out.
* Large reductions with few parallel points run as per-block partials and a
  combine kernel (:mod:`arignote.compiler.split`): two kernels rendered the
  same way; the launcher decides per call (:mod:`arignote.compiler.cuda_launch`).

``Index`` is the point's own ``i<axis>`` and ``Extent`` is ``a.n[axis]``: a random draw
(:mod:`arignote.ops.random`) reads its element's index only, so the GPU gives each element
the cpu's number whatever the launch configuration.

``blockDim.x`` must be a multiple of 32 (at most 1024) for kernels with reduced
axes; the launcher chooses it (no more than the lanes: more threads would idle).
"""
import functools
import re

from arignote.compiler import kernel as K
from arignote.compiler.c_math import CEmitter, math_c
from arignote.compiler.cuda_rows import LANES_C, MAX_LANES, RowKernels  # noqa: F401 (MAX_LANES)
from arignote.compiler.cuda_scalar import SCALAR, TYPES, kind_of, literal, math_dtype
from arignote.compiler.decompose import decompose
from arignote.compiler.mathlib import MATH_FUNCTIONS
from arignote.compiler.schedule import Target, scheduled

#: the schedule target of CUDA kernels: no column tiles, no cpu chunks; reductions may split
CUDA = Target("cuda", column_tile=0, chunks=False, splits=True)

#: elements per thread and load in an elementwise kernel's vector loop (float32: 16 bytes)
VECTOR = 4
#: the vector of :data:`VECTOR` elements a vector loop loads and stores at once (aligned to its
#: size up to 16 bytes, the widest load; float64's 32 bytes are two loads)
VECTOR_C = (f"template <typename T> struct alignas({VECTOR} * sizeof(T) < 16 ? {VECTOR} * sizeof(T) : 16) "
            f"ag_vec {{ T v[{VECTOR}]; }};")

#: at most this many values computed per element for a vector loop: four copies of a longer
#: body (an int64 power, decomposed to some 100 values) spilled
VECTOR_BODY = 48
#: ops whose code is long: four copies of one in a thread (a vector loop's lanes) ran out of
#: registers (float64 ``pow``: 255 registers, spills); a kernel with one computes more than
#: it moves, and keeps to the plain loop
LONG_OPS = frozenset(MATH_FUNCTIONS) | {"pow", "arctan2", "sin", "cos", "tan"}

#: the header every kernel includes (its text: :data:`DEVICE_HEADER` or the emulator's)
HEADER_NAME = "arignote_cuda.h"

#: the CUDA-only half of the header: fixed-width integers (NVRTC has no system headers;
#: nvcc's come with cuda_runtime.h), the bit casts and float16 conversions as
#: intrinsics, one warp shuffle for every register type
DEVICE_HEADER = r"""#pragma once
#ifdef __CUDACC_RTC__
typedef signed char int8_t; typedef short int16_t; typedef int int32_t; typedef long long int64_t;
typedef unsigned char uint8_t; typedef unsigned short uint16_t; typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
#define INT64_C(c) c ## LL
#define INFINITY __int_as_float(0x7f800000)
#define NAN __int_as_float(0x7fffffff)
#else
#include <stdint.h>
#include <math.h>
#endif
__device__ __forceinline__ int32_t ag_f32_bits(float x) { return __float_as_int(x); }
__device__ __forceinline__ float ag_bits_f32(int32_t i) { return __int_as_float(i); }
__device__ __forceinline__ int64_t ag_f64_bits(double x) { return __double_as_longlong(x); }
__device__ __forceinline__ double ag_bits_f64(int64_t i) { return __longlong_as_double(i); }
__device__ __forceinline__ float ag_h2f(uint16_t h) {
  float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ uint16_t ag_f2h(float f) {
  uint16_t h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
__device__ __forceinline__ uint16_t ag_d2h(double d) {
  uint16_t h; asm("cvt.rn.f16.f64 %0, %1;" : "=h"(h) : "d"(d)); return h; }
__device__ __forceinline__ float ag_shfl_down(float v, int d) {
  return __shfl_down_sync(0xffffffffu, v, d); }
__device__ __forceinline__ double ag_shfl_down(double v, int d) {
  return __shfl_down_sync(0xffffffffu, v, d); }
template <typename T> __device__ __forceinline__ T ag_shfl_down(T v, int d) {
  return (T)__shfl_down_sync(0xffffffffu, (long long)v, d); }
"""

class CudaEmitter(CEmitter):
    """The transcendentals as ``__device__`` functions (bit casts from the header)."""

    QUALIFIER = "__device__ __forceinline__"


class CudaCallEmitter(CudaEmitter):
    """... called, not inlined: for kernels of more than :data:`INLINE_CALLS` calls."""

    QUALIFIER = "__device__ __noinline__"


#: a kernel making more calls of the transcendentals than this calls them instead of inlining
#: each: 750 inlined float64 tanh in one kernel (a 1500-deep chain) used 255 registers and
#: spilled 11 KB; called, each needs only its own registers
INLINE_CALLS = 32


# ------------------------------------------------------------ the renderer

#: dtypes whose memory type is not their register type: a loaded value, a value to store
_LOADED = {"bool": "({} != 0)", "float16": "ag_h2f({})"}
_STORED = {"bool": "(uint8_t){}", "float16": "ag_f2h({})"}

def _live(body):
    """The values a store, check or reduction needs, directly or not (``second(a, b)``
    reads ``b`` only): only those are computed (NVRTC warns of every other one)."""
    live = set()
    for k in range(len(body) - 1, -1, -1):
        ins = body[k]
        if k in live or isinstance(ins, (K.Store, K.Check, K.Reduce)):
            live.update(ins.args[1:] if isinstance(ins, K.ScalarOp) and ins.op == "second"
                        else K.args_of(ins))
    return live


class _Renderer(RowKernels):
    def __init__(self, kernel, errors):
        self.k, self.errors = kernel, errors
        kernel.check_inplace()
        self.over = dict(kernel.inplace)
        body = kernel.body
        self.used = _live(body)
        self.axes_used = self.axes_read()
        self.math = set()
        self.lines = []
        #: the vector loop (:meth:`vector_loop`): the lane being rendered, and each vector
        #: param's local vector
        self.lane, self.vectors, self.uses_vectors = None, {}, False
        self.strides = {}
        offset = 0
        for j, p in enumerate(kernel.params):
            self.strides[j] = offset
            offset += p.ndim
        self.n_strides = offset
        self.reduced = sorted(kernel.reduce_axes)
        self.parallel = list(kernel.schedule.loop_order)
        if sorted(self.parallel + self.reduced) != list(range(kernel.ndim)):
            raise NotImplementedError(f"{kernel.name}: the CUDA backend cannot render the schedule "
                                      f"{kernel.schedule}")

    def ty(self, k):
        return TYPES[self.k.body[k].dtype][1]

    # ---- values
    def convert(self, v, src, dst):
        """NumPy's ``astype`` from ``src`` to ``dst`` on register values."""
        if src == dst:
            return v
        sk, dk = kind_of(src), kind_of(dst)
        if dk == "b":
            return f"({v} != 0)"
        if sk == "f" and dk in "iu":  # (decompose makes every float -> int an ftoi in range)
            raise NotImplementedError(f"the CUDA backend renders no cast from {src} to {dst}: "
                                      "decompose the kernel first")
        if dst == "float16":
            if src == "float64":
                return f"ag_h2f(ag_d2h({v}))"
            return f"ag_h2f(ag_f2h((float){v}))"  # (an integer is exact in float up to 2**24,
            # beyond which it is inf in float16 anyway)
        return f"(({TYPES[dst][1]}){v})"

    def value(self, k, dtype):
        """Value ``%k`` converted to ``dtype``."""
        return self.convert(f"v{k}", self.k.body[k].dtype, dtype)

    def let(self, k, expr):
        self.lines.append(f"{self.pad}const {self.ty(k)} v{k} = {expr};")

    def address(self, param, axes):
        param = self.over.get(param, param)
        if self.lane is not None and param in self.vectors and any(a is not None for a in axes):
            return f"w{param}.v[{self.lane}]"
        p = self.k.params[param]
        mem = TYPES[p.dtype][0]
        const = "const " if p.role == "in" and param not in self.over.values() else ""
        terms = [f"i{a} * a.s[{self.strides[param] + d}]" for d, a in enumerate(axes) if a is not None]
        return f"(({const}{mem}*)a.p[{param}])[{' + '.join(terms) or '0'}]"

    def scalar(self, ins):
        body = self.k.body
        dtypes = [body[a].dtype for a in ins.args]
        if ins.op == "switch":
            return f"({self.value(ins.args[0], 'bool')} ? {self.value(ins.args[1], ins.dtype)} : " \
                   f"{self.value(ins.args[2], ins.dtype)})"
        if ins.op == "second":
            return self.value(ins.args[1], ins.dtype)
        cd = K.loop_dtype(ins.op, ins.dtype, dtypes)
        kind = kind_of(cd)
        fn = SCALAR.get((ins.op, kind))
        composite = (cd == "float16" and ins.op != "identity") or (
            ins.op in ("eq", "neq", "lt", "le", "gt", "ge") and kind == "f"
            and all(kind_of(d) in "iub" for d in dtypes))
        if fn is None or composite:
            raise NotImplementedError(f"the CUDA backend cannot render the scalar op {ins.op} on {cd} "
                                      "(composite ops are decomposed first: compiler/decompose.py)")
        if ins.op in MATH_FUNCTIONS:
            self.math.add((ins.op, math_dtype(cd)))
        expr = fn(cd, *(self.value(a, cd) for a in ins.args))
        return self.convert(expr, cd, ins.dtype) if ins.op not in K.PREDICATES else expr

    def instr(self, k, ins, row=False):
        """Render instruction ``k`` (``row``: a per-point level of a row kernel)."""
        if isinstance(ins, K.Const):
            return  # (defined at the top)
        if isinstance(ins, (K.Load, K.Cast, K.ScalarOp, K.Index, K.Extent)) and k not in self.used:
            return
        if isinstance(ins, K.Index):  # (the point's own index: the same whatever the launch)
            self.let(k, f"({self.ty(k)})i{ins.axis}")
        elif isinstance(ins, K.Extent):
            self.let(k, f"({self.ty(k)})a.n[{ins.axis}]")
        elif isinstance(ins, K.Load):
            self.let(k, _LOADED.get(ins.dtype, "{}").format(self.address(ins.param, ins.axes)))
        elif isinstance(ins, K.Cast):
            self.let(k, self.value(ins.arg, ins.dtype))
        elif isinstance(ins, K.ScalarOp):
            if ins.op == "ftoi":
                x = ins.args[0]
                self.let(k, f"(({TYPES[ins.dtype][1]}){self.value(x, self.k.body[x].dtype)})")
            else:
                self.let(k, self.scalar(ins))
        elif isinstance(ins, K.Store):
            v = _STORED.get(ins.dtype, "{}").format(self.value(ins.arg, ins.dtype))
            guard = "if (threadIdx.x == 0) " if row else ""
            self.lines.append(f"{self.pad}{guard}{self.address(ins.param, ins.axes)} = {v};")
        elif isinstance(ins, K.Check):
            code = self.errors.index(ins.error) + 1
            self.lines.append(f"{self.pad}if ({self.value(ins.arg, 'bool')}) atomicMax(a.err, {code});")
        else:
            raise NotImplementedError(f"the CUDA backend cannot render {type(ins).__name__} here")

    def axes_read(self, level=None):
        """The axes the stores, the live loads and the live Index reads (of ``level``; None:
        of every level) index."""
        return {a for k, ins in enumerate(self.k.body)
                for a in ((ins.axis,) if isinstance(ins, K.Index) else getattr(ins, "axes", ()))
                if (isinstance(ins, K.Store) or k in self.used) and level in (None, ins.level)}

    def indices(self, flat, axes, pad, used=None):
        """Declare ``i<a>`` for the ``axes`` (C order, the last fastest) of flat index ``flat``
        that are in ``used`` (default: the axes any instruction reads)."""
        used = self.axes_used if used is None else used
        wanted = [n for n, a in enumerate(axes) if a in used]
        if not wanted:
            return
        self.lines.append(f"{pad}int64_t rest = {flat};")
        for n in range(len(axes) - 1, min(wanted) - 1, -1):
            a = axes[n]
            if n == min(wanted):
                self.lines.append(f"{pad}const int64_t i{a} = rest{' % a.n[' + str(a) + ']' if n else ''};")
                break
            if a in used:
                self.lines.append(f"{pad}const int64_t i{a} = rest % a.n[{a}];")
            self.lines.append(f"{pad}rest /= a.n[{a}];")

    # ---- kernels
    def constants(self):
        for k, ins in enumerate(self.k.body):
            if isinstance(ins, K.Const) and k in self.used:
                self.lines.append(f"  const {self.ty(k)} v{k} = {literal(ins.value, ins.dtype)};")

    def product(self, axes):
        return " * ".join(f"a.n[{a}]" for a in axes) or "1"

    def elementwise(self):
        self.constants()
        self.lines.append(f"  const int64_t total = {self.product(self.parallel)};")
        start = "(int64_t)blockIdx.x * blockDim.x + threadIdx.x"
        vectors = self.vector_params()
        if vectors:
            start = self.vector_loop(vectors) + " + " + start
        self.lines += [f"  for (int64_t flat = {start}; flat < total;",
                       "       flat += (int64_t)blockDim.x * gridDim.x) {"]
        self.pad = "    "
        self.indices("flat", self.parallel, self.pad)
        self.body_lines()
        self.lines.append("  }")

    def body_lines(self):
        for k, ins in enumerate(self.k.body):
            if ins.level != 0:
                raise NotImplementedError(f"{self.k.name}: level {ins.level} without reduced axes")
            self.instr(k, ins)

    # ---- vector loads and stores (elementwise kernels over contiguous buffers)
    def vector_params(self):
        """The params (after in-place mapping) whose loads and stores cover the whole index
        space in loop order, when every load and store does so or reads a scalar, no
        instruction reads an index and none is a long function (:data:`LONG_OPS`): the
        kernel then also gets :meth:`vector_loop`. Empty otherwise."""
        k = self.k
        if len(self.parallel) != k.ndim or len(self.used) > VECTOR_BODY or any(
                isinstance(ins, (K.Index, K.Extent)) or (isinstance(ins, K.ScalarOp) and ins.op in LONG_OPS)
                for ins in k.body):
            return []
        whole = tuple(self.parallel)
        params = set()
        for n, ins in enumerate(k.body):
            if not isinstance(ins, (K.Load, K.Store)) or (isinstance(ins, K.Load) and n not in self.used):
                continue
            if ins.axes == whole and k.ndim:
                params.add(self.over.get(ins.param, ins.param))
            elif any(a is not None for a in ins.axes):
                return []
        return sorted(params)

    def vector_loop(self, params):
        """A first loop, taken when every buffer of ``params`` is C-contiguous and aligned
        for :data:`VECTOR` elements (tested at run time): each thread loads
        :data:`VECTOR` consecutive elements of each at once (``ag_vec<T>``: one
        ``ld.global.v4`` for float32), runs the body once per element, stores them at
        once. Returns the C expression of where the plain loop starts (past the
        elements it did)."""
        k, out = self.k, self.lines
        out.append("  bool vec = true;")
        size = "1"
        for d in range(len(self.parallel) - 1, -1, -1):  # dense strides along the loop order
            for j in params:
                out.append(f"  vec = vec && a.s[{self.strides[j] + d}] == {size};")
            size = f"{size} * a.n[{self.parallel[d]}]" if size != "1" else f"a.n[{self.parallel[d]}]"
        for j in params:
            mem = TYPES[k.params[j].dtype][0]
            out.append(f"  vec = vec && ((uint64_t)a.p[{j}]) % alignof(ag_vec<{mem}>) == 0;")
        out += [f"  const int64_t vectors = vec ? total / {VECTOR} : 0;",
                "  for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < vectors;",
                "       t += (int64_t)blockDim.x * gridDim.x) {",
                f"    const int64_t q = t * {VECTOR};"]
        stored = {self.over.get(ins.param, ins.param) for ins in k.body if isinstance(ins, K.Store)}
        self.vectors = {}
        for j in params:
            mem = TYPES[k.params[j].dtype][0]
            const = "const " if j not in stored else ""
            self.vectors[j] = f"w{j}"
            if j in stored and k.params[j].role == "out" and j not in self.over.values():
                out.append(f"    ag_vec<{mem}> w{j};")
            else:
                out.append(f"    {const}ag_vec<{mem}> w{j} = "
                           f"*({const}ag_vec<{mem}>*)(({const}{mem}*)a.p[{j}] + q);")
        self.pad = "      "
        for lane in range(VECTOR):
            self.lane = lane
            out.append("    {")
            self.body_lines()
            out.append("    }")
        self.lane = None
        for j in sorted(stored & set(params)):
            mem = TYPES[k.params[j].dtype][0]
            out.append(f"    *(ag_vec<{mem}>*)(({mem}*)a.p[{j}] + q) = w{j};")
        out.append("  }")
        self.uses_vectors = True
        return f"vectors * {VECTOR}"

    def source(self):
        k = self.k
        self.lines = []
        if k.reduce_axes:
            self.row()
        else:
            self.elementwise()
        kernel_lines = self.lines
        fields = [f"int64_t n[{max(k.ndim, 1)}];", f"void* p[{max(len(k.params), 1)}];",
                  f"int64_t s[{max(self.n_strides, 1)}];", "int* err;"]
        out = [f"// arignote kernel {k.name}", f'#include "{HEADER_NAME}"', LANES_C.strip("\n"), ""]
        if self.uses_vectors:
            out += [VECTOR_C, ""]
        if self.math:
            calls = sum(isinstance(ins, K.ScalarOp) and ins.op in MATH_FUNCTIONS for ins in k.body)
            emitter = CudaCallEmitter if calls > INLINE_CALLS else CudaEmitter
            out.append(_without_dead_values(math_c(sorted(self.math), emitter)))
        out += [f"struct ag_args {{ {' '.join(fields)} }};", "",
                f'extern "C" __global__ void {symbol(k.name)}(const ag_args a) {{',
                *kernel_lines, "}", ""]
        return "\n".join(out)


def _without_dead_values(text):
    """C functions of :func:`~arignote.compiler.c_math.math_c` without the ``const`` values
    nothing reads (mathlib's bodies leave a few; NVRTC warns of each)."""
    functions = []
    for fn in text.split("\n}\n"):
        lines = fn.split("\n")
        while True:
            names = [re.match(r"\s*const \w+ (t\d+) = ", line) for line in lines]
            dead = {m.group(1) for m in names if m and
                    not re.search(r"\b" + m.group(1) + r"\b", "\n".join(
                        line for line in lines if not line.lstrip().startswith("const ") or
                        not re.match(r"\s*const \w+ " + m.group(1) + " = ", line)))}
            if not dead:
                break
            lines = [line for line, m in zip(lines, names) if not (m and m.group(1) in dead)]
        functions.append("\n".join(lines))
    return "\n}\n".join(functions)


def symbol(name):
    """A kernel's name as a C identifier."""
    text = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return text if text[:1].isalpha() or text[:1] == "_" else "k" + text


def translation_unit(named, entry=""):
    """One translation unit of several kernels' sources (``named``: (source, symbol) pairs,
    no symbol twice: see :func:`batches`), each in a namespace ``ag_k<i>`` of its own
    (their helpers share names; the header, included first, is skipped inside them:
    ``#pragma once``), each followed by ``entry`` formatted with ``i``, ``ns`` and ``name``.
    One compiler run for all of a Program's kernels pays its start and the header once."""
    out = [f'#include "{HEADER_NAME}"']
    for i, (source, name) in enumerate(named):
        ns = f"ag_k{i}"
        out += [f"namespace {ns} {{", source, "}", entry.format(i=i, ns=ns, name=name), ""]
    return "\n".join(out)


def batches(named):
    """``named`` ((source, symbol) pairs) in as few groups as possible with no symbol twice
    in a group (an ``extern "C"`` name is one function in a translation unit)."""
    groups = []
    for item in named:
        group = next((g for g in groups if all(n != item[1] for _, n in g)), None)
        if group is None:
            groups.append(group := [])
        group.append(item)
    return groups


def prepare(kernel):
    """``kernel`` as the CUDA renderer renders it: scheduled for :data:`CUDA` if it is not
    scheduled yet, decomposed."""
    return decompose(scheduled(kernel, CUDA))


def render(kernel):
    """The CUDA C source of ``kernel`` (see the module docstring for its ABI)."""
    try:
        return _render_memo(kernel)
    except TypeError:  # (an unhashable kernel: rendered each time)
        return _render(kernel)


def _render(kernel):
    flat = prepare(kernel)
    if not set(flat.errors) <= set(kernel.errors):
        raise AssertionError(f"{kernel.name}: decomposing changed the errors {kernel.errors} "
                             f"to {flat.errors}")
    return _Renderer(flat, kernel.errors).source()


#: the emulated backend renders each kernel a few times (to compile it for the emulator and
#: for the GPUs, and to find it among those compiled ahead): once is enough
_render_memo = functools.lru_cache(maxsize=512)(_render)


def args_layout(kernel):
    """``(n_extents, n_params, n_strides)``: the int64 fields of ``ag_args`` before ``err``."""
    return max(kernel.ndim, 1), max(len(kernel.params), 1), max(sum(p.ndim for p in kernel.params), 1)


