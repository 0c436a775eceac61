# The two entry points: `make run` and `make test`. Both install what is missing first.
BUILD_DIR ?= build
ASAN_DIR ?= build-asan
JOBS ?= 2
ARGS ?=
CMAKE_FLAGS ?=

.PHONY: all deps configure build run test test-release test-asan bench format clean

all: build

deps:
	@./scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null

build: configure
	cmake --build $(BUILD_DIR) -j$(JOBS) --target chatagent

run: build
	./$(BUILD_DIR)/chatagent serve $(ARGS)

test-release: configure
	cmake --build $(BUILD_DIR) -j$(JOBS)
	ctest --test-dir $(BUILD_DIR) -j$(JOBS) --output-on-failure

test-asan: deps
	@cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCHATAGENT_SANITIZE=ON \
	  -DCHATAGENT_BUILD_BENCHMARKS=OFF -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" >/dev/null
	cmake --build $(ASAN_DIR) -j$(JOBS)
	ctest --test-dir $(ASAN_DIR) -j$(JOBS) --output-on-failure

test: test-release test-asan

bench: configure
	cmake --build $(BUILD_DIR) -j$(JOBS)
	./benchmarks/run-load.sh $(BUILD_DIR)
	./benchmarks/run-send.sh $(BUILD_DIR)
	./benchmarks/run-ws.sh $(BUILD_DIR)
	./benchmarks/run-ingest.sh $(BUILD_DIR)
	./$(BUILD_DIR)/benchmarks/knowledge_bench 10000 100000

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)
