"""The NVRTC check of kernels (``cuda_compile.reports``/``check_kernels``): kernels compiled
together in large programs, yet each error, warning and spill pinned on its own kernel;
each kernel's report cached by its own source (a re-run compiles nothing); kernels
deferred to a directory and checked there (``make test``'s cuda-emulated tier)."""
import pytest

from arignote.compiler import cuda_compile
from arignote.compiler.cuda_compile import Checked, CudaCompileError

needs_nvrtc = pytest.mark.skipif(not cuda_compile.nvrtc_available(), reason="no NVRTC (the cuda extra)")


def kernel(name, body, elementwise=True, head=""):
    source = f'extern "C" __global__ void {head} {name}(float* x, int n) {{ {body} }}'
    return Checked(name, source, name, elementwise, False)


OK = "x[threadIdx.x] *= 2.0f;"
UNUSED = "int unused = 3; x[threadIdx.x] += 1.0f;"
#: 96 values live at once under 32 registers (1024 threads, 2 blocks a multiprocessor)
SPILLS = """float v[96];
  #pragma unroll
  for (int i = 0; i < 96; ++i) v[i] = x[i * n + threadIdx.x];
  float s = 0.0f;
  #pragma unroll
  for (int i = 0; i < 96; ++i) s += v[i] * v[95 - i] / (v[(i * 7) % 96] + 1.0f);
  #pragma unroll
  for (int i = 0; i < 96; ++i) x[i * n + threadIdx.x] = v[i] * s;"""


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ARIGNOTE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ARIGNOTE_CUDA_CHECK_DIR", raising=False)


@pytest.fixture
def compiled(monkeypatch):
    """The kernels each NVRTC program is compiled for, a list per program."""
    runs, compile_group = [], cuda_compile._compile_group

    def counted(group, arch):
        runs.append([c.name for c in group])
        return compile_group(group, arch)
    monkeypatch.setattr(cuda_compile, "_compile_group", counted)
    return runs


@needs_nvrtc
def test_an_error_names_its_kernel_not_the_others_of_its_program():
    kernels = [kernel(f"k_ok{i}", OK) for i in range(5)] + [kernel("k_broken", "x[0] = nowhere;")]
    with pytest.raises(CudaCompileError, match="k_broken: NVRTC could not compile it for sm_90") as e:
        cuda_compile.reports(kernels, ("sm_90",))
    assert "k_ok" not in str(e.value).split("\n")[0]


@needs_nvrtc
def test_warnings_and_spills_are_each_kernels_own(compiled):
    kernels = [kernel("k_ok", OK), kernel("k_unused", UNUSED),
               kernel("k_spills", SPILLS, head="__launch_bounds__(1024, 2)"),
               kernel("k_spills_rows", SPILLS, elementwise=False, head="__launch_bounds__(1024, 2)")]
    found = cuda_compile.reports(kernels, ("sm_80", "sm_90"))
    assert len(compiled) == 2  # (one program per architecture)
    for arch in ("sm_80", "sm_90"):
        ok, unused, spills, rows = ((k, found[k, arch]) for k in kernels)
        assert cuda_compile.problems(*ok) == []
        assert [w for w in cuda_compile.problems(*unused) if "unused" in w]
        assert any("spills in an elementwise kernel" in p for p in cuda_compile.problems(*spills))
        assert spills[1].spill_stores > 0 and rows[1].spill_stores > 0
        assert not any("elementwise" in p for p in cuda_compile.problems(*rows))
    with pytest.raises(CudaCompileError) as e:
        cuda_compile._raise_problems(kernels, found)
    message = str(e.value)
    assert "k_unused on sm_80" in message and "k_spills on sm_90: spills in an elementwise kernel" in message
    assert "k_ok on" not in message


@needs_nvrtc
def test_a_rerun_compiles_only_the_kernels_not_seen_before(compiled):
    first = [kernel(f"k_{i}", OK) for i in range(3)]
    before = cuda_compile.reports(first, ("sm_90",))
    assert compiled == [["k_0", "k_1", "k_2"]]
    again = cuda_compile.reports([*first, kernel("k_new", UNUSED)], ("sm_90",))
    assert compiled[1:] == [["k_new"]]
    assert all(again[k, "sm_90"] == before[k, "sm_90"] for k in first)


def test_deferred_kernels_are_written_once_and_checked_together(tmp_path, monkeypatch, compiled):
    where = tmp_path / "kernels"
    for k in ([kernel("k_a", OK), kernel("k_b", OK)], [kernel("k_a", OK)]):
        cuda_compile.defer(k, str(where))
    assert len(list(where.iterdir())) == 2
    assert cuda_compile.check_dir(str(tmp_path / "nothing")) == 0
    monkeypatch.setenv("ARIGNOTE_CUDA_ARCHS", "")
    assert cuda_compile.main(str(where)) == 0  # (no architecture asked for: nothing checked)
    monkeypatch.delenv("ARIGNOTE_CUDA_ARCHS")
    if cuda_compile.nvrtc_available():
        assert cuda_compile.check_dir(str(where), ("sm_90",)) == 2
        assert [sorted(names) for names in compiled] == [["k_a", "k_b"]]
        cuda_compile.defer([kernel("k_unused", UNUSED)], str(where))
        assert cuda_compile.main(str(where)) == 1


# ------------------------------------------------------------ kernels of real graphs

def _kernels(inputs, outputs):
    import dataclasses

    import arignote as ag
    from arignote.runtime.backends import get
    f = ag.function(inputs, outputs, backend="cpu", fusion=True)
    cpu = get("cpu")
    return [dataclasses.replace(cpu.kernel(n), schedule=None) for n in f.fgraph.toposort()
            if hasattr(n.op, "kernel_node") and cpu.kernel(n) is not None]


def test_a_kernel_holding_hundreds_of_values_may_spill_and_calls_its_transcendentals():
    """A deep chain's gradient fused into one kernel keeps every activation until the
    backward pass: spills there are no renderer fault (the check allows them); its many
    tanh are called, not inlined each (inlined, 750 float64 tanh used 255 registers)."""
    import arignote as ag
    import arignote.tensor as T
    from arignote.compiler import cuda
    x = T.dvector("x")
    v = x
    for k in range(300):
        v = T.tanh(v) if k % 2 else v * 0.999 + 0.001
    (deep,) = _kernels([x], [v, ag.grad(v.sum(), x)])
    assert cuda_compile.most_live(deep) > cuda_compile.MANY_LIVE and Checked.of(deep).may_spill
    assert "__noinline__" in cuda.render(deep)
    (short,) = _kernels([x], [T.tanh(x) * 2 + x])
    assert cuda_compile.most_live(short) < 8 and not Checked.of(short).may_spill
    assert "__forceinline__" in cuda.render(short) and "__noinline__" not in cuda.render(short)


def test_long_bodies_keep_to_the_plain_loop():
    """An int64 power decomposes into some 100 values: four copies of it in a thread (the
    vector loop) spilled, so it has none; a short body has one."""
    import arignote.tensor as T
    from arignote.compiler import cuda
    x, y = T.lvector("x"), T.lscalar("y")
    (power,) = _kernels([x, y], [x ** y])
    (short,) = _kernels([x, y], [x * y + x])
    assert "ag_vec" not in cuda.render(power) and "ag_vec" in cuda.render(short)


def test_the_cpu_backend_keeps_its_kernels_cuda_c_for_the_check(tmp_path, monkeypatch):
    """``make test`` checks the CUDA C of every kernel its cpu runs make (not only those of
    the emulated runs): with ``$ARIGNOTE_CUDA_CHECK_DIR`` set the cpu backend writes each
    there, scheduled for the GPU anew, and ``check_dir`` reads them back."""
    import numpy as np

    import arignote as ag
    import arignote.tensor as T
    where = tmp_path / "kernels"
    monkeypatch.setenv("ARIGNOTE_CUDA_CHECK_DIR", str(where))
    monkeypatch.setenv("ARIGNOTE_CUDA_ARCHS", "sm_80")  # (what to check for, NVRTC or not)
    x = T.matrix("x")
    f = ag.function([x], [T.nnet.softmax(x), x.sum(axis=0) * 2], backend="cpu", fusion=True)
    np.testing.assert_allclose(f(np.ones((2, 3)))[1], [4, 4, 4])
    files = sorted(where.iterdir())
    assert len(files) >= 2 and all('extern \\"C\\" __global__' in p.read_text() for p in files)
    if cuda_compile.nvrtc_available():
        assert cuda_compile.check_dir(str(where), ("sm_80",)) == len(files)
