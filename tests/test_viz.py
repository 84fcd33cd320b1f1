"""The graph viewer (``arignote.printing.d3viz``, ``arignote dump --format html``).

The document tests run everywhere. The browser tests drive Debian's
``chromium`` through the ``playwright`` package (never a browser of its own:
this machine reaches no network); they skip where either is missing, and run
in one configuration of ``make test`` (the numpy one: the functions they show
name their backend, so the others would repeat them). Each saves a screenshot
in its pytest tmp dir; with ``ARIGNOTE_VIEWER_SCREENSHOT=PATH`` the main one is
also written at PATH (how docs/images/graph-viewer.png is made).
"""
import json
import os
import re
import textwrap

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.cli import main
from arignote.ifelse import ifelse
from arignote.printing import d3viz
from arignote.viz import document, page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
EVIL = "</script><script>window.pwned = 1</script><!--"


def _small(**options):
    """exp(x) * 2 + 1: one fused kernel of three ops."""
    x = T.dvector("x")
    options = {"backend": "cpu", "fusion": True, **options}
    return ag.function([x], T.exp(x) * 2.0 + 1.0, name="small", **options)


def _training_step():
    x = T.dmatrix("x")
    w = ag.shared(np.full((3, 2), 0.5), name="W")
    b = ag.shared(np.zeros(2), name="b")
    h = T.tanh(T.dot(x, w) + b)
    cost = ((h - 1.0) ** 2).mean()
    gw, gb = ag.grad(cost, [w, b])
    return ag.function([x], cost, updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)], name="step",
                       backend="cpu", fusion=True)


def _view(doc, view="optimized", k=0):
    return doc["functions"][k]["views"][view]


def _top(graph):
    return [n for n in graph["nodes"] if n["parent"] is None]


def _rows(node):
    return dict(node["rows"])


# ------------------------------------------------------------ the document

def test_document_of_a_fused_function():
    graph = _view(document(_small()))
    assert [(n["kind"], n["label"]) for n in _top(graph)] == [
        ("input", "x"), ("kernel", "Fused{exp,mul,add}"), ("output", "output 0")]
    kernel = graph["nodes"][1]
    inner = [n for n in graph["nodes"] if n["parent"] == kernel["id"]]
    assert sorted(n["label"] for n in inner if n["kind"] == "op") == ["add", "exp", "mul"]
    (entry,), = kernel["inner"]["inputs"]  # (the kernel's one input feeds its inner input)
    assert graph["nodes"][entry]["kind"] == "inner-input"
    (out_id, port), = kernel["inner"]["outputs"]
    assert graph["nodes"][out_id]["label"] == "add" and port == 0
    titles = [title for title, _ in kernel["code"]]
    assert titles == ["kernel IR", "LLVM IR"]
    assert kernel["code"][0][1].startswith("kernel ") and "define" in kernel["code"][1][1]
    exp = next(n for n in inner if n["label"] == "exp")
    rows = _rows(exp)
    assert rows["dtype"] == "float64" and rows["static shape"] == "(?,)"
    assert "test_viz.py" in rows["built at"] and "T.exp(x)" in rows["built at"]
    # every edge joins two nodes of one graph level
    assert all(graph["nodes"][e["s"]]["parent"] == graph["nodes"][e["t"]]["parent"] for e in graph["edges"])


def test_raw_view_is_the_graph_as_built():
    doc = document(_small())
    raw = _view(doc, "raw")
    assert [n["label"] for n in raw["nodes"] if n["kind"] == "op"] == ["exp", "mul", "add"]
    assert all(n["parent"] is None for n in raw["nodes"])
    assert doc["view"] == "optimized" and document(_small(), view="raw")["view"] == "raw"
    with pytest.raises(ag.ArignoteValueError, match="'optimized' or 'raw'"):
        document(_small(), view="before")


def test_function_parts_report_and_updates():
    f = _training_step()
    fdoc = document(f)["functions"][0]
    assert fdoc["name"] == "function 'step'" and fdoc["backend"] == "cpu" and fdoc["fusion"] is True
    assert fdoc["report"] == f.compile_report()
    for view in ("optimized", "raw"):
        kinds = [n["kind"] for n in _top(_view(document(f), view))]
        assert kinds.count("input") == 1 and kinds.count("shared") == 2
        assert kinds.count("output") == 1 and kinds.count("update") == 2
    labels = {n["label"] for n in _view(document(f))["nodes"] if n["kind"] == "update"}
    assert labels == {"W \u2190", "b \u2190"}


def test_interp_function_shows_its_kernels_as_cpu_would_compile_them():
    kernel = next(n for n in _view(document(_small(backend="interp")))["nodes"] if n["kind"] == "kernel")
    (ir_title, ir), (src_title, src) = kernel["code"]
    assert ir_title == "kernel IR" and ir.startswith("kernel ")
    assert src_title.startswith("LLVM IR (backend 'interp'") and "define" in src


def test_inner_graphs_of_branches_are_clusters_too():
    a, b = T.dscalars("a", "b")
    f = ag.function([a, b], ifelse(T.lt(a, b), T.exp(a), b * 2.0), backend="numpy")
    graph = _view(document(f))
    branch = next(n for n in graph["nodes"] if n["kind"] == "branch")
    inner = {n["label"] for n in graph["nodes"] if n["parent"] == branch["id"]}
    assert {"exp", "mul"} <= inner
    assert document(f)["functions"][0]["name"] == "function #1"


def test_loops_map_their_arguments_into_the_inner_graph():
    m, s0 = T.dmatrix("M"), T.dvector("s")
    rows, _ = ag.scan(lambda v, acc: T.tanh(acc * v + 1.0), sequences=[m], outputs_info=[s0])
    f = ag.function([m, s0], rows[-1], backend="numpy")
    graph = _view(document(f))
    loop = next(n for n in graph["nodes"] if n["kind"] == "loop")
    entries = loop["inner"]["inputs"]
    assert entries[0] == []  # the step count feeds no inner input
    fed = [graph["nodes"][i] for group in entries[1:] for i in group]
    assert all(n["kind"] == "inner-input" and n["parent"] == loop["id"] for n in fed)
    assert len(fed) == 2  # a row of M, the previous s
    (out, port), = loop["inner"]["outputs"]
    assert graph["nodes"][out]["parent"] == loop["id"] and graph["nodes"][out]["label"] == "tanh"


def test_profile_colours_top_level_steps():
    f = _training_step()
    prof = ag.profile(f, np.ones((4, 3)), repeat=2)
    graph = _view(document(f, prof))
    ops = [n for n in _top(graph) if n["kind"] in ("op", "kernel")]
    assert ops and all(n["share"] >= 0.0 for n in ops) and sum(n["share"] for n in ops) > 0.0
    assert all("share" not in n for n in graph["nodes"] if n["kind"] not in ("op", "kernel")
               or n["parent"] is not None)
    assert all("of the call" in _rows(n)["time"] for n in ops)
    assert '"share"' not in json.dumps(_view(document(f, prof), "raw"))
    other = _small()
    with pytest.raises(ag.ArignoteValueError, match="matches none of the functions"):
        document(other, ag.profile(f, np.ones((4, 3)), repeat=1))
    two = document([other, f], [prof])  # a profile finds its own function among several
    assert '"share"' not in json.dumps(_view(two, k=0)) and '"share"' in json.dumps(_view(two, k=1))


def test_page_escapes_everything_embedded():
    x = T.dvector(EVIL)
    f = ag.function([x], T.exp(x), name=EVIL, backend="numpy")
    text = page(document(f))
    template = page({"title": "t", "view": "optimized", "functions": []})
    assert text.count("</script>") == template.count("</script>") == 2
    assert "<!--" not in text.split('id="arignote-data">')[1]
    assert "&lt;/script&gt;" in text.split("<title>")[1].split("</title>")[0]
    data = text.split('<script type="application/json" id="arignote-data">')[1].split("</script>")[0]
    doc = json.loads(data)
    assert doc == json.loads(json.dumps(document(f)))
    assert doc["functions"][0]["views"]["optimized"]["nodes"][0]["label"] == EVIL


def test_page_is_self_contained():
    text = page(document(_training_step()))
    urls = set(re.findall(r"\b(?:https?|wss?)://[^\s\"'<>)]*", text))
    assert urls == {"http://www.w3.org/2000/svg"}  # (a namespace name, never fetched)
    assert "default-src 'none'" in text  # the page may not load anything, should it try
    assert not re.search(r"<(?:link|img|iframe)\b|\bsrc=|@import|\bfetch\(|XMLHttpRequest", text)


def test_d3viz_and_its_errors(tmp_path):
    path = d3viz(_small(), tmp_path / "g.html")
    assert path == str(tmp_path / "g.html")
    assert "Fused{exp,mul,add}" in (tmp_path / "g.html").read_text(encoding="utf-8")
    x = T.dvector("x")
    with pytest.raises(ag.ArignoteTypeError, match="compiled functions"):
        d3viz(T.exp(x), tmp_path / "g.html")
    with pytest.raises(ag.ArignoteValueError, match="no function"):
        d3viz([], tmp_path / "g.html")


def test_dump_html(tmp_path, capsys):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import numpy as np
        import arignote as ag
        import arignote.tensor as T
        x = T.dvector("x")
        w = ag.shared(np.ones(3), name="W")
        step = ag.function([x], T.log(1.0 + T.exp(x * w)), updates={w: w - 0.1 * x}, name="step")
        double = ag.function([x], x + x)
        print("script ran")
    """))
    out = tmp_path / "graph.html"
    assert main(["dump", "--format", "html", str(script), "-o", str(out)]) == 0
    assert capsys.readouterr().out == "script ran\n"
    text = out.read_text(encoding="utf-8")
    doc = json.loads(text.split('id="arignote-data">')[1].split("</script>")[0])
    names = [f["name"] for f in doc["functions"]]
    assert names[0] == "function 'step'" and names[1].startswith("function #2")
    assert main(["dump", "--format", "html", "--stage", "raw", str(script)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("<!DOCTYPE html>") and '"view":"raw"' in captured.out
    assert captured.err == "script ran\n"  # (stdout is the page: the script's prints go aside)


# ------------------------------------------------------------ in a browser

@pytest.fixture(scope="module")
def browser():
    if os.environ.get("ARIGNOTE_BACKEND", "numpy") != "numpy":
        pytest.skip("the browser tests run once per `make test`, in its numpy configuration "
                    "(their functions name their backend)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need the playwright "
                                   "package (pip install -e '.[dev]')")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"the browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium; "
                    f"`make test` installs it where it can)")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser, tmp_path):
    """open_page(functions, **d3viz options) -> the page, checked for console errors at the end."""
    pages, problems = [], []

    def open_(functions, **options):
        path = d3viz(functions, tmp_path / f"graph{len(pages)}.html", **options)
        pg = browser.new_page(viewport={"width": 1280, "height": 800})
        pg.set_default_timeout(5000)
        pg.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        pg.on("pageerror", lambda e: problems.append(str(e)))
        pg.on("request", lambda r: None if r.url.startswith("file:") else problems.append(f"fetched {r.url}"))
        pg.goto(f"file://{path}")
        pages.append(pg)
        return pg

    yield open_
    for pg in pages:
        pg.close()
    assert problems == []


def _shown(pg, parent=""):
    return pg.locator(f'#nodes g.node[data-parent="{parent}"]').count()


def test_browser_draws_expands_selects_and_searches(open_page, tmp_path):
    f = _small()
    doc = document(f)
    pg = open_page(f)
    assert _shown(pg) == 3 == len(_top(_view(doc)))
    assert pg.locator("#edges path").count() == 2
    kernel = pg.locator("#nodes g.node[data-kind=kernel]")
    kernel_id = kernel.get_attribute("data-id")
    kernel.click()  # opens the cluster, and shows the kernel's details
    assert pg.locator(f'#clusters g.cluster[data-id="{kernel_id}"]').count() == 1
    inner = [n for n in _view(doc)["nodes"] if str(n["parent"]) == kernel_id]
    assert _shown(pg, kernel_id) == len(inner) == 6
    assert pg.locator("#details details.code summary").all_text_contents() == ["kernel IR", "LLVM IR"]
    pg.locator('#nodes g.node[data-label="exp"]').click()
    assert pg.locator("#details h2").text_content() == "exp"
    details = pg.locator("#details table").text_content()
    assert "float64" in details and "(?,)" in details and "test_viz.py" in details
    pg.locator(f'#clusters g.cluster[data-id="{kernel_id}"] .head').click()  # closes it again
    assert _shown(pg, kernel_id) == 0 and _shown(pg) == 3
    pg.fill("#search", "mul")  # the kernel holding a mul, and the mul
    assert pg.locator("#matches").text_content() == "2 matches"
    pg.press("#search", "Enter")
    pg.press("#search", "Enter")  # goes to the second match: opens its cluster, selects it
    assert pg.locator("#matches").text_content() == "2 of 2"
    assert pg.locator('#nodes g.node.selected[data-label="mul"]').count() == 1
    pg.click("#view-raw")
    assert _shown(pg) == len(_view(doc, "raw")["nodes"]) == 7  # x, exp, 2.0, mul, 1.0, add, output
    assert pg.locator("#nodes g.node[data-kind=kernel]").count() == 0
    pg.screenshot(path=str(tmp_path / "small.png"))


def test_browser_training_step_with_profile(open_page, tmp_path):
    f = _training_step()
    prof = ag.profile(f, np.ones((4, 3)), repeat=2)
    pg = open_page(f, profile=prof)
    assert _shown(pg) == len(_top(_view(document(f))))
    fills = pg.eval_on_selector_all("#nodes g.node[data-kind=kernel] rect", "rs => rs.map(r => r.style.fill)")
    assert fills and all(fill.startswith("rgb") for fill in fills)
    assert "time share" in pg.locator("#legend").text_content()
    pg.click("#report-button")
    assert "rewrites fired" in pg.locator("#report-text").text_content()
    for _ in range(2):  # open two kernels
        pg.click("#fit")
        pg.locator("#nodes g.node[data-kind=kernel]").first.click()
    pg.click("#fit")
    shot = tmp_path / "graph-viewer.png"
    pg.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("ARIGNOTE_VIEWER_SCREENSHOT"):
        pg.screenshot(path=os.environ["ARIGNOTE_VIEWER_SCREENSHOT"])


def test_browser_page_with_hostile_names(open_page):
    x = T.dvector(EVIL)
    pg = open_page(ag.function([x], T.exp(x), name=EVIL, backend="numpy"))
    assert pg.evaluate("window.pwned") is None
    assert pg.locator("#title").text_content() == f"function {EVIL!r}"
    assert pg.locator("#nodes g.node[data-kind=input]").get_attribute("data-label") == EVIL
    assert pg.locator("#nodes g.node[data-kind=input] text").text_content().startswith("</script>")
