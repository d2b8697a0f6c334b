/*
 * Replay configuration from JSON (cJSON): the shape is documented in
 * config.h and docs/config.md.
 *
 * Parsing is strict: every key is known, every value has its type and
 * range, and the first problem is reported as "FILE: 'key.path' ...". A
 * file is applied on top of the defaults (or of a sweep's base config), and
 * command-line flags are applied after it by the caller.
 */
#include "config.h"

#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "spanlab.h"

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

void config_defaults(struct sim_config *c)
{
	memset(c, 0, sizeof *c);
	sl_sizeclass_params_go(&c->sc_params);
	c->arena_size = 64u << 20;
	c->procs = 1;
	c->free_policy = SIM_FREE_GC;
	c->sweep = SIM_SWEEP_EAGER;
	c->gogc = 100;
	c->trigger_fraction = 0.95;
	c->tiny = true;
	c->scavenger = true;
	c->retain_extra_percent = 10;
	c->snapshot_every = 0;
	c->log_events = true;
}

const char *config_free_policy_name(enum sim_free_policy p)
{
	return p == SIM_FREE_IMMEDIATE ? "immediate" : "gc";
}

const char *config_sweep_name(enum sim_sweep_mode s)
{
	return s == SIM_SWEEP_LAZY ? "lazy" : "eager";
}

/* ---- typed getters: each reports "WHAT: 'key' must be ..." ------------ */

struct ctx {
	const char *what, *basedir;
	char *err;
	size_t errlen;
};

static int bad(struct ctx *x, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(struct ctx *x, const char *key, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(x->err, x->errlen, "%s: '%s' %s", x->what, key, msg);
	/* Keys and values come from the file: a control character in one
	 * (a "\n" inside a JSON string) must not break the one-line message. */
	cli_one_line(x->err);
	return -1;
}

static int get_uint(struct ctx *x, const cJSON *v, const char *key, uint64_t min, uint64_t max,
		    uint64_t *out)
{
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
	    v->valuedouble < (double)min || v->valuedouble > (double)max)
		return bad(x, key, "must be an integer from %llu to %llu", (unsigned long long)min,
			   (unsigned long long)max);
	*out = (uint64_t)v->valuedouble;
	return 0;
}

static int get_u32(struct ctx *x, const cJSON *v, const char *key, uint32_t min, uint32_t max,
		   uint32_t *out)
{
	uint64_t u;
	if (get_uint(x, v, key, min, max, &u))
		return -1;
	*out = (uint32_t)u;
	return 0;
}

static int get_bool(struct ctx *x, const cJSON *v, const char *key, bool *out)
{
	if (!cJSON_IsBool(v))
		return bad(x, key, "must be true or false");
	*out = cJSON_IsTrue(v);
	return 0;
}

static int get_fraction(struct ctx *x, const cJSON *v, const char *key, double lo, bool lo_open,
			double hi, bool hi_open, double *out)
{
	if (!cJSON_IsNumber(v) || (lo_open ? v->valuedouble <= lo : v->valuedouble < lo) ||
	    (hi_open ? v->valuedouble >= hi : v->valuedouble > hi))
		return bad(x, key, "must be a number in %c%g, %g%c", lo_open ? '(' : '[', lo, hi,
			   hi_open ? ')' : ']');
	*out = v->valuedouble;
	return 0;
}

/* A byte count, as a number or as a string with a unit ("64MiB"). Both
 * forms take the same range, 1 to 2^53: config_to_string prints the
 * number form, a JSON number is a double, and 2^53 is the largest count
 * every smaller one of which a double holds exactly, so what is printed
 * loads back to the same count. */
#define BYTES_MAX ((uint64_t)1 << 53)

static int get_bytes(struct ctx *x, const cJSON *v, const char *key, uint64_t *out)
{
	if (cJSON_IsString(v)) {
		if (!cli_parse_bytes(v->valuestring, out))
			return bad(x, key, "must be a byte count such as 67108864 or \"64MiB\"");
		if (*out < 1 || *out > BYTES_MAX)
			return bad(x, key, "must be a byte count from 1 to %llu (2^53)",
				   (unsigned long long)BYTES_MAX);
		return 0;
	}
	return get_uint(x, v, key, 1, BYTES_MAX, out);
}

static int get_enum(struct ctx *x, const cJSON *v, const char *key, const char *const *names,
		    int n, int *out)
{
	if (cJSON_IsString(v))
		for (int i = 0; i < n; i++)
			if (!strcmp(v->valuestring, names[i])) {
				*out = i;
				return 0;
			}
	char alts[128] = "";
	for (int i = 0; i < n; i++)
		snprintf(alts + strlen(alts), sizeof alts - strlen(alts), "%s\"%s\"", i ? " or " : "",
			 names[i]);
	return bad(x, key, "must be %s", alts);
}

/* ---- size classes ------------------------------------------------------ */

static int parse_rows(struct ctx *x, const cJSON *tab, const char *key, struct sim_config *c)
{
	if (!cJSON_IsArray(tab))
		return bad(x, key, "must be an array of [size, pages] pairs");
	int n = cJSON_GetArraySize(tab);
	if (n > SL_MAX_CLASSES - 1)
		return bad(x, key, "has %d classes (at most %d)", n, SL_MAX_CLASSES - 1);
	c->sc_nrows = 0;
	for (const cJSON *row = tab->child; row; row = row->next) {
		char rk[96];
		snprintf(rk, sizeof rk, "%s[%zu]", key, c->sc_nrows);
		if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != 2)
			return bad(x, rk, "must be a [size, pages] pair");
		if (get_u32(x, row->child, rk, 1, SL_MAX_SMALL_LIMIT, &c->sc_rows[c->sc_nrows][0]) ||
		    get_u32(x, row->child->next, rk, 1, SL_MAX_SPAN_PAGES, &c->sc_rows[c->sc_nrows][1]))
			return -1;
		c->sc_nrows++;
	}
	return 0;
}

static int load_table_file(struct ctx *x, const cJSON *v, struct sim_config *c)
{
	char path[4096];
	size_t len;

	if (!cJSON_IsString(v) || !*v->valuestring)
		return bad(x, "sizeclasses.table_file", "must be a file name");
	if (v->valuestring[0] == '/' || !x->basedir)
		snprintf(path, sizeof path, "%s", v->valuestring);
	else
		snprintf(path, sizeof path, "%s/%s", x->basedir, v->valuestring);
	char *text = cli_read_file(path, &len);
	if (!text)
		return bad(x, "sizeclasses.table_file", "cannot read %s: %s", path, strerror(errno));
	/* A table file is itself a config holding only size classes, and
	 * holds them itself: a table_file in it could name the file again. */
	cJSON *peek = cJSON_ParseWithLength(text, len);
	bool nested = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(peek, "sizeclasses"),
							"table_file") != NULL;
	cJSON_Delete(peek);
	if (nested) {
		free(text);
		return bad(x, "sizeclasses.table_file", "%s names a table_file itself; a table file holds the \"table\"",
			   path);
	}
	struct sim_config tmp;
	config_defaults(&tmp);
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	int rc = config_load_text(text, len, path, slash ? dir : NULL, &tmp, x->err, x->errlen);
	free(text);
	if (rc)
		return -1;
	if (!tmp.sc_explicit)
		return bad(x, "sizeclasses.table_file", "%s holds no \"table\"", path);
	c->sc_explicit = true;
	c->sc_page_size = tmp.sc_page_size;
	c->sc_max_small_size = tmp.sc_max_small_size;
	memcpy(c->sc_rows, tmp.sc_rows, sizeof c->sc_rows);
	c->sc_nrows = tmp.sc_nrows;
	return 0;
}

static const char *const derived_keys[] = { "classes", "size_to_class8", "size_to_class128",
					    "class_to_divmagic", "nclasses" };

static bool is_derived_key(const char *k)
{
	for (size_t i = 0; i < sizeof derived_keys / sizeof derived_keys[0]; i++)
		if (!strcmp(k, derived_keys[i]))
			return true;
	return false;
}

/* Generator parameter keys and where they live in sl_sizeclass_params. */
static int parse_gen_key(struct ctx *x, const cJSON *v, const char *k, char *key,
			 struct sl_sizeclass_params *p)
{
	if (!strcmp(k, "max_waste"))
		return get_fraction(x, v, key, 0, true, 1, false, &p->max_waste);
	if (!strcmp(k, "tail_waste"))
		return get_fraction(x, v, key, 0, false, 1, true, &p->tail_waste);
	if (!strcmp(k, "min_align"))
		return get_u32(x, v, key, 8, 16, &p->min_align);
	if (!strcmp(k, "align16_from"))
		return get_u32(x, v, key, 16, SL_MAX_SMALL_LIMIT, &p->align16_from);
	if (!strcmp(k, "prop_align_from"))
		return get_u32(x, v, key, 16, SL_MAX_SMALL_LIMIT, &p->prop_align_from);
	if (!strcmp(k, "max_align"))
		return get_u32(x, v, key, 16, SL_MAX_PAGE_SIZE, &p->max_align);
	if (!strcmp(k, "merge"))
		return get_bool(x, v, key, &p->merge);
	if (!strcmp(k, "fill_span"))
		return get_bool(x, v, key, &p->fill_span);
	return 1;	/* not a generator key */
}

static int parse_sizeclasses(struct ctx *x, const cJSON *sc, struct sim_config *c)
{
	const cJSON *table = NULL, *table_file = NULL, *gen_key = NULL;
	uint32_t page_size = 0, max_small = 0;
	struct sl_sizeclass_params p = c->sc_params;

	if (!cJSON_IsObject(sc))
		return bad(x, "sizeclasses", "must be an object");
	for (const cJSON *v = sc->child; v; v = v->next) {
		char key[96];
		snprintf(key, sizeof key, "sizeclasses.%s", v->string);
		if (!strcmp(v->string, "table"))
			table = v;
		else if (!strcmp(v->string, "table_file"))
			table_file = v;
		else if (!strcmp(v->string, "page_size")) {
			if (get_u32(x, v, key, SL_MIN_PAGE_SIZE, SL_MAX_PAGE_SIZE, &page_size))
				return -1;
		} else if (!strcmp(v->string, "max_small_size")) {
			if (get_u32(x, v, key, SL_SMALL_SIZE_MAX, SL_MAX_SMALL_LIMIT, &max_small))
				return -1;
		} else if (is_derived_key(v->string)) {
			/* checked against the rebuilt table in config_resolve's caller */
		} else {
			int r = parse_gen_key(x, v, v->string, key, &p);
			if (r < 0)
				return -1;
			if (r > 0)
				return bad(x, key, "is not a known key");
			gen_key = v;
		}
	}
	if (table && table_file)
		return bad(x, "sizeclasses.table", "and 'sizeclasses.table_file' cannot both be given");
	if ((table || table_file) && gen_key) {
		char key[96];
		snprintf(key, sizeof key, "sizeclasses.%s", gen_key->string);
		return bad(x, key, "is a generator parameter and cannot be combined with a table");
	}
	if (table) {
		if (parse_rows(x, table, "sizeclasses.table", c))
			return -1;
		c->sc_explicit = true;
		c->sc_page_size = page_size ? page_size : SL_GO_PAGE_SIZE;
		c->sc_max_small_size = max_small ? max_small : SL_GO_MAX_SMALL_SIZE;
	} else if (table_file) {
		if (load_table_file(x, table_file, c))
			return -1;
		if (page_size)		/* beside the file's name, as beside a table */
			c->sc_page_size = page_size;
		if (max_small)
			c->sc_max_small_size = max_small;
	} else {
		if (page_size)
			p.page_size = page_size;
		if (max_small)
			p.max_small_size = max_small;
		c->sc_explicit = false;
		c->sc_params = p;
	}
	return 0;
}

/* Derived columns present in the file must equal those of the table. */
static int check_derived(struct ctx *x, const cJSON *sc, const struct sl_sizeclasses *t)
{
	if (!cJSON_IsObject(sc))
		return 0;
	cJSON *mine = config_sizeclasses_json(t, true);
	int rc = 0;
	for (size_t i = 0; i < sizeof derived_keys / sizeof derived_keys[0] && !rc; i++) {
		const cJSON *given = cJSON_GetObjectItemCaseSensitive(sc, derived_keys[i]);
		if (given && !cJSON_Compare(given, cJSON_GetObjectItemCaseSensitive(mine, derived_keys[i]), 1)) {
			char key[96];
			snprintf(key, sizeof key, "sizeclasses.%s", derived_keys[i]);
			rc = bad(x, key, "does not match the table it describes (remove it to rebuild)");
		}
	}
	cJSON_Delete(mine);
	return rc;
}

/* ---- top level --------------------------------------------------------- */

static int parse_scavenger(struct ctx *x, const cJSON *v, struct sim_config *c)
{
	if (cJSON_IsBool(v))
		return get_bool(x, v, "scavenger", &c->scavenger);
	if (!cJSON_IsObject(v))
		return bad(x, "scavenger", "must be true, false or an object");
	for (const cJSON *k = v->child; k; k = k->next) {
		if (!strcmp(k->string, "enabled")) {
			if (get_bool(x, k, "scavenger.enabled", &c->scavenger))
				return -1;
		} else if (!strcmp(k->string, "retain_extra_percent")) {
			if (get_u32(x, k, "scavenger.retain_extra_percent", 0, 1000, &c->retain_extra_percent))
				return -1;
		} else {
			char key[96];
			snprintf(key, sizeof key, "scavenger.%s", k->string);
			return bad(x, key, "is not a known key");
		}
	}
	return 0;
}

static int parse_top(struct ctx *x, const cJSON *v, struct sim_config *c)
{
	static const char *const frees[] = { "gc", "immediate" };
	static const char *const sweeps[] = { "eager", "lazy" };
	const char *k = v->string;
	int e;

	if (!strcmp(k, "sizeclasses"))
		return parse_sizeclasses(x, v, c);
	if (!strcmp(k, "arena_size")) {
		/* Only a byte count here: its lower bound is one page-allocator
		 * chunk of the page size, which a later key (or the command
		 * line) may set. config_check_arena applies the heap's rule. */
		return get_bytes(x, v, k, &c->arena_size);
	}
	if (!strcmp(k, "procs"))
		return get_u32(x, v, k, 1, 64, &c->procs);
	if (!strcmp(k, "free")) {
		if (get_enum(x, v, k, frees, 2, &e))
			return -1;
		c->free_policy = (enum sim_free_policy)e;
		return 0;
	}
	if (!strcmp(k, "sweep")) {
		if (get_enum(x, v, k, sweeps, 2, &e))
			return -1;
		c->sweep = (enum sim_sweep_mode)e;
		return 0;
	}
	if (!strcmp(k, "gogc")) {
		if (cJSON_IsString(v) && !strcmp(v->valuestring, "off")) {
			c->gogc = -1;
			return 0;
		}
		uint64_t g;
		if (!cJSON_IsNumber(v) || get_uint(x, v, k, 1, 1000000, &g))
			return bad(x, k, "must be an integer from 1 to 1000000 or \"off\"");
		c->gogc = (int64_t)g;
		return 0;
	}
	if (!strcmp(k, "trigger_fraction"))
		return get_fraction(x, v, k, 0, true, 1, false, &c->trigger_fraction);
	if (!strcmp(k, "tiny"))
		return get_bool(x, v, k, &c->tiny);
	if (!strcmp(k, "scavenger"))
		return parse_scavenger(x, v, c);
	if (!strcmp(k, "snapshot_every"))
		return get_uint(x, v, k, 0, UINT64_MAX >> 12, &c->snapshot_every);
	if (!strcmp(k, "log_events"))
		return get_bool(x, v, k, &c->log_events);
	return bad(x, k, "is not a known key");
}

int config_apply_json(const cJSON *root, const char *what, const char *basedir,
		      struct sim_config *c, char *err, size_t errlen)
{
	struct ctx x = { what, basedir, err, errlen };

	if (!cJSON_IsObject(root))
		FAIL("%s: a config must be a JSON object", what);
	for (const cJSON *v = root->child; v; v = v->next)
		if (parse_top(&x, v, c))
			return -1;
	const cJSON *sc = cJSON_GetObjectItemCaseSensitive(root, "sizeclasses");
	if (sc) {
		char why[256];
		bool derived = false;
		for (const cJSON *k = cJSON_IsObject(sc) ? sc->child : NULL; k; k = k->next)
			derived |= is_derived_key(k->string);
		/* Generator parameters the generator fails on are left to the
		 * caller's own config_resolve: a fit needs only their bounds
		 * (sizeclasses --fit, a sweep's 'sizeclasses.fit'). */
		if (config_resolve(c, why, sizeof why)) {
			if (c->sc_explicit || derived)
				FAIL("%s: 'sizeclasses': %s", what, why);
		} else if (check_derived(&x, sc, &c->classes)) {
			return -1;
		}
	}
	return 0;
}


int config_load_text(const char *text, size_t len, const char *what, const char *basedir,
		     struct sim_config *c, char *err, size_t errlen)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);

	if (!root) {
		unsigned line, col;
		size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
		cli_line_col(text, off, &line, &col);
		FAIL("%s: line %u, column %u: invalid JSON", what, line, col);
	}
	for (const char *p = end; p && p < text + len; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			unsigned line, col;
			cli_line_col(text, (size_t)(p - text), &line, &col);
			cJSON_Delete(root);
			FAIL("%s: line %u, column %u: unexpected text after the JSON object", what, line, col);
		}
	int rc = config_apply_json(root, what, basedir, c, err, errlen);
	cJSON_Delete(root);
	return rc;
}

int config_load_file(const char *path, struct sim_config *c, char *err, size_t errlen)
{
	size_t len;
	char *text = cli_read_file(path, &len);
	if (!text)
		FAIL("%s: cannot read: %s", path, strerror(errno));
	const char *nul = memchr(text, 0, len);
	if (nul) {
		size_t off = (size_t)(nul - text);
		free(text);
		FAIL("%s: byte %zu: not a text file (NUL byte)", path, off);
	}
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	int rc = config_load_text(text, len, path, slash ? dir : ".", c, err, errlen);
	free(text);
	return rc;
}

int config_resolve(struct sim_config *c, char *err, size_t errlen)
{
	if (c->sc_explicit)
		return sl_sizeclasses_from_rows(c->sc_page_size, c->sc_max_small_size,
						(const uint32_t (*)[2])c->sc_rows, c->sc_nrows,
						&c->classes, err, errlen);
	return sl_sizeclasses_generate(&c->sc_params, &c->classes, err, errlen);
}

int config_check_arena(const struct sim_config *c, char *err, size_t errlen)
{
	/* The page size of the settings, known before a table is made (a
	 * sweep's fitted table uses the generator's). */
	uint32_t page = c->sc_explicit ? c->sc_page_size : c->sc_params.page_size;
	char why[160];
	if (!sl_arena_bytes_check(c->arena_size, page, why, sizeof why))
		return 0;
	snprintf(err, errlen, "'arena_size' %s", why);
	return -1;
}

int config_check_heap(const struct sim_config *c, char *err, size_t errlen)
{
	const struct sl_sizeclasses *t = &c->classes;
	if (config_check_arena(c, err, errlen))
		return -1;
	if (c->tiny && (t->nclasses <= 2 || t->class_to_size[2] != 16)) {
		snprintf(err, errlen, "'tiny' needs size class 2 to be 16 bytes (it is %u); set \"tiny\": false",
			 t->nclasses > 2 ? t->class_to_size[2] : 0);
		return -1;
	}
	return 0;
}

/* ---- output ------------------------------------------------------------ */

static cJSON *int_array(const uint32_t *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
	return a;
}

cJSON *config_sizeclasses_json(const struct sl_sizeclasses *t, bool derived)
{
	cJSON *o = cJSON_CreateObject(), *tab = cJSON_CreateArray();
	uint32_t tmp[sizeof t->size_to_class128];

	cJSON_AddNumberToObject(o, "page_size", t->page_size);
	cJSON_AddNumberToObject(o, "max_small_size", t->max_small_size);
	for (uint32_t c = 1; c < t->nclasses; c++) {
		uint32_t row[2] = { t->class_to_size[c], t->class_to_allocnpages[c] };
		cJSON_AddItemToArray(tab, int_array(row, 2));
	}
	cJSON_AddItemToObject(o, "table", tab);
	if (!derived)
		return o;
	cJSON_AddNumberToObject(o, "nclasses", t->nclasses);
	cJSON *rows = cJSON_AddArrayToObject(o, "classes");
	for (uint32_t c = 1; c < t->nclasses; c++) {
		struct sl_sizeclass_row r;
		sl_sizeclass_row(t, c, &r);
		cJSON *row = cJSON_CreateObject();
		cJSON_AddNumberToObject(row, "class", r.cls);
		cJSON_AddNumberToObject(row, "bytes_obj", r.size);
		cJSON_AddNumberToObject(row, "bytes_span", r.span_bytes);
		cJSON_AddNumberToObject(row, "pages", r.npages);
		cJSON_AddNumberToObject(row, "objects", r.objects);
		cJSON_AddNumberToObject(row, "tail_waste", r.tail_waste);
		/* Rounded as Go prints it, so the JSON round trip is exact. */
		cJSON_AddNumberToObject(row, "max_waste", round(r.max_waste * 1e4) / 1e4);
		cJSON_AddNumberToObject(row, "min_align", r.min_align);
		cJSON_AddItemToArray(rows, row);
	}
	for (size_t i = 0; i < sizeof t->size_to_class8; i++)
		tmp[i] = t->size_to_class8[i];
	cJSON_AddItemToObject(o, "size_to_class8", int_array(tmp, sizeof t->size_to_class8));
	size_t n128 = (t->max_small_size - SL_SMALL_SIZE_MAX) / SL_LARGE_SIZE_DIV + 1;
	for (size_t i = 0; i < n128; i++)
		tmp[i] = t->size_to_class128[i];
	cJSON_AddItemToObject(o, "size_to_class128", int_array(tmp, n128));
	cJSON_AddItemToObject(o, "class_to_divmagic", int_array(t->class_to_divmagic, t->nclasses));
	return o;
}

static cJSON *params_json(const struct sl_sizeclass_params *p)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "page_size", p->page_size);
	cJSON_AddNumberToObject(o, "max_small_size", p->max_small_size);
	cJSON_AddNumberToObject(o, "max_waste", p->max_waste);
	cJSON_AddNumberToObject(o, "tail_waste", p->tail_waste);
	cJSON_AddNumberToObject(o, "min_align", p->min_align);
	cJSON_AddNumberToObject(o, "align16_from", p->align16_from);
	cJSON_AddNumberToObject(o, "prop_align_from", p->prop_align_from);
	cJSON_AddNumberToObject(o, "max_align", p->max_align);
	cJSON_AddBoolToObject(o, "merge", p->merge);
	cJSON_AddBoolToObject(o, "fill_span", p->fill_span);
	return o;
}

cJSON *config_to_json(const struct sim_config *c)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "sizeclasses", c->sc_explicit
				  ? config_sizeclasses_json(&c->classes, false)
				  : params_json(&c->sc_params));
	cJSON_AddNumberToObject(o, "arena_size", (double)c->arena_size);
	cJSON_AddNumberToObject(o, "procs", c->procs);
	cJSON_AddStringToObject(o, "free", config_free_policy_name(c->free_policy));
	cJSON_AddStringToObject(o, "sweep", config_sweep_name(c->sweep));
	if (c->gogc < 0)
		cJSON_AddStringToObject(o, "gogc", "off");
	else
		cJSON_AddNumberToObject(o, "gogc", (double)c->gogc);
	cJSON_AddNumberToObject(o, "trigger_fraction", c->trigger_fraction);
	cJSON_AddBoolToObject(o, "tiny", c->tiny);
	cJSON *sc = cJSON_AddObjectToObject(o, "scavenger");
	cJSON_AddBoolToObject(sc, "enabled", c->scavenger);
	cJSON_AddNumberToObject(sc, "retain_extra_percent", c->retain_extra_percent);
	cJSON_AddNumberToObject(o, "snapshot_every", (double)c->snapshot_every);
	cJSON_AddBoolToObject(o, "log_events", c->log_events);
	return o;
}

char *config_to_string(const struct sim_config *c)
{
	cJSON *o = config_to_json(c);
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}
