# Front door. The real build is CMake; these targets are what the README promises.
BUILD      ?= build
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all build bootstrap test bench install larson-plan fuzz clean

all: build

bootstrap:
	@bash scripts/bootstrap.sh

build: bootstrap
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Every test: unit, stress, sanitizers, Larson runs, preload, model checking, fuzzing.
test: build
	@bash scripts/test.sh $(BUILD)

# The main job: hakmem against glibc, mimalloc, jemalloc and tcmalloc.
bench: build
	@bash bench/run.sh $(BUILD)

# The seed's full test plan (repro and guard, 30 s, 4 threads, fast cache off and on).
larson-plan: build
	@bash scripts/larson_plan.sh

fuzz: bootstrap
	@bash fuzz/run.sh long

install: build
	@cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX),)

clean:
	rm -rf $(BUILD) build-*
