"""The thread pool: chunking depends on the problem size only."""
import threading

from arignote.runtime import threads


def test_small_work_is_one_chunk():
    assert threads.chunks(10, 10) == [(0, 10)]
    assert threads.chunks(0, 1000) == [(0, 0)]


def test_chunks_cover_the_range_exactly_and_do_not_depend_on_threads(monkeypatch):
    for extent, work in [(4096, 1024), (3, 1 << 20), (100000, 7), (1 << 24, 1)]:
        parts = threads.chunks(extent, work)
        assert parts[0][0] == 0 and parts[-1][1] == extent
        assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
        monkeypatch.setenv("ARIGNOTE_NUM_THREADS", "1")
        assert threads.chunks(extent, work) == parts
        monkeypatch.delenv("ARIGNOTE_NUM_THREADS")


def test_aligned_chunks_cut_at_multiples_and_stay_at_least_that_long():
    for extent, work, align in [(65535, 7, 32), (100, 1 << 20, 32), (33, 1 << 20, 32), (1 << 20, 3, 4096)]:
        parts = threads.chunks(extent, work, align=align)
        assert parts[0][0] == 0 and parts[-1][1] == extent
        assert all(a[1] == b[0] and a[1] % align == 0 for a, b in zip(parts, parts[1:]))
        assert all(end - start >= min(align, extent) for start, end in parts)
    assert len(threads.chunks(65535, 7, align=32)) == len(threads.chunks(65535, 7))


def test_parallel_for_runs_every_chunk_once():
    seen, lock = [], threading.Lock()

    def run(start, end):
        with lock:
            seen.append((start, end))

    threads.parallel_for(run, 4096, 1024)
    assert sorted(seen) == threads.chunks(4096, 1024)
