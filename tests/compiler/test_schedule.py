"""Schedules are annotations on the Kernel: chosen once (compiler/schedule.py) from the
kernel and the target's facts, read by the LLVM renderer, the launcher and the cpu
runtime; any schedule the renderer accepts gives the interpreter's values."""
import ast
import dataclasses
import inspect

import numpy as np
import pytest

import arignote.tensor as T
from arignote.compiler import interp as I
from arignote.compiler import kernel as K
from arignote.compiler.launch import Launcher
from arignote.compiler.llvm import render
from arignote.compiler.lower import lower
from arignote.compiler.schedule import CPU, Target, schedule, scheduled
from arignote.compiler.split_launch import SplitLauncher, launcher_for
from arignote.ops.fused import Fused
from arignote.passes.expand import softmax_graph
from arignote.runtime import cpu
from tests.util import rand


def kernel_of(inputs, outputs):
    return lower(Fused(inputs, outputs))


def test_the_cpu_schedules():
    x = T.matrix("x")
    cases = {  # graph -> (loop order, chunk axis, tile axis, min chunk, split axis)
        "elementwise": (x * 2, (0, 1), 0, None, 1, None),
        "row sum": (T.sum(x, axis=1), (0,), 0, None, 1, 1),
        "column sum": (T.sum(x, axis=0), (1,), 1, 1, CPU.column_tile, 0),
        "full sum": (T.sum(x), (), None, None, 1, 0),
        "softmax": (softmax_graph(x, 1), (0,), 0, None, 1, None),
    }
    for name, (out, *want) in cases.items():
        s = schedule(kernel_of([x], [out]), CPU)
        assert (s.loop_order, s.chunk_axis, s.tile_axis, s.min_chunk, s.split_axis) == tuple(want), name
        assert s.tile == (CPU.column_tile if s.tile_axis is not None else 0)
    t3 = T.tensor3("t")
    s = schedule(kernel_of([t3], [T.sum(t3, axis=1)]), CPU)  # tiles inside the chunked axis 0
    assert (s.loop_order, s.chunk_axis, s.tile_axis, s.min_chunk) == ((0, 2), 0, 2, 1)
    # what a target does not do, its schedules do not ask for
    plain = Target("plain", column_tile=0, chunks=False, splits=False)
    s = schedule(kernel_of([x], [T.sum(x, axis=0)]), plain)
    assert (s.chunk_axis, s.tile_axis, s.tile, s.split_axis) == (None, None, 0, None)


def test_in_place_kernels_do_not_split():
    x = T.matrix("x")
    kernel = kernel_of([x], [T.sum(x, axis=0)])
    assert schedule(kernel).split_axis == 0
    assert isinstance(launcher_for(kernel), SplitLauncher)
    over = kernel_of([x], [x * 2])
    assert schedule(dataclasses.replace(over, inplace=((1, 0),))).split_axis is None


def test_pretty_shows_the_schedule():
    x = T.matrix("x")
    kernel = scheduled(kernel_of([x], [T.sum(x, axis=0)]))
    text = kernel.pretty()
    assert f"schedule: loops i1; chunks of i1 by {CPU.column_tile}; column tiles of " \
           f"{CPU.column_tile} over i1; may split i0" in text
    assert "schedule" not in kernel_of([x], [x * 2]).pretty()  # not scheduled yet


def test_scheduled_keeps_a_given_schedule():
    x = T.matrix("x")
    kernel = kernel_of([x], [x + 1])
    given = dataclasses.replace(kernel, schedule=K.Schedule((1, 0), 1))
    assert scheduled(given) is given
    assert scheduled(kernel).schedule == schedule(kernel) and kernel.schedule is None
    assert given != kernel and given.key() != kernel.key()


SCHEDULES = {  # graph -> a schedule the default would not choose
    "loops swapped": (lambda x: x * 2 + T.sqrt(T.abs(x.T)), K.Schedule((1, 0), 1)),
    "no chunks": (lambda x: x - 1, K.Schedule((0, 1), None)),
    "column sum untiled": (lambda x: T.max(x, axis=0), K.Schedule((1,), 1)),
    "narrow tiles": (lambda x: T.max(x * 3, axis=0) + 1, K.Schedule((1,), 1, 1, 3, 3)),
    "3-d, inner loops swapped": (lambda x: T.min(x.dimshuffle(0, "x", 1) + x.dimshuffle("x", 0, 1), axis=1),
                                 K.Schedule((2, 0), 2)),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_every_schedule_gives_the_interpreters_values(name, rng):
    """Schedules change no value: bitwise the interpreter's (max/min, no float sums)."""
    graph, sched = SCHEDULES[name]
    x = T.matrix("x")
    kernel = dataclasses.replace(kernel_of([x], [graph(x)]), schedule=sched)
    for shape in [(5, 7), (4, 4), (1, 9), (0, 3), (3, 0)]:
        if 0 in shape and any(isinstance(ins, K.Reduce) for ins in kernel.body):
            continue  # max/min of nothing: an error, tested elsewhere
        if shape[0] != shape[1] and name == "loops swapped":
            shape = (shape[0], shape[0])
        a = rand(shape, rng=rng)
        got = Launcher(kernel)(a)
        want = I.run_kernel(kernel, [a])
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
        launcher = Launcher(kernel)
        call = launcher.prepare([a])  # chunked by hand along the schedule's chunk axis
        for start in range(call.end):
            call.run(start, start + 1)
        for g, w in zip(call.outputs, want):
            np.testing.assert_array_equal(g, w)
        launcher.release(call)


def test_schedules_the_renderer_cannot_follow_are_refused():
    x = T.matrix("x")
    kernel = kernel_of([x], [T.sum(x, axis=0)])
    for bad in [K.Schedule((0,), 0), K.Schedule((1,), 1, 0, 4, 4), K.Schedule((1,), 0)]:
        with pytest.raises(NotImplementedError, match="cannot render the schedule"):
            render(dataclasses.replace(kernel, schedule=bad))


def test_the_cpu_runtime_reads_schedules_not_the_renderer():
    """runtime/cpu chunks by the schedule, not by the LLVM renderer's choices."""
    tree = ast.parse(inspect.getsource(cpu))
    from_llvm = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                 and n.module == "arignote.compiler.llvm" for a in n.names}
    assert not {"TILE", "tile_axis"} & from_llvm, from_llvm
    assert not any(isinstance(n, ast.Attribute) and n.attr in ("TILE", "tile_axis") for n in ast.walk(tree))
    x = T.matrix("x")
    assert cpu._runner(kernel_of([x], [T.sum(x, axis=0)])).min_items == CPU.column_tile
    rows = cpu._runner(kernel_of([x], [T.sum(x, axis=1)]))  # (short rows in whole row tiles)
    assert (rows.min_items, rows.row_tile, rows.short_work) == (1, CPU.row_tile, CPU.short_rows)
    assert cpu._runner(kernel_of([x], [x * 2])) is cpu._run_chunks


def test_can_raise_is_read_from_the_ir():
    for dtype, raises in [("int32", True), ("int8", True), ("uint16", False), ("float64", False)]:
        x = T.vector("x", dtype=dtype)
        kernel = kernel_of([x], [x ** x])
        assert kernel.can_raise == raises and kernel.errors == ((K.NEGATIVE_POWER,) if raises else ())
    x = T.ivector("x")
    assert not kernel_of([x], [x * x]).can_raise
    assert not kernel_of([x], [x ** 3]).can_raise  # a constant exponent that is not negative
    assert kernel_of([x], [x ** -3]).can_raise
    check = K.Kernel("k", (K.Param("x", "bool", 1, "in"), K.Param("y", "bool", 1, "out")), 1, (),
                     (K.Load("bool", 0, (0,)), K.Check("bool", 0, "no True please"),
                      K.Store("bool", 1, (0,), 0)))
    assert check.errors == ("no True please",) and check.can_raise
