/*
 * Parameter sweeps: a sweep file, its expansion into runs, and the plan
 * recorded in the results database. docs/sweeps.md is the user's guide;
 * sim/cmd_sweep.c runs the plan.
 *
 * The sweep file (JSON):
 *   {
 *     "sweep_id": "name",                (default: the file's name without .json)
 *     "traces": ["a.slt", "b.mtrace.gz"], (relative to the sweep file's folder)
 *     "base": { a replay config },        (optional: docs/config.md)
 *     "grid": { "dotted.key": [v1, v2, ...], ... },   (optional)
 *     "labels": { "dotted.key": ["name of v1", ...] }, (optional)
 *     "repeats": 1                        (optional)
 *   }
 * A grid key is a dotted path into the replay config: the point's value
 * replaces whatever `base` holds at that path ("sizeclasses.max_waste":
 * 0.25 sets {"sizeclasses": {"max_waste": 0.25}} inside base; "sizeclasses":
 * {} puts Go's table back). The points are the cross product of the grid's
 * value lists, the first key varying slowest. Besides the config's own keys,
 * "sizeclasses.fit": K asks for the K-class table fitted to each trace
 * (sim/fit.h), with the page size, max small size and tiny setting of the
 * point.
 *
 * Expansion. A cell is one point on one trace; its effective config is
 * Go's defaults, then base with the point's values (config_apply_json, so
 * errors name the key as a config file would), then the fitted table if
 * any, resolved and printed by config_to_string(). A cell's identity is
 * (sweep id, the trace's SHA-256, that config text); cells with the same
 * identity (two points that mean the same config) share their runs. Each
 * identity runs `repeats` times; a run's repeat index is its rank among the
 * complete runs of its identity in the results database, so no extra
 * column is needed and `spanlab merge` of per-run files keeps it.
 *
 * Errors are one line naming the file and the key ("s.json: grid['procs'][1]:
 * 'procs' must be an integer from 1 to 64"); sweep_load returns the cli.h
 * exit code (2 for a bad sweep file or trace, 1 for out of memory).
 */
#ifndef SPANLAB_SIM_SWEEP_H
#define SPANLAB_SIM_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

#define SWEEP_MAX_REPEATS 1000
#ifndef SWEEP_MAX_CELLS		/* the fuzz build lowers it: tests/fuzz/README.md */
#define SWEEP_MAX_CELLS 100000	/* points x traces: more is a mistake, not a sweep */
#endif

struct sweep_trace {
	char *path;		/* as replay is given it: the sweep file's folder joined */
	char *name;		/* base name */
	char sha256[65];	/* of the file's bytes */
	uint64_t bytes;		/* file size (runs start biggest first) */
};

struct sweep_point {
	char *label;		/* the file's labels, or "max_waste=0.25, procs=4" */
	char *params;		/* JSON object: each grid key and this point's value */
	bool has_x;
	double x;		/* the swept value when one numeric grid key varies */
};

/* One point on one trace. */
struct sweep_cell {
	size_t point, trace;
	char *config_json;	/* the effective config, as replay stores it */
	char key[17];		/* identity digest, 16 hex digits: work file names */
	size_t same_as;		/* first cell with the same identity (itself if none) */
	uint32_t nclasses;	/* size classes of the config's table */
	uint32_t fit;		/* K of a fitted table, 0 if none */
	const char *free_policy;	/* for a failed run's row */
	uint32_t procs;
	bool tiny;
};

struct sweep_plan {
	char *path;		/* the sweep file */
	char *sweep_id;
	struct sweep_trace *traces;
	size_t ntraces;
	struct sweep_point *points;
	size_t npoints;
	struct sweep_cell *cells;	/* point-major: cell = point * ntraces + trace */
	size_t ncells;
	uint32_t repeats;
	char *x_key;		/* the grid key of x, or "size classes" */
	size_t distinct;	/* distinct identities */
};

/* Whether id can name a sweep given on the command line (--sweep-id): not
 * empty, on one line. */
bool sweep_id_ok(const char *id);

/* Read and expand a sweep file. sweep_id: NULL, or overrides the file's
 * (the caller has checked it with sweep_id_ok). 0, or an exit code with
 * one line in err. */
int sweep_load(const char *path, const char *sweep_id, struct sweep_plan *p, char *err, size_t errlen);
void sweep_free(struct sweep_plan *p);

/* The cell's x: the swept value, or its number of classes. */
double sweep_cell_x(const struct sweep_plan *p, const struct sweep_cell *c);

/* ---- the results database (sim/sweep_db.c) ------------------------------ */

/* Record the plan in table sweep_points (created if missing), replacing an
 * earlier plan of the same sweep id, in one transaction. */
int sweep_db_record_plan(struct db *db, const struct sweep_plan *p, char *err, size_t errlen);
/* done[i] for each cell: complete runs of its identity in db. */
int sweep_db_done(struct db *db, const struct sweep_plan *p, uint32_t *done, char *err, size_t errlen);
/* A run that did not complete, as a runs row of status st with its error
 * (no events). argv: the replay command that was run. */
int sweep_db_record_failure(struct db *db, const struct sweep_plan *p, const struct sweep_cell *c, int argc,
			    char **argv, enum db_run_status st, const char *error, char *err, size_t errlen);

#endif
