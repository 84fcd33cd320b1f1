"""IR of the native thread pool: workers that wait in native code, not Python.

A Python ``ThreadPoolExecutor`` costs tens of microseconds per dispatch (a
lock, a condition, the GIL handed back and forth), more than a medium
kernel's whole run. Here the pool's workers sit in :data:`WORKER`, one
ctypes call each that never returns until shutdown, and a caller publishes a
job in shared memory with :data:`RUN`: no Python between the caller and the
workers, and the native call replay (:mod:`arignote.compiler.helper_ir`'s
sequence) dispatches the same way.

The pool is ``POOL_WORDS`` int64 words (offsets in :data:`FIELDS`). Its
``job`` word packs the generation (high 32 bits, the futex the idle workers
sleep on), the chunk count (bits 16..31) and the next chunk to take (bits
0..15): a thread claims chunk ``k`` by a compare-and-swap of the whole word,
so a late thread can never claim a chunk of a job other than the one it
read the count of. ``done`` (an int32, a futex too) counts finished chunks;
the caller returns when it reaches the count, so the job's fields stay put
while any thread may read them. Linux only (futex through libc's
``syscall``); workers spin ``spin`` rounds before sleeping, and sleep when
idle, so they leave the cores to BLAS threads.

A dispatch while another one runs (a second Python thread, a nested call)
runs its chunks on the calling thread: the chunks, fixed by the problem size,
are the same, so the bits are too.
"""
import llvmlite.binding as llvm

#: the symbols of the dispatch and of the worker loop
RUN = "arignote_pool_run"
WORKER = "arignote_pool_worker"
#: the pool's int64 words, by name
FIELDS = {name: k for k, name in enumerate(
    ("job", "done", "fn", "shape", "data", "strides", "bounds", "sleepers", "waiting",
     "shutdown", "spin", "busy"))}
POOL_WORDS = len(FIELDS)
#: chunks per job: the ``job`` word has 16 bits for the count
MAX_JOB_CHUNKS = (1 << 16) - 1
#: Linux's futex syscall number, by machine (other machines: no native pool)
SYS_FUTEX = {"x86_64": 202, "aarch64": 98}
_FUTEX_WAIT, _FUTEX_WAKE = 128, 129  # the PRIVATE variants


def futex_number():
    """The futex syscall's number on this process's machine, None where there is none."""
    triple = llvm.get_process_triple()
    if "linux" not in triple:
        return None
    return SYS_FUTEX.get(triple.split("-")[0])


def _pause():
    arch = llvm.get_process_triple().split("-")[0]
    return "  call void @llvm.x86.sse2.pause()" if arch == "x86_64" else ""


def pool_ir(name):
    """IR of the module that defines ``name`` (:data:`RUN` or :data:`WORKER`; each is
    compiled on its own, the pool's state is all in its memory):

    ``void arignote_pool_run(i64* pool, fn, shape, data, strides, i64* bounds, i64 n)``
    runs ``fn(shape, data, strides, bounds[k], bounds[k + 1])`` for each of the ``n``
    chunks on the pool and the caller (a kernel's wrapper, as the trampoline calls it;
    ``n == 0`` only wakes the workers, which shutdown needs);
    ``void arignote_pool_worker(i64* pool)`` takes chunks until ``shutdown``."""
    futex = futex_number()
    if futex is None:
        raise NotImplementedError("no futex on this machine")
    f = FIELDS
    pause = _pause()
    head = [
        "declare i64 @syscall(i64, ...)",
        "declare void @llvm.x86.sse2.pause()" if pause else "",
        "",
        "define internal void @futex(ptr %addr, i64 %op, i64 %val) {",
        f"  %r = call i64 (i64, ...) @syscall(i64 {futex}, ptr %addr, i64 %op, i64 %val, ptr null, "
        "ptr null, i64 0)",
        "  ret void", "}", "",
        "define internal ptr @field(ptr %pool, i64 %k) alwaysinline {",
        "  %p = getelementptr inbounds i64, ptr %pool, i64 %k", "  ret ptr %p", "}", "",
        # take chunks of the published job until none is left
        "define internal void @work(ptr %pool) {", "entry:",
        f"  %donep = call ptr @field(ptr %pool, i64 {f['done']})",
        f"  %waitingp = call ptr @field(ptr %pool, i64 {f['waiting']})",
        "  br label %loop",
        "loop:",
        "  %w = load atomic i64, ptr %pool seq_cst, align 8",
        "  %idx = and i64 %w, 65535",
        "  %n.hi = lshr i64 %w, 16",
        "  %n = and i64 %n.hi, 65535",
        "  %has = icmp ult i64 %idx, %n",
        "  br i1 %has, label %claim, label %out",
        "claim:",
        "  %w1 = add i64 %w, 1",
        "  %r = cmpxchg ptr %pool, i64 %w, i64 %w1 seq_cst seq_cst",
        "  %ok = extractvalue { i64, i1 } %r, 1",
        "  br i1 %ok, label %run, label %loop",
        "run:",
        *[line for name in ("fn", "shape", "data", "strides", "bounds")
          for line in (f"  %{name}.at = call ptr @field(ptr %pool, i64 {f[name]})",
                       f"  %{name} = load ptr, ptr %{name}.at, align 8")],
        "  %s.at = getelementptr inbounds i64, ptr %bounds, i64 %idx",
        "  %s = load i64, ptr %s.at, align 8",
        "  %e.at = getelementptr inbounds i64, ptr %s.at, i64 1",
        "  %e = load i64, ptr %e.at, align 8",
        "  call void %fn(ptr %shape, ptr %data, ptr %strides, i64 %s, i64 %e)",
        "  %d = atomicrmw add ptr %donep, i32 1 seq_cst, align 4",
        "  %d1 = add i32 %d, 1",
        "  %d64 = zext i32 %d1 to i64",
        "  %last = icmp eq i64 %d64, %n",
        "  br i1 %last, label %last.chunk, label %loop",
        "last.chunk:",  # wake the caller if it sleeps
        "  %waiting = load atomic i64, ptr %waitingp seq_cst, align 8",
        "  %asleep = icmp ne i64 %waiting, 0",
        "  br i1 %asleep, label %wake, label %loop",
        "wake:",
        f"  call void @futex(ptr %donep, i64 {_FUTEX_WAKE}, i64 1)",
        "  br label %loop",
        "out:", "  ret void", "}", "",
    ]
    if name == RUN:
        body = _run_ir(pause)
    elif name == WORKER:
        body = _worker_ir(pause)
    else:
        raise ValueError(f"no pool function {name!r}")
    return "\n".join(head + body + [""])


def _spin(label, pause, ready, done, give_up):
    """A spin of ``spin`` rounds: ``ready`` (lines defining ``%{label}.ready``) each
    round; to ``done`` when it holds, to ``give_up`` when the rounds are over."""
    return [
        f"  br label %{label}",
        f"{label}:",
        f"  %{label}.i = phi i64 [0, %{label}.from], [%{label}.i1, %{label}.again]",
        *ready,
        f"  br i1 %{label}.ready, label %{done}, label %{label}.again",
        f"{label}.again:",
        pause,
        f"  %{label}.i1 = add i64 %{label}.i, 1",
        f"  %{label}.more = icmp ult i64 %{label}.i1, %spin",
        f"  br i1 %{label}.more, label %{label}, label %{give_up}",
    ]


def _run_ir(pause):
    f = FIELDS
    store = [line for name, value in (("fn", "%fn"), ("shape", "%shape"), ("data", "%data"),
                                      ("strides", "%strides"), ("bounds", "%bounds"))
             for line in (f"  %{name}.at = getelementptr inbounds i64, ptr %pool, i64 {f[name]}",
                          f"  store ptr {value}, ptr %{name}.at, align 8")]
    return [
        f"define void @{RUN}(ptr %pool, ptr %fn, ptr %shape, ptr %data, ptr %strides, "
        "ptr %bounds, i64 %n) {",
        "entry:",
        f"  %busyp = getelementptr inbounds i64, ptr %pool, i64 {f['busy']}",
        f"  %donep = getelementptr inbounds i64, ptr %pool, i64 {f['done']}",
        f"  %waitingp = getelementptr inbounds i64, ptr %pool, i64 {f['waiting']}",
        f"  %spinp = getelementptr inbounds i64, ptr %pool, i64 {f['spin']}",
        "  %spin = load i64, ptr %spinp, align 8",
        "  %one = icmp eq i64 %n, 1",
        "  br i1 %one, label %alone, label %lock",
        "lock:",  # the pool is ours, or another dispatch runs: then alone
        "  %b = cmpxchg ptr %busyp, i64 0, i64 1 seq_cst seq_cst",
        "  %got = extractvalue { i64, i1 } %b, 1",
        "  br i1 %got, label %publish, label %alone",
        "publish:",
        *store,
        "  store atomic i32 0, ptr %donep seq_cst, align 4",
        "  %w = load atomic i64, ptr %pool seq_cst, align 8",
        "  %gen = lshr i64 %w, 32",
        "  %gen1 = add i64 %gen, 1",
        "  %gen.hi = shl i64 %gen1, 32",
        "  %n.mid = shl i64 %n, 16",
        "  %job = or i64 %gen.hi, %n.mid",
        "  store atomic i64 %job, ptr %pool seq_cst, align 8",
        f"  %sleepersp = getelementptr inbounds i64, ptr %pool, i64 {f['sleepers']}",
        "  %sleepers = load atomic i64, ptr %sleepersp seq_cst, align 8",
        "  %any = icmp ne i64 %sleepers, 0",
        "  br i1 %any, label %wake, label %work",
        "wake:",
        "  %genp = getelementptr inbounds i8, ptr %pool, i64 4",
        f"  call void @futex(ptr %genp, i64 {_FUTEX_WAKE}, i64 2147483647)",
        "  br label %work",
        "work:",
        "  call void @work(ptr %pool)",
        "  br label %wait.from",
        "wait.from:",
        *_spin("wait", pause, ["  %wait.d = load atomic i32, ptr %donep seq_cst, align 4",
                               "  %wait.d64 = zext i32 %wait.d to i64",
                               "  %wait.ready = icmp eq i64 %wait.d64, %n"], "finish", "sleep.from"),
        "sleep.from:",  # still not done: sleep on the done count
        "  store atomic i64 1, ptr %waitingp seq_cst, align 8",
        "  br label %sleep",
        "sleep:",
        "  %d = load atomic i32, ptr %donep seq_cst, align 4",
        "  %d64 = zext i32 %d to i64",
        "  %all = icmp eq i64 %d64, %n",
        "  br i1 %all, label %woke, label %nap",
        "nap:",
        f"  call void @futex(ptr %donep, i64 {_FUTEX_WAIT}, i64 %d64)",
        "  br label %sleep",
        "woke:",
        "  store atomic i64 0, ptr %waitingp seq_cst, align 8",
        "  br label %finish",
        "finish:",
        "  store atomic i64 0, ptr %busyp seq_cst, align 8",
        "  ret void",
        "alone:",  # every chunk here, in order
        "  %more = icmp sgt i64 %n, 0",
        "  br i1 %more, label %chunk, label %end",
        "chunk:",
        "  %k = phi i64 [0, %alone], [%k1, %chunk]",
        "  %s.at = getelementptr inbounds i64, ptr %bounds, i64 %k",
        "  %s = load i64, ptr %s.at, align 8",
        "  %k1 = add i64 %k, 1",
        "  %e.at = getelementptr inbounds i64, ptr %bounds, i64 %k1",
        "  %e = load i64, ptr %e.at, align 8",
        "  call void %fn(ptr %shape, ptr %data, ptr %strides, i64 %s, i64 %e)",
        "  %again = icmp slt i64 %k1, %n",
        "  br i1 %again, label %chunk, label %end",
        "end:",
        "  ret void",
        "}",
    ]


def _worker_ir(pause):
    f = FIELDS
    return [
        f"define void @{WORKER}(ptr %pool) {{",
        "entry:",
        f"  %shutdownp = getelementptr inbounds i64, ptr %pool, i64 {f['shutdown']}",
        f"  %sleepersp = getelementptr inbounds i64, ptr %pool, i64 {f['sleepers']}",
        f"  %spinp = getelementptr inbounds i64, ptr %pool, i64 {f['spin']}",
        "  %genp = getelementptr inbounds i8, ptr %pool, i64 4",
        "  br label %loop",
        "loop:",  # the generation before the work: a job published after it wakes the spin
        "  %seen = load atomic i32, ptr %genp seq_cst, align 4",
        "  call void @work(ptr %pool)",
        "  %stop = load atomic i64, ptr %shutdownp seq_cst, align 8",
        "  %stopped = icmp ne i64 %stop, 0",
        "  br i1 %stopped, label %exit, label %idle.from",
        "idle.from:",  # sleep until the generation changes (after a spin)
        "  %spin = load i64, ptr %spinp, align 8",
        *_spin("idle", pause, ["  %idle.g = load atomic i32, ptr %genp seq_cst, align 4",
                               "  %idle.ready = icmp ne i32 %idle.g, %seen"], "loop", "sleep"),
        "sleep:",
        "  %s0 = atomicrmw add ptr %sleepersp, i64 1 seq_cst, align 8",
        "  %seen64 = zext i32 %seen to i64",
        f"  call void @futex(ptr %genp, i64 {_FUTEX_WAIT}, i64 %seen64)",
        "  %s1 = atomicrmw sub ptr %sleepersp, i64 1 seq_cst, align 8",
        "  br label %loop",
        "exit:",
        "  ret void",
        "}",
    ]
