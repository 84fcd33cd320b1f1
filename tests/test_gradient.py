"""Symbolic differentiation: grad and its options, the gradient-shaping
identities, Lop/Rop, jacobian/hessian, second order, and verify_grad itself.
Every derivative is checked against finite differences or a closed form."""
import pickle
import warnings

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote import gradient as G
from arignote.errors import (ArignoteTypeError, ArignoteValueError, DisconnectedInputError,
                             GradientError, ShapeError)
from arignote.graph.basic import Apply
from arignote.graph.op import Op
from arignote.graph.type import TensorType
from arignote.verify import numeric_grad
from tests.util import assert_close, rand


def fn(inputs, outputs, **kw):
    return ag.function(inputs, outputs, on_unused_input="ignore", **kw)


def numeric_jacobian(f, x, eps=1e-6):
    """d f(x) / d x by central differences: shape f(x).shape + x.shape."""
    x = np.array(x, dtype="float64")
    out = np.asarray(f(x))
    jac = np.zeros(out.shape + x.shape)
    for idx in np.ndindex(*x.shape):
        hi, lo = x.copy(), x.copy()
        hi[idx] += eps
        lo[idx] -= eps
        jac[(...,) + idx] = (np.asarray(f(hi)) - np.asarray(f(lo))) / (2 * eps)
    return jac


def vec(n, name="x", dtype="float64"):
    return T.tensor(dtype, (n,), name=name)


A3 = np.array([[1.0, 2.0, -1.0], [0.5, -3.0, 2.0], [4.0, 0.0, 1.5]])


# ------------------------------------------------------------ grad: results

def test_grad_returns_the_shape_of_wrt():
    x, y = T.dvector("x"), T.dmatrix("y")
    cost = (x ** 2).sum() + (y * 3).sum()
    assert isinstance(ag.grad(cost, x), T.TensorVariable)
    assert isinstance(ag.grad(cost, [x, y]), list)
    assert isinstance(ag.grad(cost, (x, y)), tuple)
    gx, gy = ag.grad(cost, [x, y])
    xv, yv = rand((3,)), rand((2, 2))
    rx, ry = fn([x, y], [gx, gy])(xv, yv)
    assert_close(rx, 2 * xv)
    assert_close(ry, np.full((2, 2), 3.0))


def test_grad_sums_every_path_and_of_cost_itself():
    x = T.dscalar("x")
    c = x * x + x + T.exp(x) * x
    f = fn([x], [ag.grad(c, x), ag.grad(c, c)])
    g, one = f(0.7)
    assert_close(g, np.float64(2 * 0.7 + 1 + np.exp(0.7) * 1.7))
    assert_close(one, np.float64(1.0))


def test_grad_of_shared_variable():
    w = ag.shared(np.array([1.0, -2.0, 3.0]), name="w")
    x = T.dvector("x")
    g = ag.grad((w * x).sum() + (w ** 2).sum(), w)
    assert_close(fn([x], g)(np.ones(3)), 1 + 2 * w.get_value())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grad_keeps_the_dtype(dtype):
    x = T.tensor(dtype, (None,), "x")
    g = ag.grad(T.tanh(x * 2).sum(), x)
    assert g.dtype == dtype
    xv = rand((4,), dtype)
    assert_close(fn([x], g)(xv), (2 * (1 - np.tanh(2 * xv) ** 2)).astype(dtype))


def test_grad_of_composition_against_finite_differences():
    # softmax cross-entropy written out with reductions, against a one-hot target
    def loss(w, x):
        z = T.dot(x, w)
        logp = z - T.logsumexp(z, axis=1, keepdims=True)
        return -(logp * T.constant(np.eye(3)[[0, 2, 1, 2]])).sum(axis=1).mean()
    ag.verify_grad(loss, [rand((2, 3)), rand((4, 2))])


def test_softmax_cross_entropy_with_integer_labels():
    x, W, b, y = T.dmatrix("x"), T.dmatrix("W"), T.dvector("b"), T.lvector("y")
    p = T.nnet.softmax(T.dot(x, W) + b)
    cost = -T.log(p[T.arange(y.shape[0]), y]).mean()
    gW, gb = ag.grad(cost, [W, b])
    with pytest.raises(ArignoteTypeError, match="int64"):
        ag.grad(cost, y)
    xv, Wv, bv = rand((5, 4)), rand((4, 3), rng=np.random.default_rng(1)), rand((3,))
    yv = np.array([0, 2, 1, 2, 0])
    z = xv @ Wv + bv
    pv = np.exp(z - z.max(1, keepdims=True))
    pv /= pv.sum(1, keepdims=True)
    delta = (pv - np.eye(3)[yv]) / 5
    rW, rb = fn([x, W, b, y], [gW, gb])(xv, Wv, bv, yv)
    assert_close(rW, xv.T @ delta)
    assert_close(rb, delta.sum(0))
    labels = T.constant(yv)
    ag.verify_grad(lambda a, w: -T.log(T.nnet.softmax(T.dot(a, w))[T.arange(5), labels]).mean(),
                  [xv, Wv])


def test_deep_chain_has_no_recursion_limit():
    x = T.dscalar("x")
    y = x
    for _ in range(700):  # 1400 nodes deep: past Python's recursion limit
        y = T.sin(y) + 0.1 * y
    g = ag.grad(y, x)
    assert np.isfinite(fn([x], g, mode="none")(0.3))


# ------------------------------------------------------------ grad: errors

def test_wrt_integer_is_a_clear_error():
    x = T.ivector("counts")
    with pytest.raises(ArignoteTypeError, match="'counts'.*int32.*float"):
        ag.grad(T.cast(x, "float64").sum(), x)


def test_wrt_not_a_variable():
    x = T.dvector("x")
    with pytest.raises(ArignoteTypeError, match="wrt must hold symbolic"):
        ag.grad(x.sum(), np.ones(3))


def test_non_scalar_cost_is_a_clear_error():
    x = T.dvector("x")
    with pytest.raises(ArignoteTypeError, match="scalar.*1 dimensions.*sum"):
        ag.grad(x * 2, x)


def test_integer_cost_is_an_error():
    x = T.dvector("x")
    with pytest.raises(ArignoteTypeError, match="cost.*int64"):
        ag.grad(T.argmax(x), x)
    with pytest.raises(ArignoteTypeError, match="cost must be a symbolic"):
        ag.grad(1.0, x)


def test_bad_options():
    x = T.dscalar("x")
    with pytest.raises(ArignoteValueError, match="disconnected_inputs"):
        ag.grad(x, x, disconnected_inputs="maybe")
    with pytest.raises(ArignoteValueError, match="return_disconnected"):
        ag.grad(x, x, return_disconnected="nan")
    with pytest.raises(ArignoteValueError, match="give a cost"):
        ag.grad(None, x)
    with pytest.raises(ArignoteTypeError, match="consider_constant"):
        ag.grad(x * 2, x, consider_constant=[2.0])


class _NoGrad(Op):
    """An op without a gradient, to check the error names the op and the line."""

    def make_node(self, x):
        return Apply(self, [x], [x.type])

    def perform(self, node, inputs):
        return [inputs[0].copy()]


def test_missing_gradient_names_the_op_and_the_line():
    x = T.dvector("x")
    y = _NoGrad()(x)
    with pytest.raises(NotImplementedError, match="_NoGrad.*test_gradient.py"):
        ag.grad(y.sum(), x)


# ------------------------------------------------------------ disconnected inputs

def test_disconnected_raise_warn_ignore():
    x, y = T.dvector("x"), T.dvector("unused")
    cost = (x ** 2).sum()
    with pytest.raises(DisconnectedInputError, match="'unused'.*disconnected_inputs='ignore'"):
        ag.grad(cost, [x, y])
    with pytest.warns(UserWarning, match="'unused'"):
        gx, gy = ag.grad(cost, [x, y], disconnected_inputs="warn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gy2 = ag.grad(cost, y, disconnected_inputs="ignore")
    assert_close(fn([x, y], gy)(np.ones(2), np.ones(3)), np.zeros(3))
    assert_close(fn([y], gy2)(np.ones(3)), np.zeros(3))
    assert ag.grad(cost, [x, y], disconnected_inputs="ignore", return_disconnected="none")[1] is None
    assert ag.grad(cost, y, disconnected_inputs="ignore", return_disconnected="disconnected") is None


@pytest.mark.parametrize("discrete", [
    lambda x: T.cast(T.gt(x, 0), "float64").sum(),
    lambda x: T.cast(T.argmax(x), "float64"),
    lambda x: T.cast(T.eq(x, x.max()), "float64").sum() + T.cast(T.shape(x)[0], "float64"),
    lambda x: T.cast(T.cast(x, "int64"), "float64").sum(),
], ids=["comparison", "argmax", "eq-and-shape", "cast-to-int"])
def test_integer_outputs_are_disconnected(discrete):
    x = T.dvector("x")
    with pytest.raises(DisconnectedInputError):
        ag.grad(discrete(x), x)
    g = ag.grad(discrete(x) + (x * 3).sum(), x)
    assert_close(fn([x], g)(np.array([1.0, -2.0, 0.5])), np.full(3, 3.0))


def test_piecewise_constant_ops_are_connected_with_zero_gradient():
    x = T.dvector("x")
    g = ag.grad(T.floor(x).sum(), x)
    assert_close(fn([x], g)(np.array([0.3, 1.7])), np.zeros(2))


# ------------------------------------------------------------ consider_constant, known_grads

def test_consider_constant_argument():
    x = T.dvector("x")
    y = T.exp(x)
    g = ag.grad((x * y).sum(), x, consider_constant=[y])
    xv = rand((3,))
    assert_close(fn([x], g)(xv), np.exp(xv))
    with pytest.raises(DisconnectedInputError):
        ag.grad(y.sum(), x, consider_constant=[y])


def test_known_grads_alone_and_with_a_cost():
    x = T.dvector("x")
    y = T.tanh(x) * 2
    v = T.dvector("v")
    g = ag.grad(None, x, known_grads={y: v})
    xv, vv = rand((3,)), rand((3,), rng=np.random.default_rng(1))
    dy = 2 * (1 - np.tanh(xv) ** 2)
    assert_close(fn([x, v], g)(xv, vv), dy * vv)
    # with a cost: the known gradient of y adds to what flows through the cost
    g2 = ag.grad((x ** 2).sum(), x, known_grads={y: v})
    assert_close(fn([x, v], g2)(xv, vv), 2 * xv + dy * vv)
    # a NumPy gradient is taken as a constant; its dtype follows the variable
    g3 = ag.grad(None, x, known_grads={y: np.ones(3, "float32")})
    assert_close(fn([x], g3)(xv), dy)


def test_known_grads_errors():
    x, i = T.dvector("x"), T.ivector("i")
    y = x * 2
    with pytest.raises(ArignoteTypeError, match="2 dimensions"):
        ag.grad(None, x, known_grads={y: T.dmatrix()})
    with pytest.raises(ShapeError, match="static shape"):
        ag.grad(None, vec(3), known_grads={vec(3) * 2: np.ones(4)})
    with pytest.raises(ArignoteTypeError, match="int32"):
        ag.grad(None, x, known_grads={i: np.ones(3)})
    with pytest.raises(ArignoteTypeError, match="keys must be symbolic"):
        ag.grad(None, x, known_grads={"y": np.ones(3)})
    with pytest.raises(ArignoteTypeError, match="float gradient"):
        ag.grad(None, x, known_grads={y: i})


# ------------------------------------------------------------ gradient-shaping identities

def test_identities_leave_values_alone():
    x = T.dmatrix("x")
    xv = rand((2, 3))
    outs = [G.zero_grad(x), G.disconnected_grad(x), G.consider_constant(x), G.grad_clip(x, -1, 1)]
    for o in outs:
        assert o.type == x.type
    for r in fn([x], outs)(xv):
        assert_close(r, xv)


def test_zero_grad_and_consider_constant():
    x = T.dvector("x")
    xv = rand((3,))
    for helper in (G.zero_grad, G.consider_constant):
        g = ag.grad((helper(x) * x).sum(), x)
        assert_close(fn([x], g)(xv), xv)
        # connected, so no error: the gradient is zeros
        assert_close(fn([x], ag.grad(helper(x).sum(), x))(xv), np.zeros(3))


def test_disconnected_grad():
    x = T.dvector("x")
    xv = rand((3,))
    g = ag.grad((G.disconnected_grad(x) * x).sum(), x)
    assert_close(fn([x], g)(xv), xv)
    with pytest.raises(DisconnectedInputError):
        ag.grad(G.disconnected_grad(x).sum(), x)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grad_clip(dtype):
    x = T.tensor(dtype, (None,), "x")
    y = G.grad_clip(x, -1.0, 0.5)
    g = ag.grad((y * T.constant(np.array([3.0, -3.0, 0.2], dtype))).sum(), x)
    assert g.dtype == dtype
    assert_close(fn([x], g)(np.ones(3, dtype)), np.array([0.5, -1.0, 0.2], dtype))
    # the clip acts on the gradient flowing back, not on the value
    g2 = ag.grad((G.grad_clip(x, -1, 1) ** 2).sum(), x)
    assert_close(fn([x], g2)(np.array([0.2, 3.0, -5.0], dtype)), np.array([0.4, 1.0, -1.0], dtype))


def test_grad_clip_errors():
    x = T.dvector("x")
    with pytest.raises(ArignoteValueError, match="exceeds"):
        G.grad_clip(x, 1, -1)
    with pytest.raises(ArignoteTypeError, match="must be a number"):
        G.grad_clip(x, T.dscalar(), 1)
    with pytest.raises(ArignoteValueError, match="kind"):
        G.GradOverride("reverse")


def test_identities_are_values_that_pickle():
    assert G.GradOverride("zero") == G.GradOverride("zero")
    assert G.GradOverride("clip", -1, 1) == G.GradOverride("clip", -1.0, 1.0)
    assert G.GradOverride("clip", -1, 1) != G.GradOverride("clip", -1, 2)
    assert hash(G.GradOverride("disconnected")) == hash(G.GradOverride("disconnected"))
    x = T.dvector("x")
    outs = [G.zero_grad(x), G.disconnected_grad(x), G.grad_clip(x, -2, 3)]
    back = pickle.loads(pickle.dumps(outs))
    assert [o.owner.op for o in back] == [o.owner.op for o in outs]
    assert "clip" in str(outs[2].owner.op)


def test_identities_infer_shape():
    x = T.dmatrix("x")
    node = G.zero_grad(x).owner
    shape = (T.constant(np.int64(2)), T.constant(np.int64(5)))
    assert node.op.infer_shape(node, [shape]) == [shape]


def test_second_order_through_identities():
    x = T.dscalar("x")
    g = ag.grad(G.grad_clip(x, -100, 100) ** 3, x)
    gg = ag.grad(g, x)
    assert_close(fn([x], gg)(2.0), np.float64(12.0))
    h = ag.grad(ag.grad(G.zero_grad(x) * x ** 2, x), x)  # d2/dx2 of c*x^2 with c held
    assert_close(fn([x], h)(3.0), np.float64(6.0))


# ------------------------------------------------------------ second order

def test_grad_of_grad_of_cube():
    x = T.dvector("x")
    g = ag.grad((x ** 3).sum(), x)
    gg = ag.grad(g.sum(), x)
    xv = rand((4,))
    assert_close(fn([x], gg)(xv), 6 * xv)
    s = T.dscalar("s")
    third = ag.grad(ag.grad(ag.grad(s ** 3, s), s), s)
    assert_close(fn([s], third)(1.3), np.float64(6.0))


def test_hessian_vector_products_agree():
    x, v = T.dvector("x"), T.dvector("v")
    A = T.constant(A3)
    cost = T.dot(x, T.dot(A, x)) + T.exp(x).sum()
    g = ag.grad(cost, x)
    hv_rop = G.Rop(g, x, v)
    hv_dot = ag.grad(T.dot(g, v), x)
    hv_lop = G.Lop(g, x, v)  # the Hessian is symmetric
    xv, vv = rand((3,)), rand((3,), rng=np.random.default_rng(5))
    expected = (A3 + A3.T + np.diag(np.exp(xv))) @ vv
    for r in fn([x, v], [hv_rop, hv_dot, hv_lop])(xv, vv):
        assert_close(r, expected)


# ------------------------------------------------------------ Lop / Rop

def _tanh_affine(x):
    return T.tanh(T.dot(T.constant(A3[:2]), x)) * 2


def _tanh_affine_np(x):
    return np.tanh(A3[:2] @ x) * 2


def test_lop_against_finite_differences():
    x, v = T.dvector("x"), T.dvector("v")
    xv, vv = rand((3,)), np.array([0.3, -1.2])
    J = numeric_jacobian(_tanh_affine_np, xv)
    got = fn([x, v], G.Lop(_tanh_affine(x), x, v))(xv, vv)
    np.testing.assert_allclose(got, vv @ J, rtol=1e-7, atol=1e-8)
    listed = G.Lop([_tanh_affine(x)], [x], [v])
    assert isinstance(listed, list) and len(listed) == 1
    with pytest.raises(ArignoteValueError, match="2 expressions but 1"):
        G.Lop([x, x], x, [v])


def test_rop_against_finite_differences():
    x, v = T.dvector("x"), T.dvector("v")
    xv, vv = rand((3,)), np.array([0.3, -1.2, 0.5])
    J = numeric_jacobian(_tanh_affine_np, xv)
    # the dummy cotangent of the double-reverse trick must not leak: x and v suffice
    got = ag.function([x, v], G.Rop(_tanh_affine(x), x, v))(xv, vv)
    np.testing.assert_allclose(got, J @ vv, rtol=1e-7, atol=1e-8)


def test_rop_lists_and_several_wrt():
    x, y = T.dvector("x"), T.dmatrix("y")
    vx, vy = T.dvector("vx"), T.dmatrix("vy")
    f1 = T.dot(y, x)            # depends on both
    f2 = (x ** 2).sum()         # on x only
    r1, r2 = G.Rop([f1, f2], [x, y], [vx, vy])
    xv, yv = rand((3,)), rand((2, 3))
    vxv, vyv = rand((3,), rng=np.random.default_rng(3)), rand((2, 3), rng=np.random.default_rng(4))
    got1, got2 = fn([x, y, vx, vy], [r1, r2])(xv, yv, vxv, vyv)
    assert_close(got1, yv @ vxv + vyv @ xv)
    assert_close(got2, np.float64(2 * xv @ vxv))
    assert isinstance(G.Rop((f1,), (x,), (vx,)), tuple)


def test_rop_repeated_wrt_adds_up():
    x, v = T.dvector("x"), T.dvector("v")
    r = G.Rop(x * 3, [x, x], [v, v])
    assert_close(fn([x, v], r)(np.ones(2), np.array([1.0, 2.0])), np.array([6.0, 12.0]))


def test_rop_of_identities():
    x, v = T.dvector("x"), T.dvector("v")
    xv, vv = np.array([2.0, -1.0]), np.array([3.0, 4.0])
    outs = [G.Rop(x, x, v), G.Rop(G.zero_grad(x) * x, x, v), G.Rop(G.grad_clip(x, -1, 1) * 5, x, v)]
    r_id, r_zero, r_clip = fn([x, v], outs)(xv, vv)
    assert_close(r_id, vv)
    assert_close(r_zero, xv * vv)      # the zero_grad factor is held constant
    assert_close(r_clip, 5 * vv)       # clipping acts on reverse mode only


def test_rop_disconnected_outputs():
    x, y, v = T.dvector("x"), T.dvector("y"), T.dvector("v")
    with pytest.raises(DisconnectedInputError, match="does not depend"):
        G.Rop(y * 2, x, v)
    with pytest.raises(DisconnectedInputError):
        G.Rop(T.argmax(x), x, v)
    with pytest.warns(UserWarning):
        r = G.Rop(y * 2, x, v, disconnected_outputs="warn")
    assert_close(fn([y], r)(np.ones(4)), np.zeros(4))
    assert G.Rop(y * 2, x, v, disconnected_outputs="ignore", return_disconnected="none") is None
    assert G.Rop(G.disconnected_grad(x), x, v, disconnected_outputs="ignore",
                 return_disconnected="none") is None


def test_rop_errors():
    x = T.dvector("x")
    with pytest.raises(ShapeError, match="eval point"):
        G.Rop(x * 2, x, T.dmatrix())
    with pytest.raises(ShapeError, match="eval point"):
        G.Rop(vec(3) * 2, vec(3), np.ones(4))
    with pytest.raises(ArignoteValueError, match="1 wrt but 2"):
        G.Rop(x * 2, x, [x, x])
    with pytest.raises(ArignoteValueError, match="disconnected_outputs"):
        G.Rop(x * 2, x, x, disconnected_outputs="no")


# ------------------------------------------------------------ jacobian / hessian

def test_jacobian_of_vector_wrt_matrix_and_vector():
    x, w = vec(3, "x"), T.dmatrix("w")
    y = T.tanh(T.dot(T.constant(A3[:2]), x) + T.dot(w, x))
    assert y.type.shape == (2,)
    jx, jw = G.jacobian(y, [x, w])
    xv, wv = rand((3,)), rand((2, 3), rng=np.random.default_rng(7))
    gx, gw = fn([x, w], [jx, jw])(xv, wv)
    assert gx.shape == (2, 3) and gw.shape == (2, 2, 3)

    def f_np(xx, ww):
        return np.tanh(A3[:2] @ xx + ww @ xx)
    np.testing.assert_allclose(gx, numeric_jacobian(lambda a: f_np(a, wv), xv), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gw, numeric_jacobian(lambda a: f_np(xv, a), wv), rtol=1e-6, atol=1e-8)
    single = G.jacobian(y, x)
    assert isinstance(single, T.TensorVariable)


def test_jacobian_of_scalar_is_the_gradient():
    x = T.dvector("x")
    j = G.jacobian((x ** 2).sum(), x)
    assert_close(fn([x], j)(np.array([1.0, 2.0])), np.array([2.0, 4.0]))


def test_jacobian_errors_and_edges():
    x = vec(3)
    with pytest.raises(ArignoteTypeError, match="must be a vector.*flatten"):
        G.jacobian(T.dmatrix() * 2, x)
    d = T.dvector("d")  # a length known only at run time: one scan step per element
    jd = G.jacobian(d * x.sum(), [x, d])
    got = fn([d, x], jd)(np.arange(2.0), np.ones(3))
    assert_close(got[0], np.outer(np.arange(2.0), np.ones(3)))
    assert_close(got[1], 3 * np.eye(2))
    assert_close(fn([d, x], jd)(np.zeros(0), np.ones(3))[0], np.zeros((0, 3)))
    with pytest.raises(ArignoteTypeError, match="int64"):
        G.jacobian(T.cast(x, "int64"), x)
    unused = T.dmatrix("unused")
    with pytest.raises(DisconnectedInputError, match="'unused'"):
        G.jacobian(x * 2, [x, unused])
    jx, ju = G.jacobian(x * 2, [x, unused], disconnected_inputs="ignore")
    rx, ru = fn([x, unused], [jx, ju])(np.ones(3), np.ones((2, 4)))
    assert_close(rx, 2 * np.eye(3))
    assert_close(ru, np.zeros((3, 2, 4)))
    empty = G.jacobian(vec(0) * 2, x, disconnected_inputs="ignore")
    assert_close(fn([x], empty)(np.ones(3)), np.zeros((0, 3)))


def test_hessian_of_quadratic_form():
    x = vec(3, "x")
    A = T.dmatrix("A")
    H = G.hessian(T.dot(x, T.dot(A, x)), x)
    got = fn([x, A], H)(rand((3,)), A3)
    assert_close(got, A3 + A3.T)


def test_hessian_against_finite_differences():
    x, y = vec(4, "x"), vec(2, "y")
    cost = (x ** 3).sum() * y.sum() + T.exp(y).prod()
    hx, hy = G.hessian(cost, [x, y])
    xv, yv = rand((4,)), rand((2,), rng=np.random.default_rng(2))
    gx, gy = fn([x, y], [hx, hy])(xv, yv)

    def grad_x(a):
        return 3 * a ** 2 * yv.sum()

    def grad_y(b):
        return (xv ** 3).sum() + np.exp(b) * np.exp(b).prod() / np.exp(b)
    np.testing.assert_allclose(gx, numeric_jacobian(grad_x, xv), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gy, numeric_jacobian(grad_y, yv), rtol=1e-6, atol=1e-7)
    assert_close(gx, np.diag(6 * xv * yv.sum()))


def test_hessian_edges():
    x = vec(3, "x")
    H = G.hessian((x * T.constant(A3[0])).sum(), x)     # linear: the Hessian is zero
    assert_close(fn([x], H)(np.ones(3)), np.zeros((3, 3)))
    with pytest.raises(ArignoteTypeError, match="vectors"):
        G.hessian(T.dmatrix().sum(), T.dmatrix())
    # a length known only at run time: the rows are the steps of a scan
    v = T.dvector("v")
    hv = fn([v], G.hessian((v ** 3).sum() * v.sum(), v))
    a = np.array([1.0, -2.0])
    want = np.diag(6 * a * a.sum()) + 3 * (a ** 2)[:, None] + 3 * (a ** 2)[None, :]
    assert_close(hv(a), want)
    assert hv(np.zeros(0)).shape == (0, 0)
    assert isinstance(G.hessian((x ** 2).sum(), [x]), list)


# ------------------------------------------------------------ verify_grad

def test_verify_grad_is_public_above_the_runtime():
    assert T.verify_grad is ag.verify_grad and T.numeric_grad is numeric_grad
    assert not hasattr(G, "verify_grad")  # the gradient layer sits below the runtime: it cannot compile


class _WrongSquare(Op):
    """x * y, with a deliberately wrong gradient for y (3 x instead of x)."""

    def make_node(self, x, y):
        x, y = T.as_tensor_variable(x), T.as_tensor_variable(y)
        return Apply(self, [x, y], [TensorType(x.dtype, x.type.shape)])

    def perform(self, node, inputs):
        x, y = inputs
        return [x * y]

    def L_op(self, inputs, outputs, output_grads):
        (x, y), (gz,) = inputs, output_grads
        return [gz * y, gz * 3 * x]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


def test_verify_grad_catches_a_wrong_gradient():
    xv, yv = np.array([[1.0, -2.0], [0.5, 3.0]]), np.array([[0.7, 0.1], [0.2, -1.0]])
    with pytest.raises(GradientError, match=r"input 1 \(shape \(2, 2\)\).*index \(0, 0\)") as info:
        ag.verify_grad(lambda x, y: _WrongSquare()(x, y), [xv, yv])
    assert info.value.arg == 1
    assert info.value.abs_err > 0.1
    # a zero x hides the error in y at that entry: the reported index moves on
    xv[0, 0] = 0
    with pytest.raises(GradientError, match=r"index \(0, 1\)"):
        ag.verify_grad(lambda x, y: _WrongSquare()(x, y), [xv, yv])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(), (1,), (3,), (2, 1), (1, 3)])
@pytest.mark.parametrize("f", [
    lambda x: T.tanh(x) * T.exp(x),
    lambda x: T.sqrt(x * x + 1) / (x ** 2 + 2),
    lambda x: T.sum(x * 2) + T.log1p(x * x),
], ids=["tanh-exp", "sqrt-div", "sum-log1p"])
def test_verify_grad_passes_for_correct_gradients(f, shape, dtype):
    ag.verify_grad(f, [rand(shape, dtype)])


def test_verify_grad_several_inputs_broadcasting_and_empty():
    ag.verify_grad(lambda a, b: a * b + T.sin(a), [rand((3, 1)), rand((1, 4))])
    ag.verify_grad(lambda a: a * 2, [np.zeros((0, 3))])
    ag.verify_grad(lambda a, b: a * 2, [rand((2,)), rand((2,))])  # b disconnected: zeros on both sides


def test_verify_grad_tolerances():
    # a gradient 1e-3 off (relative): fine at rel_tol=1e-2, caught at float64's default 1e-4
    def slightly_off(x):
        return x * G.zero_grad(x * 0 + 1.001) - G.zero_grad(x * 0.001)  # value x, gradient 1.001
    pt = [np.array([2.0, 3.0])]
    ag.verify_grad(slightly_off, pt, abs_tol=1e-2, rel_tol=1e-2)
    with pytest.raises(GradientError):
        ag.verify_grad(slightly_off, pt)
    # float32 gets float32 tolerances: a float64 budget would be too tight for its noise
    ag.verify_grad(lambda x: T.exp(x) * 3, [rand((4,), "float32")])


@pytest.mark.parametrize("rng", [None, 3, np.random.default_rng(0), np.random.RandomState(0)],
                         ids=["default", "seed", "generator", "randomstate"])
def test_verify_grad_rngs(rng):
    ag.verify_grad(lambda x: x ** 2, [rand((2,))], rng=rng, n_tests=1)


def test_verify_grad_errors():
    with pytest.raises(ArignoteTypeError, match="float arrays only"):
        ag.verify_grad(lambda x: x * 2, [np.arange(3)])
    with pytest.raises(ArignoteTypeError, match="one variable"):
        ag.verify_grad(lambda x: [x, x], [rand((2,))])
    with pytest.raises(ArignoteTypeError, match="only float outputs"):
        ag.verify_grad(lambda x: T.argmax(x), [rand((2,))])
    with pytest.raises(ArignoteValueError, match="at least one"):
        ag.verify_grad(lambda: T.constant(1.0), [])


def test_numeric_grad_restores_its_point():
    pt = [np.array([1.0, 2.0])]
    (g,) = numeric_grad(lambda x: (x ** 2).sum(), pt, 1e-6)
    np.testing.assert_allclose(g, [2.0, 4.0], rtol=1e-6)
    assert_close(pt[0], np.array([1.0, 2.0]))
