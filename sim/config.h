/*
 * The replay configuration: what a JSON config file (--config FILE), the
 * command-line flags and a sweep's grid point can set. The only sim/ module
 * that parses JSON configs.
 *
 * File shape (every key optional; unknown keys and bad values are errors
 * naming the key):
 *   {
 *     "sizeclasses": { generator parameters  (see sl_sizeclass_params)
 *                      | "table": [[size, pages], ...]
 *                      | "table_file": "table.json" },
 *     "arena_size": 67108864 | "64MiB",
 *     "procs": 1,
 *     "free": "gc" | "immediate",
 *     "sweep": "eager" | "lazy",
 *     "gogc": 100 | "off",
 *     "trigger_fraction": 0.95,
 *     "tiny": true,
 *     "scavenger": { "enabled": true, "retain_extra_percent": 10 },
 *     "snapshot_every": 0,           (0: about 2,000 snapshots per trace)
 *     "log_events": true             (false: a database gets snapshots, per-class
 *                                     rows and the summary, not the event rows)
 *   }
 * `spanlab sizeclasses --json` prints a config of this shape whose
 * "sizeclasses" object also carries the derived columns; loading it back
 * checks them against the table it rebuilds.
 */
#ifndef SPANLAB_SIM_CONFIG_H
#define SPANLAB_SIM_CONFIG_H

#include "sizeclass.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

enum sim_free_policy { SIM_FREE_GC, SIM_FREE_IMMEDIATE };
enum sim_sweep_mode { SIM_SWEEP_EAGER, SIM_SWEEP_LAZY };

struct sim_config {
	/* Size classes: generator parameters, or an explicit table. */
	bool sc_explicit;
	struct sl_sizeclass_params sc_params;
	uint32_t sc_page_size, sc_max_small_size;	/* explicit tables */
	uint32_t sc_rows[SL_MAX_CLASSES][2];		/* {size, pages} */
	size_t sc_nrows;
	struct sl_sizeclasses classes;			/* resolved by config_resolve */

	uint64_t arena_size;
	uint32_t procs;
	enum sim_free_policy free_policy;
	enum sim_sweep_mode sweep;
	int64_t gogc;				/* < 0: GC off */
	double trigger_fraction;
	bool tiny;
	bool scavenger;
	uint32_t retain_extra_percent;
	uint64_t snapshot_every;		/* 0: automatic */
	bool log_events;			/* event rows in the database */
};

void config_defaults(struct sim_config *c);

/* Apply a JSON config file on top of c. `what` names the file in errors.
 * Returns 0, or -1 with "FILE: problem" in err. Generator parameters the
 * generator cannot make a table of are not an error here: the caller's
 * config_resolve reports them, unless it only fits a table to them. */
int config_load_file(const char *path, struct sim_config *c, char *err, size_t errlen);
int config_load_text(const char *text, size_t len, const char *what, const char *basedir,
		     struct sim_config *c, char *err, size_t errlen);
int config_apply_json(const struct cJSON *root, const char *what, const char *basedir,
		      struct sim_config *c, char *err, size_t errlen);

/* Build c->classes from the size-class settings. */
int config_resolve(struct sim_config *c, char *err, size_t errlen);
/* Can the heap serve this resolved config? The rules alloc/heap.c applies
 * at creation, checked before anything runs: the arena (config_check_arena)
 * and the tiny allocator's size class 2 of 16 bytes. 0, or -1 with a
 * message naming the keys, for the caller to prefix with the file. */
int config_check_heap(const struct sim_config *c, char *err, size_t errlen);
/* The arena alone: 'arena_size' a power of two from one page-allocator
 * chunk of the settings' page size (sl_arena_bytes_check) to 1 TiB. Needs
 * no resolved table. */
int config_check_arena(const struct sim_config *c, char *err, size_t errlen);

/* The effective configuration as JSON (resolve first). Caller frees. */
struct cJSON *config_to_json(const struct sim_config *c);
char *config_to_string(const struct sim_config *c);

/* A size-class table as a config's "sizeclasses" object: page_size,
 * max_small_size and table, plus (derived) the per-class columns, the
 * lookup tables and the division magic. */
struct cJSON *config_sizeclasses_json(const struct sl_sizeclasses *t, bool derived);

const char *config_free_policy_name(enum sim_free_policy p);
const char *config_sweep_name(enum sim_sweep_mode s);

#endif
