"""IR of the helpers the runtime JITs once per process (not kernels).

The launch trampoline (one ctypes argument instead of five per kernel call,
:mod:`arignote.compiler.launch`), the chained call of a kernel and a window loop
(:mod:`arignote.runtime.cpu_conv`'s fused pool), the call sequence that replays
a whole program's steps in one native call (:mod:`arignote.runtime.native_call`)
and the native entry of a scalar function (:mod:`arignote.runtime.native_entry`).
Each is compiled through :func:`arignote.compiler.jit.helper_function`; the
thread pool's own IR is :mod:`arignote.compiler.pool_ir`.
"""


#: the symbol of :func:`trampoline`'s function
TRAMPOLINE = "arignote_trampoline"


def trampoline():
    """IR of ``void arignote_trampoline(i64* call)``, which calls ``call[0]`` (a kernel's
    wrapper) on ``call[1:6]`` (shape, data, strides, start, end). One argument for
    ctypes to convert instead of five: a third of the cost of a tiny kernel's call."""
    loads = [f"  %a{n} = getelementptr inbounds i64, ptr %call, i64 {n}\n"
             f"  %v{n} = load {ty}, ptr %a{n}, align 8"
             for n, ty in enumerate(["ptr", "ptr", "ptr", "ptr", "i64", "i64"])]
    return "\n".join([f"define void @{TRAMPOLINE}(ptr noalias readonly %call) {{", "entry:", *loads,
                      "  call void %v0(ptr %v1, ptr %v2, ptr %v3, i64 %v4, i64 %v5)",
                      "  ret void", "}", ""])


#: the symbol of :func:`chained`'s function
CHAINED = "arignote_chained"
#: the fields of :func:`chained`'s context, in order
CHAINED_FIELDS = ("kernel", "shape", "data", "strides", "loop", "out", "x", "per")


def chained():
    """IR of ``void arignote_chained(i64* ctx, ptr, ptr, i64 start, i64 end)``: a kernel
    and then a window loop over the same chunk, so a thread pool runs the two as one
    kernel (the pointers after ``ctx`` are unused: the kernels' calling convention).
    ``ctx`` holds :data:`CHAINED_FIELDS`: the kernel's wrapper and its packed arguments,
    called on ``[start, end)``; then the loop (:mod:`arignote.runtime.cpu_pack`'s
    ``void loop(out, x, start, end)``) on planes ``[start * per, end * per)``."""
    kinds = dict(zip(CHAINED_FIELDS, ["ptr"] * 7 + ["i64"]))
    loads = [f"  %{name}.at = getelementptr inbounds i64, ptr %ctx, i64 {n}\n"
             f"  %{name} = load {kinds[name]}, ptr %{name}.at, align 8"
             for n, name in enumerate(CHAINED_FIELDS)]
    return "\n".join([
        f"define void @{CHAINED}(ptr noalias readonly %ctx, ptr %unused1, ptr %unused2, i64 %start, "
        "i64 %end) {", "entry:", *loads,
        "  call void %kernel(ptr %shape, ptr %data, ptr %strides, i64 %start, i64 %end)",
        "  %lo = mul nsw i64 %start, %per", "  %hi = mul nsw i64 %end, %per",
        "  call void %loop(ptr %out, ptr %x, i64 %lo, i64 %hi)", "  ret void", "}", ""])


#: the symbol of :func:`sequence`'s function
SEQUENCE = "arignote_sequence"
#: the entries :func:`sequence` runs: opcode -> its fields after the opcode
SEQUENCE_OPS = {
    "kernel": ("fn", "shape", "data", "strides", "end", "flag"),
    "gemm": ("fn", "double", "ta", "tb", "m", "n", "k", "alpha", "alpha_double", "a", "lda",
             "b", "ldb", "beta", "beta_double", "c", "ldc"),
    "copy": ("dst", "src", "nbytes"),
    "patch": ("dst", "base", "delta"),
    "parallel": ("dispatch", "pool", "fn", "shape", "data", "strides", "bounds", "n", "flag"),
}
SEQUENCE_CODES = {name: code for code, name in enumerate(SEQUENCE_OPS, 1)}


def sequence():
    """IR of ``i64 arignote_sequence(i64* prog, i64* bases)``: run the entries of ``prog``
    in order until an opcode 0, one native call for a whole program's steps (see
    :mod:`arignote.runtime.native_call`). ``kernel``: reset its error flag (an i32, if its
    address is not 0), call ``fn(shape, data, strides, 0, end)`` as the trampoline does,
    and stop there if the flag is set: the result is then the entry's position + 1 (else 0).
    ``gemm``: a row-major CBLAS ``?gemm`` with 64-bit sizes, float or ``double``, its
    alpha and beta read from memory (float or double each). ``copy``: ``nbytes`` bytes.
    ``patch``: ``*dst = bases[base] + delta`` (a data pointer of this call's arrays).
    ``parallel``: a kernel as ``kernel`` does, but in the ``n`` chunks of ``bounds`` on the
    thread pool: ``dispatch(pool, fn, shape, data, strides, bounds, n)``
    (:mod:`arignote.compiler.pool_ir`)."""
    codes = SEQUENCE_CODES
    out = [f"define i64 @{SEQUENCE}(ptr noalias %prog, ptr noalias readonly %bases) {{",
           "entry:", "  br label %loop", "loop:",
           "  %pos = phi i64 " + ", ".join(f"[{v}, %{b}]" for v, b in
                                          [("0", "entry")] + [(f"%{n}.next", f"{n}.done") for n in codes]),
           "  %op.at = getelementptr inbounds i64, ptr %prog, i64 %pos",
           "  %op = load i64, ptr %op.at, align 8",
           "  switch i64 %op, label %stop [" +
           " ".join(f"i64 {c}, label %{n}" for n, c in codes.items()) + "]",
           "stop:", "  ret i64 0"]

    def fields(name, types):
        lines = []
        for j, (field, ty) in enumerate(zip(SEQUENCE_OPS[name], types), 1):
            lines += [f"  %{name}.{field}.at = getelementptr inbounds i64, ptr %prog, i64 %{name}.{j}",
                      f"  %{name}.{j} = add i64 %pos, {j}"][::-1]
            lines.append(f"  %{name}.{field} = load {ty}, ptr %{name}.{field}.at, align 8")
        return lines

    def real(value, double, want):
        """``%gemm.<value>.<want>.v``: the float or double at pointer ``%gemm.<value>``
        (a double where ``%gemm.<double>`` is not 0), as ``want``."""
        v, other = f"%gemm.{value}.{want}", "float" if want == "double" else "double"
        return [f"  {v}.own = load {want}, ptr %gemm.{value}, align 4",
                f"  {v}.other = load {other}, ptr %gemm.{value}, align 4",
                f"  {v}.cast = fp{'ext' if want == 'double' else 'trunc'} {other} {v}.other to {want}",
                f"  {v}.is.d = icmp ne i64 %gemm.{double}, 0",
                f"  {v}.v = select i1 {v}.is.d, {want} {v}.{'own' if want == 'double' else 'cast'}, "
                f"{want} {v}.{'cast' if want == 'double' else 'own'}"]

    def flagged(name, types, call):
        """A kernel's entry: its flag reset, ``call`` made, a set flag stops the run."""
        return [f"{name}:", *fields(name, types),
                f"  %{name}.flagged = icmp ne ptr %{name}.flag, null",
                f"  br i1 %{name}.flagged, label %{name}.reset, label %{name}.run",
                f"{name}.reset:", f"  store i32 0, ptr %{name}.flag, align 4", f"  br label %{name}.run",
                f"{name}.run:", call,
                f"  br i1 %{name}.flagged, label %{name}.check, label %{name}.done",
                f"{name}.check:", f"  %{name}.raised = load i32, ptr %{name}.flag, align 4",
                f"  %{name}.ok = icmp eq i32 %{name}.raised, 0",
                f"  %{name}.failed = add i64 %pos, 1",
                f"  br i1 %{name}.ok, label %{name}.done, label %{name}.fail",
                f"{name}.fail:", f"  ret i64 %{name}.failed",
                f"{name}.done:", f"  %{name}.next = add i64 %pos, {len(SEQUENCE_OPS[name]) + 1}",
                "  br label %loop"]

    out += flagged("kernel", ["ptr", "ptr", "ptr", "ptr", "i64", "ptr"],
                   "  call void %kernel.fn(ptr %kernel.shape, ptr %kernel.data, ptr %kernel.strides, "
                   "i64 0, i64 %kernel.end)")
    out += flagged("parallel", ["ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "i64", "ptr"],
                   "  call void %parallel.dispatch(ptr %parallel.pool, ptr %parallel.fn, "
                   "ptr %parallel.shape, ptr %parallel.data, ptr %parallel.strides, "
                   "ptr %parallel.bounds, i64 %parallel.n)")
    # gemm: float or double
    gemm_types = ["ptr", "i64", "i64", "i64", "i64", "i64", "i64", "ptr", "i64", "ptr", "i64",
                  "ptr", "i64", "ptr", "i64", "ptr", "i64"]
    args = ("i32 101, i32 %gemm.ta32, i32 %gemm.tb32, i64 %gemm.m, i64 %gemm.n, i64 %gemm.k, "
            "{t} %gemm.alpha.{t}.v, ptr %gemm.a, i64 %gemm.lda, ptr %gemm.b, i64 %gemm.ldb, "
            "{t} %gemm.beta.{t}.v, ptr %gemm.c, i64 %gemm.ldc")
    out += ["gemm:", *fields("gemm", gemm_types),
            "  %gemm.ta32 = trunc i64 %gemm.ta to i32", "  %gemm.tb32 = trunc i64 %gemm.tb to i32",
            "  %gemm.is.d = icmp ne i64 %gemm.double, 0",
            "  br i1 %gemm.is.d, label %gemm.d, label %gemm.s"]
    for t, block in (("double", "gemm.d"), ("float", "gemm.s")):
        out += [f"{block}:", *real("alpha", "alpha_double", t), *real("beta", "beta_double", t),
                f"  call void %gemm.fn({args.format(t=t)})", "  br label %gemm.done"]
    out += ["gemm.done:", f"  %gemm.next = add i64 %pos, {len(SEQUENCE_OPS['gemm']) + 1}",
            "  br label %loop"]
    out += ["copy:", *fields("copy", ["ptr", "ptr", "i64"]),
            "  call void @llvm.memcpy.p0.p0.i64(ptr %copy.dst, ptr %copy.src, i64 %copy.nbytes, i1 false)",
            "  br label %copy.done", "copy.done:",
            f"  %copy.next = add i64 %pos, {len(SEQUENCE_OPS['copy']) + 1}", "  br label %loop"]
    out += ["patch:", *fields("patch", ["ptr", "i64", "i64"]),
            "  %patch.src = getelementptr inbounds i64, ptr %bases, i64 %patch.base",
            "  %patch.at = load i64, ptr %patch.src, align 8",
            "  %patch.value = add i64 %patch.at, %patch.delta",
            "  store i64 %patch.value, ptr %patch.dst, align 8",
            "  br label %patch.done", "patch.done:",
            f"  %patch.next = add i64 %pos, {len(SEQUENCE_OPS['patch']) + 1}", "  br label %loop"]
    out += ["}", "", "declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)", ""]
    return "\n".join(out)


#: the symbol of :func:`scalar_entry`'s function
SCALAR_ENTRY = "arignote_scalar_entry"
#: the fields of :func:`scalar_entry`'s context, in order (``shape`` and ``dtype`` next to
#: each other: they are ``np.empty``'s arguments); then per input ``ENTRY_INPUT_FIELDS``
ENTRY_FIELDS = ("n", "float_type", "array_type", "vectorcall", "general", "empty", "shape", "dtype",
                "kernel", "data", "slot")
ENTRY_INPUT_FIELDS = ("descr", "floats", "misaligned", "param")


def scalar_entry(layout, float_value):
    """IR of ``PyObject *arignote_scalar_entry(PyObject *self, PyObject *const *args,
    Py_ssize_t nargs, PyObject *kwnames)``, the C function of a ``METH_FASTCALL |
    METH_KEYWORDS`` builtin whose ``self`` is an int64 array, its context
    (:data:`ENTRY_FIELDS`, then :data:`ENTRY_INPUT_FIELDS` per input).

    With ``n`` arguments and no keywords, each a Python float (where ``floats`` is not
    0: the kernel reads its double in place, ``float_value`` bytes in) or an exact
    ndarray of rank 0 whose dtype is ``descr`` and whose data pointer has no bit of
    ``misaligned`` set: the output is ``empty(shape, dtype)`` (through
    ``vectorcall``, CPython's ``PyObject_Vectorcall``; NULL if that raised), the data
    pointers of the inputs and of the output go into the kernel's ``data`` (input
    ``j``'s at index ``param``, the output's at ``slot``; the constants' are there
    already), the 0-d kernel runs, the output is returned. Any other call is ``general``'s, through
    ``vectorcall``. The inputs are checked before ``empty`` runs and read after it:
    Python code that ``empty`` may run (a collection) cannot change what was checked.
    ``layout``: the object offsets of :data:`arignote.compiler.unsafe.LAYOUT`."""
    at = {name: n for n, name in enumerate(ENTRY_FIELDS)}

    def field(name, ty="ptr"):
        return [f"  %{name}.at = getelementptr inbounds i64, ptr %ctx, i64 {at[name]}",
                f"  %{name} = load {ty}, ptr %{name}.at, align 8"]

    def member(x, name, ty="ptr"):
        return [f"  %{x}.{name}.at = getelementptr inbounds i8, ptr %{x}, i64 {layout[name]}",
                f"  %{x}.{name} = load {ty}, ptr %{x}.{name}.at, align 8"]

    def arg(x, j):
        return [f"  %{x}.at = getelementptr inbounds ptr, ptr %args, i64 {j}",
                f"  %{x} = load ptr, ptr %{x}.at, align 8", *member(x, "type")]

    def spec(j, name):
        k = len(ENTRY_FIELDS) + ENTRY_INPUT_FIELDS.index(name)
        return [f"  %{name}.base = mul nsw i64 {j}, {len(ENTRY_INPUT_FIELDS)}",
                f"  %{name}.k = add nsw i64 %{name}.base, {k}",
                f"  %{name}.at = getelementptr inbounds i64, ptr %ctx, i64 %{name}.k",
                f"  %{name} = load i64, ptr %{name}.at, align 8"]

    return "\n".join([
        f"define ptr @{SCALAR_ENTRY}(ptr %self, ptr readonly %args, i64 %nargs, ptr %kwnames) {{",
        "entry:", f"  %ctx.at = getelementptr inbounds i8, ptr %self, i64 {layout['data']}",
        "  %ctx = load ptr, ptr %ctx.at, align 8",
        *field("n", "i64"), *field("float_type"), *field("array_type"), *field("vectorcall"),
        *field("general"),
        "  %n.ok = icmp eq i64 %nargs, %n", "  %kw.ok = icmp eq ptr %kwnames, null",
        "  %call.ok = and i1 %n.ok, %kw.ok", "  br i1 %call.ok, label %check, label %fallback",
        # each argument checked, nothing written
        "check:", "  %j = phi i64 [ 0, %entry ], [ %j.next, %checked ]",
        "  %j.more = icmp slt i64 %j, %n", "  br i1 %j.more, label %check.one, label %alloc",
        "check.one:", *arg("x", "%j"), *spec("%j", "floats"),
        "  %x.is.float = icmp eq ptr %x.type, %float_type", "  %x.floats = icmp ne i64 %floats, 0",
        "  %x.float.ok = and i1 %x.is.float, %x.floats",
        "  br i1 %x.float.ok, label %checked, label %check.type",
        "check.type:", "  %x.is.array = icmp eq ptr %x.type, %array_type",
        "  br i1 %x.is.array, label %check.array, label %fallback",
        "check.array:", *spec("%j", "descr"), *spec("%j", "misaligned"),
        *member("x", "descr", "i64"), *member("x", "nd", "i32"), *member("x", "data", "i64"),
        "  %x.descr.ok = icmp eq i64 %x.descr, %descr", "  %x.nd.ok = icmp eq i32 %x.nd, 0",
        "  %x.bits = and i64 %x.data, %misaligned", "  %x.aligned = icmp eq i64 %x.bits, 0",
        "  %x.ok1 = and i1 %x.descr.ok, %x.nd.ok", "  %x.ok = and i1 %x.ok1, %x.aligned",
        "  br i1 %x.ok, label %checked, label %fallback",
        "checked:", "  %j.next = add nuw nsw i64 %j, 1", "  br label %check",
        # the output, then the pointers, then the kernel
        "alloc:", *field("empty"), f"  %empty.args = getelementptr inbounds i64, ptr %ctx, i64 {at['shape']}",
        "  %out = call ptr %vectorcall(ptr %empty, ptr %empty.args, i64 2, ptr null)",
        "  %out.failed = icmp eq ptr %out, null", "  br i1 %out.failed, label %failed, label %fill",
        "failed:", "  ret ptr null",
        "fill:", *field("data"), "  br label %fill.loop",
        "fill.loop:", "  %i = phi i64 [ 0, %fill ], [ %i.next, %fill.one ]",
        "  %i.more = icmp slt i64 %i, %n", "  br i1 %i.more, label %fill.one, label %run",
        "fill.one:", *arg("y", "%i"), *member("y", "data"), *spec("%i", "param"),
        f"  %y.value = getelementptr inbounds i8, ptr %y, i64 {float_value}",
        "  %y.is.float = icmp eq ptr %y.type, %float_type",
        "  %y.p = select i1 %y.is.float, ptr %y.value, ptr %y.data",
        "  %y.to = getelementptr inbounds ptr, ptr %data, i64 %param", "  store ptr %y.p, ptr %y.to, align 8",
        "  %i.next = add nuw nsw i64 %i, 1", "  br label %fill.loop",
        "run:", *field("slot", "i64"), *field("kernel"), *member("out", "data"),
        "  %out.to = getelementptr inbounds ptr, ptr %data, i64 %slot",
        "  store ptr %out.data, ptr %out.to, align 8",
        "  call void %kernel(ptr %data, ptr %data, ptr %data, i64 0, i64 1)", "  ret ptr %out",
        "fallback:", "  %r = call ptr %vectorcall(ptr %general, ptr %args, i64 %nargs, ptr %kwnames)",
        "  ret ptr %r", "}", ""])
