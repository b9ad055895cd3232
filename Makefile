# azr — two commands on a fresh machine: `make selfplay` and `make test`. Both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# onnxruntime-node's install step downloads CUDA libraries (and fails offline) unless told not to.
export ONNXRUNTIME_NODE_INSTALL := skip
# The Python interpreter with Debian's packages (numpy, msgpack, pebble, torch); see README.
export AZR_PYTHON ?= $(shell [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3)

MODEL ?= tiny
APT_PACKAGES := nats-server python3 python3-numpy python3-msgpack python3-pebble python3-sympy \
                python3-torch libopenblas0-pthread bubblewrap chromium
TEST_FILES = $(shell find test -name '*.test.ts' | sort)
BENCHES = $(basename $(notdir $(wildcard bench/*.bench.ts)))
NODE_TS := node --import tsx

.PHONY: help setup system-deps test typecheck bench selfplay base-model clean

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

test: setup typecheck ## type-check, then run every test (real nats-server, Python, onnxruntime)
	$(NODE_TS) --test --test-reporter=spec --test-timeout=300000 $(TEST_FILES)

bench: setup ## run every benchmark; tables printed, JSON in bench/out/
	@for b in $(BENCHES); do $(MAKE) --no-print-directory bench-$${b%.bench} || exit 1; done

bench-%: setup ## run one benchmark, e.g. make bench-actors
	$(NODE_TS) bench/$*.bench.ts

selfplay: setup ## run Absolute Zero self-play with a recipe (MODEL=tiny by default)
	$(NODE_TS) cli/main.ts selfplay --recipe $(MODEL)

# The settings that made the committed data/tiny (its pretraining.json records the result): 8,192-token
# batches, peak 3e-3 after 50 warm-up steps, a cosine over the corpus's 1,864 steps (one epoch, 15 M
# tokens). It was made in two legs, and both are replayed here: first to step 1,100 with the rate
# annealed linearly to the floor from step 900; then resumed from that checkpoint back into the cosine
# (a re-warm to 1.3e-3) to the end of the epoch, annealed to the floor from step 1,500; then into a
# second epoch: the cosine's horizon moved to two epochs (3,728 steps; a re-warm to 1.7e-3 at step
# 1,864) and annealed to the floor from step 2,750, stopping at 3,050. 2.4–2.6 s a step when the 2
# cores are idle (≈ 2 h in all; 5.2 h of wall time on the shared machine). Each leg is resumable; a
# leg whose stop step the checkpoint has passed only re-exports it.
BASE_MODEL_LEG1 ?= --anneal-from 900 --anneal-to 1100
BASE_MODEL_LEG2 ?= --anneal-from 1500 --anneal-to 1864
BASE_MODEL_LEG3 ?= --epochs 2 --anneal-from 2750 --anneal-to 3050
BASE_MODEL_ARGS ?= --batch-tokens 8192 --micro-batch 16 --lr 3e-3 --warmup 50
base-model: setup ## make the tiny base model from nothing: corpus, tokenizer, pretraining (resumable) → data/tiny
	@[ -f runs/base-model/corpus/corpus.jsonl ] || $(NODE_TS) actors/base-model/make-corpus.ts --out runs/base-model/corpus
	$(NODE_TS) cli/main.ts base-model --corpus runs/base-model/corpus --out data/tiny --resume $(BASE_MODEL_ARGS) $(BASE_MODEL_LEG1)
	$(NODE_TS) cli/main.ts base-model --corpus runs/base-model/corpus --out data/tiny --resume $(BASE_MODEL_ARGS) $(BASE_MODEL_LEG2)
	$(NODE_TS) cli/main.ts base-model --corpus runs/base-model/corpus --out data/tiny --resume $(BASE_MODEL_ARGS) $(BASE_MODEL_LEG3)

clean: ## remove run folders and bench output
	rm -rf bench/out runs
