"""Convolution and pooling steps of the kernel backends (cpu, interp): im2col and BLAS.

A convolution is an im2col and one matrix product per group:

* forward: ``cols[n] (C kh kw, Ho Wo)`` per image, ``out[n] = W (F, C kh kw)
  @ cols[n]``, a batched product that writes NCHW straight into the memory
  plan's storage, so the bias and activation after it fuse into one kernel
  that reads it once;
* filters' gradient: ``cols (C kh kw, N Ho Wo)`` for the whole batch and one
  product ``gz (F, N Ho Wo) @ cols.T``: the sum over images and positions is
  BLAS's;
* input's gradient: per image ``W.T @ gz[n]``, then col2im.

The window loops (im2col, col2im, max pooling and its gradient) are compiled
(:mod:`arignote.runtime.cpu_pack`) and split over (image, channel) planes on
the thread pool; the products run after them from the calling thread, on
BLAS's own threads: BLAS called from the pool's threads woke its threads from
each, which spun against each other (under load, several times slower). Each
plane is written by one call, so the result does not depend on the threads.
Without a compiled loop (a dtype it has none for: float16) the copies are NumPy's,
one strided copy per filter offset, and image chunks run copy and product
together on the pool. Scratch (the columns) is kept per step and thread and
reused call after call, as the memory plan reuses outputs: no fresh pages.
docs/design.md, "Convolution and pooling", has the measurements behind the
choices. Other dtypes and anything unusual run the op's ``perform``.
"""
import ctypes
import threading
from functools import partial

import numpy as np

from arignote.compiler import kernel as K
from arignote.compiler.helper_ir import CHAINED, CHAINED_FIELDS
from arignote.compiler.helper_ir import chained as chained_ir
from arignote.compiler.jit import helper_function
from arignote.compiler.launch import Call
from arignote.errors import ArignoteError, built_at, describe
from arignote.ops.conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights, out_size, paddings
from arignote.ops.pool import (AveragePoolGrad, MaxPoolGrad, Pool, average_pool_grad, max_pool_grad,
                               output_shape, pool_forward)
from arignote.runtime import cpu_pack
from arignote.runtime.cpu_pack import element_strides
from arignote.runtime.kernels import kernel_step
from arignote.runtime.threads import KernelRunner, chunk_bounds, parallel_for, run_parts


class _Scratch(threading.local):
    """Per-thread arrays by name, reused while shape and dtype stay the same."""

    def get(self, name, shape, dtype):
        buf = self.__dict__.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self.__dict__[name] = np.empty(shape, dtype)
        return buf


def _fast(node, tensors):
    """Whether the ``tensors`` inputs all have the output's float dtype (else ``perform``)."""
    dtype = node.outputs[0].type.numpy_dtype
    return dtype.kind == "f" and all(v.type.numpy_dtype == dtype for v in tensors)


def _maker(compute, check=None, tensors=2):
    """The step maker of one op class. Where the fast path does not apply (no plan
    storage, or one of the first ``tensors`` inputs, all with None, not of the output's
    float dtype) the step is the op's ``perform``; else a trusted step that runs
    ``check(node, args)``, the op's own checks without computing (its perform's: the
    step is trusted), then ``compute(node, args, take, scratch)`` into the plan's storage."""
    def make(backend, node, allocs=None, inplace=None):
        if not allocs or not _fast(node, node.inputs[:tensors]):
            return partial(node.op.perform, node)
        (take,), scratch = allocs, _Scratch()

        def run(args):
            if check is not None:
                check(node, args)
            return [compute(node, args, take, scratch)]

        run.trusted = True
        run.call = run
        return run

    make.__doc__ = compute.__doc__
    return make


def _done(out, nothing_to_sum):
    """Whether ``out`` needs no product: it is empty, or it is a sum of nothing (zeroed here)."""
    if out.size and nothing_to_sum:
        out[...] = 0
    return out.size == 0 or nothing_to_sum


def _geometry(op, hw, kshape):
    pads = paddings(op.border_mode, kshape, op.filter_dilation)
    out = tuple(out_size(s, k, p, st, d) for s, k, p, st, d in
                zip(hw, kshape, pads, op.subsample, op.filter_dilation))
    return pads, out


def _padded(x, pads, scratch, name):
    """``x`` with zeros around its spatial axes (in reused scratch), or ``x`` itself."""
    if pads == (0, 0):
        return x
    n, c, h, w = x.shape
    xp = scratch.get(name, (n, c, h + 2 * pads[0], w + 2 * pads[1]), x.dtype)
    xp[:, :, :pads[0]] = 0
    xp[:, :, h + pads[0]:] = 0
    xp[:, :, :, :pads[1]] = 0
    xp[:, :, :, w + pads[1]:] = 0
    xp[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + w] = x
    return xp


def _offsets(op, kshape, out_hw):
    """(u, v, row slice, column slice): the padded input under filter offset (u, v)."""
    (s0, s1), (d0, d1) = op.subsample, op.filter_dilation
    for u in range(kshape[0]):
        for v in range(kshape[1]):
            yield (u, v, slice(u * d0, u * d0 + out_hw[0] * s0, s0),
                   slice(v * d1, v * d1 + out_hw[1] * s1, s1))


def _dense(shape):
    """The element strides of a C-ordered array of ``shape``."""
    return tuple(int(np.prod(shape[k + 1:])) for k in range(len(shape)))


def _packer(what, op, image, kshape, out_hw, a_strides, b_strides, dtype):
    """The compiled window loop ``what`` (:mod:`.cpu_pack`) for ``op``'s geometry on
    images of shape ``image`` (C, H, W), or None (NumPy's copies then)."""
    pads = paddings(op.border_mode, kshape, op.filter_dilation)
    return cpu_pack.for_geometry(what, dtype.str, tuple(image), tuple(kshape), tuple(out_hw),
                                 op.subsample, op.filter_dilation, tuple(pads), a_strides, b_strides)


#: chunks per call at most: each chunk costs a few NumPy calls per filter offset, so
#: many small chunks cost more in Python than they win in parallelism (the split
#: does not change any value: each image's product is its own)
MAX_PARTS = 4


def _work(n, per_image, run):
    parallel_for(run, n, per_image, min_items=-(-n // MAX_PARTS))


def _flip(w, op):
    return w[:, :, ::-1, ::-1] if op.filter_flip else w


def _check_forward(node, args):
    x, w = args
    node.op._check(tuple(map(describe, node.inputs)), x.shape, w.shape, built_at(node))


def _forward(node, args, take, scratch):
    """Conv2d: im2col per image + a batched product, written into the plan's storage."""
    op, (x, w) = node.op, args
    g = op.num_groups
    n, c = x.shape[:2]
    f, cg, kh, kw = w.shape
    pads, (ho, wo) = _geometry(op, x.shape[2:], (kh, kw))
    out = take((n, f, ho, wo), x.dtype)
    if _done(out, cg * kh * kw == 0):
        return out
    pack = _packer("im2col", op, x.shape[1:], (kh, kw), (ho, wo), element_strides(x),
                   _dense((1, c, kh, kw, ho, wo)), x.dtype)
    wmat = np.ascontiguousarray(_flip(w, op)).reshape(g, f // g, cg * kh * kw)
    outv = out.reshape(n, g, f // g, ho * wo)
    if pack:
        cols = scratch.get("cols", (n, c, kh, kw, ho, wo), x.dtype)
        _work(n * c, kh * kw * ho * wo, partial(cpu_pack.call, pack, (x, cols)))
        colv = cols.reshape(n, g, cg * kh * kw, ho * wo)
        for k in range(g):
            np.matmul(wmat[k], colv[:, k], out=outv[:, k])
        return out
    xp = _padded(x, pads, scratch, "xp")
    offsets = list(_offsets(op, (kh, kw), (ho, wo)))

    def chunk(start, end):
        cols = scratch.get("cols", (end - start, c, kh, kw, ho, wo), x.dtype)
        for u, v, rows, cols_ in offsets:
            np.copyto(cols[:, :, u, v], xp[start:end, :, rows, cols_])
        colv = cols.reshape(end - start, g, cg * kh * kw, ho * wo)
        for k in range(g):
            np.matmul(wmat[k], colv[:, k], out=outv[start:end, k])

    _work(n, c * kh * kw * ho * wo * max(f // 4, 1), chunk)
    return out


def _columns(op, x, kshape, out_hw, scratch):
    """im2col for the whole batch: (C, kh, kw, N, Ho, Wo), split over the pool."""
    n, c = x.shape[:2]
    cols = scratch.get("cols", (c, *kshape, n, *out_hw), x.dtype)
    st = element_strides(cols)
    pack = _packer("im2col", op, x.shape[1:], kshape, out_hw, element_strides(x),
                   (st[3], st[0], st[1], st[2], st[4], st[5]), x.dtype)
    if pack:
        _work(n * c, kshape[0] * kshape[1] * out_hw[0] * out_hw[1],
              partial(cpu_pack.call, pack, (x, cols)))
        return cols
    pads = paddings(op.border_mode, kshape, op.filter_dilation)
    xt = _padded(x, pads, scratch, "xp").transpose(1, 0, 2, 3)
    offsets = list(_offsets(op, kshape, out_hw))

    def chunk(start, end):
        for u, v, rows, cols_ in offsets:
            np.copyto(cols[start:end, u, v], xt[start:end, :, rows, cols_])

    _work(c, n * kshape[0] * kshape[1] * out_hw[0] * out_hw[1], chunk)
    return cols


def _by_filter(gz, scratch):
    """``gz`` (N, F, Ho, Wo) as a contiguous (F, N Ho Wo) matrix."""
    n, f, ho, wo = gz.shape
    gzt = scratch.get("gzt", (f, n, ho, wo), gz.dtype)
    np.copyto(gzt, gz.transpose(1, 0, 2, 3))
    return gzt.reshape(f, n * ho * wo)


def _check_grad_weights(node, args):
    op, (x, gz, kh, kw) = node.op, args
    op._check_grad((describe(node.inputs[0]), "of the given size"), node.inputs[1], x.shape,
                   (gz.shape[1], x.shape[1] // op.num_groups, int(kh), int(kw)), gz.shape,
                   built_at(node))


def _grad_weights(node, args, take, scratch):
    """Conv2dGradWeights: im2col of the batch, then one product per group (BLAS sums)."""
    op, (x, gz, kh, kw) = node.op, args
    g = op.num_groups
    kshape = (int(kh), int(kw))
    n, c = x.shape[:2]
    f, cg = gz.shape[1], c // g
    out = take((f, cg, *kshape), gz.dtype)
    if _done(out, gz.size == 0):
        return out
    cols = _columns(op, x, kshape, gz.shape[2:], scratch)
    colm = cols.reshape(g, cg * kshape[0] * kshape[1], -1)
    gzm = _by_filter(gz, scratch).reshape(g, f // g, -1)
    res = out.reshape(g, f // g, cg * kshape[0] * kshape[1]) if not op.filter_flip else \
        scratch.get("gw", (g, f // g, cg * kshape[0] * kshape[1]), gz.dtype)
    for k in range(g):
        np.matmul(gzm[k], colm[k].T, out=res[k])
    if op.filter_flip:
        np.copyto(out, res.reshape(out.shape)[:, :, ::-1, ::-1])
    return out


def _check_grad_inputs(node, args):
    op, (w, gz, h, wd) = node.op, args
    op._check_grad(("of the given size", describe(node.inputs[0])), node.inputs[1],
                   (gz.shape[0], w.shape[1] * op.num_groups, int(h), int(wd)), w.shape,
                   gz.shape, built_at(node))


def _grad_inputs(node, args, take, scratch):
    """Conv2dGradInputs: per image, ``W.T @ gz[n]`` (a batched product reading gz as it
    is), then col2im (compiled, or one strided add per filter offset)."""
    op, (w, gz, h, wd) = node.op, args
    g = op.num_groups
    f, cg, kh, kw = w.shape
    n, (ho, wo) = gz.shape[0], gz.shape[2:]
    c, hw = cg * g, (int(h), int(wd))
    pads, _ = _geometry(op, hw, (kh, kw))
    out = take((n, c, *hw), gz.dtype)
    if _done(out, gz.size == 0 or f == 0):
        return out
    direct = pads == (0, 0)
    unpack = _packer("col2im", op, (c, *hw), (kh, kw), (ho, wo), _dense((1, c, *hw)),
                     _dense((1, c, kh, kw, ho, wo)), gz.dtype)
    wmat = np.ascontiguousarray(_flip(w, op)).reshape(g, f // g, cg * kh * kw)
    wt = [np.ascontiguousarray(wmat[k].T) for k in range(g)]
    gzv = gz.reshape(n, g, f // g, ho * wo)
    offsets = list(_offsets(op, (kh, kw), (ho, wo)))
    frame = (hw[0] + 2 * pads[0], hw[1] + 2 * pads[1])

    if unpack:
        cols = scratch.get("cols", (n, g, cg * kh * kw, ho * wo), gz.dtype)
        for k in range(g):
            np.matmul(wt[k], gzv[:, k], out=cols[:, k])
        _work(n * c, hw[0] * hw[1] * kh * kw, partial(cpu_pack.call, unpack, (out, cols)))
        return out

    def chunk(start, end):
        m = end - start
        cols = scratch.get("cols", (m, g, cg * kh * kw, ho * wo), gz.dtype)
        for k in range(g):
            np.matmul(wt[k], gzv[start:end, k], out=cols[:, k])
        colv = cols.reshape(m, c, kh, kw, ho, wo)
        target = out[start:end] if direct else scratch.get("gxp", (m, c, *frame), gz.dtype)
        target[...] = 0
        for u, v, rows, cols_ in offsets:
            part = target[:, :, rows, cols_]
            np.add(part, colv[:, :, u, v], out=part)
        if not direct:
            np.copyto(out[start:end], target[:, :, pads[0]:pads[0] + hw[0], pads[1]:pads[1] + hw[1]])

    _work(n, c * kh * kw * ho * wo * max(f // 4, 1), chunk)
    return out


# ------------------------------------------------------------ pooling

def _pool(node, args, take, scratch):
    """Pool / MaxPoolGrad / AveragePoolGrad into the plan's storage, split over the
    leading axes (images, channels) on the thread pool: max pooling and its gradient by
    the compiled loops where they apply, else the ops' own strided-view code."""
    op, x = node.op, args[0]
    m = int(np.prod(x.shape[:-2]))
    flat = [a.reshape(m, *a.shape[-2:]) for a in args]
    pooled = output_shape(op, x.shape)
    if isinstance(op, Pool):
        out = take(pooled, x.dtype)
        if op.mode == "max" and out.size and _max_pool(op, flat, out, m):
            return out
        work = partial(_pool_part, pool_forward, op, flat, out.reshape(m, *pooled[-2:]))
    else:
        for k in range(1, len(args)):
            op._check_value(node, k, args[k], pooled)
        out = take(x.shape, x.dtype)
        if isinstance(op, MaxPoolGrad) and out.size and _max_pool_grad(op, flat, out, m):
            return out
        fn = max_pool_grad if isinstance(op, MaxPoolGrad) else _average_grad
        work = partial(_pool_part, fn, op, flat, out.reshape(m, *x.shape[-2:]))
    if out.size:
        _work(m, x.shape[-1] * x.shape[-2], work)
    return out


def _window_loop(what, op, x, pooled, a_strides, b_strides, m_strides=(0, 0, 0, 0), flag=0):
    """The compiled loop ``what`` over pooling windows (None: NumPy's code instead)."""
    return cpu_pack.for_geometry(what, x.dtype.str, (1, *x.shape[-2:]), op.ws, tuple(pooled),
                                 op.stride, (1, 1), op.pad, a_strides, b_strides, m_strides, flag)


def _max_pool_loop(op, x, out):
    """The compiled loop (ctypes function) of max pooling planes ``x`` (planes, 1, H,
    W) into ``out`` (planes, Ho, Wo), or None (not max pooling, or no loop for the dtype)."""
    if op.mode != "max":
        return None
    pooled = out.shape[-2:]
    return _window_loop("max_pool", op, x, pooled, element_strides(x), _dense((1, 1, *pooled)) + (0, 0))


def _max_pool(op, flat, out, m):
    """Pool (max) by the compiled loop where it applies; whether it did."""
    x = flat[0][:, None]
    fn = _max_pool_loop(op, x, out)
    if fn is None:
        return False
    _work(m, x.shape[-1] * x.shape[-2], partial(cpu_pack.call, fn, (out, x)))
    return True


def fused_pool_step(backend, node, allocs=None, inplace=None):
    """FusedPool (:mod:`arignote.passes.pool_fusion`): the group's kernel and the pool
    over the same chunks of images, each chunk pooled right after the kernel wrote it
    (in cache); with a compiled pooling loop both run natively, one chained call per
    chunk on the native pool. None, so that the inner graph runs, where the kernel does
    not write whole images per chunk of its outermost loop."""
    op = node.op
    group = op.kernel_node(node)
    kernel = backend.kernel(group)
    if not allocs or kernel is None or not _chunks_images(kernel):
        return None
    step = kernel_step(backend, group, allocs[:1])
    take, pool = allocs[1], op.pool

    def run(args):
        call = step.prepare(args)
        x = call.outputs[0]
        out = take(output_shape(pool, x.shape), x.dtype)
        hw, m = x.shape[-2:], int(np.prod(x.shape[:-2]))
        planes = (x.reshape(m, 1, *hw), out.reshape(m, *out.shape[-2:]))
        runner = partial(_chained, pool, planes, int(np.prod(x.shape[1:-2])), int(np.prod(x.shape[1:])))
        try:
            step.launcher.finish(call, runner)
        except ArignoteError:
            step._explain(args)  # (the reference names the op and line at fault)
            raise
        return [x, out]

    run.trusted = True
    run.call = run
    run.kernel = kernel  # (dumps and profiles show the group's kernel)
    return run


def _chained(pool, planes, per, work, call):
    """Run ``call`` (the group's kernel) and ``pool`` on planes ``(x, out)``, chunk of
    images by chunk (``per`` planes and ``work`` elements an image): with the pooling
    loop compiled, as one chained kernel the thread pools run as they run any kernel;
    else the kernel's chunk then NumPy's pooling of it."""
    x, out = planes
    loop = _max_pool_loop(pool, x, out) if out.size else None
    chained = _chained_helper()
    if loop is not None and chained is not None and call.address is not None:
        ctx = (ctypes.c_int64 * len(CHAINED_FIELDS))(
            call.address, *call.args, ctypes.cast(loop, ctypes.c_void_p).value, out.ctypes.data,
            x.ctypes.data, per)
        _IMAGES(Call(chained, (ctypes.addressof(ctx), None, None), call.outputs, call.end, ctx,
                     work * call.end, ctypes.cast(chained, ctypes.c_void_p).value))
        return
    bounds, _, n = chunk_bounds(call.end, work)

    def chunk(start, end):
        call.run(start, end)
        _pool_part(pool_forward, pool, [x[:, 0]], out, start * per, end * per)

    run_parts(chunk, [(bounds[k], bounds[k + 1]) for k in range(n)])


#: runs a chained kernel in chunks of images (as the kernel's own runner would)
_IMAGES = KernelRunner()


def _chained_helper():
    """The ctypes handle on :func:`~arignote.compiler.helper_ir.chained` (None: none)."""
    p = ctypes.c_void_p
    return helper_function(chained_ir, CHAINED, None, p, p, p, ctypes.c_int64, ctypes.c_int64)


def _chunks_images(kernel):
    """Does ``kernel`` (elementwise) write its output's images ``[start, end)`` when
    run on chunk ``[start, end)``?"""
    sched = kernel.schedule
    stores = [ins for ins in kernel.body if isinstance(ins, K.Store)]
    return not kernel.reduce_axes and sched is not None and sched.chunk_axis == 0 and \
        sched.split_axis is None and len(stores) == 1 and stores[0].axes[:1] == (0,)


def _max_pool_grad(op, flat, out, m):
    """MaxPoolGrad by the compiled loop (:mod:`.cpu_pack`) where it applies; whether it did."""
    x, maxout, gz = (a[:, None] for a in flat)
    if element_strides(maxout) != element_strides(gz):
        return False
    hw, pooled = x.shape[-2:], maxout.shape[-2:]
    disjoint = all(s >= w for s, w in zip(op.stride, op.ws))
    fn = _window_loop("max_pool_grad", op, x, pooled, element_strides(x), _dense((1, 1, *hw)) + (0, 0),
                      element_strides(maxout), int(disjoint))
    if fn is None:
        return False
    _work(m, hw[0] * hw[1], partial(cpu_pack.call, fn, (out, x, maxout, gz)))
    return True


def _average_grad(op, x, gz, out):
    return average_pool_grad(op, x.shape, gz, out=out)


def _pool_part(fn, op, flat, out, start, end):
    fn(op, *(a[start:end] for a in flat), out=out[start:end])


conv_step = _maker(_forward, _check_forward)
grad_weights_step = _maker(_grad_weights, _check_grad_weights)
grad_inputs_step = _maker(_grad_inputs, _check_grad_inputs)
pool_step = _maker(_pool, tensors=None)  # (its inputs all tensors; a gradient checks its own)

STEPS = {Conv2d: conv_step, Conv2dGradWeights: grad_weights_step, Conv2dGradInputs: grad_inputs_step,
         Pool: pool_step, MaxPoolGrad: pool_step, AveragePoolGrad: pool_step}


def register_steps(backend_class):
    """Give ``backend_class`` (a KernelBackend) these steps."""
    for op_class, maker in STEPS.items():
        backend_class.step_for(op_class)(maker)


__all__ = ["STEPS", "register_steps", "conv_step", "grad_weights_step", "grad_inputs_step",
           "pool_step", "fused_pool_step"]
