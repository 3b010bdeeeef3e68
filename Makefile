# daneguard - the two README commands and their parts.
#
#   make demo    install what is missing, build, bring the test world up, run
#                daneguard on the world's demo cases, tear the world down
#   make test    install, build with ASan+UBSan, run every test (unit, fuzz corpus
#                replay, world integration), a short libFuzzer run, release builds
#
# Everything builds under build/; the world runs from build/<config>/world.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
ASAN_DIR ?= build/asan
REL_DIR ?= build/release
FUZZ_DIR ?= build/fuzz
CLANG_DIR ?= build/clang-release
FUZZ_SECONDS ?= 15

.PHONY: all deps build release test unit fuzz-smoke release-builds demo clean world-up world-down

all: release

deps:
	@bash scripts/install-deps.sh

build: deps
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DDG_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_DIR) -j$(JOBS)

release: deps
	cmake -S . -B $(REL_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(REL_DIR) -j$(JOBS)

# ctest brings the world up and down itself (fixtures), even when tests fail.
test: build
	cd $(ASAN_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 900
	$(MAKE) --no-print-directory fuzz-smoke release-builds
	@echo "make test: all tests passed"

unit: build
	cd $(ASAN_DIR) && ctest --output-on-failure -L 'unit|fuzz'

# Short timed libFuzzer run of every fuzz target (clang). New inputs go to a scratch
# directory; the checked-in corpus is only read. A crash fails the run.
fuzz-smoke: deps
	CC=clang cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=Debug -DDG_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_DIR) -j$(JOBS)
	@set -e; for f in $(FUZZ_DIR)/tests/fuzz_*; do \
	  [ -x "$$f" ] || continue; n=$$(basename $$f); p=$${n#fuzz_}; \
	  scratch=$$(mktemp -d); \
	  echo "fuzz $$p: $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	     -artifact_prefix=$(FUZZ_DIR)/crash-$$p- $$scratch tests/fuzz/corpus/$$p 2>&1 \
	     | grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|ERROR|SUMMARY' || true; \
	  rm -rf $$scratch; \
	  if ls $(FUZZ_DIR)/crash-$$p-* >/dev/null 2>&1; then echo "fuzz $$p: CRASH, see $(FUZZ_DIR)"; exit 1; fi; \
	done

# STYLE.md section 9: CI also builds gcc and clang release builds (warnings are errors).
release-builds: release
	CC=clang cmake -S . -B $(CLANG_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(CLANG_DIR) -j$(JOBS)

demo: release
	@bash scripts/demo.sh $(REL_DIR)

world-up: deps
	tests/world/world up $(REL_DIR)/world

world-down:
	tests/world/world down $(REL_DIR)/world

clean:
	-tests/world/world down $(ASAN_DIR)/world 2>/dev/null
	-tests/world/world down $(REL_DIR)/world 2>/dev/null
	rm -rf build
