/*
 * One case per row of the bad-input catalogue, docs/errors.md: the input,
 * the command, the exit code and the one-line message with its place.
 * A case writes its input to a fresh directory, runs spanlab, and checks
 * the exit code, that stderr is one line (two for usage errors: the
 * "Try 'spanlab CMD --help'." line) naming the file, and that it holds
 * every expected piece. The last test checks that the catalogue and this
 * table list the same rows, so neither can drift.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"

/* Binary literals keep their NULs: BIN("a\0b") is the pointer and 3. */
#define BIN(s) s, sizeof(s) - 1
#define TXT(s) s, 0	/* strlen */

/* A valid .slt header with metadata "{}" (22 bytes), and the END record
 * plus footer of the trace "malloc(24); free" (docs/trace-format.md). */
#define HDR "\x89SLT\r\n\x1a\n" "\x01\x00" "\x00\x00" "\xe8\x03\x00\x00" "\x02\x00\x00\x00" "{}"
#define EVS "\xf0\x18" "\x03"
#define END "\x09\x02\x01\x01\x00\x00\x00\x00\x00\x00" "\x0a\x00\x00\x00" "SLTEND\r\n"
#define TT "# spanlab text trace v1\n"
#define VG "==1== Memcheck, a memory error detector\n"
#define M8 "--1-- malloc(8)\n"
#define M8X8 M8 M8 M8 M8 M8 M8 M8 M8
#define VG64 M8X8 M8X8 M8X8 M8X8 M8X8 M8X8 M8X8 M8X8	/* 64 calls waiting for results */

/* Input preparation beyond writing bytes. */
enum prep { P_FILE, P_NONE, P_DIR, P_GZIP, P_GZIP_CUT, P_LONG_LINE, P_DB_NOT_SPANLAB, P_DB_NEWER };

struct row {
	const char *id;
	enum prep prep;
	const char *input;
	size_t len;		/* 0: strlen(input) */
	const char *argv[10];	/* "@IN": the input's path, "@GIT": traces/data/git.slt */
	const char *env;	/* NAME=VALUE, or NULL */
	int code;
	const char *expect[3];	/* in stderr (exit 0: in stdout) */
};

static const struct row rows[] = {
	/* files */
	{ "file-missing", P_NONE, TXT(""), { "info", "/nonexistent/t.slt" }, 0, 2,
	  { "/nonexistent/t.slt: No such file or directory" } },
	{ "file-directory", P_DIR, TXT(""), { "info", "@IN" }, 0, 2, { ": is a directory" } },
	{ "file-empty", P_FILE, TXT(""), { "info", "@IN" }, 0, 2, { ": empty file: not a trace" } },
	{ "file-unknown", P_FILE, TXT("hello world\n"), { "info", "@IN" }, 0, 2,
	  { ": line 1: unknown trace format (starts \"hello world\"); use --from" } },
	{ "gzip-corrupt", P_FILE, BIN("\x1f\x8b\x08\x00garbage garbage"), { "info", "@IN" }, 0, 2,
	  { ": byte 0 (decompressed): gzip -dc failed: corrupt or truncated compressed data" } },
	{ "gzip-truncated", P_GZIP_CUT, TXT(TT "m 1 16\nf 1\n"), { "info", "@IN" }, 0, 2,
	  { " (decompressed): gzip -dc failed: corrupt or truncated compressed data" } },
	{ "gzip-inner", P_GZIP, TXT(TT "m 1 16\nfrob 2\n"), { "info", "@IN" }, 0, 2,
	  { ": line 3 (decompressed): unknown operation in \"frob 2\"" } },

	/* .slt */
	{ "slt-short-header", P_FILE, BIN("\x89SLT\r\n\x1a\n\x01\x00"), { "info", "@IN" }, 0, 2,
	  { ": byte 10: truncated header (10 of 20 bytes)" } },
	{ "slt-magic", P_FILE, BIN("\x89SLT\r\n\x1a\x0b" "\x01\x00\x00\x00\xe8\x03\x00\x00\x02\x00\x00\x00{}"),
	  { "info", "@IN" }, 0, 2, { ": byte 0: bad magic: not a .slt file" } },
	{ "slt-version", P_FILE, BIN("\x89SLT\r\n\x1a\n" "\x03\x00\x00\x00\xe8\x03\x00\x00\x02\x00\x00\x00{}"),
	  { "info", "@IN" }, 0, 2, { ": byte 8: unsupported version 3 (this reader knows 1 to 2)" } },
	{ "slt-flags", P_FILE, BIN("\x89SLT\r\n\x1a\n" "\x01\x00\x01\x00\xe8\x03\x00\x00\x02\x00\x00\x00{}"),
	  { "info", "@IN" }, 0, 2, { ": byte 10: unknown flags 0x1" } },
	{ "slt-tick", P_FILE, BIN("\x89SLT\r\n\x1a\n" "\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00{}"),
	  { "info", "@IN" }, 0, 2, { ": byte 12: tick_ns is 0" } },
	{ "slt-meta-len", P_FILE, BIN("\x89SLT\r\n\x1a\n" "\x01\x00\x00\x00\xe8\x03\x00\x00\x00\x00\x20\x00{}"),
	  { "info", "@IN" }, 0, 2, { ": byte 16: metadata length 2097152 exceeds 1048576" } },
	{ "slt-meta-short", P_FILE, BIN("\x89SLT\r\n\x1a\n" "\x01\x00\x00\x00\xe8\x03\x00\x00\x64\x00\x00\x00{}"),
	  { "info", "@IN" }, 0, 2, { ": byte 22: truncated metadata (2 of 100 bytes)" } },
	{ "slt-meta-nul", P_FILE, BIN("\x89SLT\r\n\x1a\n" "\x01\x00\x00\x00\xe8\x03\x00\x00\x02\x00\x00\x00{\0"),
	  { "info", "@IN" }, 0, 2, { ": byte 20: metadata contains a NUL byte" } },
	{ "slt-record-short", P_FILE, BIN(HDR "\xf0"), { "info", "@IN" }, 0, 2, { ": byte 23: truncated record" } },
	{ "slt-varint-long", P_FILE, BIN(HDR "\xf0" "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"),
	  { "info", "@IN" }, 0, 2, { ": byte 32: varint longer than 10 bytes" } },
	{ "slt-varint-overflow", P_FILE, BIN(HDR "\xf0" "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"),
	  { "info", "@IN" }, 0, 2, { ": byte 32: varint overflows 64 bits" } },
	{ "slt-opcode", P_FILE, BIN(HDR "\x0a"), { "info", "@IN" }, 0, 2, { ": byte 22: unknown record opcode 10" } },
	{ "slt-free-dead", P_FILE, BIN(HDR "\xf0\x18" "\x03" "\x03"), { "info", "@IN" }, 0, 2,
	  { ": byte 25: free of object id 0, which is not live" } },
	{ "slt-realloc-dead", P_FILE, BIN(HDR "\x02\x00"), { "info", "@IN" }, 0, 2,
	  { ": byte 22: realloc of object id 0, which is not live" } },
	{ "slt-align", P_FILE, BIN(HDR "\xf4\x18\x29"), { "info", "@IN" }, 0, 2,
	  { ": byte 22: alignment 2^41 out of range" } },
	{ "slt-gc-arg", P_FILE, BIN(HDR "\x15"), { "info", "@IN" }, 0, 2, { ": byte 22: GC record with argument 1" } },
	{ "slt-thread-arg", P_FILE, BIN(HDR "\x26"), { "info", "@IN" }, 0, 2,
	  { ": byte 22: thread record with argument 2" } },
	{ "slt-switch-arg", P_FILE, BIN(HDR "\x17\x01"), { "info", "@IN" }, 0, 2,
	  { ": byte 22: thread switch with argument 1" } },
	{ "slt-tid", P_FILE, BIN(HDR "\x07\x80\x80\x80\x08"), { "info", "@IN" }, 0, 2,
	  { ": byte 22: thread id 16777216 out of range" } },
	{ "slt-tick-delta", P_FILE, BIN(HDR "\xf8\x00"), { "info", "@IN" }, 0, 2,
	  { ": byte 22: time delta 0 out of range" } },
	{ "slt-end-arg", P_FILE, BIN(HDR "\x19"), { "info", "@IN" }, 0, 2, { ": byte 22: END record with argument 1" } },
	{ "slt-end-events", P_FILE,
	  BIN(HDR EVS "\x09\x03\x01\x01\x00\x00\x00\x00\x00\x00" "\x0a\x00\x00\x00" "SLTEND\r\n"),
	  { "info", "@IN" }, 0, 2, { ": byte 25: END record says 3 events, the trace has 2" } },
	{ "slt-end-ids", P_FILE,
	  BIN(HDR EVS "\x09\x02\x02\x01\x00\x00\x00\x00\x00\x00" "\x0a\x00\x00\x00" "SLTEND\r\n"),
	  { "info", "@IN" }, 0, 2, { ": byte 25: END record says 2 ids, the trace used 1" } },
	{ "slt-footer-short", P_FILE, BIN(HDR EVS "\x09\x02\x01\x01\x00\x00\x00\x00\x00\x00" "\x0a\x00\x00"),
	  { "info", "@IN" }, 0, 2, { ": byte 35: truncated footer" } },
	{ "slt-footer-bad", P_FILE,
	  BIN(HDR EVS "\x09\x02\x01\x01\x00\x00\x00\x00\x00\x00" "\x0a\x00\x00\x00" "SLTENX\r\n"),
	  { "info", "@IN" }, 0, 2, { ": byte 35: bad footer after END record" } },
	{ "slt-after-end", P_FILE, BIN(HDR EVS END "\x00"), { "info", "@IN" }, 0, 2,
	  { ": byte 47: data after the END record" } },
	{ "slt-cut-short", P_FILE, BIN(HDR "\xf0\x18"), { "info", "@IN" }, 0, 0, { "(incomplete: cut short)" } },

	/* the text form */
	{ "text-op", P_FILE, TXT(TT "m 1 16\nfrob 2\n"), { "info", "@IN" }, 0, 2,
	  { ": line 3: unknown operation in \"frob 2\"" } },
	{ "text-number", P_FILE, TXT(TT "m 1 x\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: bad or missing number in \"m 1 x\"" } },
	{ "text-extra", P_FILE, TXT(TT "m 1 16 7\n"), { "info", "@IN" }, 0, 2, { ": line 2: extra fields in \"m 1 16 7\"" } },
	{ "text-tid", P_FILE, TXT(TT "t16777216 m 1 16\n"), { "info", "@IN" }, 0, 2, { ": line 2: bad thread id" } },
	{ "text-time", P_FILE, TXT(TT "@x m 1 16\n"), { "info", "@IN" }, 0, 2, { ": line 2: bad time" } },
	{ "text-key", P_FILE, TXT(TT "m 9223372036854775808 16\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: key out of range" } },
	{ "text-align", P_FILE, TXT(TT "a 1 16 24\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: alignment is not a power of two up to 2^40" } },
	{ "text-long-line", P_LONG_LINE, TXT(TT), { "info", "@IN" }, 0, 2,
	  { ": line 2: line longer than 1048576 bytes" } },
	{ "text-strict", P_FILE, TXT(TT "m 1 16\nf 2\n"), { "info", "--strict", "@IN" }, 0, 2,
	  { ": line 3: free of a pointer never allocated (--strict)" } },

	/* glibc mtrace */
	{ "mtrace-caller", P_FILE, TXT("= Start\n@ ./t:(main+0x1 + 0x10 0x18\n"), { "info", "--from", "mtrace", "@IN" },
	  0, 2, { ": line 2: caller without ']'" } },
	{ "mtrace-record", P_FILE, TXT("= Start\n@ ./t:[0x1] * 0x10\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: malformed mtrace record in \"@ ./t:[0x1] * 0x10\"" } },
	{ "mtrace-open-realloc", P_FILE, TXT("= Start\n@ [0x1] + 0x10 0x18\n@ [0x1] < 0x10\n@ [0x1] - 0x10\n"),
	  { "info", "@IN" }, 0, 2, { ": line 4: '<' not followed by '>'" } },
	{ "mtrace-lone-gt", P_FILE, TXT("= Start\n@ [0x1] > 0x10 0x20\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: '>' without a preceding '<'" } },
	{ "mtrace-end-in-realloc", P_FILE, TXT("= Start\n@ [0x1] + 0x10 0x18\n@ [0x1] < 0x10\n"),
	  { "info", "@IN" }, 0, 2, { ": line 3: trace ends inside a realloc ('<' without '>')" } },
	{ "mtrace-strict", P_FILE, TXT("= Start\n@ [0x1] + 0x10 0x18\n@ [0x1] + 0x10 0x20\n"),
	  { "info", "--strict", "@IN" }, 0, 2, { ": line 3: address allocated twice without a free (--strict)" } },
	{ "mtrace-last-address", P_FILE, TXT("= Start\n@ [0x1] + 0xffffffffffffffff 0x18\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: allocation at address 0xffffffffffffffff out of range" } },

	/* valgrind --trace-malloc=yes */
	{ "vg-call", P_FILE, TXT(VG "--1-- malloc(24 = 0x10\n"), { "info", "--from", "valgrind", "@IN" }, 0, 2,
	  { ": line 2: malformed call in \"--1-- malloc(24 = 0x10\"" } },
	{ "vg-args", P_FILE, TXT(VG "--1-- calloc(4) = 0x10\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: wrong number of arguments" } },
	{ "vg-result", P_FILE, TXT(VG "--1-- malloc(24) = zz\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: malformed result" } },
	{ "vg-pending", P_FILE, TXT(VG VG64 "--1-- malloc(8)\n"), { "info", "@IN" }, 0, 2,
	  { ": line 66: more than 64 calls waiting for their results" } },
	{ "vg-orphan-result", P_FILE, TXT(VG "--1-- malloc(8) = 0x20\n--1--  = 0x10\n"), { "info", "--strict", "@IN" }, 0, 2,
	  { ": line 3: result without a call (--strict)" } },
	{ "vg-no-result", P_FILE, TXT(VG "--1-- malloc(8) = 0x20\n--1-- malloc(24)\n"), { "info", "--strict", "@IN" }, 0, 2,
	  { ": line 3: call without its result at end of trace (--strict)" } },
	{ "vg-no-calls", P_FILE, TXT("==1== Memcheck, a memory error detector\n==1== Using Valgrind-3.19.0 and LibVEX\n"
				    "==1== HEAP SUMMARY:\n"), { "info", "@IN" }, 0, 2,
	  { ": line 3: no allocation calls in the log (run valgrind with --trace-malloc=yes)" } },
	{ "vg-calls", P_FILE, TXT(VG "--1-- free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)"
				 "free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)\n"),
	  { "info", "@IN" }, 0, 2, { ": line 2: more than 16 calls on one line" } },
	{ "vg-align", P_FILE, TXT(VG "--1-- memalign(al 4398046511104, size 8) = 0x10\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: alignment 4398046511104 out of range" } },
	{ "vg-time", P_FILE, TXT(VG "--00:00:00:18446744074.000 1-- malloc(8) = 0x10\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: time stamp out of range in \"--00:00:00:18446744074.000 1-- malloc(8) = 0x10\"" } },
	{ "vg-last-address", P_FILE, TXT(VG "--1-- malloc(8) = 0xffffffffffffffff\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: allocation at address 0xffffffffffffffff out of range" } },
	{ "vg-strict", P_FILE, TXT(VG "--1-- realloc(0x99,10) = 0x20\n"), { "info", "--strict", "@IN" }, 0, 2,
	  { ": line 2: realloc of a pointer never allocated (--strict)" } },

	/* Go GODEBUG=allocfreetrace=1 */
	{ "go-record", P_FILE, TXT("tracealloc(0xc000010000, 0x10)\ntracealloc(0xc000010010, 0x10\n"),
	  { "info", "@IN" }, 0, 2, { ": line 2: malformed allocfreetrace record \"tracealloc(0xc000010010, 0x10\"" } },
	{ "go-strict", P_FILE, TXT("tracegc()\ntracefree(0xc000010000, 0x10)\n"), { "info", "--strict", "@IN" }, 0, 2,
	  { ": line 2: free of a pointer never allocated (--strict)" } },
	{ "go-last-address", P_FILE, TXT("tracealloc(0xffffffffffffffff, 0x10)\n"), { "info", "@IN" }, 0, 2,
	  { ": line 1: allocation at address 0xffffffffffffffff out of range" } },

	/* misuse in a trace: counted as the trace's fault, not replayed */
	{ "misuse-counted", P_FILE, TXT(TT "m 1 16\nf 1\nf 1\nm 2 64\nf 0x999\nf 0x2\n"), { "replay", "-q", "@IN" },
	  0, 0, { "2 unknown frees" } },
	{ "misuse-strict", P_FILE, TXT(TT "m 1 16\nf 1\nf 1\n"), { "replay", "-q", "--strict", "@IN" }, 0, 2,
	  { ": line 4: free of a pointer never allocated (--strict)" } },

	/* the config (replay --config FILE) */
	{ "cfg-missing", P_NONE, TXT(""), { "replay", "--config", "/nonexistent/c.json", "@GIT" }, 0, 2,
	  { "/nonexistent/c.json: cannot read: No such file or directory" } },
	{ "cfg-endless", P_NONE, TXT(""), { "replay", "--config", "/dev/zero", "@GIT" }, 0, 2,
	  { "/dev/zero: cannot read: File too large" } },
	{ "cfg-nul", P_FILE, BIN("{}\0"), { "replay", "--config", "@IN", "@GIT" }, 0, 2,
	  { ": byte 2: not a text file (NUL byte)" } },
	{ "cfg-json", P_FILE, TXT("{\n  \"procs\": }\n"), { "replay", "--config", "@IN", "@GIT" }, 0, 2,
	  { ": line 2, column 12: invalid JSON" } },
	{ "cfg-trailing", P_FILE, TXT("{} x\n"), { "replay", "--config", "@IN", "@GIT" }, 0, 2,
	  { ": line 1, column 4: unexpected text after the JSON object" } },
	{ "cfg-not-object", P_FILE, TXT("[1]"), { "replay", "--config", "@IN", "@GIT" }, 0, 2,
	  { ": a config must be a JSON object" } },
	{ "cfg-key", P_FILE, TXT("{\"procz\": 2}"), { "replay", "--config", "@IN", "@GIT" }, 0, 2,
	  { ": 'procz' is not a known key" } },
	{ "cfg-int", P_FILE, TXT("{\"procs\": 65}"), { "replay", "--config", "@IN", "@GIT" }, 0, 2,
	  { ": 'procs' must be an integer from 1 to 64" } },
	{ "cfg-enum", P_FILE, TXT("{\"free\": \"later\"}"), { "replay", "--config", "@IN", "@GIT" }, 0, 2,
	  { ": 'free' must be " } },
	{ "cfg-bytes", P_FILE, TXT("{\"arena_size\": \"lots\"}"), { "replay", "--config", "@IN", "@GIT" }, 0, 2,
	  { ": 'arena_size' must be a byte count such as 67108864 or \"64MiB\"" } },
	{ "cfg-bytes-range", P_FILE, TXT("{\"arena_size\": \"9007199254740993\"}"), { "replay", "--config", "@IN", "@GIT" }, 0, 2,
	  { ": 'arena_size' must be a byte count from 1 to 9007199254740992 (2^53)" } },
	{ "cfg-arena", P_FILE, TXT("{\"arena_size\": \"3MiB\"}"), { "replay", "--config", "@IN", "@GIT" }, 0, 2,
	  { ": 'arena_size' must be a power of two from one page-allocator chunk (4 MiB: 512 pages of 8192 bytes) to 1 TiB" } },
	{ "cfg-arena-page", P_FILE, TXT("{\"arena_size\": \"4MiB\", \"sizeclasses\": {\"page_size\": 16384}}"),
	  { "replay", "--config", "@IN", "@GIT" }, 0, 2,
	  { ": 'arena_size' must be a power of two from one page-allocator chunk (8 MiB: 512 pages of 16384 bytes) to 1 TiB" } },
	{ "cfg-real", P_FILE, TXT("{\"trigger_fraction\": 2}"), { "replay", "--config", "@IN", "@GIT" }, 0, 2,
	  { ": 'trigger_fraction' must be a number in " } },
	{ "cfg-bool", P_FILE, TXT("{\"tiny\": \"yes\"}"), { "replay", "--config", "@IN", "@GIT" }, 0, 2,
	  { ": 'tiny' must be true or false" } },
	{ "cfg-gogc", P_FILE, TXT("{\"gogc\": 0}"), { "replay", "--config", "@IN", "@GIT" }, 0, 2,
	  { ": 'gogc' must be an integer from 1 to 1000000 or \"off\"" } },
	{ "cfg-scavenger", P_FILE, TXT("{\"scavenger\": 3}"), { "replay", "--config", "@IN", "@GIT" }, 0, 2,
	  { ": 'scavenger' must be true, false or an object" } },
	{ "cfg-sc-key", P_FILE, TXT("{\"sizeclasses\": {\"max_wast\": 0.1}}"), { "replay", "--config", "@IN", "@GIT" },
	  0, 2, { ": 'sizeclasses.max_wast' is not a known key" } },
	{ "cfg-table-shape", P_FILE, TXT("{\"sizeclasses\": {\"table\": [8, 1]}}"),
	  { "replay", "--config", "@IN", "@GIT" }, 0, 2, { " must be a [size, pages] pair" } },
	{ "cfg-table-file", P_FILE, TXT("{\"sizeclasses\": {\"table_file\": \"nope.json\"}}"),
	  { "replay", "--config", "@IN", "@GIT" }, 0, 2, { ": 'sizeclasses.table_file' cannot read ", "nope.json" } },
	{ "cfg-table-file-nested", P_FILE, TXT("{\"sizeclasses\": {\"table_file\": \"in\"}}"),
	  { "replay", "--config", "@IN", "@GIT" }, 0, 2,
	  { ": 'sizeclasses.table_file' ", "/in names a table_file itself; a table file holds the \"table\"" } },
	{ "cfg-table-both", P_FILE, TXT("{\"sizeclasses\": {\"table\": [[8, 1]], \"table_file\": \"t.json\"}}"),
	  { "replay", "--config", "@IN", "@GIT" }, 0, 2,
	  { ": 'sizeclasses.table' and 'sizeclasses.table_file' cannot both be given" } },
	{ "cfg-table-param", P_FILE, TXT("{\"sizeclasses\": {\"table\": [[8, 1]], \"max_waste\": 0.2}}"),
	  { "replay", "--config", "@IN", "@GIT" }, 0, 2, { "is a generator parameter and cannot be combined with a table" } },
	{ "cfg-table-invalid", P_FILE,
	  TXT("{\"sizeclasses\": {\"max_small_size\": 1024, \"table\": [[16, 1], [8, 1], [1024, 1]]}}"),
	  { "replay", "--config", "@IN", "@GIT" }, 0, 2, { ": 'sizeclasses': " } },

	/* the database (--db FILE) */
	{ "db-not-sqlite", P_FILE, TXT("this is not a database\n"), { "replay", "-q", "@GIT", "--db", "@IN" }, 0, 2,
	  { ": not a SQLite database" } },
	{ "db-not-spanlab", P_DB_NOT_SPANLAB, TXT(""), { "replay", "-q", "@GIT", "--db", "@IN" }, 0, 2,
	  { ": not a spanlab database (application_id 0, expected 0x53504c42)" } },
	{ "db-newer", P_DB_NEWER, TXT(""), { "replay", "-q", "@GIT", "--db", "@IN" }, 0, 2,
	  { ": written by a newer spanlab (schema version 99; this one reads up to " } },
	{ "db-no-dir", P_NONE, TXT(""), { "replay", "-q", "@GIT", "--db", "/nonexistent/dir/x.db" }, 0, 1,
	  { "/nonexistent/dir/x.db: cannot create the database: /nonexistent" } },
	{ "db-stdout", P_NONE, TXT(""), { "replay", "-q", "@GIT", "--db", "-" }, 0, 2,
	  { "-: a database is a file and cannot be written to standard output (./- names a file called -)" } },

	/* recording */
	{ "rec-out-missing", P_NONE, TXT(""), { "record", "-o", "/nonexistent/dir/x.slt", "--", "true" }, 0, 2,
	  { "spanlab record: /nonexistent/dir/x.slt: cannot create the trace: No such file or directory" } },
	{ "rec-out-directory", P_DIR, TXT(""), { "record", "-o", "@IN", "--", "true" }, 0, 2,
	  { ": cannot create the trace: Is a directory" } },
	{ "rec-out-stdout", P_NONE, TXT(""), { "record", "-o", "-", "--", "true" }, 0, 2,
	  { "spanlab record: -o -: the trace cannot go to stdout (PROG's output goes there); name a file" } },
	{ "rec-cannot-run", P_NONE, TXT(""), { "record", "-o", "@IN", "--", "/nonexistent/prog" }, 0, 2,
	  { "spanlab record: /nonexistent/prog: cannot run: No such file or directory" } },

	/* usage */
	{ "use-command", P_NONE, TXT(""), { "frob" }, 0, 2, { "spanlab: unknown command 'frob'", "Try 'spanlab --help'." } },
	{ "use-option", P_NONE, TXT(""), { "replay", "--bogus", "@GIT" }, 0, 2,
	  { "spanlab replay: unknown option '--bogus'", "Try 'spanlab replay --help'." } },
	{ "use-missing", P_NONE, TXT(""), { "info" }, 0, 2, { "spanlab info: missing TRACE" } },
	{ "use-from", P_NONE, TXT(""), { "replay", "--from", "nonsense", "@GIT" }, 0, 2,
	  { "unknown trace format 'nonsense'" } },
	{ "use-number", P_NONE, TXT(""), { "replay", "--snapshot-every", "0", "@GIT" }, 0, 2,
	  { "--snapshot-every needs a positive integer, not '0'" } },
	{ "use-fault-spec", P_NONE, TXT(""), { "replay", "-q", "@GIT" }, "SPANLAB_FAULT_OS=mmap", 2,
	  { "SPANLAB_FAULT_OS='mmap': expected KINDS:N or KINDS:N+" } },

	/* failed runs */
	{ "run-oom", P_NONE, TXT(""), { "replay", "-q", "@GIT" }, "SPANLAB_FAULT_OS=map:1", 1,
	  { ": op 1: out of memory allocating ", "(SPANLAB_FAULT_OS failed 1 OS calls)" } },
};

enum { NROWS = sizeof rows / sizeof rows[0] };

static void prepare(const struct row *r, const char *dir, char *in, size_t inlen)
{
	size_t len = r->len ? r->len : strlen(r->input);
	char cmd[8192];
	snprintf(in, inlen, "%s/in", dir);
	switch (r->prep) {
	case P_NONE:
		break;
	case P_DIR:
		cr_assert_eq(mkdir(in, 0755), 0);
		break;
	case P_FILE:
		cr_assert_eq(tl_write_file(in, r->input, len), 0);
		break;
	case P_GZIP:
	case P_GZIP_CUT:
		snprintf(cmd, sizeof cmd, "%s/plain", dir);
		cr_assert_eq(tl_write_file(cmd, r->input, len), 0);
		snprintf(cmd, sizeof cmd, "gzip -c '%s/plain' %s > '%s'", dir, r->prep == P_GZIP_CUT ? "| head -c 30" : "", in);
		cr_assert_eq(system(cmd), 0, "%s", cmd);
		break;
	case P_LONG_LINE: {
		size_t n = (1u << 20) + 100;
		char *b = malloc(len + n + 1);
		memcpy(b, r->input, len);
		memset(b + len, '7', n);
		b[len] = 'm', b[len + 1] = ' ';
		b[len + n] = '\n';
		cr_assert_eq(tl_write_file(in, b, len + n + 1), 0);
		free(b);
		break;
	}
	case P_DB_NOT_SPANLAB:
	case P_DB_NEWER: {
		sqlite3 *d;
		cr_assert_eq(sqlite3_open(in, &d), SQLITE_OK);
		const char *sql = r->prep == P_DB_NOT_SPANLAB ? "CREATE TABLE x(a)"
							      : "PRAGMA application_id = 1397771330; PRAGMA user_version = 99;"
								"CREATE TABLE runs(a)";
		cr_assert_eq(sqlite3_exec(d, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(d));
		sqlite3_close(d);
		break;
	}
	}
}

static void run_row(const struct row *r)
{
	char *dir = tl_tmpdir(), in[4096], git[4096];
	const char *argv[12] = { "spanlab" };
	prepare(r, dir, in, sizeof in);
	tl_root_path("traces/data/git.slt", git, sizeof git);
	for (int i = 0; i < 10 && r->argv[i]; i++)
		argv[i + 1] = !strcmp(r->argv[i], "@IN") ? in : !strcmp(r->argv[i], "@GIT") ? git : r->argv[i];
	if (r->env) {
		char name[64];
		const char *eq = strchr(r->env, '=');
		snprintf(name, sizeof name, "%.*s", (int)(eq - r->env), r->env);
		setenv(name, eq + 1, 1);
	}
	struct tl_run run;
	cr_assert_eq(tl_run(&run, NULL, argv), 0, "%s: cannot run spanlab", r->id);
	cr_assert_eq(run.status, r->code, "%s: exit %d, expected %d: %s", r->id, run.status, r->code, run.err);
	const char *where = r->code == 0 ? run.out : run.err;
	for (int i = 0; i < 3 && r->expect[i]; i++)
		cr_assert(strstr(where, r->expect[i]), "%s: '%s' lacks '%s'", r->id, where, r->expect[i]);
	if (r->code != 0) {
		bool usage = strstr(run.err, "Try 'spanlab") != NULL;
		cr_assert_eq(tl_count_lines(run.err), usage ? 2 : 1, "%s: not one line: '%s'", r->id, run.err);
		cr_assert(!strncmp(run.err, "spanlab", 7), "%s: '%s'", r->id, run.err);
		/* the message names the input it is about */
		if (r->prep != P_NONE && strstr(r->expect[0], ": ") == r->expect[0])
			cr_assert(strstr(run.err, in), "%s: '%s' does not name %s", r->id, run.err, in);
	}
	tl_run_free(&run);
	tl_tmpdir_remove(dir);
}

ParameterizedTestParameters(errors, catalogue)
{
	static int idx[NROWS];
	for (int i = 0; i < NROWS; i++)
		idx[i] = i;
	return cr_make_param_array(int, idx, NROWS);
}

ParameterizedTest(int *i, errors, catalogue)
{
	fprintf(stderr, "  %s\n", rows[*i].id);
	run_row(&rows[*i]);
}

/* The use-from row holds for every command that takes --from, word for
 * word, and they take the same names: one helper (cli_parse_from). */
Test(errors, use_from_is_one_message_for_every_command)
{
	static const char *const cmds[] = { "replay", "info", "convert" };
	const struct row *from = NULL;
	for (int k = 0; k < NROWS; k++)
		if (!strcmp(rows[k].id, "use-from"))
			from = &rows[k];
	cr_assert(from);
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		char want[128];
		struct row r = *from;
		r.argv[0] = cmds[i];
		snprintf(want, sizeof want, "spanlab %s: %s", cmds[i], from->expect[0]);
		r.expect[0] = want;
		fprintf(stderr, "  use-from: %s\n", cmds[i]);
		run_row(&r);
	}
	/* and the same names are taken: "auto" (detect) too, which replay
	 * took and info and convert refused */
	char git[4096];
	struct tl_run run;
	tl_root_path("traces/data/git.slt", git, sizeof git);
	cr_assert_eq(tl_run(&run, NULL, (const char *const[]){ "spanlab", "info", "--from", "auto", git, NULL }), 0);
	cr_assert_eq(run.status, 0, "%s", run.err);
	tl_run_free(&run);
}

/* The db-stdout row holds for every command that writes a database, and
 * none of them leaves a file (or a sweep's work folder) called "-". */
Test(errors, db_stdout_is_refused_by_every_command_that_writes_a_database)
{
	char *d = tl_tmpdir(), git[4096], sweep[8192];
	cr_assert_eq(chdir(d), 0);
	tl_root_path("traces/data/git.slt", git, sizeof git);
	snprintf(sweep, sizeof sweep, "{\"traces\": [\"%s\"]}", git);
	cr_assert_eq(tl_write_file("s.json", sweep, strlen(sweep)), 0);
	struct tl_run r;
	cr_assert_eq(tl_run(&r, NULL, (const char *const[]){ "spanlab", "replay", "-q", git, "--db", "in.db", NULL }), 0);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tl_run_free(&r);
	const char *const cmds[][7] = {
		{ "spanlab", "replay", "-q", git, "--db", "-" },
		/* refused before the trace is read or a baseline's child started */
		{ "spanlab", "replay", "--allocator", "glibc", "no-such.slt", "--db", "-" },
		{ "spanlab", "merge", "-", "in.db" },
		{ "spanlab", "sweep", "s.json", "--db", "-", "-q" },
	};
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		const char *argv[8] = { 0 };
		memcpy(argv, cmds[i], sizeof cmds[i]);
		cr_assert_eq(tl_run(&r, NULL, argv), 0);
		cr_assert_eq(r.status, 2, "%s: exit %d (%s)", cmds[i][1], r.status, r.err);
		cr_assert_eq(tl_count_lines(r.err), 1, "%s: %s", cmds[i][1], r.err);
		cr_assert(strstr(r.err, "-: a database is a file and cannot be written to standard output"), "%s: %s",
			  cmds[i][1], r.err);
		tl_run_free(&r);
		struct stat st;
		cr_assert_neq(stat("-", &st), 0, "%s created a file called -", cmds[i][1]);
		cr_assert_neq(stat("-.work", &st), 0, "%s created a work folder for -", cmds[i][1]);
	}
	cr_assert_eq(chdir("/"), 0);
	tl_tmpdir_remove(d);
}

/* docs/errors.md rows are "| `id` | ..." with "test_errors" in the last
 * column; every one is a case above and every case is a row. */
Test(errors, catalogue_and_cases_agree)
{
	char path[4096], line[4096];
	FILE *f = fopen(tl_root_path("docs/errors.md", path, sizeof path), "r");
	cr_assert(f, "cannot open %s", path);
	bool seen[NROWS] = { 0 };
	int doc_rows = 0;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "| `", 3) || !strstr(line, "test_errors"))
			continue;
		char *end = strchr(line + 3, '`');
		cr_assert(end, "%s", line);
		*end = 0;
		int k;
		for (k = 0; k < NROWS && strcmp(rows[k].id, line + 3); k++)
			;
		cr_assert_lt(k, NROWS, "docs/errors.md row '%s' has no case in test_errors.c", line + 3);
		cr_assert(!seen[k], "docs/errors.md lists '%s' twice", line + 3);
		seen[k] = true;
		doc_rows++;
	}
	fclose(f);
	for (int k = 0; k < NROWS; k++)
		cr_assert(seen[k], "case '%s' is not a row of docs/errors.md", rows[k].id);
	cr_assert_eq(doc_rows, NROWS);
}
