# mk/core.mk - the protocol core (src/core): sources, flags, unit tests and
# fuzzing.  Included by the top-level Makefile, or used alone from the repo
# top:
#
#   make -f mk/core.mk unit-test [SANITIZE=1]   cmocka tests
#   make -f mk/core.mk fuzz-replay [SANITIZE=1] replay the seed corpus (gcc)
#   make -f mk/core.mk fuzz [FUZZ_SECONDS=60]   libFuzzer runs (clang), every
#        [FUZZ_RUNS=n] [FUZZ_NICE="nice -n 19"]  target in turn; each stops
#                                               after FUZZ_SECONDS or n runs
#   make -f mk/core.mk coverage                 line coverage of src/core
#                                               (llvm-cov): unit tests plus
#                                               the corpus replays
#   make -f mk/core.mk core-bench               reader throughput
#
# Every path is relative to the repo top (the make cwd); outputs go under
# build/core/<variant>/ so sanitized and plain objects never mix.
# Only CORE_*-prefixed variables are defined, so including this file does
# not disturb the caller's CFLAGS/LDFLAGS.

CORE_SAVED_GOAL := $(.DEFAULT_GOAL)

# ---- what other makefiles use -------------------------------------------

CORE_SRCS := src/core/wsp_frame.c src/core/wsp_frame_write.c \
             src/core/wsp_mask.c src/core/wsp_close.c \
             src/core/wsp_utf8.c src/core/wsp_handshake.c \
             src/core/wsp_outq.c src/core/wsp_session.c \
             src/core/wsp_origin.c src/core/wsp_pmd.c src/core/wsp_deflate.c \
             src/core/wsp_session_pmd.c src/core/wsp_session_clock.c src/core/wsp_rate.c
CORE_HDRS := src/core/wsp_frame.h src/core/wsp_utf8.h \
             src/core/wsp_handshake.h src/core/wsp_internal.h \
             src/core/wsp_session.h src/core/wsp_origin.h src/core/wsp_pmd.h \
             src/core/wsp_deflate.h src/core/wsp_rate.h
CORE_CFLAGS := -Isrc/core $(shell apr-1-config --cflags --cppflags --includes) \
               $(shell apu-1-config --includes)
CORE_LIBS := $(shell apu-1-config --link-ld --libs) \
             $(shell apr-1-config --link-ld --libs) -lz

# ---- build settings for the core's own tests ----------------------------

CORE_CC      ?= gcc
CORE_CLANG   ?= clang
CORE_WARN    := -Wall -Wextra -Werror
CORE_OPT     := -O2 -g
FUZZ_SECONDS ?= 60
FUZZ_RUNS    ?= -1
FUZZ_NICE    ?=
SANITIZE     ?= 0

ifeq ($(SANITIZE),1)
CORE_VARIANT := sanitize
CORE_SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
                 -fno-sanitize-recover=all
else
CORE_VARIANT := plain
CORE_SANFLAGS :=
endif

CORE_OUT      := build/core/$(CORE_VARIANT)
CORE_BUILD_CFLAGS = $(CORE_WARN) $(CORE_OPT) $(CORE_SANFLAGS) $(CORE_CFLAGS)
CORE_OBJS     := $(patsubst src/core/%.c,$(CORE_OUT)/obj/%.o,$(CORE_SRCS))
CORE_LIB      := $(CORE_OUT)/libwspcore.a

CORE_TEST_NAMES := utf8 serializer handshake reader reader_memory session alloc \
                   session_queue origin abi pmd deflate session_inflate \
                   session_deflate limits
CORE_TEST_BINS  := $(patsubst %,$(CORE_OUT)/test_%,$(CORE_TEST_NAMES))
CORE_TEST_UTIL  := tests/unit/wsp_test_util.c tests/unit/wsp_test_util.h \
                   tests/unit/utf8_ref.h tests/unit/session_fx.h

CORE_FUZZ_NAMES := reader utf8 session pmd inflate handshake roundtrip
CORE_FUZZ_DEPS  := fuzz/fuzz_common.h tests/unit/utf8_ref.h
CORE_CORPUS     := fuzz/corpus

.PHONY: unit-test fuzz-replay fuzz fuzz-corpus core-lib core-bench core-clean \
        coverage

core-lib: $(CORE_LIB)

$(CORE_OUT)/obj/%.o: src/core/%.c $(CORE_HDRS)
	@mkdir -p $(@D)
	$(CORE_CC) $(CORE_BUILD_CFLAGS) -c $< -o $@

$(CORE_LIB): $(CORE_OBJS)
	@rm -f $@
	ar rcs $@ $^

# ---- unit tests ----------------------------------------------------------

$(CORE_OUT)/test_%: tests/unit/test_%.c $(CORE_TEST_UTIL) $(CORE_LIB) $(CORE_HDRS) \
                    include/mod_websocket.h
	$(CORE_CC) $(CORE_BUILD_CFLAGS) -Itests/unit -Iinclude -o $@ $< \
	    tests/unit/wsp_test_util.c $(CORE_LIB) $(CORE_SANFLAGS) -lcmocka $(CORE_LIBS)

unit-test: $(CORE_TEST_BINS)
	@set -e; for t in $(CORE_TEST_BINS); do echo "== $$t"; $$t; done

# ---- fuzzing -------------------------------------------------------------

# Seeds are written by a small generator, so no binary blobs live in git.
$(CORE_OUT)/gen_corpus: fuzz/gen_corpus.c
	@mkdir -p $(@D)
	$(CORE_CC) $(CORE_WARN) $(CORE_OPT) -o $@ $<

fuzz-corpus: $(CORE_OUT)/gen_corpus
	$(CORE_OUT)/gen_corpus $(CORE_CORPUS)

# Standalone replay drivers, built with the ordinary compiler.
$(CORE_OUT)/replay_%: fuzz/fuzz_%.c fuzz/standalone.c $(CORE_FUZZ_DEPS) $(CORE_LIB)
	$(CORE_CC) $(CORE_BUILD_CFLAGS) -Itests/unit -o $@ $< fuzz/standalone.c \
	    $(CORE_LIB) $(CORE_SANFLAGS) $(CORE_LIBS)

fuzz-replay: fuzz-corpus $(patsubst %,$(CORE_OUT)/replay_%,$(CORE_FUZZ_NAMES))
	@set -e; for n in $(CORE_FUZZ_NAMES); do \
	    found=build/core/fuzz-found/$$n; [ -d $$found ] || found=; \
	    $(CORE_OUT)/replay_$$n $(CORE_CORPUS)/$$n $$found; \
	done

# libFuzzer builds always carry ASan+UBSan; the core is compiled into them
# directly so it gets the coverage instrumentation.
CORE_FUZZ_OUT   := build/core/libfuzzer
CORE_FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                   -fno-omit-frame-pointer -O1 -g $(CORE_WARN)

$(CORE_FUZZ_OUT)/fuzz_%: fuzz/fuzz_%.c $(CORE_SRCS) $(CORE_HDRS) $(CORE_FUZZ_DEPS)
	@mkdir -p $(@D)
	$(CORE_CLANG) $(CORE_FUZZ_FLAGS) $(CORE_CFLAGS) -Itests/unit -o $@ $< \
	    $(CORE_SRCS) $(CORE_LIBS)

fuzz: fuzz-corpus $(patsubst %,$(CORE_FUZZ_OUT)/fuzz_%,$(CORE_FUZZ_NAMES))
	@set -e; for n in $(CORE_FUZZ_NAMES); do \
	    mkdir -p build/core/fuzz-found/$$n; \
	    echo "== fuzz_$$n for $(FUZZ_SECONDS)s"; \
	    $(FUZZ_NICE) $(CORE_FUZZ_OUT)/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) \
	        -runs=$(FUZZ_RUNS) \
	        -max_len=4096 -print_final_stats=1 \
	        -artifact_prefix=build/core/fuzz-found/$$n- \
	        build/core/fuzz-found/$$n $(CORE_CORPUS)/$$n; \
	done

# ---- coverage ------------------------------------------------------------

# Source-based coverage (clang, llvm-profdata, llvm-cov; Debian's clang and
# llvm packages).  Every unit test and every corpus replay (plus what
# `make fuzz` found, if present) writes a profile; the merged report,
# per file and per function, lands in build/core/coverage/.
# COVERAGE_MIN: the build fails below this line coverage (percent).
CORE_COV_OUT   := build/core/coverage
CORE_COV_FLAGS := -fprofile-instr-generate -fcoverage-mapping -O0 -g $(CORE_WARN)
CORE_COV_OBJS  := $(patsubst src/core/%.c,$(CORE_COV_OUT)/obj/%.o,$(CORE_SRCS))
LLVM_PROFDATA  ?= llvm-profdata
LLVM_COV       ?= llvm-cov
COVERAGE_MIN   ?= 95
COVERAGE_FOUND ?= 0

$(CORE_COV_OUT)/obj/%.o: src/core/%.c $(CORE_HDRS)
	@mkdir -p $(@D)
	$(CORE_CLANG) $(CORE_COV_FLAGS) $(CORE_CFLAGS) -c $< -o $@

$(CORE_COV_OUT)/libwspcore.a: $(CORE_COV_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(CORE_COV_OUT)/test_%: tests/unit/test_%.c $(CORE_TEST_UTIL) $(CORE_COV_OUT)/libwspcore.a \
                        $(CORE_HDRS) include/mod_websocket.h
	$(CORE_CLANG) $(CORE_COV_FLAGS) $(CORE_CFLAGS) -Itests/unit -Iinclude -o $@ $< \
	    tests/unit/wsp_test_util.c $(CORE_COV_OUT)/libwspcore.a -lcmocka $(CORE_LIBS)

$(CORE_COV_OUT)/replay_%: fuzz/fuzz_%.c fuzz/standalone.c $(CORE_FUZZ_DEPS) \
                          $(CORE_COV_OUT)/libwspcore.a
	$(CORE_CLANG) $(CORE_COV_FLAGS) $(CORE_CFLAGS) -Itests/unit -o $@ $< \
	    fuzz/standalone.c $(CORE_COV_OUT)/libwspcore.a $(CORE_LIBS)

coverage: fuzz-corpus $(patsubst %,$(CORE_COV_OUT)/test_%,$(CORE_TEST_NAMES)) \
          $(patsubst %,$(CORE_COV_OUT)/replay_%,$(CORE_FUZZ_NAMES))
	@set -e; rm -rf $(CORE_COV_OUT)/prof; mkdir -p $(CORE_COV_OUT)/prof; \
	for t in $(CORE_TEST_NAMES); do \
	    LLVM_PROFILE_FILE=$(CORE_COV_OUT)/prof/test_$$t.profraw \
	        $(CORE_COV_OUT)/test_$$t > $(CORE_COV_OUT)/prof/test_$$t.log 2>&1 \
	        || { cat $(CORE_COV_OUT)/prof/test_$$t.log; exit 1; }; \
	done; \
	for n in $(CORE_FUZZ_NAMES); do \
	    found=build/core/fuzz-found/$$n; \
	    [ "$(COVERAGE_FOUND)" = 1 ] && [ -d $$found ] || found=; \
	    LLVM_PROFILE_FILE=$(CORE_COV_OUT)/prof/replay_$$n.profraw \
	        $(CORE_COV_OUT)/replay_$$n $(CORE_CORPUS)/$$n $$found; \
	done; \
	$(LLVM_PROFDATA) merge -sparse -o $(CORE_COV_OUT)/core.profdata \
	    $(CORE_COV_OUT)/prof/*.profraw; \
	objs=$$(printf '%s ' $(CORE_COV_OUT)/test_utf8; \
	        for t in $(CORE_TEST_NAMES); do printf -- '-object %s ' $(CORE_COV_OUT)/test_$$t; done; \
	        for n in $(CORE_FUZZ_NAMES); do printf -- '-object %s ' $(CORE_COV_OUT)/replay_$$n; done); \
	$(LLVM_COV) report -instr-profile=$(CORE_COV_OUT)/core.profdata $$objs \
	    $(CORE_SRCS) > $(CORE_COV_OUT)/report.txt; \
	$(LLVM_COV) report -show-functions -instr-profile=$(CORE_COV_OUT)/core.profdata \
	    $$objs $(CORE_SRCS) > $(CORE_COV_OUT)/functions.txt; \
	$(LLVM_COV) show -format=text -show-line-counts-or-regions \
	    -instr-profile=$(CORE_COV_OUT)/core.profdata $$objs $(CORE_SRCS) \
	    > $(CORE_COV_OUT)/lines.txt; \
	cat $(CORE_COV_OUT)/report.txt; \
	line=$$(awk '$$1 == "TOTAL" { print $$(NF-3) }' $(CORE_COV_OUT)/report.txt); \
	echo "src/core line coverage: $$line (minimum $(COVERAGE_MIN)%)"; \
	awk -v l="$${line%\%}" -v m=$(COVERAGE_MIN) 'BEGIN { exit !(l + 0 >= m + 0) }'

# ---- benchmark -----------------------------------------------------------

$(CORE_OUT)/bench_reader: tests/unit/bench_reader.c $(CORE_LIB) $(CORE_HDRS)
	$(CORE_CC) $(CORE_BUILD_CFLAGS) -o $@ $< $(CORE_LIB) $(CORE_SANFLAGS) $(CORE_LIBS)

core-bench: $(CORE_OUT)/bench_reader
	$(CORE_OUT)/bench_reader

core-clean:
	rm -rf build/core

# ---- default goal --------------------------------------------------------

# Included: leave the includer's default goal alone.  Alone: run the tests.
ifeq ($(notdir $(firstword $(MAKEFILE_LIST))),core.mk)
.DEFAULT_GOAL := unit-test
else
.DEFAULT_GOAL := $(CORE_SAVED_GOAL)
endif
