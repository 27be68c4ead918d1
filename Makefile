# Head Surgeon build.
#   make              release build: build/release/surgeond (CUDA backend linked in when nvcc is found)
#   make run          release build, demo model under ./var/models, daemon on 127.0.0.1:8700
#   make test         include layering check, ASan+UBSan build (test-only job kind), every suite
#   make gpu-emulate  the CUDA backend's tiled attention kernels run on the CPU against a reference
#   make unit         only the C unit tests (sanitizer build)
#   make fuzz         libFuzzer targets (clang), a minute each (FUZZ_SECONDS)
#   make clean
# BUILD=dir puts every output under dir (default build/), so several checkouts or people
# can build side by side. MODE=release|test|fuzz selects the tree; the targets above set it.

BUILD ?= build
MODE  ?= release
OUT   := $(BUILD)/$(MODE)
PYTHON ?= python3

PKGS        := libmicrohttpd libcjson libuv sqlite3 openblas libpcre2-8 icu-i18n libarchive libcrypto
PKG_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

# oneDNN 2.x (Debian 12's libdnnl-dev, no pkg-config file): the CPU backend's bf16 GEMMs.
# Built in whenever a 2.x header is found (3.x changed the C API); without it the CPU backend
# offers fp32 only.
ifndef HAVE_ONEDNN
  HAVE_ONEDNN := $(shell printf '\043include <oneapi/dnnl/dnnl_version.h>\n\043if DNNL_VERSION_MAJOR != 2\n\043error oneDNN 2.x wanted\n\043endif\n' | $(CC) -E -x c - >/dev/null 2>&1 && echo yes)
endif
ifeq ($(HAVE_ONEDNN),yes)
  ONEDNN_CFLAGS := -DHS_HAVE_ONEDNN
  ONEDNN_LIBS   := -ldnnl
endif

# CUDA: built whenever nvcc is found (on PATH or under /usr/local/cuda), never in fuzz mode.
NVCC ?= $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })
CUDA_ARCH ?= 90
ifeq ($(MODE),fuzz)
  NVCC :=
endif
ifneq ($(NVCC),)
  CUDA_HOME   := $(patsubst %/bin/nvcc,%,$(NVCC))
  CUDA_CFLAGS := -DHS_HAVE_CUDA -I$(CUDA_HOME)/include
  CUDA_LIBS   := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart -lstdc++
endif

# Test hooks (ops.h inject_fault): always in the test build; TEST_HOOKS=1 adds them to another
# build (tests/gpu/check.sh builds its own optimised tree with them).
ifeq ($(MODE),test)
  TEST_HOOKS := 1
endif
ifeq ($(TEST_HOOKS),1)
  HOOK_FLAGS := -DHS_TEST_HOOKS
endif

WARN     := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes
INCLUDES := -Idaemon -Ikernels -I$(OUT)/gen
ifeq ($(MODE),test)
  MODE_CFLAGS  := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                  -fno-omit-frame-pointer -DHS_TEST_BUILD -fopenmp
  MODE_LDFLAGS := -fsanitize=address,undefined -fopenmp
else ifeq ($(MODE),fuzz)
  CC           := clang
  MODE_CFLAGS  := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
                  -DHS_FUZZ_BUILD -Wno-unknown-pragmas
  MODE_LDFLAGS := -fsanitize=address,undefined
else
  # x86-64-v3 (AVX2, FMA), not -march=native: a release binary runs on any such machine, e.g.
  # cluster nodes that differ from the build host. OpenBLAS dispatches its wider kernels at run time.
  MODE_CFLAGS  := -O3 -march=x86-64-v3 -g -fopenmp
  MODE_LDFLAGS := -fopenmp
endif
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE $(WARN) $(INCLUDES) $(PKG_CFLAGS) $(CUDA_CFLAGS) $(ONEDNN_CFLAGS) $(MODE_CFLAGS) $(HOOK_FLAGS) -MMD -MP $(CFLAGS)
LDLIBS_ALL := $(PKG_LIBS) $(ONEDNN_LIBS) $(CUDA_LIBS) -lm -lpthread $(LDLIBS)
NVCCFLAGS  ?= -O3 -std=c++20 -gencode arch=compute_$(CUDA_ARCH),code=[sm_$(CUDA_ARCH),compute_$(CUDA_ARCH)] \
              -Xcompiler -Wall,-Wextra,-Wno-unused-parameter,-fPIC -Ikernels

SRC_DAEMON  := $(filter-out daemon/main.c,$(shell find daemon -name '*.c' | sort))
SRC_KERNELS := $(wildcard kernels/*.c kernels/cpu/*.c)
SRC_CUDA    := $(if $(NVCC),$(wildcard kernels/cuda/*.cu))
EMBED_FILES := $(sort $(wildcard schema/*.sql) $(shell find web -type f 2>/dev/null))
TEST_SRCS   := $(wildcard tests/unit/test_*.c)
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)

OBJS    := $(patsubst %.c,$(OUT)/obj/%.o,$(SRC_DAEMON) $(SRC_KERNELS)) $(OUT)/obj/gen/embedded_data.o
CU_OBJS := $(patsubst %.cu,$(OUT)/obj/%.cu.o,$(SRC_CUDA))
LIB     := $(OUT)/libsurgeon.a
BIN     := $(OUT)/surgeond
TESTS   := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(TEST_SRCS))
FUZZERS := $(patsubst tests/fuzz/%.c,$(OUT)/fuzz/%,$(FUZZ_SRCS))


.PHONY: gpu-check gpu-emulate all run test unit unit-run fuzz fuzz-build fuzz-smoke web-test clean tests-build layout-check
all: $(BIN)

$(OUT)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(OUT)/obj/%.cu.o: %.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) $(HOOK_FLAGS) -MMD -MP -MF $(@:.o=.d) -c $< -o $@

$(OUT)/gen/embedded_data.c: daemon/common/embed_files.sh $(EMBED_FILES)
	@mkdir -p $(@D)
	sh daemon/common/embed_files.sh $@ $(EMBED_FILES)

$(OUT)/obj/gen/embedded_data.o: $(OUT)/gen/embedded_data.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(LIB): $(OBJS) $(CU_OBJS)
	@rm -f $@
	@echo "AR $@"
	@ar rcs $@ $^

$(BIN): $(OUT)/obj/daemon/main.o $(LIB)
	$(CC) $(MODE_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(OUT)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Itests/unit -o $@ $< $(LIB) $(CMOCKA_LIBS) $(MODE_LDFLAGS) $(LDLIBS_ALL)

# Allocation-failure tests: the project's allocations go through the test's failing allocator.
ALLOC_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup
$(OUT)/tests/test_alloc_%: tests/unit/test_alloc_%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Itests/unit -o $@ $< $(LIB) $(CMOCKA_LIBS) $(MODE_LDFLAGS) $(ALLOC_WRAP) $(LDLIBS_ALL)

$(OUT)/fuzz/%: tests/fuzz/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -fsanitize=fuzzer -o $@ $< $(LIB) $(MODE_LDFLAGS) -fsanitize=fuzzer $(LDLIBS_ALL)

GPU_CHECK := $(OUT)/gpu/op_parity $(OUT)/gpu/make_random_model $(if $(NVCC),$(OUT)/gpu/gemm_peak_cuda)
$(OUT)/gpu/%: tests/gpu/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LIB) $(MODE_LDFLAGS) $(LDLIBS_ALL)

# The GPU parity/benchmark program; tests/gpu/check.sh runs it on a machine with a GPU.
gpu-check: $(BIN) $(GPU_CHECK)

# The tiled attention kernels of the CUDA backend run on the CPU (no GPU, no nvcc needed).
$(OUT)/gpu/tiled_attention_emulated: tests/gpu/tiled_attention_emulated.cpp \
                                     kernels/cuda/cuda_attention_tiled_kernels.cuh kernels/ops.h
	@mkdir -p $(@D)
	$(CXX) -std=c++20 -O1 -pthread -Wall -Wextra -Wno-unused-parameter -Wno-unknown-pragmas \
	  -Ikernels -o $@ $<
gpu-emulate: $(OUT)/gpu/tiled_attention_emulated
	./$(OUT)/gpu/tiled_attention_emulated

tests-build: $(BIN) $(TESTS) $(GPU_CHECK)

# ---- running ---------------------------------------------------------------------------
run: all
	@mkdir -p var/models var/corpora
	@test -d var/models/demo || $(BIN) demo-model --out var/models/demo
	$(BIN) serve --data-dir var --model-root var/models --corpus-root var/corpora

# ---- tests -----------------------------------------------------------------------------
# The whole suite: include layering, sanitizer build, C unit tests, the emulated CUDA attention
# kernels, fuzz smoke runs, integration and web tests.
test: layout-check
	$(MAKE) MODE=test tests-build
	$(MAKE) MODE=test unit-run
	$(MAKE) MODE=test gpu-emulate
	@if command -v clang >/dev/null 2>&1 && [ -n "$(FUZZ_SRCS)" ]; then \
	  $(MAKE) MODE=fuzz fuzz-build && $(MAKE) MODE=fuzz fuzz-smoke; fi
	SURGEOND=$(BUILD)/test/surgeond $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration tests/web

# The folder layering and acyclicity of #include lines (tests/layout/check_includes.py).
layout-check:
	$(PYTHON) tests/layout/check_includes.py

web-test:
	$(MAKE) MODE=test tests-build
	SURGEOND=$(BUILD)/test/surgeond $(PYTHON) -m pytest -q -p no:cacheprovider tests/web

unit:
	$(MAKE) MODE=test tests-build
	$(MAKE) MODE=test unit-run

unit-run:
	@fail=0; for t in $(TESTS); do echo "== $$t"; \
	  HS_REPO_ROOT=$(CURDIR) ./$$t || fail=1; done; exit $$fail

fuzz-build: $(FUZZERS)

FUZZ_SMOKE_SECONDS ?= 5
fuzz-smoke:
	@fail=0; for f in $(FUZZERS); do n=$$(basename $$f); echo "== fuzz smoke $$n"; \
	  mkdir -p $(OUT)/corpus/$$n; \
	  ./$$f -max_total_time=$(FUZZ_SMOKE_SECONDS) -print_final_stats=0 $(OUT)/corpus/$$n tests/fuzz/seeds/$$n \
	    2>$(OUT)/fuzz-$$n.log || { tail -40 $(OUT)/fuzz-$$n.log; fail=1; }; done; exit $$fail

FUZZ_SECONDS ?= 60
fuzz:
	$(MAKE) MODE=fuzz fuzz-build
	$(MAKE) MODE=fuzz fuzz-smoke FUZZ_SMOKE_SECONDS=$(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD)

-include $(OBJS:.o=.d) $(CU_OBJS:.o=.d) $(OUT)/obj/daemon/main.d
