# azr — two commands on a fresh machine: `make selfplay` and `make test`. Both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# onnxruntime-node's install step downloads CUDA libraries (and fails offline) unless told not to.
export ONNXRUNTIME_NODE_INSTALL := skip
# The Python interpreter with Debian's packages (numpy, msgpack, pebble, torch); see README.
export AZR_PYTHON ?= $(shell [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3)

MODEL ?= tiny
APT_PACKAGES := nats-server python3 python3-numpy python3-msgpack python3-pebble python3-sympy \
                python3-torch libopenblas0-pthread bubblewrap chromium strace
BENCHES = $(basename $(notdir $(wildcard bench/*.bench.ts)))
NODE_TS := node --import tsx

.PHONY: help setup system-deps test test-times typecheck bench bench-gpu gpu-bundle selfplay base-model clean torch-next test-torch-next

help: ## list the targets
	@grep -E '^[a-z%-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

setup: node_modules/.azr-installed system-deps ## install npm and Debian dependencies (idempotent)

node_modules/.azr-installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "azr needs these Debian packages: $$missing"; \
	    echo "run as root:  apt-get update && apt-get install -y $$missing"; exit 1; \
	  fi; \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

typecheck: setup ## type-check the whole project
	npx tsc --noEmit -p .

# Two test files at a time: many tests wait (heartbeats, restarts, servers) more than they compute, so
# on 2 cores the suite took 13.3 min this way against 19.9 min one file at a time (2026-11-28,
# 2-core EPYC; every test passing both ways, twice at 2). TEST_CONCURRENCY=1 runs them one at a time.
TEST_CONCURRENCY ?= 2

# Longest files first (test/durations.json; unmeasured ones before them): see test/helpers/schedule.ts.
test: setup typecheck ## type-check, then run every test (real nats-server, Python, onnxruntime)
	files=$$($(NODE_TS) test/helpers/schedule.ts) && \
	$(NODE_TS) --test --test-reporter=spec --test-timeout=300000 --test-concurrency=$(TEST_CONCURRENCY) $$files

test-times: setup ## time each test file alone (two at a time) and store the durations `make test` orders files by
	mkdir -p runs && test/helpers/time-files.sh | tee runs/test-times.txt
	$(NODE_TS) test/helpers/schedule.ts --record runs/test-times.txt

torch-next: ## a newer PyTorch (Debian trixie's 2.6) beside Debian's 1.13, for the FSDP tests: /opt/azr-trixie.python
	model/torch/next-torch.sh /opt/azr-trixie

test-torch-next: setup torch-next ## the torch engine's and the actors' tests on torch 2.6 (FSDP included)
	AZR_PYTHON=/opt/azr-trixie.python $(NODE_TS) --test --test-reporter=spec --test-timeout=300000 $(shell find test/torch test/actors -name '*.test.ts' | sort)

bench: setup ## run every benchmark; tables printed, JSON in bench/out/
	@for b in $(BENCHES); do $(MAKE) --no-print-directory bench-$${b%.bench} || exit 1; done

bench-gpu: bench-torch ## the torch engine on a CUDA GPU beside transformers (bench/torch.bench.ts; says so and exits 0 without one)

gpu-bundle: setup ## pack node, nats-server and node_modules (~50 MB) for a GPU machine without Node: model/torch/gpu_recipe_run.sh runs a whole recipe there
	bash model/torch/gpu-bundle.sh

bench-%: setup ## run one benchmark, e.g. make bench-actors
	$(NODE_TS) bench/$*.bench.ts

selfplay: setup ## run Absolute Zero self-play with a recipe (MODEL=tiny by default)
	$(NODE_TS) cli/main.ts selfplay --recipe $(MODEL)

# The committed data/tiny was made by the torch engine (model/torch/azr_torch/pretrain.py) on one
# H100 in 175 s of training (2026-11-27): 200,000 generated programs (seed 1, the fast harness runner)
# -> 753,048 examples, 119.9 M tokens; 4,832 steps of 131,072 padded tokens, peak 3e-3 after 200
# warm-up steps, cosine to 10% (4.7 epochs, 561 M tokens). `make base-model` replays exactly that: on
# a GPU in minutes; on a CPU (no CUDA) the same steps at a few thousand tokens/s, i.e. days - stop
# it any time, `make base-model` again resumes from its checkpoint. GPU bf16 arithmetic is not bit
# for bit reproducible across machines; the data, seeds and schedule are.
# Then make-heldout widens the held-out set to 3,400 generated programs: for data/tiny's corpus, 1,202 a
# task type after dropping 167 when run (errors, constant outputs), 431 duplicates and the 1,600 equal to a
# pretraining program up to variable names (programOverlapKey), for 95% intervals of about +-2.6 points.
# make-corpus's own 370 are no longer its prefix (156 of them survive that filter). --heldout-match text:
# data/tiny's corpus had only text-equal copies of make-corpus's 370 held-out programs removed (make-corpus's
# default now removes renamed copies too); with it the corpus is the one data/tiny was trained on, file for file.
# BASE_MODEL_ENGINE=ort runs the earlier recipe on onnxruntime (CPU, ~2 h on 2 idle cores: 20,000
# programs, 3,050 steps of 8,192 tokens in three resumable legs; a weaker model, docs/tiny-model.md).
BASE_MODEL_ENGINE ?= torch
BASE_MODEL_TORCH_ARGS ?= --max-steps 4832 --batch-tokens 131072 --lr 3e-3 --warmup 200
BASE_MODEL_LEG1 ?= --anneal-from 900 --anneal-to 1100
BASE_MODEL_LEG2 ?= --anneal-from 1500 --anneal-to 1864
BASE_MODEL_LEG3 ?= --epochs 2 --anneal-from 2750 --anneal-to 3050
BASE_MODEL_ARGS ?= --batch-tokens 8192 --micro-batch 16 --lr 3e-3 --warmup 50
base-model: setup ## remake the tiny base model into data/tiny (replacing it): corpus, tokenizer, pretraining (resumable). Torch engine: minutes on a GPU, days on a CPU; BASE_MODEL_ENGINE=ort: ~2 h on a CPU, a weaker model (the earlier recipe)
ifeq ($(BASE_MODEL_ENGINE),torch)
	@[ -f runs/base-model/corpus-200k/corpus.jsonl ] || $(NODE_TS) actors/base-model/make-corpus.ts --out runs/base-model/corpus-200k --programs 200000 --runner harness --heldout-match text
	$(NODE_TS) cli/main.ts base-model --engine torch --corpus runs/base-model/corpus-200k --out data/tiny --work-dir runs/base-model/train-torch --resume $(BASE_MODEL_TORCH_ARGS)
	$(NODE_TS) actors/base-model/make-heldout.ts --out data/tiny --pretraining runs/base-model/corpus-200k/programs.jsonl --eval-programs 3400 --runner harness
else
	@[ -f runs/base-model/corpus/corpus.jsonl ] || $(NODE_TS) actors/base-model/make-corpus.ts --out runs/base-model/corpus --heldout-match text
	$(NODE_TS) cli/main.ts base-model --corpus runs/base-model/corpus --out data/tiny --resume $(BASE_MODEL_ARGS) $(BASE_MODEL_LEG1)
	$(NODE_TS) cli/main.ts base-model --corpus runs/base-model/corpus --out data/tiny --resume $(BASE_MODEL_ARGS) $(BASE_MODEL_LEG2)
	$(NODE_TS) cli/main.ts base-model --corpus runs/base-model/corpus --out data/tiny --resume $(BASE_MODEL_ARGS) $(BASE_MODEL_LEG3)
endif

clean: ## delete runs/ (every run, made seeds, base-model corpus and checkpoints) and bench/out
	rm -rf bench/out runs
