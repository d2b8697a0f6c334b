/*
 * Fuzz harnesses (tests/fuzz/fuzz_*.c): one per input the tool reads. Each
 * harness is a plain function `int fuzz_NAME(const uint8_t *, size_t)`;
 * FUZZ_TARGET(NAME) also defines LLVMFuzzerTestOneInput when the file is
 * built as a fuzzer (-DSL_LIBFUZZER: `make fuzz`, libFuzzer or AFL++), so
 * the Criterion test tests/fuzz/test_fuzz_corpus.c runs the very same
 * functions over every seed and every saved crash in CI without clang.
 *
 * A harness checks properties, not just "no crash": an error message is
 * one line that names the input and a place, every delivered event is
 * consistent with the id rule, a config that loads round-trips. A broken
 * property calls fuzz_fail, which prints it and aborts (a crash to both
 * libFuzzer and Criterion).
 */
#ifndef SPANLAB_FUZZ_H
#define SPANLAB_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "slt.h"

#ifdef SL_LIBFUZZER
#define FUZZ_TARGET(name) \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_##name(data, size); }
#else
#define FUZZ_TARGET(name)
#endif

/* Every harness, for the corpus test. */
int fuzz_slt(const uint8_t *data, size_t size);
int fuzz_text(const uint8_t *data, size_t size);
int fuzz_mtrace(const uint8_t *data, size_t size);
int fuzz_valgrind(const uint8_t *data, size_t size);
int fuzz_goalloc(const uint8_t *data, size_t size);
int fuzz_detect(const uint8_t *data, size_t size);
int fuzz_config(const uint8_t *data, size_t size);
int fuzz_replay(const uint8_t *data, size_t size);
int fuzz_core(const uint8_t *data, size_t size);
int fuzz_sweep(const uint8_t *data, size_t size);

/* Print "fuzz: <what>" to stderr and abort. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* The input as a file: a memfd reused by every call, truncated and
 * rewritten; returns its path (/proc/self/fd/N), stable for the process. */
const char *fuzz_file(const uint8_t *data, size_t size);

/* A reader's error must be one line starting with the path and naming a
 * place ("byte N", "line N") or the whole file ("empty file"). */
void fuzz_check_error(const char *err, const char *path);

/* Read the input as a trace of the given format through every slt_next,
 * in normal and strict mode, checking each event against the id rule. */
int fuzz_trace(const uint8_t *data, size_t size, enum slt_format fmt);

#endif
