"""The CUDA backend without a GPU: the kernels of the interpreter's own tests
(tests/compiler/test_interp.py, rerun here) rendered as CUDA C, then

* compiled by NVRTC (where installed) for sm_80 and sm_90: no errors, no
  warnings, and no spills in elementwise kernels (ptxas's report:
  ``cuda_compile.problems``);
* run by the emulator (backend 'cuda-emulated': the same source as C++ on the
  CPU, threads as fibers) and compared with the interpreter as the LLVM
  renderer is: bitwise but for transcendentals and float sums.

Plus the emulator itself: a missing barrier shows up, a divergent one is
reported, float16 conversions round as NumPy does; the renderer's dead values
and unread indices (NVRTC warnings found by random graphs); backend 'cuda'
without a GPU.
"""
import ctypes
import re
import shutil

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.compiler import cuda, cuda_compile, cuda_emulate, cuda_launch
from arignote.compiler import kernel as K
from arignote.compiler.cuda_emulate import CudaEmulationError, EmulatedLauncher
from tests.compiler import test_interp as TI

pytestmark = pytest.mark.skipif(cuda_emulate.gxx() is None, reason="no C++ compiler (g++)")
#: whether kernels are compiled for the GPUs here (NVRTC: nvcc is too slow for every kernel)
HAS_CUDA_COMPILER = cuda_compile.nvrtc_available()
ARCHS = cuda_compile.ARCHS


def check_compiles(kernel):
    """NVRTC's cubins of ``kernel`` for sm_80 and sm_90: no warnings; no spills in
    elementwise kernels."""
    if HAS_CUDA_COMPILER:
        cuda_compile.check_kernels([kernel])


def emulated_launcher(kernel, compiled=None, labels=None, **_):
    """In place of the cpu Launcher in test_interp: compile for the GPUs, then emulate."""
    check_compiles(kernel)
    return EmulatedLauncher(kernel, cuda_emulate.compile_kernel(kernel), labels)


@pytest.fixture(autouse=True)
def on_the_emulator(monkeypatch):
    monkeypatch.setattr(TI, "Launcher", emulated_launcher)


# the interpreter's kernel-level tests, each kernel compiled for sm_80/sm_90 and emulated
RERUN = ("every_scalar_op", "casts", "mixed_dtypes_promote_and_compare_exactly",
         "float16_chain_rounds_after_each_op",
         "integer_power_to_a_negative_exponent_raises_like_compiled_code",
         "broadcasting_and_views", "strided_and_negative_stride_inputs", "every_combiner",
         "max_and_min_of_signed_zeros", "reduction_prologue_epilogue_and_initial",
         "sum_of_a_value_constant_along_the_reduced_axes_counts_every_point", "row_kernels",
         "softmax_reads_back_what_an_earlier_pass_stored", "split_reductions", "in_place_updates",
         "multiple_outputs_and_a_0d_space", "an_axis_named_twice_reads_and_writes_a_diagonal")
globals().update({f"test_{name}": getattr(TI, f"test_{name}") for name in RERUN})


# ------------------------------------------------------------ the backend

@pytest.mark.parametrize("shape", [(3, 5), (2, 3000), (5000, 2), (1, 1)])
def test_backend_matches_the_reference(shape, rng):
    """Elementwise, row (softmax: 3 passes), column and full reductions (split into
    partials where long) through function(..., backend='cuda-emulated')."""
    x, y = T.matrix("x"), T.matrix("y")
    outs = [T.exp(x) * y - T.tanh(y), T.nnet.softmax(x), x.sum(axis=0), x.max(), (x > y).sum(axis=1),
            x[::-1, 1:].mean()]
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    got = ag.function([x, y], outs, backend="cuda-emulated")(a, b)
    want = ag.function([x, y], outs, backend="numpy")(a, b)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def test_a_large_reduction_splits_into_partials_combined_in_a_fixed_order(rng):
    x = T.vector("x")
    a = rng.standard_normal(50000)
    kernel = TI.kernel_of([x], [x.sum()])
    launcher = EmulatedLauncher(kernel, cuda_emulate.compile_kernel(kernel))
    assert cuda_launch.split_plan(launcher.kernel, [a.size], cuda_emulate.SPLIT) is not None
    first = launcher(a)[0]
    assert all(launcher(a)[0] == first for _ in range(3))  # (other thread orders each call)
    np.testing.assert_allclose(first, a.sum(), rtol=1e-12)


def test_reductions_give_the_same_bits_for_every_block_size_grid_and_thread_order(rng, monkeypatch):
    """Split reductions (a vector's sum and max, a tall matrix's column sums, a mean) and row
    kernels (softmax of 4 rows of 3000): each block reduces in an order fixed by the
    extents, so the bits are the same for any block size, grid and thread order."""
    split_calls = []
    launches = cuda_launch.SplitReduction.launches
    monkeypatch.setattr(cuda_launch.SplitReduction, "launches",
                        lambda self, *a: split_calls.append(self.kernel.name) or launches(self, *a))
    x, m = T.vector("x"), T.fmatrix("m")
    outs = [x.sum(), x.max(), m.sum(axis=0), (m * m).mean(), T.nnet.softmax(m.T)]
    f = ag.function([x, m], outs, backend="cuda-emulated", fusion=True)  # (3 reduction kernels:
    # the vector's sum and max are one)
    a, b = rng.standard_normal(5000), rng.standard_normal((3000, 4)).astype("float32")
    b[::7, 1] = 0.0
    got = {}
    for block, grid in ((32, 1), (64, 4), (128, 2), (256, 3)):
        for order in (0, 1, 2):  # forward, reverse, shuffled
            monkeypatch.setattr(cuda_emulate, "BLOCK", block)
            monkeypatch.setattr(cuda_emulate, "MAX_GRID", grid)
            monkeypatch.setattr(cuda_emulate, "ORDER", order)
            got[block, grid, order] = f(a, b)
    assert len(split_calls) == 3 * len(got)  # (every reduction but the softmax splits)
    first = got[32, 1, 0]
    for key, values in got.items():
        assert [v.tobytes() for v in values] == [v.tobytes() for v in first], key
    want = ag.function([x, m], outs, backend="numpy")(a, b)
    for g, w in zip(first, want):
        np.testing.assert_allclose(g, w, rtol=1e-5 if g.dtype == np.float32 else 1e-12)


def test_a_picked_negative_zero_keeps_its_sign():
    """A one-hot pick is a sum from -0.0 (tests/passes/test_row_pick.py found it): the
    lanes without points start from -0.0 too, a float sum's exact identity, so a picked
    -0.0 stays -0.0 (from +0.0 it became +0.0)."""
    x, y = T.dmatrix("x"), T.ivector("y")
    f = ag.function([x, y], (-x)[T.arange(y.shape[0]), y], backend="cuda-emulated")
    got = f(np.array([[0.0, 1.0], [2.0, -0.0]]), np.array([0, 1], "int32"))
    assert np.array_equal(np.signbit(got), [True, False])


def test_values_only_a_dead_value_reads_are_not_computed():
    """second(neg(x), 1) reads 1 only: neither neg(x) nor the load of x is rendered (NVRTC
    warned of the load's unused variable: a random graph's gradient found it)."""
    p = (K.Param("in0", "float32", 1, "in"), K.Param("out0", "float32", 1, "out"))
    body = (K.Load("float32", 0, (0,)), K.ScalarOp("float32", "neg", (0,)), K.Const("float32", 1.0),
            K.ScalarOp("float32", "second", (1, 2)), K.Store("float32", 1, (0,), 3))
    kernel = K.Kernel("dead", p, 1, (), body)
    source = cuda.render(kernel)
    assert " v0 = " not in source and " v1 = " not in source
    check_compiles(kernel)
    (got,) = EmulatedLauncher(kernel, cuda_emulate.compile_kernel(kernel))(np.arange(3, dtype=np.float32))
    np.testing.assert_array_equal(got, np.ones(3, np.float32))


@pytest.mark.skipif(not HAS_CUDA_COMPILER, reason="no NVRTC")
def test_each_pass_of_a_row_kernel_declares_only_the_indices_it_reads(rng, monkeypatch):
    """A gradient's row kernel whose middle pass sums a constant: that pass reads no
    element, so it declares no ``i0`` (NVRTC warned of it: a random graph found it). The
    backend compiles every kernel for sm_80 and sm_90 and refuses any with a warning."""
    monkeypatch.setenv("ARIGNOTE_CUDA_ARCHS", ",".join(ARCHS))
    x = T.vector("x", dtype="float32")
    out = x + x.sum()
    f = ag.function([x], [x.sum(), ag.grad(out.sum(), x)], backend="cuda-emulated")
    a = rng.standard_normal(5).astype(np.float32)
    np.testing.assert_allclose(f(a)[1], np.full(5, 6.0, np.float32))


def test_kernels_compile_together_and_keep_their_own_reports(rng):
    """One translation unit for several kernels (a Program's): each runs as its own, two of
    one name go to separate units, and ptxas's report is each kernel's own."""
    import dataclasses

    x = T.matrix("x")
    kernels = [dataclasses.replace(TI.kernel_of([x], [out]), name=name) for name, out in
               (("twice", x * 2), ("rows", x.sum(axis=1)), ("twice", x - 1))]
    named = [(cuda.render(k), k.name) for k in kernels]
    assert [len(g) for g in cuda.batches(named)] == [2, 1]
    a = rng.standard_normal((3, 70))
    wants = (a * 2, a.sum(axis=1), a - 1)
    for k, compiled, want in zip(kernels, cuda_emulate.compile_kernels(kernels), wants):
        np.testing.assert_allclose(EmulatedLauncher(k, compiled)(a)[0], want, rtol=1e-12)
    if HAS_CUDA_COMPILER:
        twice, rows, _ = cuda_compile.compile_kernels(kernels, ("sm_90",))
        assert twice["sm_90"].cubin == rows["sm_90"].cubin  # (one unit)
        assert twice["sm_90"].report.shared == 0 < rows["sm_90"].report.shared


def test_backend_cuda_without_a_gpu_says_so_and_how_to_emulate():
    """Raised when the function is made, before anything runs; a matrix product alone
    (no kernel) too."""
    from arignote.runtime.cuda_emulated import NoGpuError, gpu_missing

    x, w = T.vector("x"), T.matrix("w")
    for outs in ([x * 2], [T.dot(w, w)]):
        with pytest.raises(NoGpuError, match=r"backend 'cuda' cannot run here: .*backend='cuda-emulated'"):
            ag.function([x, w], outs, backend="cuda", on_unused_input="ignore")
    if gpu_missing() is not None:  # (this machine: no driver, or no bindings)
        with pytest.raises(NoGpuError, match="no NVIDIA driver|not installed|no usable GPU"):
            ag.function([x], [x * 2], backend="cuda")


# ------------------------------------------------------------ the emulator itself

RACY = r"""
extern "C" __global__ void racy(const int* in, int* out, int sync) {
  __shared__ int sh[64];
  sh[threadIdx.x] = in[threadIdx.x];
  if (sync) __syncthreads();
  out[threadIdx.x] = sh[(threadIdx.x + 1) % blockDim.x];
}
extern "C" __global__ void divergent(const int* in, int* out, int sync) {
  if (threadIdx.x < (unsigned)sync) __syncthreads();
  out[threadIdx.x] = in[threadIdx.x];
}
extern "C" __global__ void shuffled(const int* in, int* out, int sync) {
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, in[threadIdx.x], 1) + __ballot_sync(0xffffffffu, sync);
}
struct args { const int* in; int* out; long long sync; };
#define ENTRY(k) extern "C" void k##_entry(const void* a) { \
  const args* p = (const args*)a; k(p->in, p->out, (int)p->sync); }
ENTRY(racy)
ENTRY(divergent)
ENTRY(shuffled)
"""


@pytest.fixture(scope="module")
def hand_written():
    cuda_emulate.runtime()
    src = f'#include "{cuda.HEADER_NAME}"\n' + RACY
    return ctypes.CDLL(str(cuda_emulate._build("hand_written", src)))


def launch(lib, name, sync, order, block=64, first=0):
    x = np.arange(first, first + block, dtype=np.int32)
    out = np.zeros(block, np.int32)
    args = np.array([x.ctypes.data, out.ctypes.data, sync], np.uint64)
    msg = ctypes.create_string_buffer(512)
    entry = ctypes.cast(getattr(lib, f"{name}_entry"), ctypes.c_void_p).value
    if cuda_emulate.runtime()(entry, args.ctypes.data, 1, block, order, 7, msg, 512):
        raise CudaEmulationError(msg.value.decode())
    return out


def test_a_missing_barrier_shows_up_as_a_mismatch_between_thread_orders(hand_written):
    for order in (0, 1, 2):  # (new values each launch: shared memory keeps the last block's)
        want = np.roll(np.arange(100 * order, 100 * order + 64, dtype=np.int32), -1)
        np.testing.assert_array_equal(launch(hand_written, "racy", 1, order, first=100 * order), want)
    wrong = 0
    for order in (0, 1, 2):
        want = np.roll(np.arange(1000 * order, 1000 * order + 64, dtype=np.int32), -1)
        wrong += (launch(hand_written, "racy", 0, order, first=1000 * order) != want).any()
    assert wrong


def test_a_divergent_barrier_is_reported_not_waited_on(hand_written):
    np.testing.assert_array_equal(launch(hand_written, "divergent", 64, 0), np.arange(64))
    with pytest.raises(CudaEmulationError, match="divergent barrier"):
        launch(hand_written, "divergent", 10, 1)


def test_warp_shuffles_and_votes(hand_written):
    got = launch(hand_written, "shuffled", 1, 2)
    lane = np.arange(64) % 32
    want = np.where(lane < 31, np.arange(64) + 1, np.arange(64)) - 1  # (+ ballot of all: -1)
    np.testing.assert_array_equal(got, want)


def test_float16_conversions_round_as_numpy(rng):
    """Every float16 to float32 and back; float32 and float64 values near float16's
    roundings, subnormals and overflow to float16."""
    x, y = T.vector("x", dtype="float32"), T.vector("y", dtype="float64")
    h = T.vector("h", dtype="float16")
    f = ag.function([x, y, h], [T.cast(x, "float16"), T.cast(y, "float16"), T.cast(h, "float32")],
                    backend="cuda-emulated")
    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    with np.errstate(invalid="ignore"):  # (the NaNs among them)
        singles = np.concatenate([every.astype(np.float32) * np.float32(1 + 2 ** -11),
                                  every.astype(np.float32) * np.float32(1 - 2 ** -12),
                                  rng.standard_normal(4096).astype(np.float32) * 1e-5,
                                  np.float32([65504, 65519.99, 65520, 1e9, 2 ** -25, 2 ** -24 * 1.5])])
        doubles = singles.astype(np.float64) * (1 + 2 ** -30)
    with np.errstate(all="ignore"):
        got = f(singles, doubles, every)
        want = [singles.astype(np.float16), doubles.astype(np.float16), every.astype(np.float32)]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.view(np.uint16 if g.dtype == np.float16 else np.uint32)[~np.isnan(w)],
                                      w.view(g.view(np.uint16 if g.dtype == np.float16 else np.uint32).dtype)[
                                          ~np.isnan(w)])
        assert np.isnan(g[np.isnan(w)]).all()


@pytest.mark.skipif(not HAS_CUDA_COMPILER, reason="no NVRTC")
def test_the_ptxas_report_is_kept_per_kernel_and_cached():
    x = T.matrix("x")
    kernel = TI.kernel_of([x], [TI.ROWS["softmax"](x)])
    first = cuda_compile.compile_kernel(kernel)
    again = cuda_compile.compile_kernel(kernel)
    for arch in ARCHS:
        assert again[arch].cache_hit and again[arch].cubin == first[arch].cubin
        assert first[arch].report.registers > 0 and first[arch].report.shared > 0
        assert first[arch].report == again[arch].report


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="no nvcc")
def test_nvcc_compiles_the_same_source_as_nvrtc():
    """nvcc's own headers (cuda_runtime.h) define the fixed-width integers NVRTC needs the
    device header to define: the header yields to them (it redefined int64_t)."""
    x = T.matrix("x")
    kernel = TI.kernel_of([x], [TI.ROWS["softmax"](x)])
    _, _, log = cuda_compile._nvcc(cuda.render(kernel), kernel.name, "sm_90")
    report = cuda_compile.parse_report(log)
    assert report.registers > 0 and report.shared > 0 and not report.warnings


def test_dump_format_cuda_prints_each_kernels_cuda_c(tmp_path, capsys):
    from arignote.cli import main

    script = tmp_path / "script.py"
    script.write_text("import numpy as np, arignote as ag, arignote.tensor as T\n"
                      "x = T.matrix('x')\n"
                      "ag.function([x], [T.exp(x).sum(axis=1)])(np.ones((2, 3)))\n")
    assert main(["dump", "--format", "cuda", str(script)]) == 0
    out = capsys.readouterr().out
    assert 'extern "C" __global__ void' in out and "ag_lane_reduce" in out
    if cuda_compile.compiler_version() is not None:
        assert "// ptxas sm_80:" in out and "// ptxas sm_90:" in out


# ------------------------------------------------------------ random draws

def _draws(rng, x, dtype):
    """A dropout mask and uniform, normal, binomial and integer draws over ``x``'s shape."""
    u = rng.uniform(size=x.shape, dtype=dtype)
    return [x * (u < 0.8) / 0.8, u, rng.uniform(x.shape, low=-2, high=3, dtype=dtype),
            rng.integers(x.shape, 3, 20), rng.binomial(x.shape, n=4, p=0.3),
            rng.binomial(x.shape, n=9, p=0.5, dtype=dtype),
            rng.normal(x.shape, avg=1.0, std=2.0, dtype=dtype)]


@pytest.mark.parametrize("launch", ["default", "small"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(0, 3), (1, 1), (5, 7), (3, 1000)])
def test_random_draws_are_the_cpu_and_numpy_numbers_whatever_the_launch(shape, dtype, launch, monkeypatch):
    """Index and Extent are rendered (they were NotImplementedError): each element's
    number depends on its index only, not on the block size or the grid-stride loop
    ("small": blocks of 32, a grid of 2); every kernel is compiled by NVRTC for sm_80 and
    sm_90 where installed, and refused on a warning."""
    from arignote.tensor.random import RandomStreams
    if HAS_CUDA_COMPILER:
        monkeypatch.setenv("ARIGNOTE_CUDA_ARCHS", ",".join(ARCHS))
    if launch == "small":
        monkeypatch.setattr(cuda_emulate, "BLOCK", 32)
        monkeypatch.setattr(cuda_emulate, "MAX_GRID", 2)
    x = T.matrix("x", dtype=dtype)
    xv = np.ones(shape, dtype)
    rng = RandomStreams(3)
    outs = _draws(rng, x, dtype)
    results = {}
    for backend in ("numpy", "cpu", "cuda-emulated"):
        rng.seed(3)
        f = ag.function([x], outs, backend=backend)
        results[backend] = [[np.asarray(o) for o in f(xv)] for _ in range(2)]
    tol = {"float32": 2e-6, "float64": 1e-13}[dtype]
    for backend in ("cpu", "cuda-emulated"):
        for got, want in zip(results[backend], results["numpy"]):
            for k, (g, w) in enumerate(zip(got, want)):
                assert g.dtype == w.dtype and g.shape == w.shape, (backend, k)
                if k == len(outs) - 1:
                    np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=backend)
                else:
                    np.testing.assert_array_equal(g, w, err_msg=f"{backend} output {k}")
        np.testing.assert_array_equal(results[backend][0][1], results["cpu"][0][1])
    if xv.size > 1:
        assert not np.array_equal(results["cuda-emulated"][0][1], results["cuda-emulated"][1][1])


def test_a_draw_kernel_renders_its_index_and_extents_and_compiles_clean(monkeypatch):
    """The dropout kernel reads its element's index and its axes' extents (checked against
    the draw's size), and NVRTC compiles it for sm_80 and sm_90 without a warning."""
    from arignote.tensor.random import RandomStreams
    seen = []
    real = cuda_emulate.compile_kernels
    monkeypatch.setattr(cuda_emulate, "compile_kernels", lambda ks: seen.extend(ks) or real(ks))
    x = T.matrix("x", dtype="float32")
    f = ag.function([x], x * (RandomStreams(1).uniform(x.shape) < 0.8) / 0.8, backend="cuda-emulated")
    got = f(np.ones((5, 7), np.float32))
    assert got.shape == (5, 7) and set(np.unique(got)) <= {0.0, np.float32(1.25)}
    sources = [cuda.render(k) for k in seen]
    assert any("a.n[1]" in s and re.search(r"= \(int64_t\)i1;", s) for s in sources), sources
    for k in seen:
        check_compiles(k)


def test_draws_inside_reductions_and_row_kernels_are_the_reference_numbers(monkeypatch):
    """A draw read by each pass of a row kernel (softmax), by a row and a column reduction,
    and binomial with many trials (a fused reduction over its trials): Index of a reduced
    axis is declared inside each pass's loop."""
    from arignote.tensor.random import RandomStreams
    if HAS_CUDA_COMPILER:
        monkeypatch.setenv("ARIGNOTE_CUDA_ARCHS", ",".join(ARCHS))
    x, rng = T.matrix("x"), RandomStreams(1)
    u = rng.uniform(x.shape)
    outs = [T.nnet.softmax(x * u), (x * u).sum(axis=1), u.max(axis=0), rng.binomial((3, 4), n=200, p=0.3)]
    xv = np.random.default_rng(0).random((6, 300))
    results = {}
    for backend in ("numpy", "cuda-emulated"):
        rng.seed(1)
        f = ag.function([x], outs, backend=backend)
        results[backend] = [f(xv) for _ in range(2)]
    for got, want in zip(results["cuda-emulated"], results["numpy"]):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(results["cuda-emulated"][1][3], results["numpy"][1][3])


# ------------------------------------------------------------ vector loads and stores

def test_contiguous_elementwise_kernels_load_and_store_whole_vectors():
    x, y = T.fmatrix("x"), T.fmatrix("y")
    kernel = TI.kernel_of([x, y], [abs(x) * y + 1])
    source = cuda.render(kernel)
    assert "ag_vec<float> w0 = " in source and "vectors * 4" in source
    b = T.fvector("b")
    # a row read per point, a transposed read, a long function (four copies: registers)
    for other in (TI.kernel_of([x, b], [x + b]), TI.kernel_of([x, y], [x + y.T]),
                  TI.kernel_of([x, y], [T.tanh(x) * y])):
        assert "ag_vec" not in cuda.render(other)
    if HAS_CUDA_COMPILER:
        for binary in cuda_compile.compile_kernel(kernel).values():
            assert "ld.global.v4.f32" in binary.ptx and "st.global.v4.f32" in binary.ptx


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int8", "int64"])
@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 17, 64])
def test_the_vector_loop_and_its_tail_give_the_reference_values(dtype, n, rng):
    """Whole vectors, the tail the plain loop does, unaligned and strided views (the plain
    loop alone), a bool output and an in-place update."""
    x, y = T.vector("x", dtype=dtype), T.vector("y", dtype=dtype)
    outs = [x * y + x, x > y]
    f = ag.function([x, y], outs, backend="cuda-emulated")
    ref = ag.function([x, y], outs, backend="numpy")
    a = (rng.standard_normal(n + 2) * 4).astype(dtype)
    b = (rng.standard_normal(n + 2) * 4).astype(dtype)
    for args in ((a[:n], b[:n]), (a[1:n + 1], b[:n]), (a[:n], b[2:n + 2]), (a[::2][:n // 2], b[:n // 2])):
        for got, want in zip(f(*args), ref(*args)):
            np.testing.assert_array_equal(got, want)
    w = ag.shared(a[:n].copy())
    step = ag.function([y], [], updates=[(w, w * 2 + y)], backend="cuda-emulated")
    step(b[:n])
    np.testing.assert_array_equal(w.get_value(), a[:n] * 2 + b[:n])
