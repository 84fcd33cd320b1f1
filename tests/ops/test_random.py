"""Random streams: API, shapes, dtypes, errors, state updates, and the same numbers on
every backend (numpy, interp, cpu fused and unfused), statistics with fixed seeds."""
import math
import pickle

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteTypeError, ArignoteValueError, ShapeError
from arignote.tensor.random import RandomStreams

#: (backend, fusion) pairs every cross-backend test runs on
BACKENDS = [("numpy", None), ("interp", True), ("interp", False), ("cpu", True), ("cpu", False)]


def compile_on(backend, fusion, inputs, outputs, **kw):
    if fusion is not None:
        kw["fusion"] = fusion
    return ag.function(inputs, outputs, backend=backend, **kw)


def run_everywhere(build, values=(), calls=2):
    """``build(rng)`` -> (inputs, outputs); each backend's results of ``calls`` calls,
    from a fresh stream seeded alike."""
    results = {}
    for backend, fusion in BACKENDS:
        inputs, outputs = build(RandomStreams(7))
        f = compile_on(backend, fusion, inputs, outputs)
        results[backend, fusion] = [[np.asarray(o) for o in f(*values)] for _ in range(calls)]
    return results


def assert_same(results, exact=True, rtol=0):
    ref = results["numpy", None]
    for key, got in results.items():
        for call_got, call_ref in zip(got, ref):
            for g, r in zip(call_got, call_ref):
                assert g.dtype == r.dtype and g.shape == r.shape, key
                if exact:
                    np.testing.assert_array_equal(g, r, err_msg=str(key))
                else:
                    np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol, err_msg=str(key))


# ------------------------------------------------------------ the same numbers everywhere

def test_dropout_uniforms_and_mask_are_bitwise_equal_on_every_backend():
    x = T.fmatrix("x")
    xv = np.ones((33, 70), "float32")

    def build(rng):
        u = rng.uniform(size=x.shape, dtype="float32")
        return [x], [x * (u < 0.8) / 0.8, u]
    results = run_everywhere(build, [xv])
    assert_same(results)
    (y0, u0), (y1, u1) = results["numpy", None]
    assert not np.array_equal(u0, u1)  # consecutive calls differ
    assert 0 <= u0.min() and u0.max() < 1


@pytest.mark.parametrize("shape, view", [((1,), None), ((3,), None), ((5,), None), ((7, 9), None),
                                         ((100_003,), None), ((6, 22), "columns"), ((10, 8), "transpose")])
def test_dropout_is_bitwise_equal_whatever_the_alignment_strides_and_chunks(shape, view):
    """The cpu backend walks a draw's rows in aligned groups of 4 (one Philox block each),
    with plain loops before and after, a loop for unit strides and one for any: rows that
    are not a multiple of 4, threads' chunks that start anywhere (100003 elements) and
    strided inputs (every other column; a transpose) all give the reference's numbers."""
    x = T.TensorType("float32", (None,) * len(shape))("x")
    xv = np.random.default_rng(0).standard_normal(shape, dtype="float32")
    if view == "columns":
        xv = np.repeat(xv, 2, axis=1)[:, ::2]
    elif view == "transpose":
        xv = np.ascontiguousarray(xv.T).T

    def build(rng):
        u = rng.uniform(size=x.shape, dtype="float32")
        return [x], [x * (u < 0.8) / 0.8, rng.normal(size=x.shape, dtype="float32"),
                     rng.uniform(size=x.shape, dtype="float64")]
    results = run_everywhere(build, [xv])
    ref = results.pop(("numpy", None))
    for key, got in results.items():
        for call_got, call_ref in zip(got, ref):
            np.testing.assert_array_equal(call_got[0], call_ref[0], err_msg=str(key))
            np.testing.assert_allclose(call_got[1], call_ref[1], rtol=2e-6, atol=2e-6, err_msg=str(key))
            np.testing.assert_array_equal(call_got[2], call_ref[2], err_msg=str(key))


@pytest.mark.parametrize("fusion", [True, False])
def test_draws_no_input_spans_are_compiled_kernels_too(fusion):
    """A draw returned alone, counts over a constant shape, every draw unfused: the kernel
    takes its extents from the draw's sizes (constant or symbolic), not from an input;
    no RandomDraw runs the reference, the numbers are the reference's, and a negative
    size is still the reference's error."""
    n = T.lscalar("n")

    def build(rng):
        return [n], [rng.uniform((n, 6), low=-1, high=2, dtype="float32"), rng.normal((5,)),
                     rng.binomial((3, 7), n=4, p=0.3), rng.integers((2, n), 0, 9)]
    inputs, outputs = build(RandomStreams(7))
    f = compile_on("cpu", fusion, inputs, outputs)
    assert not [node for node in f.fgraph.toposort() if node.op.__class__.__name__ == "RandomDraw"]
    results = {key: run for key, run in run_everywhere(build, [np.int64(5)]).items()
               if key in (("numpy", None), ("cpu", fusion), ("interp", fusion))}
    ref = results.pop(("numpy", None))
    for key, got in results.items():
        for call_got, call_ref in zip(got, ref):
            for k, (g, r) in enumerate(zip(call_got, call_ref)):
                assert g.dtype == r.dtype and g.shape == r.shape, key
                if k == 1:
                    np.testing.assert_allclose(g, r, rtol=1e-13, atol=1e-13, err_msg=str(key))
                else:
                    np.testing.assert_array_equal(g, r, err_msg=str(key))
    assert f(0)[0].shape == (0, 6)
    with pytest.raises(ArignoteValueError, match=r"size \(-2, 6\) has a negative entry"):
        f(-2)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_uniform_and_integers_bitwise_normals_close_on_every_backend(dtype):
    def build(rng):
        return [], [rng.uniform((5, 7), low=-2, high=3, dtype=dtype),
                    rng.integers((4, 9), 3, 20), rng.random_integers((11,), -5, 5, dtype="int32")]
    assert_same(run_everywhere(build))

    def normals(rng):
        return [], [rng.normal((6, 5), avg=1.0, std=2.0, dtype=dtype),
                    rng.truncated_normal((50,), dtype=dtype)]
    tol = {"float16": 2e-3, "float32": 2e-6, "float64": 1e-13}[dtype]
    assert_same(run_everywhere(normals), exact=False, rtol=tol)


def test_binomial_with_many_trials_is_a_fused_reduction_with_the_same_counts():
    p = T.dvector("p")

    def build(rng):
        return [p], [rng.binomial(size=(20, 3), n=9, p=p), rng.binomial(size=(4, 3), p=p, dtype="float32")]
    assert_same(run_everywhere(build, [np.array([0.1, 0.5, 0.9])]))


def test_multinomial_choice_permutation_are_equal_on_every_backend():
    def build(rng):
        return [], [rng.multinomial(pvals=np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]]), n=5),
                    rng.choice(size=(3, 4), a=5), rng.choice(size=(6,), a=np.arange(10.0), replace=False),
                    rng.choice(size=(7,), a=3, p=np.array([0.5, 0.25, 0.25])),
                    rng.choice(size=(2,), a=4, replace=False, p=np.array([0.1, 0.2, 0.3, 0.4])),
                    rng.permutation(6), rng.permutation(5, size=(2,))]
    results = run_everywhere(build)
    assert_same(results)
    counts, ints, picked, weighted, distinct, perm, perms = results["numpy", None][0]
    assert counts.sum(axis=1).tolist() == [5, 5] and counts[1].tolist() == [5, 0, 0]
    assert len(set(picked.tolist())) == 6 and len(set(distinct.tolist())) == 2
    assert sorted(perm.tolist()) == list(range(6)) and perms.shape == (2, 5)
    assert ints.min() >= 0 and ints.max() < 5 and weighted.max() < 3


def test_a_value_depends_on_seed_stream_count_and_index_only():
    """Chunking, shapes around it and the other draws change nothing: the first 10 values
    of a 10-element draw are those of a 1000-element one's first row (same stream, count)."""
    small = RandomStreams(5).uniform((10,))
    big = RandomStreams(5).uniform((10, 100))
    a = ag.function([], small, backend="cpu")()
    b = ag.function([], big, backend="cpu")()
    np.testing.assert_array_equal(a, b.ravel()[:10])


# ------------------------------------------------------------ shapes and dtypes

@pytest.mark.parametrize("size", [(), (0,), (1,), (3, 0, 2), (1, 1)])
def test_sizes_zero_and_one(size):
    rng = RandomStreams(1)
    f = ag.function([], [rng.uniform(size), rng.normal(size), rng.binomial(size, p=0.5)])
    for v in f():
        assert v.shape == size


def test_symbolic_and_mixed_sizes():
    rng = RandomStreams(1)
    x, n = T.matrix("x"), T.lscalar("n")
    f = ag.function([x, n], [rng.uniform(x.shape), rng.normal((n, 3)), rng.uniform((x.shape[0], 2, n))])
    a, b, c = f(np.zeros((4, 5)), 6)
    assert a.shape == (4, 5) and b.shape == (6, 3) and c.shape == (4, 2, 6)
    assert rng.uniform((2, 3)).type.shape == (2, 3)
    assert rng.uniform((n, 3)).type.shape == (None, 3)


def test_dtypes_default_to_floatx_and_follow_dtype():
    rng = RandomStreams(1)
    assert rng.uniform((2,)).dtype == ag.config.floatX
    assert rng.normal((2,), dtype="float32").dtype == "float32"
    assert rng.binomial((2,)).dtype == "int64"
    assert rng.binomial((2,), dtype="float32").dtype == "float32"
    assert rng.integers((2,), 0, 5, dtype="int16").dtype == "int16"


def test_parameters_broadcast_against_size():
    rng = RandomStreams(2)
    low = T.dvector("low")
    f = ag.function([low], rng.uniform((1000, 3), low=low, high=low + 1))
    v = f(np.array([0.0, 10.0, 100.0]))
    assert (v >= [0, 10, 100]).all() and (v < [1, 11, 101]).all()
    g = ag.function([], rng.normal(avg=np.array([0.0, 100.0]), std=np.array([1.0, 0.0])))
    z = g()
    assert z.shape == (2,) and z[1] == 100.0  # size None: the parameters' shape


# ------------------------------------------------------------ state, updates, seeding

def test_each_call_advances_the_state_unless_no_default_updates():
    rng = RandomStreams(9)
    u = rng.uniform((4,))
    f = ag.function([], u)
    a, b = f(), f()
    assert not np.array_equal(a, b)
    assert u.rng.get_value().tolist()[1] == 2
    frozen = ag.function([], u, no_default_updates=True)
    assert np.array_equal(frozen(), frozen())
    assert u.rng.get_value().tolist()[1] == 2
    assert u.update[0] is u.rng and u.rng.default_update is u.update[1]


def test_seed_restarts_every_stream_and_streams_differ():
    rng = RandomStreams(4)
    u, v = rng.uniform((5,)), rng.uniform((5,))
    f = ag.function([], [u, v])
    a1, b1 = f()
    f()
    rng.seed(4)
    a2, b2 = f()
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    assert not np.array_equal(a1, b1)
    rng.seed(5)
    assert not np.array_equal(f()[0], a1)
    assert RandomStreams(seed=4).uniform((5,)).eval() is not None


def test_state_reads_sets_and_pickles():
    rng = RandomStreams(4)
    u = rng.uniform((3,))
    f = ag.function([], u)
    saved = u.rng.get_value()
    a = f()
    u.rng.set_value(saved)
    np.testing.assert_array_equal(f(), a)
    state, g = pickle.loads(pickle.dumps((u.rng, f)))
    np.testing.assert_array_equal(g(), f())
    assert state.get_value().dtype == np.uint64


def test_theano_names():
    from arignote.sandbox.rng_mrg import MRG_RandomStreams
    from arignote.tensor.shared_randomstreams import RandomStreams as SRS
    assert MRG_RandomStreams is RandomStreams and SRS is RandomStreams
    assert T.random.RandomStreams is RandomStreams


def test_draws_get_no_gradient_but_affine_parameters_do():
    rng = RandomStreams(1)
    avg = T.dscalar("avg")
    z = rng.normal((3,), avg=avg)
    assert ag.function([avg], T.grad(z.sum(), avg))(1.0) == 3.0
    p = T.dscalar("p")
    with pytest.raises(ag.ArignoteTypeError):
        T.grad(rng.binomial((3,), p=p).sum(), p)


# ------------------------------------------------------------ bad input

@pytest.mark.parametrize("make, words", [
    (lambda r: r.binomial((3,), p=1.5), "p"),
    (lambda r: r.binomial((3,), p=-0.1), "p"),
    (lambda r: r.normal((3,), std=-1.0), "std"),
    (lambda r: r.uniform((3, -1)), "negative"),
    (lambda r: r.binomial((3,), n=2.5), "n"),
    (lambda r: r.binomial((3,), n=T.dscalar("k")), "n"),
    (lambda r: r.uniform((2.0, 3)), "integers"),
    (lambda r: r.uniform((3, 4), low=np.zeros(5)), "low"),
    (lambda r: r.binomial((3, 4), p=np.full((3, 5), 0.5)), "p"),
    (lambda r: r.uniform((3,), ndim=2), "ndim"),
    (lambda r: r.uniform((3,), dtype="int32"), "dtype"),
    (lambda r: r.integers((3,), 0, 2 ** 40), "high - low"),
    (lambda r: r.multinomial(pvals=np.array([[0.5, 0.7]])), "pvals"),
    (lambda r: r.choice((7,), a=5, replace=False), "without replacement"),
])
def test_bad_arguments_raise_naming_them(make, words):
    with pytest.raises((ArignoteTypeError, ArignoteValueError), match=words):
        make(RandomStreams(0))


def test_bad_symbolic_arguments_raise_at_run_time():
    rng = RandomStreams(0)
    p, s, n = T.dscalar("p"), T.dscalar("s"), T.lscalar("n")
    with pytest.raises(ArignoteValueError, match="p"):
        ag.function([p], rng.binomial((3,), p=p))(1.5)
    with pytest.raises(ArignoteValueError, match="std"):
        ag.function([s], rng.normal((3,), std=s))(-1.0)
    with pytest.raises(ArignoteValueError, match="negative"):
        ag.function([n], rng.uniform((n, 2)))(-3)


def test_a_size_that_disagrees_with_what_the_draw_meets_raises():
    rng = RandomStreams(0)
    x, n = T.matrix("x"), T.lscalar("n")
    f = ag.function([x, n], x * rng.uniform((n, x.shape[1])))
    assert f(np.ones((3, 2)), 3).shape == (3, 2)
    with pytest.raises(ShapeError):
        f(np.ones((3, 2)), 4)
    with pytest.raises(ShapeError):
        f(np.ones((3, 2)), 2)


# ------------------------------------------------------------ statistics (fixed seeds)

def draw(make, seed=11):
    return ag.function([], make(RandomStreams(seed)))()


def test_uniform_moments_and_chi_square_of_bins():
    u = draw(lambda r: r.uniform((100000,), dtype="float64"))
    assert abs(u.mean() - 0.5) < 4 * math.sqrt(1 / 12 / u.size)
    assert abs(u.var() - 1 / 12) < 0.003
    counts = np.bincount((u * 100).astype(int), minlength=100)
    chi2 = ((counts - 1000) ** 2 / 1000).sum()
    assert chi2 < 150  # 99 degrees of freedom: p(chi2 > 150) < 0.001


def test_normals_kolmogorov_smirnov_and_truncation():
    z = np.sort(draw(lambda r: r.normal((20000,), dtype="float64")))
    cdf = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    ks = max(np.abs(cdf - np.arange(1, z.size + 1) / z.size).max(),
             np.abs(cdf - np.arange(z.size) / z.size).max())
    assert ks < 1.63 / math.sqrt(z.size)  # the 1% critical value
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.02
    t = draw(lambda r: r.truncated_normal((20000,), avg=1.0, std=3.0))
    assert t.min() >= 1 - 6 and t.max() <= 1 + 6


def test_binomial_frequencies():
    b = draw(lambda r: r.binomial((20000,), n=4, p=0.25))
    freq = np.bincount(b, minlength=5) / b.size
    expected = [math.comb(4, k) * 0.25 ** k * 0.75 ** (4 - k) for k in range(5)]
    np.testing.assert_allclose(freq, expected, atol=0.015)


def test_integers_cover_their_range_evenly():
    v = draw(lambda r: r.random_integers((30000,), -3, 2))
    counts = np.bincount(v + 3)
    assert len(counts) == 6 and ((counts - 5000) ** 2 / 5000).sum() < 20.5  # 5 dof, p < 0.001


def test_two_streams_and_consecutive_calls_are_uncorrelated():
    rng = RandomStreams(3)
    f = ag.function([], [rng.normal((20000,), dtype="float64"), rng.normal((20000,), dtype="float64")])
    a, b = f()
    c, _ = f()
    for x, y in ((a, b), (a, c)):
        assert abs(np.corrcoef(x, y)[0, 1]) < 4 / math.sqrt(x.size)
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 4 / math.sqrt(a.size)  # neighbours
