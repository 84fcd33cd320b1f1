"""Backend 'cuda''s launch path on the emulated device (ARIGNOTE_CUDA_DEVICE=emulated):
device arrays, argument packing, grid and block, gemm with cuBLAS's arguments,
shared variables resident on the device, and copies at a function's boundaries
only, with the reference's values. Without g++ the kernels cannot be emulated:
those tests skip; the device's memory and gemm need no compiler."""
import ctypes

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.compiler import cuda, cuda_compile, cuda_emulate, cuda_launch
from arignote.errors import ArignoteError
from arignote.runtime import cuda_gpu
from arignote.runtime.cuda_device import DeviceArray, EmulatedDevice, NoGpuError
from arignote.runtime import cuda_steps
from arignote.runtime.cuda_steps import matmul
from tests.util import assert_close

needs_gxx = pytest.mark.skipif(cuda_emulate.gxx() is None, reason="no C++ compiler (g++)")


@pytest.fixture
def device(monkeypatch):
    """The emulated device, selected as backend 'cuda''s, its counts reset."""
    monkeypatch.setenv(cuda_gpu.DEVICE_ENV, "emulated")
    d = cuda_gpu.select_device()
    assert isinstance(d, EmulatedDevice)
    d.reset_counts()
    return d


def copies(device, kind=None):
    """{(direction, kind): count} of the device's copies (of ``kind`` only, if given)."""
    return {k: n for k, n in device.transfers.items() if len(k) == 2 and kind in (None, k[1])}


# ------------------------------------------------------------ device arrays and gemm

def test_device_arrays_round_trip_views_and_count_their_copies(device):
    a = np.arange(24.0).reshape(4, 6)
    d = device.to_device(a)
    assert (d.shape, d.dtype, d.strides) == (a.shape, a.dtype, a.strides)
    back = d.get()
    assert np.array_equal(back, a) and not np.shares_memory(back, a)
    view = d.view((3, 3), (-48, 16), 3 * 48 + 8)  # a[3:0:-1, 1::2]: negative strides
    assert np.array_equal(view.get(), a[3:0:-1, 1::2])
    assert np.array_equal(view.copy().get(), a[3:0:-1, 1::2])
    assert copies(device) == {("h2d", "boundary"): 1, ("d2h", "boundary"): 3, ("d2d", "copy"): 1}
    with pytest.raises(ArignoteError, match=r"lives on the emulated CUDA device: read it with \.get\(\)"):
        np.asarray(d)
    d0 = device.to_device(np.float32(2.5))  # (0-d stays 0-d)
    assert d0.shape == () and d0.get() == np.float32(2.5)


def test_freed_device_memory_is_reused(device):
    ptr = device.empty((100,), "float64").ptr  # (freed at once: nothing refers to it)
    assert device.empty((100,), "float64").ptr == ptr


def test_pack_args_follows_the_kernel_abi():
    x, y = T.dmatrix("x"), T.dvector("y")
    f = ag.function([x, y], x + y, backend="interp", fusion=True)
    (kernel,) = [s.kernel for _, s, *_ in f.program.steps if getattr(s, "kernel", None) is not None]
    packed = cuda_launch.pack_args(kernel, [3, 4], [100, 200, 300], [(4, 1), (1,), (4, 1)], 999)
    n_ext, n_params, n_strides = cuda.args_layout(kernel)
    assert packed.dtype == np.int64 and len(packed) == n_ext + n_params + n_strides + 1
    assert list(packed[:2]) == [3, 4] and packed[-1] == 999
    assert list(packed[n_ext:n_ext + 3]) == [100, 200, 300]
    with pytest.raises(ValueError, match="strides expected"):
        cuda_launch.pack_args(kernel, [3, 4], [100, 200, 300], [(4, 1), (1,)], 999)


def test_launch_config_grid_stride_and_row_blocks():
    class Elementwise:
        reduce_axes = ()

    class Rows:
        reduce_axes = (1,)

    assert cuda_launch.launch_config(Elementwise, [1000], 256, 8) == (4, 256)
    assert cuda_launch.launch_config(Elementwise, [1000, 1000], 256, 8) == (8, 256)
    assert cuda_launch.launch_config(Elementwise, [0], 256, 8) == (0, 256)
    assert cuda_launch.launch_config(Rows, [3, 5000], 200, 8) == (3, 192)  # (a multiple of a warp)
    assert cuda_launch.launch_config(Rows, [30, 7], 2048, 8) == (8, 32)  # (a warp per short row)
    assert cuda_launch.launch_config(Rows, [30, 70], 2048, 8) == (8, 128)  # (no more than its lanes)
    assert [cuda_launch.lanes(n) for n in (0, 1, 32, 33, 200, 256, 10 ** 6)] == \
        [32, 32, 32, 64, 256, 256, 256]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", ["nn", "tn", "nt", "tt"])
def test_matmul_on_the_device_reads_transposed_operands_as_cublas_does(device, dtype, layout):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 3)).astype(dtype)
    b = rng.standard_normal((3, 4)).astype(dtype)
    da = device.to_device(a.T.copy()) if layout[0] == "t" else device.to_device(a)
    db = device.to_device(b.T.copy()) if layout[1] == "t" else device.to_device(b)
    if layout[0] == "t":  # the transposed view of a contiguous a.T: cuBLAS op T, no copy
        da = da.view((5, 3), da.strides[::-1], 0)
    if layout[1] == "t":
        db = db.view((3, 4), db.strides[::-1], 0)
    c = device.to_device(np.ones((5, 4), dtype))
    matmul(device, da, db, c, alpha=2.0, beta=0.5)
    assert_close(c.get(), 2 * a @ b + 0.5)
    assert device.transfers["d2h", "fallback"] == 0  # (no operand needed a copy)


def test_gemm_operand_without_a_contiguous_dimension_needs_a_copy():
    assert cuda_launch.gemm_operand((4, 3), (48, 16), 8) is None  # a[:, ::2] of a 4x6 array
    assert cuda_launch.gemm_operand((4, 3), (24, 8), 8) == (False, 3)
    assert cuda_launch.gemm_operand((4, 3), (8, 32), 8) == (True, 4)


# ------------------------------------------------------------ functions on backend 'cuda'

def _both(inputs, outputs, **kw):
    return (ag.function(inputs, outputs, backend="cuda", **kw),
            ag.function(inputs, outputs, backend="numpy", **kw))


@needs_gxx
def test_elementwise_rows_reductions_and_a_product_match_the_reference(device):
    x, y, v = T.dmatrix("x"), T.dmatrix("y"), T.dvector("v")
    outs = [T.exp(x) * y + 1,                      # elementwise
            T.nnet.softmax(x),                     # a row kernel
            T.log(T.nnet.softmax(x + v)),          # another, with a broadcast row
            x.sum(axis=0), (x * y).max(axis=1),    # reductions
            T.tanh(T.dot(x, y.T) + v[:5])]          # gemm, then its epilogue as a kernel
    f, ref = _both([x, y, v], outs)
    rng = np.random.default_rng(0)
    args = [rng.standard_normal((5, 7)), rng.standard_normal((5, 7)), rng.standard_normal(7)]
    device.reset_counts()
    for got, want in zip(f(*args), ref(*args)):
        assert isinstance(got, np.ndarray)
        assert_close(got, want)
    # copies at the boundaries only: each input in, each output out
    assert copies(device) == {("h2d", "boundary"): 3, ("d2h", "boundary"): len(outs)}
    assert not device.fallbacks


@needs_gxx
def test_large_reductions_split_on_the_device_with_the_same_bits_for_every_block(device, monkeypatch):
    """A vector's sum and a tall matrix's column sums on the device split into partials
    and a combine kernel (the GPU's launch code, its limits lowered to the emulator's):
    the bits of backend 'cuda-emulated', whatever the block size and thread order; the
    partials stay on the device."""
    monkeypatch.setattr(cuda_steps, "SPLIT", cuda_emulate.SPLIT)
    split_calls = []
    launches = cuda_launch.SplitReduction.launches
    monkeypatch.setattr(cuda_launch.SplitReduction, "launches",
                        lambda self, *a: split_calls.append(self.kernel.name) or launches(self, *a))
    x, m = T.vector("x"), T.fmatrix("m")
    outs = [x.sum(), m.sum(axis=0) * 2]
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(5000), rng.standard_normal((3000, 4)).astype("float32")]
    want = ag.function([x, m], outs, backend="cuda-emulated")(*args)
    assert len(split_calls) == 2
    f = ag.function([x, m], outs, backend="cuda")
    split_calls.clear()
    for block in (32, 64, 256):
        for order in (0, 1, 2):
            monkeypatch.setattr(EmulatedDevice, "BLOCK", block)
            monkeypatch.setattr(cuda_emulate, "ORDER", order)
            device.reset_counts()
            got = f(*args)
            assert [g.tobytes() for g in got] == [w.tobytes() for w in want], (block, order)
            assert copies(device) == {("h2d", "boundary"): 2, ("d2h", "boundary"): 2}
    assert len(split_calls) == 2 * 9
    assert_close(want[1], args[1].sum(axis=0) * 2)


def _regression(backend, target):
    """A linear regression's SGD step, its weights and bias shared (on ``target``)."""
    x, t = T.fmatrix("x"), T.fmatrix("t")
    W = ag.shared(np.linspace(-1, 1, 12, dtype="float32").reshape(4, 3), "W", target=target)
    b = ag.shared(np.zeros(3, "float32"), "b", target=target)
    cost = ((T.dot(x, W) + b - t) ** 2).mean()
    gW, gb = ag.grad(cost, [W, b])
    f = ag.function([x, t], cost, updates=[(W, W - 0.1 * gW), (b, b - 0.1 * gb)], backend=backend)
    return f, W, b


@needs_gxx
def test_an_sgd_step_with_device_resident_weights_matches_the_reference(device):
    f, W, b = _regression("cuda", "cuda")
    g, W0, b0 = _regression("numpy", None)
    assert isinstance(W.get_value(borrow=True, return_internal_type=True), DeviceArray)
    rng = np.random.default_rng(1)
    for step in range(3):
        x = rng.standard_normal((8, 4)).astype("float32")
        t = rng.standard_normal((8, 3)).astype("float32")
        device.reset_counts()
        assert_close(f(x, t), g(x, t))
        # x and t in, the cost out; the weights and their updates stay on the device (and the
        # sizes the host computes, 8 for the mean, go over once: Device.scalar keeps them)
        assert copies(device, "boundary") == {("h2d", "boundary"): 2, ("d2h", "boundary"): 1}
        if step:
            assert copies(device) == {("h2d", "boundary"): 2, ("d2h", "boundary"): 1}, step
        assert not device.fallbacks
    assert_close(W.get_value(), W0.get_value())
    assert_close(b.get_value(), b0.get_value())
    assert isinstance(W.get_value(), np.ndarray)


@needs_gxx
def test_ops_without_a_cuda_step_run_on_the_host_and_are_counted(device):
    """A softmax classifier picks its labels' probabilities with integer indexing: those ops
    (arange, the row pick) have no kernel yet and run on the host, their copies labelled."""
    x, y = T.dmatrix("x"), T.ivector("y")
    p = T.nnet.softmax(x)
    f, ref = _both([x, y], -T.mean(T.log(p)[T.arange(y.shape[0]), y]))
    args = [np.random.default_rng(2).standard_normal((6, 4)), np.array([0, 3, 1, 1, 2, 0], "int32")]
    device.reset_counts()
    assert_close(f(*args), ref(*args))
    assert device.fallbacks  # (which ops: see docs/gpu.md)
    assert sum(n for (_, kind), n in copies(device).items() if kind == "fallback") >= sum(
        device.fallbacks.values())
    assert copies(device, "boundary") == {("h2d", "boundary"): 2, ("d2h", "boundary"): 1}


@needs_gxx
def test_device_shared_variables_read_and_write_through_the_host(device):
    W = ag.shared(np.ones((2, 3)), "W", target="cuda")
    W.set_value(np.full((2, 3), 4.0))
    assert np.array_equal(W.get_value(), np.full((2, 3), 4.0))
    other = W.get_value(return_internal_type=True)
    W.set_value(other)  # (a device array: copied on the device)
    assert W.get_value(borrow=True, return_internal_type=True) is not other
    with pytest.raises(ArignoteError, match="holds float64, got a float32 DeviceArray"):
        W.set_value(device.to_device(np.ones((2, 3), "float32")))
    with pytest.raises(ArignoteError, match="W"):
        W.set_value(device.to_device(np.ones(3)))  # (a vector for a matrix)
    with pytest.raises(ArignoteError, match="W.*live on a device.*backend='cuda'"):
        ag.function([], W * 2, backend="cpu")
    with pytest.raises(ArignoteError, match="target must be one of"):
        ag.shared(np.ones(2), target="gpu")
    with pytest.raises(ArignoteError, match="target=.cuda. describes arrays"):
        ag.shared({"a": 1}, target="cuda")


def test_backend_cuda_without_a_gpu_says_how_to_emulate(monkeypatch):
    monkeypatch.delenv(cuda_gpu.DEVICE_ENV, raising=False)
    if cuda_gpu.gpu_missing() is None:
        pytest.skip("this machine has a GPU")
    x = T.dvector("x")
    with pytest.raises(NoGpuError, match="ARIGNOTE_CUDA_DEVICE=emulated"):
        ag.function([x], x * 2, backend="cuda")
    monkeypatch.setenv(cuda_gpu.DEVICE_ENV, "fpga")
    with pytest.raises(ArignoteError, match="expected one of gpu, emulated"):
        ag.function([x], x * 2, backend="cuda")


@needs_gxx
def test_a_one_kernel_function_still_copies_its_output_back(device):
    """A Function whose Program is one kernel has a direct call that skips Program.run; on
    the device it must not: the output would stay a DeviceArray."""
    x = T.dvector("x")
    f = ag.function([x], T.exp(x) * 2, backend="cuda")
    got = f(np.arange(3.0))
    assert isinstance(got, np.ndarray)
    assert_close(got, np.exp(np.arange(3.0)) * 2)


@needs_gxx
def test_an_update_of_a_device_variable_the_graph_does_not_read_stays_on_the_device(device):
    """(bench-gpu's form: inputs and result all shared on the device, no copies at all)"""
    a = ag.shared(np.arange(4.0), "a", target="cuda")
    out = ag.shared(np.zeros(4), "out", target="cuda")
    f = ag.function([], [], updates=[(out, a * 3 + 1)], backend="cuda")
    f()
    device.reset_counts()
    f()
    assert copies(device) == {}
    assert np.array_equal(out.get_value(), np.arange(4.0) * 3 + 1)


@needs_gxx
def test_a_kernel_error_flag_is_read_back_raised_as_the_reference_says_and_reset(device):
    """A random draw's size checked in the kernel: the flag set on the device becomes the
    reference's error naming the op; the next call runs clean."""
    from arignote.tensor.random import RandomStreams
    x, n = T.dvector("x"), T.lscalar("n")
    f = ag.function([x, n], x + RandomStreams(1).uniform(size=(n,)), backend="cuda", fusion=True)
    assert f(np.zeros(3), 3).shape == (3,)
    device.reset_counts()
    with pytest.raises(ArignoteError, match="do not match in dimension 0"):
        f(np.zeros(3), 4)
    assert device.transfers["d2h", "flag"] >= 1 and device.transfers["h2d", "flag"] == 1
    assert f(np.zeros(3), 3).shape == (3,)


# ------------------------------------------------------------ the real device's plumbing

class FakeDriver:
    """The few driver calls GpuDevice makes, answering as an H200 would, on host memory:
    no GPU runs here, but what GpuDevice passes the driver is checked."""

    class CUdevice_attribute:
        pass

    ATTRIBUTES = {"COMPUTE_CAPABILITY_MAJOR": 9, "COMPUTE_CAPABILITY_MINOR": 0, "MULTIPROCESSOR_COUNT": 132,
                  "MEMORY_CLOCK_RATE": 2_619_000, "GLOBAL_MEMORY_BUS_WIDTH": 6144}

    def __init__(self):
        for name in self.ATTRIBUTES:
            setattr(self.CUdevice_attribute, f"CU_DEVICE_ATTRIBUTE_{name}", name)
        self.memory, self.launches, self.contexts, self.modules = EmulatedDevice(), [], 0, 0

    def cuInit(self, flags):
        return (0,)

    def cuDeviceGet(self, ordinal):
        return 0, ordinal

    def cuDevicePrimaryCtxRetain(self, dev):
        return 0, "context"

    def cuCtxSetCurrent(self, ctx):
        self.contexts += 1
        return (0,)

    def cuDeviceGetName(self, size, dev):
        return 0, b"Fake H200".ljust(size, b"\0")

    def cuDeviceGetAttribute(self, attr, dev):
        return 0, self.ATTRIBUTES[attr]

    def cuMemAlloc(self, nbytes):
        return 0, self.memory._malloc(nbytes)

    def cuMemFree(self, ptr):
        self.memory._free(ptr)
        return (0,)

    def cuMemcpyHtoD(self, dst, src, nbytes):
        self.memory._htod(dst, src, nbytes)
        return (0,)

    cuMemcpyDtoH = cuMemcpyDtoD = cuMemcpyHtoD

    def cuModuleLoadData(self, image):
        assert isinstance(image, bytes) and image[:4] == b"\x7fELF"  # (a cubin)
        self.modules += 1
        return 0, "module"

    def cuModuleGetFunction(self, module, name):
        return 0, (module, name)

    def cuOccupancyMaxPotentialBlockSize(self, function, size_of, shared, limit):
        return 0, 264, 768

    def cuLaunchKernel(self, f, gx, gy, gz, bx, by, bz, shared, stream, params, extra):
        packed = ctypes.c_void_p.from_address(params).value  # kernelParams[0]: the ag_args
        self.launches.append((f, (gx, gy, gz), (bx, by, bz), np.frombuffer(
            (ctypes.c_int64 * 4).from_address(packed), np.int64).copy()))
        return (0,)

    def cuCtxSynchronize(self):
        return (0,)


@pytest.mark.skipif(not cuda_compile.nvrtc_available(), reason="no NVRTC (the cuda extra)")
def test_gpu_device_passes_the_driver_what_it_documents():
    from arignote.runtime.cuda_gpu import GpuDevice
    fake = FakeDriver()
    gpu = GpuDevice(driver=fake)
    assert (gpu.name, gpu.arch, gpu.sm_count) == ("Fake H200", "sm_90", 132)
    assert gpu.bandwidth == pytest.approx(4.02e12, rel=0.01)  # 2 x 2.619 GHz x 6144 bits / 8
    a = np.arange(6.0).reshape(2, 3)
    assert np.array_equal(gpu.to_device(a).get(), a)
    x = T.dvector("x")
    f = ag.function([x], x * 2, backend="interp", fusion=True)
    (kernel,) = [s.kernel for _, s, *_ in f.program.steps if getattr(s, "kernel", None) is not None]
    function = gpu.get_function(gpu.load_module(gpu.build(kernel)), cuda.symbol(kernel.name))
    assert function == ("module", cuda.symbol(kernel.name).encode())
    assert gpu.block_size(function) == (768, 4 * 264)
    packed = np.array([10, 111, 222, 1], np.int64)
    gpu.launch(function, 5, 768, 0, packed)
    (f_, grid, block, args), = fake.launches
    assert (grid, block) == ((5, 1, 1), (768, 1, 1)) and np.array_equal(args, packed)
    assert fake.contexts == 1  # (made current once on this thread)


class FakeCublas:
    """cuBLAS's gemm as GpuDevice calls it through ctypes, computed by the emulated device."""

    def __init__(self, memory):
        self.memory = memory

    def gemm(self, dtype, handle, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        assert handle == "handle"
        self.memory.gemm(np.dtype(dtype), ta, tb, m, n, k, alpha._obj.value, a.value, lda, b.value, ldb,
                         beta._obj.value, c.value, ldc)
        return 0

    def cublasSgemm_v2(self, *args):
        return self.gemm("float32", *args)

    def cublasDgemm_v2(self, *args):
        return self.gemm("float64", *args)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gpu_device_gemm_passes_cublas_its_arguments(dtype):
    from arignote.runtime.cuda_gpu import GpuDevice
    fake = FakeDriver()
    gpu = GpuDevice(driver=fake)
    gpu._blas = FakeCublas(fake.memory), "handle"
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 3)).astype(dtype), rng.standard_normal((4, 5)).astype(dtype)
    da = gpu.to_device(a)
    c = gpu.empty((3, 5), dtype)
    matmul(gpu, da.view((3, 4), da.strides[::-1], 0), gpu.to_device(b), c)  # a.T @ b
    assert_close(c.get(), a.T @ b)


@pytest.mark.skipif(not cuda_compile.nvrtc_available(), reason="no NVRTC (the cuda extra)")
def test_a_function_on_the_gpu_loads_its_kernels_once_and_launches_each_per_call(monkeypatch):
    """Backend 'cuda' on GpuDevice (a stand-in driver: nothing runs, the calls are checked):
    the Program's kernels compiled together for sm_90 and loaded as one module, each kernel
    launched once a call with the grid and block of the occupancy answer, the product
    through cuBLAS, the copies at the boundaries only."""
    from arignote.runtime.cuda_gpu import GpuDevice
    fake = FakeDriver()
    gpu = GpuDevice(driver=fake)
    gpu._blas = FakeCublas(fake.memory), "handle"
    monkeypatch.delenv(cuda_gpu.DEVICE_ENV, raising=False)
    monkeypatch.setitem(cuda_gpu._devices, "gpu", gpu)
    x, y = T.fmatrix("x"), T.fmatrix("y")
    f = ag.function([x, y], [T.exp(x) * y, T.nnet.softmax(x), T.dot(x, y.T)], backend="cuda",
                    fusion=True)
    assert fake.modules == 1
    args = [np.ones((5, 7), "float32")] * 2
    gpu.reset_counts()  # (building copied each launcher's error flag over: 'constant')
    outs = f(*args)
    assert [o.shape for o in outs] == [(5, 7), (5, 7), (5, 5)]
    grids = sorted((grid, block) for _, grid, block, _ in fake.launches)
    assert grids == [((1, 1, 1), (768, 1, 1)), ((5, 1, 1), (32, 1, 1))]  # (35 points; a warp per short row)
    assert copies(gpu) == {("h2d", "boundary"): 2, ("d2h", "boundary"): 3}
    f(*args)
    assert len(fake.launches) == 4 and fake.modules == 1


@pytest.mark.skipif(not cuda_compile.nvrtc_available(), reason="no NVRTC (the cuda extra)")
def test_a_large_sum_on_the_gpu_runs_on_many_blocks_then_one_combine_block(monkeypatch):
    """sum(x) of 2**17 floats on GpuDevice (a stand-in driver: nothing runs): a partial
    kernel over 16 blocks of 8192 points (the GPU's limits, never the device's size), then a
    combine block over the 16 partials; a plain launch for a short vector."""
    from arignote.runtime.cuda_gpu import GpuDevice
    fake = FakeDriver()
    gpu = GpuDevice(driver=fake)
    monkeypatch.delenv(cuda_gpu.DEVICE_ENV, raising=False)
    monkeypatch.setitem(cuda_gpu._devices, "gpu", gpu)
    x = T.fvector("x")
    f = ag.function([x], x.sum(), backend="cuda")
    f(np.ones(1 << 17, "float32"))
    assert [(grid, block) for _, grid, block, _ in fake.launches] == \
        [((16, 1, 1), (256, 1, 1)), ((1, 1, 1), (32, 1, 1))]
    assert fake.modules == 3  # (the Program's, then the partial and combine kernels')
    fake.launches.clear()
    f(np.ones(1000, "float32"))
    assert [(grid, block) for _, grid, block, _ in fake.launches] == [((1, 1, 1), (256, 1, 1))]
