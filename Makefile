# spanlab: a trace-driven laboratory for the Go memory allocator.
#
#   make                 build build/spanlab, the core library and the recorder
#   make test            install missing packages, build, run every test
#   make test-asan       the same tests under AddressSanitizer + UBSan
#   make fuzz            every fuzz harness for FUZZ_SECONDS (clang; tests/fuzz/README.md)
#   make stress          the long stress run (tests/stress; not a benchmark)
#   make test-valgrind   valgrind memcheck over the CLI end-to-end tests
#   make demo            replay the bundled traces, write results/demo.db + figures
#   make figures DB=F    redraw every figure and the HTML page of any database
#   make bench           benchmarks (scripts/bench.sh), ratios against in-run baselines
#   make sweep-demo      the example sweep (scripts/sweeps/demo.json): results/sweep.db + figures
#   make install PREFIX=/usr/local DESTDIR=
#   make clean
#
# Variants build into their own object trees (build/<variant>/): release (the
# default), debug and asan. Variant targets call $(MAKE) VARIANT=... so a
# variant change never reuses stale objects. V=1 shows the commands.
# Overrides go in an optional config.mak.

-include config.mak

VARIANT    ?= release
PKG_CONFIG ?= pkg-config
PREFIX     ?= /usr/local
prefix     ?= $(PREFIX)
bindir     ?= $(prefix)/bin
libdir     ?= $(prefix)/lib
datadir    ?= $(prefix)/share

BUILD := build/$(VARIANT)
ifeq ($(VARIANT),release)
BINDIR := build
else
BINDIR := $(BUILD)
endif
BIN    := $(BINDIR)/spanlab
RECLIB := $(BINDIR)/libspanlab-record.so

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-7s %s\n' $(1) $(2)
endif

WARN       := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CSTD       := -std=gnu11
OPT_release := -O2 -g -DNDEBUG
OPT_debug   := -O0 -g -DSL_DEBUG=1
SANITIZE    := -fsanitize=address,undefined
OPT_asan    := -O1 -g -DSL_DEBUG=1 -fno-omit-frame-pointer \
               $(SANITIZE) -fno-sanitize-recover=undefined
OPT := $(OPT_$(VARIANT))
ifeq ($(OPT),)
$(error unknown VARIANT '$(VARIANT)': use release, debug or asan)
endif
LDSAN := $(if $(filter asan,$(VARIANT)),$(SANITIZE))

# Dependency flags come from pkg-config; evaluated lazily so `make clean`
# works before the packages are installed.
DEP_CFLAGS  = $(shell $(PKG_CONFIG) --cflags sqlite3 libcjson 2>/dev/null)
DEP_LIBS    = $(shell $(PKG_CONFIG) --libs sqlite3 libcjson 2>/dev/null)
CRIT_CFLAGS = $(shell $(PKG_CONFIG) --cflags criterion 2>/dev/null)
CRIT_LIBS   = $(shell $(PKG_CONFIG) --libs criterion 2>/dev/null)

ALL_CFLAGS = $(CSTD) $(WARN) $(OPT) -MMD -MP -Ialloc -Itraces -Isim $(CPPFLAGS) $(CFLAGS)

# --- sources -------------------------------------------------------------
ALLOC_SRCS  := $(wildcard alloc/*.c)
TRACE_SRCS  := $(wildcard traces/*.c)
REC_SRCS    := $(wildcard traces/record/*.c)
SIM_SRCS    := $(filter-out sim/main.c,$(wildcard sim/*.c))
TEST_SRCS   := $(wildcard tests/unit/test_*.c tests/prop/test_*.c tests/e2e/test_*.c \
                 tests/fault/test_*.c tests/misuse/test_*.c tests/stress/test_*.c tests/fuzz/test_*.c)
# The fuzz harnesses, linked into tests/fuzz/test_* (the corpus replay).
FUZZ_HARNESS_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
TESTLIB_SRCS := $(wildcard tests/lib/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
ALLOC_OBJS := $(call obj,$(ALLOC_SRCS))
TRACE_OBJS := $(call obj,$(TRACE_SRCS))
SIM_OBJS   := $(call obj,$(SIM_SRCS))
# The SQL files sim/db.c runs, compiled in as C strings (db_schema_sql,
# db_views_sql; views.sql may not exist yet: then "").
SQL_EMBED  := $(BUILD)/gen/sql_embed.c
SIM_OBJS   += $(call obj,$(SQL_EMBED))
MAIN_OBJ   := $(call obj,sim/main.c)
REC_OBJS   := $(patsubst %.c,$(BUILD)/pic/%.o,$(REC_SRCS) $(TRACE_SRCS))
TESTLIB_OBJS := $(call obj,$(TESTLIB_SRCS))
FUZZ_HARNESS_OBJS := $(call obj,$(FUZZ_HARNESS_SRCS))
TEST_BINS  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
# Two binaries test a script, whose work is the same in every variant, and
# run in one: test_figures drives figures.sh and report.sh (gnuplot and
# sqlite3's shell; the replays it makes for them are of bundled traces,
# which test_replay and test_baseline replay under ASan too), so it runs
# in release only; test_asan_test tests the ASan wrapper, in asan only.
# (Under ASan test_figures took as long as in release, 70 s of CI's time.)
TEST_ONLY_IN_release := $(BUILD)/tests/e2e/test_figures
TEST_ONLY_IN_asan    := $(BUILD)/tests/e2e/test_asan_test
TEST_RUN_BINS := $(filter-out $(TEST_ONLY_IN_$(if $(filter asan,$(VARIANT)),release,asan)),$(TEST_BINS))
BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

LIBALLOC := $(BUILD)/libspanlab.a
LIBTRACE := $(BUILD)/libsltrace.a
LIBSIM   := $(BUILD)/libslsim.a

.PHONY: all test check test-run test-asan deps demo figures bench bench-build clean install uninstall \
        sweep-demo fuzz fuzz-build stress test-valgrind
all: $(BIN) $(RECLIB) $(LIBALLOC)

deps:
	@scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(DEP_CFLAGS) -c $< -o $@

$(BUILD)/obj/tests/%.o: tests/%.c
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests $(DEP_CFLAGS) $(CRIT_CFLAGS) -c $< -o $@

# The recorder is preloaded into other programs: position-independent,
# never sanitized (ASan cannot be preloaded after the program's libc).
$(BUILD)/pic/%.o: %.c
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CSTD) $(WARN) -O2 -g -fPIC -fvisibility=hidden -MMD -MP -Itraces $(CPPFLAGS) -c $< -o $@

$(SQL_EMBED): analysis/schema.sql $(wildcard analysis/views.sql) Makefile
	$(call msg,GEN,$@)
	@mkdir -p $(@D)
	$(Q)for v in schema views; do printf 'const char db_%s_sql[] =\n' $$v; \
	  if [ -f analysis/$$v.sql ]; then sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' analysis/$$v.sql; \
	  else echo '""'; fi; echo ';'; done > $@.tmp && mv $@.tmp $@

$(LIBALLOC): $(ALLOC_OBJS)
$(LIBTRACE): $(TRACE_OBJS)
$(LIBSIM):   $(SIM_OBJS)
$(LIBALLOC) $(LIBTRACE) $(LIBSIM):
	$(call msg,AR,$@)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BIN): $(MAIN_OBJ) $(LIBSIM) $(LIBTRACE) $(LIBALLOC)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(OPT) $(LDSAN) $(LDFLAGS) -o $@ $^ $(DEP_LIBS) -ldl -lpthread -lm $(LDLIBS)

$(RECLIB): $(REC_OBJS)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -shared -fPIC $(LDFLAGS) -o $@ $^ -ldl -lpthread

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TESTLIB_OBJS) $(LIBSIM) $(LIBTRACE) $(LIBALLOC)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(OPT) $(LDSAN) $(LDFLAGS) -o $@ $^ $(CRIT_LIBS) $(DEP_LIBS) -ldl -lpthread -lm $(LDLIBS)

# The corpus replay runs the fuzz harnesses' functions over every seed and
# saved crash, so CI without clang still exercises them.
# (A static pattern rule: its prerequisites are explicit, so a clean tree
# builds the harness objects instead of falling back to the rule above.)
$(filter $(BUILD)/tests/fuzz/%,$(TEST_BINS)): $(BUILD)/tests/fuzz/test_%: $(BUILD)/obj/tests/fuzz/test_%.o \
		$(FUZZ_HARNESS_OBJS) $(TESTLIB_OBJS) $(LIBSIM) $(LIBTRACE) $(LIBALLOC)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(OPT) $(LDSAN) $(LDFLAGS) -o $@ $^ $(CRIT_LIBS) $(DEP_LIBS) -ldl -lpthread -lm $(LDLIBS)

# Benchmark programs (not Criterion): plain mains, release build only.
$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(LIBSIM) $(LIBTRACE) $(LIBALLOC)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(OPT) $(LDFLAGS) -o $@ $^ $(DEP_LIBS) -ldl -lpthread -lm $(LDLIBS)

bench-build: all $(BENCH_BINS)

# The baselines' libraries are --extra packages; without them their rows
# are skipped, not the benchmark.
bench:
	$(Q)scripts/deps.sh --extra || scripts/deps.sh
	$(Q)$(MAKE) --no-print-directory VARIANT=release bench-build
	$(Q)scripts/bench.sh

# --- tests ---------------------------------------------------------------
# Each test binary runs on its own and prints its wall time (PASS ... s),
# so a CI log shows where the time goes; the first failure stops the run. The
# CLI tests find the binary, the recorder and the source tree through the
# environment.
TEST_ENV = SPANLAB_BIN=$(abspath $(BIN)) SPANLAB_RECORD_LIB=$(abspath $(RECLIB)) \
           SPANLAB_ROOT=$(CURDIR) SPANLAB_VARIANT=$(VARIANT)
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

test check: deps
	$(Q)$(MAKE) --no-print-directory test-run

test-asan: deps
	$(Q)$(MAKE) --no-print-directory VARIANT=asan test-run

# The release tests run `scripts/bench.sh --smoke`, which needs the bench
# programs (tests/e2e/test_baseline_bench.c).
test-run: all $(TEST_RUN_BINS) $(if $(filter release,$(VARIANT)),$(BENCH_BINS))
	$(Q)scripts/check-layout.sh
	$(Q)set -e; for t in $(TEST_RUN_BINS); do \
	  printf '  %-7s %s\n' TEST $$t; t0=$$(date +%s); \
	  $(TEST_ENV) $(if $(filter asan,$(VARIANT)),$(ASAN_ENV) scripts/asan-test.sh) $$t $(TESTFLAGS) || { echo "FAILED: $$t" >&2; exit 1; }; \
	  printf '  %-7s %s (%s s)\n' PASS $$t $$(($$(date +%s) - t0)); \
	done
	@echo "all $(words $(TEST_RUN_BINS)) test binaries passed ($(VARIANT))"

# --- fuzzing (tests/fuzz/README.md) ------------------------------------------
# `make fuzz FUZZ_SECONDS=N` builds every harness with clang's libFuzzer,
# ASan and UBSan into build/fuzz/ and runs each for N seconds, from its
# seeds and saved crashes; a crash stops the run and its input is left in
# build/fuzz/crash/. FUZZ_SEED=N (read by scripts/fuzz.sh from the
# environment or make's command line) fixes libFuzzer's seed, as CI does.
# FUZZ_CC=afl-clang-fast FUZZ_DIR=build/fuzz-afl builds
# the same harnesses for AFL++ (`make fuzz-build`).
FUZZ_CC      ?= clang
FUZZ_DIR     ?= build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(filter-out tests/fuzz/fuzz_common.c,$(FUZZ_HARNESS_SRCS)))
FUZZ_CFLAGS   = $(CSTD) $(WARN) -O2 -g -fno-omit-frame-pointer -DSL_DEBUG=1 -DSL_LIBFUZZER \
                -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
                -MMD -MP -Ialloc -Itraces -Isim -Itests/fuzz $(CPPFLAGS)
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(ALLOC_SRCS) $(TRACE_SRCS) $(SIM_SRCS) tests/fuzz/fuzz_common.c)
FUZZ_BINS     := $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ_NAMES))

$(FUZZ_DIR)/obj/%.o: %.c
	$(call msg,FUZZCC,$<)
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEP_CFLAGS) -c $< -o $@

# The allocator core is built without comparison tracing (edge coverage
# stays): its compares are of addresses, bitmaps and sizes it computed,
# no input bytes the fuzzer could steer, and tracing them cost the core
# and replay harnesses a third of their time. The validators walk the
# whole heap after every few operations (a fifth of their cost without
# tracing); the statistics are read around every refused free.
$(filter $(FUZZ_DIR)/obj/alloc/%,$(FUZZ_LIB_OBJS)): FUZZ_CFLAGS += -fno-sanitize-coverage=trace-cmp

# The validators are the oracle, not code under test: their branches say
# which invariant held, not what the input reached (the allocator's own
# edges say that), so they carry no coverage. Without it, and at -O2,
# a pass over the core corpus took 1.22x less CPU, the replay corpus 1.1x.
# Nor ASan: everything they read is the core's metadata, which the core
# maps from the OS itself (it calls no malloc), where ASan has no redzones
# to find and only checks shadow bytes that are always clear. UBSan stays,
# but for its null, alignment and pointer-overflow checks on each load:
# the arrays they walk are the core's (aligned by construction, indexed
# within an arena), and a check per element kept clang from vectorizing
# the spans-map walks, over every page of the heap at every check.
$(FUZZ_DIR)/obj/alloc/check.o: FUZZ_CFLAGS += -fno-sanitize=fuzzer-no-link,address,alignment,null,pointer-overflow

# A grid of 100,000 cells takes the sweep harness seconds to expand, the
# same loop as a grid of 256, and inputs drift there: the fuzz build caps
# grids at 256 cells, so that the harness spends its executions on the
# parser rather than on repeating the expansion.
$(FUZZ_DIR)/obj/sim/sweep.o $(FUZZ_DIR)/obj/tests/fuzz/fuzz_sweep.o: FUZZ_CFLAGS += -DSWEEP_MAX_CELLS=256

$(FUZZ_DIR)/libfuzzdeps.a: $(FUZZ_LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tests/fuzz/fuzz_%.o $(FUZZ_DIR)/libfuzzdeps.a
	$(call msg,LD,$@)
	$(Q)$(FUZZ_CC) -fsanitize=fuzzer,address,undefined $(LDFLAGS) -o $@ $^ $(DEP_LIBS) -ldl -lpthread -lm

fuzz-build: $(FUZZ_BINS)

fuzz: deps
	$(Q)$(MAKE) --no-print-directory fuzz-build
	$(Q)scripts/fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_NAMES)

# --- valgrind memcheck over the CLI end-to-end tests (CI) --------------------
# Every spanlab process of these tests runs under memcheck (scripts/
# valgrind-e2e.sh). Left to test-asan: the replay tests that replay every
# bundled trace, the signal and kill tests (timed: memcheck is 20-50x
# slower) and the every-Nth-OS-call faults (50 replays); under memcheck
# they take tens of minutes. Every bad-input and database path is here.
VALGRIND_TESTS = $(BUILD)/tests/e2e/test_cli $(BUILD)/tests/e2e/test_errors \
                 $(BUILD)/tests/e2e/test_trace_cli '$(BUILD)/tests/e2e/test_merge:merge/[!k]*' \
                 '$(BUILD)/tests/e2e/test_record_cmd:record_cmd/an_output*' \
                 '$(BUILD)/tests/e2e/test_resource_faults:resource_faults/[bf]*' \
                 '$(BUILD)/tests/e2e/test_replay:replay/bad_input*'

test-valgrind: deps
	$(Q)$(MAKE) --no-print-directory all $(TEST_BINS)
	$(Q)scripts/valgrind-e2e.sh $(BUILD) $(BIN) $(VALGRIND_TESTS)

# --- stress (tests/stress: not a benchmark) ----------------------------------
# make test runs the short version; this is the long one.
stress: deps
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/tests/stress/test_stress
	$(Q)$(TEST_ENV) SPANLAB_STRESS=long $(BUILD)/tests/stress/test_stress $(TESTFLAGS)

# --- demo and figures ------------------------------------------------------
# make demo: replay every bundled trace with the default config into a fresh
# results/demo.db, draw every figure into results/figures/ with its HTML
# page (scripts/report.sh), print the summary table.
DEMO_DB     := results/demo.db
DEMO_OUT    := results/figures
DEMO_TRACES := $(sort $(wildcard traces/data/*.slt))

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)rm -rf $(DEMO_OUT) && rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm && mkdir -p $(dir $(DEMO_DB))
	$(Q)set -e; for t in $(DEMO_TRACES); do \
	  printf '  %-7s %s\n' REPLAY $$t; \
	  $(BIN) replay $$t --db $(DEMO_DB) --quiet >/dev/null; \
	done
	$(Q)scripts/report.sh $(DEMO_DB) $(DEMO_OUT)
	@echo
	@echo "database: $(DEMO_DB) ($(words $(DEMO_TRACES)) runs; docs/database.md, views: docs/figures.md)"
	@echo "figures:  $(DEMO_OUT)/*.pdf, *.png (3.3 in: -1col, 7 in: -2col)"
	@echo "report:   $(DEMO_OUT)/index.html"

# make figures DB=FILE [OUT=DIR] [RUNS="ID ..."]: redraw every figure and the
# HTML page of any spanlab database (complete runs; RUNS picks some).
OUT ?= $(basename $(DB))-figures
figures: deps
	@test -n "$(DB)" || { echo 'usage: make figures DB=FILE [OUT=DIR] [RUNS="ID ..."]' >&2; exit 2; }
	$(Q)scripts/report.sh '$(DB)' '$(OUT)' $(foreach r,$(RUNS),--run $(r))

# --- sweep demo: Go's table vs waste bounds vs fitted tables, bundled traces ----
# Starts afresh (a kept database would make the sweep resume and run nothing).
SWEEP_DEMO_DB := results/sweep.db
sweep-demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)rm -rf $(SWEEP_DEMO_DB) $(SWEEP_DEMO_DB)-wal $(SWEEP_DEMO_DB)-shm results/sweep.work results/sweep
	$(Q)$(BIN) sweep scripts/sweeps/demo.json --db $(SWEEP_DEMO_DB)
	$(Q)scripts/sweep-figures.sh $(SWEEP_DEMO_DB) results/sweep

# --- install -------------------------------------------------------------
# The figure scripts find analysis/ (views, compat.sql, plots) and each
# other as ../analysis and ./ from their own folder, as in this tree: they
# go to $(datadir)/spanlab/scripts/, beside $(datadir)/spanlab/analysis/.
INSTALL_SCRIPTS := figures.sh report.sh sweep-figures.sh
install: all
	install -Dm755 $(BIN) $(DESTDIR)$(bindir)/spanlab
	install -Dm755 $(RECLIB) $(DESTDIR)$(libdir)/spanlab/libspanlab-record.so
	install -Dm644 $(LIBALLOC) $(DESTDIR)$(libdir)/libspanlab.a
	for f in alloc/spanlab.h alloc/event.h alloc/stats.h alloc/sizeclass.h; do \
	  [ -f $$f ] && install -Dm644 $$f $(DESTDIR)$(prefix)/include/spanlab/$$(basename $$f) || true; done
	install -d $(DESTDIR)$(datadir)/spanlab
	cp -r analysis $(DESTDIR)$(datadir)/spanlab/
	for f in $(INSTALL_SCRIPTS); do install -Dm755 scripts/$$f $(DESTDIR)$(datadir)/spanlab/scripts/$$f; done

uninstall:
	rm -f $(DESTDIR)$(bindir)/spanlab $(DESTDIR)$(libdir)/libspanlab.a
	rm -rf $(DESTDIR)$(libdir)/spanlab $(DESTDIR)$(prefix)/include/spanlab $(DESTDIR)$(datadir)/spanlab

clean:
	rm -rf build

.SECONDARY:

-include $(shell find build/$(VARIANT) -name '*.d' 2>/dev/null)
ifneq ($(filter fuzz fuzz-build,$(MAKECMDGOALS)),)
-include $(shell find $(FUZZ_DIR) -name '*.d' 2>/dev/null)
endif
