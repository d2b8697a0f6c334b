/*
 * One case per row of the bad-input catalogue, docs/errors.md: the input,
 * the command, the exit code and the one-line message with its place.
 * A case writes its input to a fresh directory, runs spanlab, and checks
 * the exit code, that stderr is one line naming the file, and that it
 * holds every expected piece. A usage error's case expects its second
 * line, "Try 'spanlab CMD --help'.", word for word; every other case
 * expects none; a path a case names but does not make is not made by the
 * failed run either. Rows whose message has several forms (one per
 * option, per format, per bound) have the other forms in a second table,
 * run by their own test. Then the shape every text reader gives a quoted
 * line (60 characters, no control character). The last test checks that
 * the catalogue and this table list the same rows, with the Try line
 * where the catalogue writes one, so neither can drift.
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
enum prep {
	P_FILE,
	P_NONE,
	P_DIR,
	P_GZIP,
	P_GZIP_CUT,
	P_LONG_LINE,		/* the input, then a line of 1 MiB + 100 bytes */
	P_SIDE,			/* the input up to its first NUL; what follows to DIR/side */
	P_DB_NOT_SPANLAB,
	P_DB_NEWER,
	P_DB_VERSION_0,		/* spanlab's application_id, schema version 0 */
	P_DB_CUT,		/* a spanlab-looking SQLite file cut to its first page */
	P_NO_GZIP,		/* gzip input (the row sets a PATH without gzip) */
	P_MANY_LIVE,		/* 400,000 live objects, read under ulimit -v 32768 */
};

struct row {
	const char *id;
	enum prep prep;
	const char *input;
	size_t len;		/* 0: strlen(input) */
	const char *argv[10];	/* "@IN": the input's path, "@GIT": traces/data/git.slt,
				 * "@DIR...": the case's directory and the rest */
	const char *env;	/* NAME=VALUE, or NULL */
	int code;
	const char *expect[4];	/* in stderr (exit 0: in stdout); "Try 'spanlab...":
				 * a usage error's second line, all of it */
};

#define R8 "[8,1],[8,1],[8,1],[8,1],[8,1],[8,1],[8,1],[8,1]"
#define R64 R8 "," R8 "," R8 "," R8 "," R8 "," R8 "," R8 "," R8	/* 64 table rows */
#define CFG(json) TXT(json), { "replay", "--config", "@IN", "@GIT" }, 0, 2
#define TRY(cmd) "Try 'spanlab " cmd " --help'."

static const struct row rows[] = {
	/* files */
	{ "file-missing", P_NONE, TXT(""), { "info", "/nonexistent/t.slt" }, 0, 2,
	  { "spanlab info: /nonexistent/t.slt: No such file or directory" } },
	{ "file-directory", P_DIR, TXT(""), { "info", "@IN" }, 0, 2, { ": is a directory" } },
	{ "file-empty", P_FILE, TXT(""), { "info", "@IN" }, 0, 2, { ": empty file: not a trace" } },
	{ "file-unknown", P_FILE, TXT("hello world\n"), { "info", "@IN" }, 0, 2,
	  { ": line 1: unknown trace format (starts \"hello world\"); use --from" } },
	{ "file-read-error", P_NONE, TXT(""), { "info", "/proc/self/mem" }, 0, 2,
	  { "spanlab info: /proc/self/mem: byte 0: read error: Input/output error" } },
	{ "gzip-corrupt", P_FILE, BIN("\x1f\x8b\x08\x00garbage garbage"), { "info", "@IN" }, 0, 2,
	  { ": byte 0 (decompressed): gzip -dc failed: corrupt or truncated compressed data" } },
	{ "gzip-truncated", P_GZIP_CUT, TXT(TT "m 1 16\nf 1\n"), { "info", "@IN" }, 0, 2,
	  { ": byte 13 (decompressed): gzip -dc failed: corrupt or truncated compressed data" } },
	{ "gzip-inner", P_GZIP, TXT(TT "m 1 16\nfrob 2\n"), { "info", "@IN" }, 0, 2,
	  { ": line 3 (decompressed): unknown operation in \"frob 2\"" } },
	{ "gzip-no-gzip", P_NO_GZIP, TXT(TT "m 1 16\n"), { "info", "@IN" }, "PATH=/nonexistent", 2,
	  { ": cannot run gzip -dc: No such file or directory" } },

	/* .slt */
	{ "slt-short-header", P_FILE, BIN("\x89SLT\r\n\x1a\n\x01\x00"), { "info", "@IN" }, 0, 2,
	  { ": byte 10: truncated header (10 of 20 bytes)" } },
	{ "slt-magic", P_FILE, BIN("\x89SLT\r\n\x1a\x0b" "\x01\x00\x00\x00\xe8\x03\x00\x00\x02\x00\x00\x00{}"),
	  { "info", "@IN" }, 0, 2, { ": byte 0: bad magic: not a .slt file" } },
	{ "slt-version", P_FILE, BIN("\x89SLT\r\n\x1a\n" "\x03\x00\x00\x00\xe8\x03\x00\x00\x02\x00\x00\x00{}"),
	  { "info", "@IN" }, 0, 2, { ": byte 8: unsupported version 3 (this reader knows 1 to 2)" } },
	/* 0xf, not 0x1: lowercase hex differs from uppercase */
	{ "slt-flags", P_FILE, BIN("\x89SLT\r\n\x1a\n" "\x01\x00\x0f\x00\xe8\x03\x00\x00\x02\x00\x00\x00{}"),
	  { "info", "@IN" }, 0, 2, { ": byte 10: unknown flags 0xf" } },
	{ "slt-tick", P_FILE, BIN("\x89SLT\r\n\x1a\n" "\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00{}"),
	  { "info", "@IN" }, 0, 2, { ": byte 12: tick_ns is 0" } },
	{ "slt-meta-len", P_FILE, BIN("\x89SLT\r\n\x1a\n" "\x01\x00\x00\x00\xe8\x03\x00\x00\x00\x00\x20\x00{}"),
	  { "info", "@IN" }, 0, 2, { ": byte 16: metadata length 2097152 exceeds 1048576" } },
	{ "slt-meta-short", P_FILE, BIN("\x89SLT\r\n\x1a\n" "\x01\x00\x00\x00\xe8\x03\x00\x00\x64\x00\x00\x00{}"),
	  { "info", "@IN" }, 0, 2, { ": byte 22: truncated metadata (2 of 100 bytes)" } },
	{ "slt-meta-nul", P_FILE, BIN("\x89SLT\r\n\x1a\n" "\x01\x00\x00\x00\xe8\x03\x00\x00\x02\x00\x00\x00{\0"),
	  { "info", "@IN" }, 0, 2, { ": byte 20: metadata contains a NUL byte" } },
	{ "slt-record-short", P_FILE, BIN(HDR "\xf0"), { "info", "@IN" }, 0, 0,
	  { "(incomplete: cut short inside a record, dropped)" } },
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
	  { "info", "@IN" }, 0, 0, { "(incomplete: cut short inside a record, dropped)" } },
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
	{ "text-tid", P_FILE, TXT(TT "t16777216 m 1 16\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: bad thread id in \"t16777216 m 1 16\"" } },
	{ "text-time", P_FILE, TXT(TT "@x m 1 16\n"), { "info", "@IN" }, 0, 2, { ": line 2: bad time in \"@x m 1 16\"" } },
	{ "text-key", P_FILE, TXT(TT "m 9223372036854775808 16\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: key out of range in \"m 9223372036854775808 16\"" } },
	{ "text-align", P_FILE, TXT(TT "a 1 16 24\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: alignment is not a power of two up to 2^40 in \"a 1 16 24\"" } },
	{ "text-long-line", P_LONG_LINE, TXT(TT), { "info", "@IN" }, 0, 2,
	  { ": line 2: line longer than 1048576 bytes" } },
	{ "text-strict", P_FILE, TXT(TT "m 1 16\nf 2\n"), { "info", "--strict", "@IN" }, 0, 2,
	  { ": line 3: free of a pointer never allocated (--strict)" } },

	/* glibc mtrace */
	{ "mtrace-caller", P_FILE, TXT("= Start\n@ ./t:(main+0x1 + 0x10 0x18\n"), { "info", "--from", "mtrace", "@IN" },
	  0, 2, { ": line 2: caller without ']' in \"@ ./t:(main+0x1 + 0x10 0x18\"" } },
	{ "mtrace-record", P_FILE, TXT("= Start\n@ ./t:[0x1] * 0x10\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: malformed mtrace record in \"@ ./t:[0x1] * 0x10\"" } },
	{ "mtrace-open-realloc", P_FILE, TXT("= Start\n@ [0x1] + 0x10 0x18\n@ [0x1] < 0x10\n@ [0x1] - 0x10\n"),
	  { "info", "@IN" }, 0, 2, { ": line 4: '<' not followed by '>' in \"@ [0x1] - 0x10\"" } },
	{ "mtrace-lone-gt", P_FILE, TXT("= Start\n@ [0x1] > 0x10 0x20\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: '>' without a preceding '<' in \"@ [0x1] > 0x10 0x20\"" } },
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
	  { ": line 2: wrong number of arguments in \"--1-- calloc(4) = 0x10\"" } },
	{ "vg-result", P_FILE, TXT(VG "--1-- malloc(24) = zz\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: malformed result in \"--1-- malloc(24) = zz\"" } },
	{ "vg-pending", P_FILE, TXT(VG VG64 "--1-- malloc(8)\n"), { "info", "@IN" }, 0, 2,
	  { ": line 66: more than 64 calls waiting for their results in \"--1-- malloc(8)\"" } },
	{ "vg-orphan-result", P_FILE, TXT(VG "--1-- malloc(8) = 0x20\n--1--  = 0x10\n"), { "info", "--strict", "@IN" }, 0, 2,
	  { ": line 3: result without a call (--strict)" } },
	{ "vg-no-result", P_FILE, TXT(VG "--1-- malloc(8) = 0x20\n--1-- malloc(24)\n"), { "info", "--strict", "@IN" }, 0, 2,
	  { ": line 3: call without its result at end of trace (--strict)" } },
	{ "vg-no-calls", P_FILE, TXT("==1== Memcheck, a memory error detector\n==1== Using Valgrind-3.19.0 and LibVEX\n"
				    "==1== HEAP SUMMARY:\n"), { "info", "@IN" }, 0, 2,
	  { ": line 3: no allocation calls in the log (run valgrind with --trace-malloc=yes)" } },
	/* the line is quoted to its first 60 characters */
	{ "vg-calls", P_FILE, TXT(VG "--1-- free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)"
				 "free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)\n"),
	  { "info", "@IN" }, 0, 2,
	  { ": line 2: more than 16 calls on one line in \"--1-- free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)free(0x0)\"" } },
	{ "vg-align", P_FILE, TXT(VG "--1-- memalign(al 4398046511104, size 8) = 0x10\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: alignment 4398046511104 out of range" } },
	{ "vg-time", P_FILE, TXT(VG "--00:00:00:18446744074.000 1-- malloc(8) = 0x10\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: time stamp out of range in \"--00:00:00:18446744074.000 1-- malloc(8) = 0x10\"" } },
	{ "vg-last-address", P_FILE, TXT(VG "--1-- malloc(8) = 0xffffffffffffffff\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: allocation at address 0xffffffffffffffff out of range" } },
	{ "vg-strict", P_FILE, TXT(VG "--1-- realloc(0x99,10) = 0x20\n"), { "info", "--strict", "@IN" }, 0, 2,
	  { ": line 2: realloc of a pointer never allocated (--strict)" } },
	{ "vg-strict-realloc-zero", P_FILE, TXT(VG "--1-- malloc(16) = 0x10\n--1-- realloc(0x10,0) = 0x0\n"),
	  { "info", "--strict", "@IN" }, 0, 2, { ": line 3: realloc(p, 0) (--strict)" } },
	{ "vg-strict-align", P_FILE, TXT(VG "--1-- memalign(al 24, size 8) = 0x10\n"), { "info", "--strict", "@IN" }, 0, 2,
	  { ": line 2: alignment that is not a power of two (--strict)" } },
	/* realloc's old block handed out again before its result: taken
	 * early (at line 4), then its result is NULL */
	{ "vg-strict-early", P_FILE,
	  TXT(VG "--1-- malloc(16) = 0x10\n--1-- realloc(0x10,32)\n--1-- malloc(8) = 0x10\n--1--  = 0x0\n"),
	  { "info", "--strict", "@IN" }, 0, 2, { ": line 5: realloc taken early returned NULL (--strict)" } },

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
	  { "spanlab replay: /nonexistent/c.json: cannot read: No such file or directory" } },
	{ "cfg-endless", P_NONE, TXT(""), { "replay", "--config", "/dev/zero", "@GIT" }, 0, 2,
	  { "spanlab replay: /dev/zero: cannot read: File too large" } },
	{ "cfg-nul", P_FILE, BIN("{}\0"), { "replay", "--config", "@IN", "@GIT" }, 0, 2,
	  { ": byte 2: not a text file (NUL byte)" } },
	{ "cfg-json", P_FILE, CFG("{\n  \"procs\": }\n"), { ": line 2, column 12: invalid JSON" } },
	{ "cfg-trailing", P_FILE, CFG("{} x\n"), { ": line 1, column 4: unexpected text after the JSON object" } },
	{ "cfg-not-object", P_FILE, CFG("[1]"), { ": a config must be a JSON object" } },
	{ "cfg-key", P_FILE, CFG("{\"procz\": 2}"), { ": 'procz' is not a known key" } },
	{ "cfg-int", P_FILE, CFG("{\"procs\": 65}"), { ": 'procs' must be an integer from 1 to 64" } },
	{ "cfg-enum", P_FILE, CFG("{\"free\": \"later\"}"), { ": 'free' must be \"gc\" or \"immediate\"" } },
	{ "cfg-bytes", P_FILE, CFG("{\"arena_size\": \"lots\"}"),
	  { ": 'arena_size' must be a byte count such as 67108864 or \"64MiB\"" } },
	{ "cfg-bytes-range", P_FILE, CFG("{\"arena_size\": \"9007199254740993\"}"),
	  { ": 'arena_size' must be a byte count from 1 to 9007199254740992 (2^53)" } },
	{ "cfg-arena", P_FILE, CFG("{\"arena_size\": \"3MiB\"}"),
	  { ": 'arena_size' must be a power of two from one page-allocator chunk (4 MiB: 512 pages of 8192 bytes) to 1 TiB" } },
	{ "cfg-arena-page", P_FILE, CFG("{\"arena_size\": \"4MiB\", \"sizeclasses\": {\"page_size\": 16384}}"),
	  { ": 'arena_size' must be a power of two from one page-allocator chunk (8 MiB: 512 pages of 16384 bytes) to 1 TiB" } },
	{ "cfg-real", P_FILE, CFG("{\"trigger_fraction\": 2}"), { ": 'trigger_fraction' must be a number in (0, 1]" } },
	{ "cfg-bool", P_FILE, CFG("{\"tiny\": \"yes\"}"), { ": 'tiny' must be true or false" } },
	{ "cfg-gogc", P_FILE, CFG("{\"gogc\": 0}"), { ": 'gogc' must be an integer from 1 to 1000000 or \"off\"" } },
	{ "cfg-scavenger", P_FILE, CFG("{\"scavenger\": 3}"), { ": 'scavenger' must be true, false or an object" } },
	{ "cfg-sc-object", P_FILE, CFG("{\"sizeclasses\": 3}"), { ": 'sizeclasses' must be an object" } },
	{ "cfg-sc-key", P_FILE, CFG("{\"sizeclasses\": {\"max_wast\": 0.1}}"),
	  { ": 'sizeclasses.max_wast' is not a known key" } },
	{ "cfg-table-array", P_FILE, CFG("{\"sizeclasses\": {\"table\": 3}}"),
	  { ": 'sizeclasses.table' must be an array of [size, pages] pairs" } },
	{ "cfg-table-count", P_FILE,
	  CFG("{\"sizeclasses\": {\"table\": [" R64 "," R64 "," R64 "," R64 "]}}"),
	  { ": 'sizeclasses.table' has 256 classes (at most 255)" } },
	{ "cfg-table-shape", P_FILE, CFG("{\"sizeclasses\": {\"table\": [8, 1]}}"),
	  { ": 'sizeclasses.table[0]' must be a [size, pages] pair" } },
	{ "cfg-table-file", P_FILE, CFG("{\"sizeclasses\": {\"table_file\": \"nope.json\"}}"),
	  { ": 'sizeclasses.table_file' cannot read ", "/nope.json: No such file or directory" } },
	{ "cfg-table-file-name", P_FILE, CFG("{\"sizeclasses\": {\"table_file\": 3}}"),
	  { ": 'sizeclasses.table_file' must be a file name" } },
	{ "cfg-table-file-nested", P_FILE, CFG("{\"sizeclasses\": {\"table_file\": \"in\"}}"),
	  { ": 'sizeclasses.table_file' ", "/in names a table_file itself; a table file holds the \"table\"" } },
	{ "cfg-table-file-empty", P_SIDE, BIN("{\"sizeclasses\": {\"table_file\": \"side\"}}\0{\"procs\": 2}"),
	  { "replay", "--config", "@IN", "@GIT" }, 0, 2,
	  { ": 'sizeclasses.table_file' ", "/side holds no \"table\"" } },
	{ "cfg-table-both", P_FILE, CFG("{\"sizeclasses\": {\"table\": [[8, 1]], \"table_file\": \"t.json\"}}"),
	  { ": 'sizeclasses.table' and 'sizeclasses.table_file' cannot both be given" } },
	{ "cfg-table-param", P_FILE, CFG("{\"sizeclasses\": {\"table\": [[8, 1]], \"max_waste\": 0.2}}"),
	  { ": 'sizeclasses.max_waste' is a generator parameter and cannot be combined with a table" } },
	{ "cfg-table-invalid", P_FILE,
	  CFG("{\"sizeclasses\": {\"max_small_size\": 1024, \"table\": [[16, 1], [8, 1], [1024, 1]]}}"),
	  { ": 'sizeclasses': class 2: size 8 is not larger than class 1's size 16" } },
	{ "cfg-generator", P_FILE, CFG("{\"sizeclasses\": {\"max_small_size\": 1100}}"),
	  { ": 'sizeclasses': the alignment steps do not reach max_small_size 1100 (last class 1024)" } },
	{ "cfg-derived", P_FILE, CFG("{\"sizeclasses\": {\"nclasses\": 3}}"),
	  { ": 'sizeclasses.nclasses' does not match the table it describes (remove it to rebuild)" } },
	{ "cfg-tiny", P_FILE, CFG("{\"tiny\": true, \"sizeclasses\": {\"table\": [[8, 1], [24, 1], [32768, 4]]}}"),
	  { ": 'tiny' needs size class 2 to be 16 bytes (it is 24); set \"tiny\": false" } },
	{ "cfg-flag", P_NONE, TXT(""), { "replay", "--procs", "65", "@GIT" }, 0, 2,
	  { "spanlab replay: command line: 'procs' must be an integer from 1 to 64" } },

	/* sweep files (the rest: tests/unit/test_sweep.c) */
	{ "sweep-read", P_NONE, TXT(""), { "sweep", "/nonexistent/s.json" }, 0, 2,
	  { "spanlab sweep: /nonexistent/s.json: cannot read: No such file or directory" } },
	{ "sweep-nul", P_FILE, BIN("{}\0"), { "sweep", "@IN" }, 0, 2, { ": byte 2: not a text file (NUL byte)" } },
	{ "sweep-id-flag", P_FILE, TXT("{\"traces\": [\"in\"]}"), { "sweep", "@IN", "--sweep-id", "a\nb" }, 0, 2,
	  { "spanlab sweep: --sweep-id must be a name on one line", TRY("sweep") } },
	{ "sweep-list", P_SIDE, BIN("{\"traces\": [\"side\"]}\0" TT "m 1 16\n"),
	  { "sweep", "@IN", "--db", "@DIR/a\nb/r.db", "--list" }, 0, 2,
	  { "spanlab sweep: --list: '", "/a...' has a line break, which one command per line cannot hold "
	    "(run the sweep without --list)" } },

	/* the database (--db FILE, merge OUT IN...) */
	{ "db-missing", P_NONE, TXT(""), { "merge", "@DIR/out.db", "/nonexistent/in.db" }, 0, 2,
	  { "spanlab merge: /nonexistent/in.db: cannot open: No such file or directory" } },
	{ "db-directory", P_DIR, TXT(""), { "merge", "@DIR/out.db", "@IN" }, 0, 2, { ": is a directory, not a database" } },
	{ "db-empty", P_FILE, TXT(""), { "merge", "@DIR/out.db", "@IN" }, 0, 2,
	  { ": not a spanlab database (an empty file)" } },
	{ "db-not-sqlite", P_FILE, TXT("this is not a database\n"), { "replay", "-q", "@GIT", "--db", "@IN" }, 0, 2,
	  { ": not a SQLite database" } },
	{ "db-damaged-pages", P_DB_CUT, TXT(""), { "merge", "@DIR/out.db", "@IN" }, 0, 2,
	  { ": damaged database (database disk image is malformed)" } },
	{ "db-not-spanlab", P_DB_NOT_SPANLAB, TXT(""), { "replay", "-q", "@GIT", "--db", "@IN" }, 0, 2,
	  { ": not a spanlab database (application_id 0, expected 0x53504c42)" } },
	{ "db-version", P_DB_VERSION_0, TXT(""), { "merge", "@DIR/out.db", "@IN" }, 0, 2,
	  { ": damaged spanlab database (schema version 0)" } },
	{ "db-newer", P_DB_NEWER, TXT(""), { "replay", "-q", "@GIT", "--db", "@IN" }, 0, 2,
	  { ": written by a newer spanlab (schema version 99; this one reads up to 3)" } },
	{ "db-no-dir", P_NONE, TXT(""), { "replay", "-q", "@GIT", "--db", "/nonexistent/dir/x.db" }, 0, 1,
	  { "spanlab replay: /nonexistent/dir/x.db: cannot create the database: /nonexistent/dir: No such file or directory" } },
	{ "db-stdout", P_NONE, TXT(""), { "replay", "-q", "@GIT", "--db", "-" }, 0, 2,
	  { "spanlab replay: -: a database is a file and cannot be written to standard output (./- names a file called -)" } },
	/* the same file by another path */
	{ "merge-self", P_FILE, TXT(""), { "merge", "@IN", "@DIR/./in" }, 0, 2, { "/./in: is the output database" } },

	/* recording */
	{ "rec-out-missing", P_NONE, TXT(""), { "record", "-o", "/nonexistent/dir/x.slt", "--", "true" }, 0, 2,
	  { "spanlab record: /nonexistent/dir/x.slt: cannot create the trace: No such file or directory" } },
	{ "rec-out-directory", P_DIR, TXT(""), { "record", "-o", "@IN", "--", "true" }, 0, 2,
	  { ": cannot create the trace: Is a directory" } },
	{ "rec-out-stdout", P_NONE, TXT(""), { "record", "-o", "-", "--", "true" }, 0, 2,
	  { "spanlab record: -o -: the trace cannot go to stdout (PROG's output goes there); name a file",
	    TRY("record") } },
	{ "rec-cannot-run", P_NONE, TXT(""), { "record", "-o", "@IN", "--", "/nonexistent/prog" }, 0, 2,
	  { "spanlab record: /nonexistent/prog: cannot run: No such file or directory" } },
	{ "rec-ring-words", P_NONE, TXT(""), { "record", "-o", "@IN", "--", "true" }, "SPANLAB_RECORD_RING_WORDS=100", 2,
	  { "spanlab record: SPANLAB_RECORD_RING_WORDS='100': expected a power of two from 64 to 2147483648",
	    TRY("record") } },

	/* usage */
	{ "use-command", P_NONE, TXT(""), { "frob" }, 0, 2, { "spanlab: unknown command 'frob'", "Try 'spanlab --help'." } },
	{ "use-option", P_NONE, TXT(""), { "replay", "--bogus", "@GIT" }, 0, 2,
	  { "spanlab replay: unknown option '--bogus'", TRY("replay") } },
	{ "use-missing", P_NONE, TXT(""), { "info" }, 0, 2, { "spanlab info: missing TRACE", TRY("info") } },
	{ "use-from", P_NONE, TXT(""), { "replay", "--from", "nonsense", "@GIT" }, 0, 2,
	  { "spanlab replay: unknown trace format 'nonsense'", TRY("replay") } },
	{ "use-number", P_NONE, TXT(""), { "replay", "--snapshot-every", "0", "@GIT" }, 0, 2,
	  { "spanlab replay: --snapshot-every needs a positive integer, not '0'", TRY("replay") } },
	{ "use-fault-spec", P_NONE, TXT(""), { "replay", "-q", "@GIT" }, "SPANLAB_FAULT_OS=mmap", 2,
	  { "spanlab replay: SPANLAB_FAULT_OS='mmap': expected KINDS:N or KINDS:N+", TRY("replay") } },

	/* failed runs */
	{ "run-oom", P_NONE, TXT(""), { "replay", "-q", "@GIT" }, "SPANLAB_FAULT_OS=map:1", 1,
	  { ": op 1: out of memory allocating ", "(SPANLAB_FAULT_OS failed 1 OS calls)" } },
	/* the line depends on where the limit is met */
	{ "read-oom", P_MANY_LIVE, TXT(""), { "info", "@IN" }, 0, 1, { ": line ", ": out of memory" } },
};

enum { NROWS = sizeof rows / sizeof rows[0] };

/* Further forms of rows above (same id): each option, format or bound a
 * row's message has, beyond the one its case shows. */
static const struct row forms[] = {
	/* the clock overflows: 2^63 ticks of 1000 ns */
	{ "slt-tick-delta", P_FILE, BIN(HDR "\xf8" "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"), { "info", "@IN" }, 0, 2,
	  { ": byte 22: time delta 9223372036854775808 out of range" } },
	/* the length field says 11, the END record is 10 bytes */
	{ "slt-footer-bad", P_FILE,
	  BIN(HDR EVS "\x09\x02\x01\x01\x00\x00\x00\x00\x00\x00" "\x0b\x00\x00\x00" "SLTEND\r\n"),
	  { "info", "@IN" }, 0, 2, { ": byte 35: bad footer after END record" } },
	{ "text-long-line", P_LONG_LINE, TXT("= Start\n"), { "info", "--from", "mtrace", "@IN" }, 0, 2,
	  { ": line 2: line longer than 1048576 bytes" } },
	{ "vg-call", P_FILE, TXT(VG "--1-- _Znwm 24 = 0x10\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: malformed call in \"--1-- _Znwm 24 = 0x10\"" } },
	{ "vg-args", P_FILE, TXT(VG "--1-- malloc(4,5) = 0x10\n"), { "info", "@IN" }, 0, 2,
	  { ": line 2: wrong number of arguments in \"--1-- malloc(4,5) = 0x10\"" } },
	{ "cfg-endless", P_NONE, TXT(""), { "sweep", "/dev/zero" }, 0, 2,
	  { "spanlab sweep: /dev/zero: cannot read: File too large" } },
	{ "cfg-endless", P_FILE, CFG("{\"sizeclasses\": {\"table_file\": \"/dev/zero\"}}"),
	  { ": 'sizeclasses.table_file' cannot read /dev/zero: File too large" } },
	{ "cfg-real", P_FILE, CFG("{\"sizeclasses\": {\"max_waste\": 0}}"),
	  { ": 'sizeclasses.max_waste' must be a number in (0, 1]" } },
	{ "cfg-real", P_FILE, CFG("{\"sizeclasses\": {\"tail_waste\": 1}}"),
	  { ": 'sizeclasses.tail_waste' must be a number in [0, 1)" } },
	{ "cfg-flag", P_NONE, TXT(""), { "replay", "--free", "later", "@GIT" }, 0, 2,
	  { "spanlab replay: command line: 'free' must be \"gc\" or \"immediate\"" } },
	{ "cfg-flag", P_NONE, TXT(""), { "replay", "--tiny", "maybe", "@GIT" }, 0, 2,
	  { "spanlab replay: command line: 'tiny' must be true or false" } },
	{ "cfg-flag", P_NONE, TXT(""), { "replay", "--arena-size", "3MiB", "@GIT" }, 0, 2,
	  { "spanlab replay: command line: 'arena_size' must be a power of two from one page-allocator chunk "
	    "(4 MiB: 512 pages of 8192 bytes) to 1 TiB" } },
	{ "db-directory", P_DIR, TXT(""), { "replay", "-q", "@GIT", "--db", "@IN" }, 0, 2,
	  { ": is a directory, not a database" } },
	{ "db-damaged-pages", P_DB_CUT, TXT(""), { "replay", "-q", "@GIT", "--db", "@IN" }, 0, 2,
	  { ": damaged database (database disk image is malformed)" } },
	{ "db-version", P_DB_VERSION_0, TXT(""), { "replay", "-q", "@GIT", "--db", "@IN" }, 0, 2,
	  { ": damaged spanlab database (schema version 0)" } },
	{ "use-number", P_NONE, TXT(""), { "replay", "--check=0", "@GIT" }, 0, 2,
	  { "spanlab replay: --check needs a positive integer, not '0'", TRY("replay") } },
	{ "use-number", P_NONE, TXT(""), { "gen", "uniform", "--ops", "0", "-o", "@IN" }, 0, 2,
	  { "spanlab gen: --ops takes 1..1000000000, not '0'", TRY("gen") } },
	{ "use-number", P_NONE, TXT(""), { "gen", "uniform", "--seed", "x", "-o", "@IN" }, 0, 2,
	  { "spanlab gen: --seed takes an unsigned integer, not 'x'", TRY("gen") } },
	{ "use-number", P_NONE, TXT(""), { "gen", "prodcons", "--threads", "1", "-o", "@IN" }, 0, 2,
	  { "spanlab gen: --threads takes 2..64, not '1'", TRY("gen") } },
	{ "use-number", P_NONE, TXT(""), { "record", "--tick", "0", "-o", "@IN", "--", "true" }, 0, 2,
	  { "spanlab record: --tick takes 1..1000000000 ns, not '0'", TRY("record") } },
	{ "use-number", P_NONE, TXT(""), { "sweep", "--jobs", "0", "/nonexistent/s.json" }, 0, 2,
	  { "spanlab sweep: --jobs needs an integer from 1 to 1024, not '0'", TRY("sweep") } },
	{ "use-number", P_NONE, TXT(""), { "sizeclasses", "--fit", "@GIT", "--classes", "256" }, 0, 2,
	  { "spanlab sizeclasses: --classes needs an integer from 1 to 255, not '256'", TRY("sizeclasses") } },
	{ "read-oom", P_MANY_LIVE, TXT(""), { "replay", "-q", "@IN" }, 0, 1, { ": line ", ": out of memory" } },
	{ "read-oom", P_MANY_LIVE, TXT(""), { "convert", "@IN", "-o", "/dev/null" }, 0, 1, { ": line ", ": out of memory" } },
	{ "read-oom", P_MANY_LIVE, TXT(""), { "sizeclasses", "--fit", "@IN", "--classes", "8" }, 0, 1,
	  { ": line ", ": out of memory" } },
};

enum { NFORMS = sizeof forms / sizeof forms[0] };

static void make_db(const char *path, const char *sql)
{
	sqlite3 *d;
	cr_assert_eq(sqlite3_open(path, &d), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(d, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(d));
	sqlite3_close(d);
}

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
	case P_SIDE: {
		size_t first = strlen(r->input);
		cr_assert_lt(first, len, "%s: no NUL between the input and the side file", r->id);
		cr_assert_eq(tl_write_file(in, r->input, first), 0);
		snprintf(cmd, sizeof cmd, "%s/side", dir);
		cr_assert_eq(tl_write_file(cmd, r->input + first + 1, len - first - 1), 0);
		break;
	}
	case P_GZIP:
	case P_GZIP_CUT:
	case P_NO_GZIP:
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
	case P_MANY_LIVE: {
		/* 400,000 live objects: an address map of 2^21 slots (32 MiB)
		 * once the 262,145th arrives, beyond the limit of 32 MiB */
		FILE *f = fopen(in, "w");
		cr_assert(f);
		fputs(TT, f);
		for (int i = 1; i <= 400000; i++)
			fprintf(f, "m %d 16\n", i);
		cr_assert_eq(fclose(f), 0);
		break;
	}
	case P_DB_NOT_SPANLAB:
		make_db(in, "CREATE TABLE x(a)");
		break;
	case P_DB_NEWER:
		make_db(in, "PRAGMA application_id = 1397771330; PRAGMA user_version = 99; CREATE TABLE runs(a)");
		break;
	case P_DB_VERSION_0:
		make_db(in, "PRAGMA application_id = 1397771330; CREATE TABLE runs(a)");
		break;
	case P_DB_CUT:
		/* the schema on page 1 names tables on pages that are gone */
		make_db(in, "PRAGMA page_size = 4096; PRAGMA application_id = 1397771330; PRAGMA user_version = 2;"
			    "CREATE TABLE runs(a); CREATE TABLE meta(key, value)");
		cr_assert_eq(truncate(in, 4096), 0);
		break;
	}
}

/* The case's usage line ("Try 'spanlab CMD --help'."), or NULL. */
static const char *usage_line(const struct row *r)
{
	for (int i = 0; i < 4 && r->expect[i]; i++)
		if (!strncmp(r->expect[i], "Try 'spanlab", 12))
			return r->expect[i];
	return NULL;
}

/* Under ulimit -v (AddressSanitizer reserves terabytes of shadow) and with
 * no gzip on PATH (the memcheck wrapper finds valgrind there), only a
 * plain binary runs: those cases are left out of the asan and valgrind
 * runs. */
static bool runs_here(const struct row *r)
{
	const char *variant = getenv("SPANLAB_VARIANT");
	bool memcheck = getenv("SPANLAB_VALGRIND") != NULL;
	if (r->prep == P_MANY_LIVE)
		return !memcheck && !(variant && !strcmp(variant, "asan"));
	if (r->prep == P_NO_GZIP)
		return !memcheck;
	return true;
}

static void run_row(const struct row *r)
{
	char *dir = tl_tmpdir(), in[4096], git[4096], dirargs[10][4096], name[64] = "";
	const char *argv[16] = { "spanlab" };
	int a = 1;
	if (!runs_here(r)) {
		cr_log_info("%s: not run under this variant's tools", r->id);
		tl_tmpdir_remove(dir);
		return;
	}
	prepare(r, dir, in, sizeof in);
	tl_root_path("traces/data/git.slt", git, sizeof git);
	if (r->prep == P_MANY_LIVE) {
		/* sh -c 'ulimit -v 32768 && exec "$0" "$@"' SPANLAB ARGS... */
		const char *bin = getenv("SPANLAB_BIN");
		argv[0] = "sh", argv[a++] = "-c", argv[a++] = "ulimit -v 32768 && exec \"$0\" \"$@\"";
		argv[a++] = bin ? bin : "build/spanlab";
	}
	for (int i = 0; i < 10 && r->argv[i]; i++) {
		const char *x = r->argv[i];
		if (!strncmp(x, "@DIR", 4)) {
			snprintf(dirargs[i], sizeof dirargs[i], "%s%s", dir, x + 4);
			x = dirargs[i];
		}
		argv[a++] = !strcmp(x, "@IN") ? in : !strcmp(x, "@GIT") ? git : x;
	}
	if (r->env) {
		const char *eq = strchr(r->env, '=');
		snprintf(name, sizeof name, "%.*s", (int)(eq - r->env), r->env);
		setenv(name, eq + 1, 1);
	}
	struct tl_run run;
	cr_assert_eq(tl_run(&run, NULL, argv), 0, "%s: cannot run spanlab", r->id);
	if (*name)
		unsetenv(name);
	cr_assert_eq(run.status, r->code, "%s: exit %d, expected %d: %s", r->id, run.status, r->code, run.err);
	const char *where = r->code == 0 ? run.out : run.err;
	for (int i = 0; i < 4 && r->expect[i]; i++)
		cr_assert(strstr(where, r->expect[i]), "%s: '%s' lacks '%s'", r->id, where, r->expect[i]);
	if (r->code != 0) {
		/* one line, and a usage error's Try line after it, word for word */
		const char *try = usage_line(r), *nl = strchr(run.err, '\n');
		cr_assert_eq(tl_count_lines(run.err), try ? 2 : 1, "%s: not %s line%s: '%s'", r->id, try ? "two" : "one",
			     try ? "s" : "", run.err);
		cr_assert(!strncmp(run.err, "spanlab", 7), "%s: '%s'", r->id, run.err);
		if (try) {
			cr_assert(!strncmp(nl + 1, try, strlen(try)) && !strcmp(nl + 1 + strlen(try), "\n"),
				  "%s: the second line is not '%s': '%s'", r->id, try, run.err);
		} else {
			cr_assert(!strstr(run.err, "Try '"), "%s: not a usage error, yet: '%s'", r->id, run.err);
		}
		/* the message names the input it is about */
		if (r->prep != P_NONE && strstr(r->expect[0], ": ") == r->expect[0])
			cr_assert(strstr(run.err, in), "%s: '%s' does not name %s", r->id, run.err, in);
		/* an output the case did not make is not made by a run that failed */
		struct stat st;
		if (r->prep == P_NONE)
			cr_assert_neq(stat(in, &st), 0, "%s: left %s behind", r->id, in);
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

/* The forms beyond each row's case, each naming a row. */
Test(errors, rows_with_several_forms)
{
	for (int i = 0; i < NFORMS; i++) {
		int k;
		for (k = 0; k < NROWS && strcmp(rows[k].id, forms[i].id); k++)
			;
		cr_assert_lt(k, NROWS, "form %d names no row: '%s'", i, forms[i].id);
		cr_assert_eq(!usage_line(&forms[i]), !usage_line(&rows[k]), "form %d of %s: a Try line in one only", i,
			     forms[i].id);
		fprintf(stderr, "  %s (form %d)\n", forms[i].id, i);
		run_row(&forms[i]);
	}
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
		char want[128], try[64];
		struct row r = *from;
		r.argv[0] = cmds[i];
		snprintf(want, sizeof want, "spanlab %s: unknown trace format 'nonsense'", cmds[i]);
		snprintf(try, sizeof try, "Try 'spanlab %s --help'.", cmds[i]);
		r.expect[0] = want;
		r.expect[1] = try;
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

/* The message's shape for every text reader: the line quoted to its first
 * 60 characters, and no control character of the input in the message
 * (each one a '?'). The line holds SOH, ESC, TAB, DEL and a CR inside. */
Test(errors, text_lines_are_quoted_to_60_characters_without_control_characters)
{
	static const char junk[] = "x\x01\x1b[31m\t\x7f\ry";
	static const struct { const char *head, *prefix, *what; } formats[] = {
		{ "", "", "unknown trace format (starts \"" },
		{ TT, "frob ", "unknown operation in \"" },
		{ "= Start\n", "@ [0x1] * ", "malformed mtrace record in \"" },
		{ VG, "--1-- malloc(24) = ", "malformed result in \"" },
		{ "tracealloc(0xc000010000, 0x10)\n", "tracealloc(", "malformed allocfreetrace record \"" },
	};
	for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
		char text[512], line[256], want[512];
		snprintf(line, sizeof line, "%s%s%s", formats[i].prefix, junk,
			 "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
		snprintf(text, sizeof text, "%s%s\n", formats[i].head, line);
		/* the first 60 characters, each control character a '?' */
		char quoted[61];
		for (int c = 0; c < 60; c++)
			quoted[c] = (unsigned char)line[c] < 0x20 || line[c] == 0x7f ? '?' : line[c];
		quoted[60] = 0;
		snprintf(want, sizeof want, ": line %d: %s%s\"", *formats[i].head ? 2 : 1, formats[i].what, quoted);
		struct row r = { "quoting", P_FILE, text, 0, { "info", "@IN" }, 0, 2, { want } };
		fprintf(stderr, "  quoting: %s\n", formats[i].what);
		run_row(&r);
	}
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
 * column; every one is a case above and every case is a row. A row whose
 * message goes on "+ `Try" is a usage error: its case expects that line,
 * and no other case does. */
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
		bool try = strstr(line, "+ `Try") != NULL;
		char *end = strchr(line + 3, '`');
		cr_assert(end, "%s", line);
		*end = 0;
		int k;
		for (k = 0; k < NROWS && strcmp(rows[k].id, line + 3); k++)
			;
		cr_assert_lt(k, NROWS, "docs/errors.md row '%s' has no case in test_errors.c", line + 3);
		cr_assert(!seen[k], "docs/errors.md lists '%s' twice", line + 3);
		cr_assert_eq(try, usage_line(&rows[k]) != NULL, "'%s': %s", line + 3,
			     try ? "the catalogue writes a Try line, the case expects none"
				 : "the case expects a Try line, the catalogue writes none");
		seen[k] = true;
		doc_rows++;
	}
	fclose(f);
	for (int k = 0; k < NROWS; k++)
		cr_assert(seen[k], "case '%s' is not a row of docs/errors.md", rows[k].id);
	cr_assert_eq(doc_rows, NROWS);
}
