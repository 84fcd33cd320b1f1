# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv install system-deps test test-long test-all-pythons test-gpu demo docs lint bench bench-gpu clean

venv install: $(STAMP)

# Re-install only when the project's metadata changes.
$(STAMP): pyproject.toml
	@echo "make: creating $(VENV) and installing Arignote with its dev, examples and cuda extras" \
		"(pip, about a minute the first time)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --progress-bar on -e '.[dev,examples,cuda]'
	@echo "make: installed"
	touch $(STAMP)

# Programs some tests drive, from Debian where missing: chromium (the graph viewer's
# browser tests, through playwright; never a browser download) and Graphviz's dot
# (pydotprint). Installing needs root; elsewhere it says so and those tests skip.
system-deps:
	@if [ ! -x /usr/bin/chromium ] || ! command -v dot >/dev/null; then \
		echo "make: installing chromium and graphviz (apt-get)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium graphviz \
			>/dev/null) || echo "make: could not install chromium/graphviz (needs root and apt-get):" \
			"the browser and Graphviz tests will skip"; \
	fi

# The whole suite runs on the reference backend, then on the cpu backend fused
# and unfused (one kernel per op): every backend must match the oracle.
# The CUDA C of every kernel the suite makes is checked for the GPUs at the end (with NVRTC,
# the cuda extra: sm_80 and sm_90, no warnings, no spills in elementwise kernels): the cpu
# runs and the cuda-emulated op, pass, runtime and gradient runs write each kernel's CUDA C
# into $(CUDA_CHECK) (ARIGNOTE_CUDA_CHECK_DIR; a kernel made twice is one file), checked
# together in NVRTC programs of 128 kernels (each kernel's report cached by its source).
CUDA_CHECK := $(CURDIR)/build/cuda-check

test: $(STAMP) system-deps
	rm -rf $(CUDA_CHECK)
	ARIGNOTE_BACKEND=numpy $(BIN)/python -m pytest -n 2 tests
	ARIGNOTE_CUDA_CHECK_DIR=$(CUDA_CHECK) ARIGNOTE_BACKEND=cpu ARIGNOTE_FUSION=1 $(BIN)/python -m pytest \
		-n 2 -p no:cacheprovider tests
	ARIGNOTE_CUDA_CHECK_DIR=$(CUDA_CHECK) ARIGNOTE_BACKEND=cpu ARIGNOTE_FUSION=0 $(BIN)/python -m pytest \
		-n 2 -p no:cacheprovider tests
	ARIGNOTE_BACKEND=interp $(BIN)/python -m pytest -n 2 -p no:cacheprovider tests/ops tests/passes \
		tests/runtime tests/test_gradient.py tests/test_random_graphs.py tests/test_examples.py
	ARIGNOTE_SAFE_CALLS=1 ARIGNOTE_BACKEND=cpu $(BIN)/python -m pytest -n 2 -p no:cacheprovider \
		tests/runtime tests/compiler/test_launch.py tests/compiler/test_unsafe.py
	# The CUDA C of every kernel, run on the CPU by the emulator (skipped without g++): the
	# kernels of test_cuda.py and the random graphs NVRTC-checked as they run, those of the
	# op, pass, runtime and gradient tests written to $(CUDA_CHECK) with the cpu runs'.
	if command -v g++ >/dev/null; then ARIGNOTE_BACKEND=cuda-emulated \
		$(BIN)/python -m pytest -n 2 -p no:cacheprovider tests/compiler/test_cuda.py \
		tests/test_random_graphs.py && ARIGNOTE_BACKEND=cuda-emulated ARIGNOTE_CUDA_CHECK_DIR=$(CUDA_CHECK) \
		$(BIN)/python -m pytest -n 2 -p no:cacheprovider tests/ops tests/passes tests/runtime \
		tests/test_gradient.py; \
	else echo "cuda-emulated: skipped (no g++)"; fi
	$(BIN)/python -c "import sys; from arignote.compiler.cuda_compile import main; sys.exit(main(sys.argv[1]))" \
		$(CUDA_CHECK) && rm -rf $(CUDA_CHECK)

# On a machine with an NVIDIA GPU (docs/gpu.md): the op, runtime, gradient and random-graph
# tests on backend 'cuda' (device arrays, kernels launched on the GPU, cuBLAS), with the
# cuda-gpu extra (cuBLAS). Where there is no GPU it fails at once, saying why: it never
# reports a pass it did not run. (ARIGNOTE_CUDA_DEVICE=emulated runs the same path on the
# emulated device: tests/runtime/test_cuda_device.py does, in `make test`.)
GPU_CHECK = $(BIN)/python -c "import sys; from arignote.runtime.cuda_gpu import gpu_missing; \
	why = gpu_missing(); why and sys.exit('make $@: no GPU on this machine: ' + why + \
	' (nothing was run; see docs/gpu.md)')"
test-gpu: $(STAMP)
	@$(GPU_CHECK)
	$(BIN)/python -m pip install --quiet -e '.[cuda-gpu]'
	ARIGNOTE_BACKEND=cuda $(BIN)/python -m pytest -n 2 -p no:cacheprovider tests/ops tests/runtime \
		tests/test_gradient.py tests/test_random_graphs.py

# W1, W2 and W5 on the GPU: GB/s and the fraction of the device's memory bandwidth
# (benchmarks/bench_gpu.py); fails without a GPU, as test-gpu does.
bench-gpu: $(STAMP)
	@$(GPU_CHECK)
	$(BIN)/python -m pip install --quiet -e '.[cuda-gpu]'
	$(BIN)/python benchmarks/bench_gpu.py $(BENCH_ARGS)

# Nightly size: ARIGNOTE_LONG_EXAMPLES random graphs (default 12500) per property test
# (values and gradients) on each of the four backends: 100,000 graphs in all;
# then the max/min/comparison gradient test, which compares every backend itself.
LONG_EXAMPLES ?= 12500
test-long: $(STAMP)
	for cfg in "ARIGNOTE_BACKEND=numpy" "ARIGNOTE_BACKEND=cpu ARIGNOTE_FUSION=0" \
	           "ARIGNOTE_BACKEND=cpu ARIGNOTE_FUSION=1" "ARIGNOTE_BACKEND=interp"; do \
		env $$cfg ARIGNOTE_LONG_EXAMPLES=$(LONG_EXAMPLES) $(BIN)/python -m pytest -n 2 \
			-p no:cacheprovider -q tests/test_random_graphs.py || exit 1; \
	done
	ARIGNOTE_LONG_EXAMPLES=$(LONG_EXAMPLES) $(BIN)/python -m pytest -p no:cacheprovider -q \
		tests/test_random_gradients.py

# The suite (numpy and fused cpu configurations) under each supported Python found on PATH
# or through pyenv, each in its own .venv-3.X; says which were not found and fails if any
# found one fails. PYTHONS="3.12" picks some.
# Only 3.11 has been measured in full (README, "What works today").
PYTHONS := 3.10 3.11 3.12 3.13
test-all-pythons:
	@missing=""; failed=""; \
	for v in $(PYTHONS); do \
		py=python$$v; $$py -c '' 2>/dev/null || py=$$(pyenv prefix $$v 2>/dev/null)/bin/python$$v; \
		if ! $$py -c '' 2>/dev/null; then missing="$$missing $$v"; continue; fi; \
		echo "make: Python $$v ($$py)"; \
		{ [ -x .venv-$$v/bin/python ] || $$py -m venv .venv-$$v; } && \
		.venv-$$v/bin/python -m pip install --quiet -e '.[dev]' && \
		ARIGNOTE_BACKEND=numpy .venv-$$v/bin/python -m pytest -q -p no:cacheprovider tests && \
		ARIGNOTE_BACKEND=cpu ARIGNOTE_FUSION=1 .venv-$$v/bin/python -m pytest -q \
			-p no:cacheprovider tests || failed="$$failed $$v"; \
	done; \
	echo "make: not found (PATH, pyenv):$${missing:- none}"; \
	echo "make: failed:$${failed:- none}"; \
	[ -z "$$failed" ]

demo: $(STAMP)
	@echo "make: running examples/quickstart.py"
	$(BIN)/python examples/quickstart.py

# The API reference from the docstrings (pdoc: every module, each page its __all__),
# into build/api/index.html. tests/test_api_docs.py checks what it reads.
docs: $(STAMP)
	$(BIN)/python -m pdoc -o build/api --no-show-source arignote
	@echo "make: the API reference is build/api/index.html"

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/compile_time.py

lint: $(STAMP)
	$(BIN)/python -m ruff check arignote tests examples

clean:
	rm -rf $(VENV) .venv-3.* .pytest_cache .hypothesis .ruff_cache
