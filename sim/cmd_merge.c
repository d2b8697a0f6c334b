/*
 * spanlab merge OUT.db IN.db...: copy the complete runs of each input into
 * OUT (created if missing), with every row of every run table, new run ids
 * and the runs' configs and sweep ids unchanged. Runs OUT already holds
 * (same run_uuid) are skipped, so merging again adds nothing; one OUT holds
 * as not complete (a copy of the file taken mid-run) is replaced by the
 * input's complete run. Each input
 * is one transaction: an interrupted merge leaves OUT valid, holding whole
 * runs only. Every input is checked before anything is written.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "db.h"

static const char usage_text[] =
	"usage: spanlab merge [-q] OUT.db IN.db...\n\n"
	"Copy the complete runs of each input database into OUT.db (created if\n"
	"missing). Runs already in OUT.db are skipped, but for a run OUT.db holds\n"
	"incomplete (a copy taken while it ran), which the complete one replaces;\n"
	"incomplete runs are not copied. Each input is merged in one transaction.\n\n"
	"  -q, --quiet   print nothing on success\n"
	"  -h, --help    this text\n";

/* Every input must be a readable spanlab database (db_open checks its
 * identity, tables, columns and lookups), and not OUT itself, before OUT
 * is opened: a bad input leaves no OUT behind. */
static int check_inputs(const char *out, int n, char **in)
{
	char err[1024];
	for (int i = 0; i < n; i++) {
		struct db *db;
		if (db_same_file(out, in[i]))
			return cli_bad_input("merge", "%s: is the output database", in[i]);
		int code = db_open(in[i], DB_OPEN_READ, &db, err, sizeof err);
		if (code)
			return cli_error("merge", code, "%s", err);
		db_close(db);
	}
	return 0;
}

/* " (N replacing incomplete copies)" when the merge replaced any. */
static const char *replaced_note(const struct db_merge_stats *st)
{
	static char note[64];
	if (st->replaced == 0)
		return "";
	snprintf(note, sizeof note, " (%lld replacing incomplete copies)", (long long)st->replaced);
	return note;
}

static int merge_all(const char *out_path, int n, char **in, bool quiet)
{
	char err[1024];
	struct db *out;
	int code = db_open(out_path, DB_OPEN_WRITE, &out, err, sizeof err);

	if (code)
		return cli_error("merge", code, "%s", err);
	for (int i = 0; i < n && !code; i++) {
		struct db_merge_stats st;
		code = db_merge(out, in[i], &st, err, sizeof err);
		if (code)
			code = cli_error("merge", code, "%s", err);
		else if (!quiet)
			printf("%s: %lld runs merged%s, %lld already present, %lld not complete (skipped)\n", in[i],
			       (long long)st.merged, replaced_note(&st), (long long)st.present,
			       (long long)st.incomplete);
	}
	db_after_load(out);
	if (!code && db_warning(out))
		fprintf(stderr, "spanlab merge: %s: %s\n", out_path, db_warning(out));
	db_close(out);
	return code;
}

int cmd_merge(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, 0, 'q' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	bool quiet = false;
	int o;

	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
		switch (o) {
		case 'q': quiet = true; break;
		case 'h': fputs(usage_text, stdout); return SL_EXIT_OK;
		default: return cli_usage("merge", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind < 2)
		return cli_usage("merge", argc - optind ? "no input databases" : "missing OUT.db and IN.db");
	int code = check_inputs(argv[optind], argc - optind - 1, argv + optind + 1);
	if (code)
		return code;
	code = merge_all(argv[optind], argc - optind - 1, argv + optind + 1, quiet);
	return code ? code : cli_flush_stdout("merge");
}
