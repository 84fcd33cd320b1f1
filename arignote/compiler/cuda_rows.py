"""The CUDA renderer's kernels with reduced axes: a block per parallel point, each
pass's reductions lane by lane in an order fixed by the extents (see
:mod:`arignote.compiler.cuda`'s docstring). :class:`RowKernels` is the half of the
renderer that writes them; :data:`LANES_C` the C they call."""
import numpy as np

from arignote.compiler import kernel as K
from arignote.compiler.cuda_scalar import kind_of, literal, wrap
from arignote.compiler.lower import reduce_init

#: the most lanes of a reduction (:data:`LANES_C`): its shared memory, and the most threads of
#: a block that a reduction keeps busy (the launcher gives row kernels no more)
MAX_LANES = 256

#: CUDA C shared by the GPU and the emulator, after the header: the fixed-order reduction
LANES_C = r"""
#define AG_MAX_LANES %d
// The lanes of a reduction over ``len`` points: a power of two from 32 to AG_MAX_LANES, from
// ``len`` only. Lane l folds points l, l + lanes, ... in order; the block's threads share
// out the lanes (any blockDim.x, a multiple of 32), so the order is the launch's business
// nowhere.
__device__ __forceinline__ int ag_lanes(int64_t len) {
  int l = 32;
  while (l < AG_MAX_LANES && l < len) l <<= 1;
  return l;
}
// sh[0..lanes) (each lane's value) combined with f as a fixed tree: halves through shared
// memory down to 32, then warp 0's shuffles. Every thread gets the result; the block is
// synchronized before and after.
template <typename T, typename F>
__device__ __forceinline__ T ag_lane_reduce(T* sh, int lanes, F f) {
  __syncthreads();
  for (int s = lanes >> 1; s >= 32; s >>= 1) {
    for (int i = threadIdx.x; i < s; i += blockDim.x) sh[i] = f(sh[i], sh[i + s]);
    __syncthreads();
  }
  if (threadIdx.x < 32) {
    T v = sh[threadIdx.x];
    for (int d = 16; d > 0; d >>= 1) v = f(v, ag_shfl_down(v, d));
    if (threadIdx.x == 0) sh[0] = v;
  }
  __syncthreads();
  const T r = sh[0];
  __syncthreads();
  return r;
}
""" % MAX_LANES


class RowKernels:
    """The renderer's methods for kernels with reduced axes (mixed into the renderer)."""

    def row(self):
        """A block per parallel point; per pass, the reduced points lane by lane (a pass
        with no reduction: strided by the block's threads), the lanes reduced, a barrier."""
        k, body = self.k, self.k.body
        reduces = [j for j, ins in enumerate(body) if isinstance(ins, K.Reduce)]
        for j in reduces:
            self.lines.append(f"  __shared__ {self.ty(j)} sh{j}[AG_MAX_LANES];")
            if self.keyed(body[j]):
                self.lines.append(f"  __shared__ int64_t shk{j}[AG_MAX_LANES];")
        self.constants()
        reads_back = any(isinstance(ins, K.Load) and k.params[ins.param].role == "out" for ins in body)
        self.lines += [f"  const int64_t rows = {self.product(self.parallel)};",
                       f"  const int64_t len = {self.product(self.reduced)};",
                       *(["  const int lanes = ag_lanes(len);"] if reduces else []),
                       "  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {"]
        pad = self.pad = "    "
        self.indices("row", self.parallel, pad)
        for p in range(k.passes + 1):
            for j, ins in enumerate(body):
                if ins.level == 2 * p:
                    self.instr(j, ins, row=True)
            if p == k.passes:
                break
            if p and reads_back:  # (thread 0's stores of this point, read back by the pass)
                self.lines.append(f"{pad}__syncthreads();")
            mine = [j for j in reduces if body[j].level == 2 * p + 1]
            if mine:  # (lane by lane: see ag_lanes)
                self.lines.append(f"{pad}for (int lane = threadIdx.x; lane < lanes; lane += blockDim.x) {{")
                self.pad = inner = pad + "  "
                for j in mine:
                    self.accumulator(j, body[j])
                self.lines.append(f"{inner}for (int64_t r = lane; r < len; r += lanes) {{")
            else:
                self.lines.append(f"{pad}for (int64_t r = threadIdx.x; r < len; r += blockDim.x) {{")
                inner = pad
            self.pad = inner + "  "
            self.indices("r", self.reduced, self.pad, self.axes_read(2 * p + 1))
            for j, ins in enumerate(body):
                if ins.level == 2 * p + 1:
                    if isinstance(ins, K.Reduce):
                        self.fold(j, ins)
                    else:
                        self.instr(j, ins)
            self.lines.append(f"{inner}}}")
            for j in mine:
                self.lines.append(f"{inner}sh{j}[lane] = acc{j};")
                if self.keyed(body[j]):
                    self.lines.append(f"{inner}shk{j}[lane] = key{j};")
            if mine:
                self.lines.append(f"{pad}}}")
            self.pad = pad
            for j in mine:
                self.block_reduce(j, body[j])
            if not mine:
                self.lines.append(f"{pad}__syncthreads();")
        self.lines.append("  }")

    # ---- reductions
    @staticmethod
    def keyed(ins):
        """A float max/min: NumPy's choice of zero kept by a second reduction (see the
        module docstring)."""
        return kind_of(ins.dtype) == "f" and ins.combiner in ("max", "min") and \
            not getattr(ins, "sign_blind", False)  # (no use can see the sign of its zero)

    def combine(self, ins, a, b):
        """The C expression of ``ins``'s combiner on register values ``a``, ``b``."""
        kind, dtype = kind_of(ins.dtype), ins.dtype
        c = ins.combiner
        if kind == "b":
            return f"({a} & {b})" if c in ("all", "min", "prod") else f"({a} | {b})"
        if kind == "f":
            if c == "sum":
                return f"({a} + {b})"
            if c == "prod":
                return f"({a} * {b})"
            op = ">" if c == "max" else "<"  # NaN propagates; which zero is the key's business
            return f"(({a} != {a} || {a} {op} {b}) ? {a} : {b})"
        if c in ("sum", "prod"):
            return wrap("+" if c == "sum" else "*")(dtype, a, b)
        return f"({a} {'>' if c == 'max' else '<'} {b} ? {a} : {b})"

    def first_wins(self, ins):
        return ins.dtype == "float16"

    @staticmethod
    def identity(ins):
        """What lanes other than 0 start from: the combiner's identity, for a float sum
        -0.0 (``-0.0 + x`` is ``x`` for every ``x``; +0.0 would turn a sum of -0.0s, a
        picked -0.0, into +0.0)."""
        if kind_of(ins.dtype) == "f" and ins.combiner == "sum":
            return -0.0
        return reduce_init(ins.combiner, ins.dtype)

    def accumulator(self, j, ins):
        """Lane 0 starts from ``init`` (counted once), the others from the identity."""
        ty, pad = self.ty(j), self.pad
        ident = literal(self.identity(ins), ins.dtype)
        self.lines.append(f"{pad}{ty} acc{j} = lane == 0 ? {literal(ins.init, ins.dtype)} : {ident};")
        if self.keyed(ins):
            none = (1 << 63) - 1 if self.first_wins(ins) else -1
            init_key = int(np.signbit(ins.init)) if ins.init == 0 else none
            self.lines.append(f"{pad}int64_t key{j} = lane == 0 ? {init_key}LL : {none}LL;")

    def fold(self, j, ins):
        x = self.value(ins.arg, ins.dtype)
        pad = self.pad
        self.lines.append(f"{pad}acc{j} = {self.combine(ins, f'acc{j}', x)};")
        if self.keyed(ins):
            pick = "<" if self.first_wins(ins) else ">"
            bits = "ag_f32_bits" if self.ty(j) == "float" else "ag_f64_bits"
            sign = f"(int64_t)((uint64_t){bits}({x}) >> {31 if self.ty(j) == 'float' else 63})"
            self.lines += [f"{pad}if ({x} == 0) {{",
                           f"{pad}  const int64_t at = 2 * (r + 1) + ({sign} & 1);",
                           f"{pad}  if (at {pick} key{j}) key{j} = at;",
                           f"{pad}}}"]

    def block_reduce(self, j, ins):
        ty, pad = self.ty(j), self.pad
        self.lines.append(f"{pad}{ty} red{j} = ag_lane_reduce(sh{j}, lanes, "
                          f"[]({ty} x, {ty} y) {{ return ({ty}){self.combine(ins, 'x', 'y')}; }});")
        if self.keyed(ins):
            pick = "<" if self.first_wins(ins) else ">"
            self.lines += [
                f"{pad}const int64_t k{j} = ag_lane_reduce(shk{j}, lanes, "
                f"[](int64_t x, int64_t y) {{ return x {pick} y ? x : y; }});",
                f"{pad}if (red{j} == 0) red{j} = (k{j} & 1) ? {literal(-0.0, ins.dtype)} : "
                f"{literal(0.0, ins.dtype)};"]
        v = f"red{j}"
        if ins.dtype == "float16":
            v = f"ag_h2f(ag_f2h(red{j}))"
        self.lines.append(f"{pad}const {ty} v{j} = {v};")
        if j not in self.used:
            self.lines.append(f"{pad}(void)v{j};")
