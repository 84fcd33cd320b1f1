"""GEMM called directly in the OpenBLAS NumPy already loaded.

NumPy's ``matmul`` has no ``beta``: ``W - lr * (X.T @ g)`` costs a product
written to a temporary and a pass that reads it back with ``W``. BLAS's
``gemm`` does ``C = alpha * op(A) @ op(B) + beta * C`` in one call, with
``op`` a transpose flag, so an SGD step writes straight into ``W`` and a
transposed view is read as it lies. NumPy's wheels carry OpenBLAS (the
``scipy-openblas`` build, symbols ``scipy_cblas_?gemm64_``, 64-bit
integers); calling the copy already in the process means one BLAS thread
pool, not two fighting over the cores. Where no such library is found
:func:`gemm` is None and products stay NumPy's.
"""
import ctypes
import glob
import os

import numpy as np

__all__ = ["gemm", "library_path"]

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
#: symbol templates, in order of preference: (name, 64-bit integers)
_SYMBOLS = (("scipy_cblas_{}gemm64_", True), ("cblas_{}gemm64_", True), ("cblas_{}gemm", False))


def library_path():
    """The path of the OpenBLAS NumPy loaded (None if none is found)."""
    np.dot(np.ones((2, 2)), np.ones((2, 2)))  # (NumPy loads its BLAS lazily on some builds)
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1] if line.count("/") else ""
                if "openblas" in os.path.basename(path).lower() and ".so" in path:
                    return path
    except OSError:  # (not Linux: look beside NumPy)
        pass
    here = os.path.dirname(os.path.dirname(np.__file__))
    found = sorted(glob.glob(os.path.join(here, "numpy*libs", "*openblas*")) +
                   glob.glob(os.path.join(os.path.dirname(np.__file__), ".dylibs", "*openblas*")))
    return found[0] if found else None


def _bind():
    """{dtype char: the C function} for float32 ('s') and float64 ('d'), or None."""
    if os.environ.get("ARIGNOTE_DIRECT_BLAS", "1") == "0":
        return None
    path = library_path()
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    found = [(fns, wide) for fns, wide in (({t: getattr(lib, template.format(t), None) for t in "sd"}, wide)
                                           for template, wide in _SYMBOLS) if all(fns.values())]
    if not found:
        return None
    fns, wide = found[0]
    size = ctypes.c_int64 if wide else ctypes.c_int
    for t, fn in fns.items():
        real = ctypes.c_float if t == "s" else ctypes.c_double
        fn.restype = None
        fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, size, size, size, real,
                       ctypes.c_void_p, size, ctypes.c_void_p, size, real, ctypes.c_void_p, size]
    return fns


_FNS = _bind()
_CHAR = {np.dtype("float32"): "s", np.dtype("float64"): "d"}


def _operand(x):
    """(array, transpose flag, leading dimension) for BLAS, copying only a matrix that is
    neither C- nor F-ordered (with unit inner stride)."""
    if x.flags.c_contiguous and x.shape[1] > 0:
        return x, _NO_TRANS, x.shape[1]
    if x.flags.f_contiguous and x.shape[0] > 0:
        return x, _TRANS, x.shape[0]
    x = np.ascontiguousarray(x)
    return x, _NO_TRANS, max(x.shape[1], 1)


def _gemm(alpha, a, b, beta, c):
    """``c = alpha * a @ b + beta * c`` in place: ``c`` a C-ordered matrix of the product's
    shape, ``a`` and ``b`` of its dtype (float32 or float64)."""
    m, n = c.shape
    k = a.shape[1]
    if m == 0 or n == 0:
        return c
    if k == 0:
        c *= beta
        return c
    a, ta, lda = _operand(a)
    b, tb, ldb = _operand(b)
    _FNS[_CHAR[c.dtype]](_ROW_MAJOR, ta, tb, m, n, k, alpha, a.ctypes.data, lda, b.ctypes.data, ldb,
                         beta, c.ctypes.data, n)
    return c


#: ``gemm(alpha, a, b, beta, c)`` when a BLAS was found, else None
gemm = _gemm if _FNS is not None else None
