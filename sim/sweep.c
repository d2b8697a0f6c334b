/*
 * Sweep files: parsing, validation and expansion into cells (sweep.h).
 *
 * Everything that can be checked before a run starts is checked here, so a
 * sweep never fails an hour in on a typo: the file's shape, every trace
 * readable (its SHA-256 is the run identity), base alone, each grid value
 * on top of base, then each point's whole config, and every fitted table.
 */
#define _GNU_SOURCE
#include "sweep.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "config.h"
#include "fit.h"
#include "sha256.h"

/* ---- errors ------------------------------------------------------------- */

struct ld {
	struct sweep_plan *p;
	const char *file;	/* as given: every message starts with it */
	char *dir;		/* its folder, or NULL for the current one */
	char *err;
	size_t errlen;
	int code;		/* exit code of the first error */
};

static int bad(struct ld *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct ld *l, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(l->err, l->errlen, "%s: %s", l->file, msg);
	cli_one_line(l->err);	/* keys and values come from the file */
	l->code = SL_EXIT_USAGE;
	return -1;
}

/* The same, after a `what` that already names the file ("FILE: grid[...]"). */
static int bad_at(struct ld *l, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad_at(struct ld *l, const char *what, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(l->err, l->errlen, "%s: %s", what, msg);
	cli_one_line(l->err);
	l->code = SL_EXIT_USAGE;
	return -1;
}

static int oom(struct ld *l)
{
	snprintf(l->err, l->errlen, "%s: out of memory", l->file);
	l->code = SL_EXIT_FAIL;
	return -1;
}

/* ---- paths -------------------------------------------------------------- */

/* dir/rel (rel absolute: rel) without its "." components. A ".." stays:
 * x/.. is not where x's folder is when x is a symbolic link, and the path
 * must open the file the kernel opens. */
static char *join_path(const char *dir, const char *rel)
{
	char *s;
	if (rel[0] == '/' || !dir)
		s = strdup(rel);
	else if (asprintf(&s, "%s/%s", dir, rel) < 0)
		s = NULL;
	if (!s)
		return NULL;
	char *out = malloc(strlen(s) + 2), *o = out, *save = NULL;
	if (!out) {
		free(s);
		return NULL;
	}
	if (s[0] == '/')
		*o++ = '/';
	for (char *t = strtok_r(s, "/", &save); t; t = strtok_r(NULL, "/", &save))
		if (strcmp(t, "."))
			o += sprintf(o, "%s%s", o > out && o[-1] != '/' ? "/" : "", t);
	if (o == out)
		*o++ = '.';
	*o = 0;
	free(s);
	return out;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return NULL;
	return slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
}

/* ---- JSON helpers --------------------------------------------------------- */


bool sweep_id_ok(const char *id)
{
	return *id && !strpbrk(id, "\n\r\t");
}

static cJSON *parse_file(struct ld *l)
{
	size_t len;
	char *text = cli_read_file(l->file, &len);
	const char *end = NULL;
	unsigned line, col;

	if (!text) {
		bad(l, "cannot read: %s", strerror(errno));
		return NULL;
	}
	const char *nul = memchr(text, 0, len);
	if (nul) {
		bad(l, "byte %zu: not a text file (NUL byte)", (size_t)(nul - text));
		free(text);
		return NULL;
	}
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!root) {
		size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
		cli_line_col(text, off, &line, &col);
		bad(l, "line %u, column %u: invalid JSON", line, col);
	} else {
		for (const char *q = end; q && q < text + len; q++)
			if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
				cli_line_col(text, (size_t)(q - text), &line, &col);
				bad(l, "line %u, column %u: unexpected text after the JSON object", line, col);
				cJSON_Delete(root);
				root = NULL;
				break;
			}
	}
	free(text);
	return root;
}

/* Put a copy of v at the dotted path key inside obj, replacing what is
 * there; a non-object on the way becomes an object. */
static int set_path(cJSON *obj, const char *key, const cJSON *v)
{
	char *k = strdup(key), *save = NULL, *next;
	if (!k)
		return -1;
	char *part = strtok_r(k, ".", &save);
	while (part && (next = strtok_r(NULL, ".", &save))) {
		cJSON *child = cJSON_GetObjectItemCaseSensitive(obj, part);
		if (!cJSON_IsObject(child)) {
			cJSON_DeleteItemFromObjectCaseSensitive(obj, part);
			child = cJSON_AddObjectToObject(obj, part);
			if (!child)
				break;
		}
		obj = child;
		part = next;
	}
	cJSON *dup = part ? cJSON_Duplicate(v, 1) : NULL;
	if (dup) {
		cJSON_DeleteItemFromObjectCaseSensitive(obj, part);
		cJSON_AddItemToObject(obj, part, dup);
	}
	free(k);
	return dup ? 0 : -1;
}

static bool dotted_path_ok(const char *k)
{
	if (!*k || k[0] == '.' || k[strlen(k) - 1] == '.' || strstr(k, ".."))
		return false;
	return true;
}

/* A short label for a value: 0.25, lazy, true, "fit=16 page_size=4096",
 * "default" for {}, "[67 items]" for arrays. */
static void value_label(const cJSON *v, const char *prefix, char *out, size_t len)
{
	size_t o = strlen(out);
	if (o >= len - 1)
		return;
	if (cJSON_IsObject(v)) {
		if (!v->child) {
			snprintf(out + o, len - o, "%s%sdefault", prefix ? prefix : "", prefix ? "=" : "");
			return;
		}
		for (const cJSON *c = v->child; c; c = c->next) {
			char sub[256];
			snprintf(sub, sizeof sub, "%s%s%s", prefix ? prefix : "", prefix ? "." : "", c->string);
			if (c != v->child)
				snprintf(out + strlen(out), len - strlen(out), " ");
			value_label(c, sub, out, len);
		}
		return;
	}
	char val[128];
	if (cJSON_IsNumber(v)) {
		/* six digits, or as many more as it takes to read back as the
		 * same number: two values never share a label */
		for (int prec = 6; prec <= 17; prec++) {
			snprintf(val, sizeof val, "%.*g", prec, v->valuedouble);
			if (strtod(val, NULL) == v->valuedouble)
				break;
		}
	} else if (cJSON_IsString(v))
		snprintf(val, sizeof val, "%s", v->valuestring);
	else if (cJSON_IsBool(v))
		snprintf(val, sizeof val, "%s", cJSON_IsTrue(v) ? "true" : "false");
	else if (cJSON_IsArray(v))
		snprintf(val, sizeof val, "[%d items]", cJSON_GetArraySize(v));
	else
		snprintf(val, sizeof val, "null");
	snprintf(out + o, len - o, "%s%s%s", prefix ? prefix : "", prefix ? "=" : "", val);
}

/* ---- the grid ------------------------------------------------------------- */

struct gkey {
	const char *key;	/* dotted path */
	const cJSON *values;	/* array */
	int n;
	const cJSON *labels;	/* array of strings, or NULL */
};

static int parse_traces(struct ld *l, const cJSON *t)
{
	struct sweep_plan *p = l->p;
	int n = cJSON_GetArraySize(t);
	if (!cJSON_IsArray(t) || n == 0)
		return bad(l, "'traces' must be a non-empty array of file names");
	if (!(p->traces = calloc((size_t)n, sizeof *p->traces)))
		return oom(l);
	for (const cJSON *v = t->child; v; v = v->next) {
		size_t i = p->ntraces++;	/* counted first: sweep_free frees what is filled */
		struct sweep_trace *tr = &p->traces[i];
		struct stat st;
		if (!cJSON_IsString(v) || !*v->valuestring)
			return bad(l, "'traces[%zu]' must be a file name", i);
		if (!(tr->path = join_path(l->dir, v->valuestring)))
			return oom(l);
		const char *base = strrchr(tr->path, '/');
		if (!(tr->name = strdup(base ? base + 1 : tr->path)))
			return oom(l);
		if (stat(tr->path, &st) != 0)
			return bad(l, "'traces[%zu]': cannot read %s: %s", i, tr->path, strerror(errno));
		if (!S_ISREG(st.st_mode))
			return bad(l, "'traces[%zu]': %s is not a regular file", i, tr->path);
		if (sha256_file(tr->path, tr->sha256) != 0)
			return bad(l, "'traces[%zu]': cannot read %s: %s", i, tr->path, strerror(errno));
		tr->bytes = (uint64_t)st.st_size;
	}
	return 0;
}

static int parse_grid(struct ld *l, const cJSON *grid, const cJSON *labels, struct gkey **keys, size_t *nkeys)
{
	*nkeys = 0;
	*keys = NULL;
	if (grid && !cJSON_IsObject(grid))
		return bad(l, "'grid' must be an object of \"dotted.key\": [values]");
	if (labels && !cJSON_IsObject(labels))
		return bad(l, "'labels' must be an object of \"dotted.key\": [names]");
	int n = grid ? cJSON_GetArraySize(grid) : 0;
	if (n && !(*keys = calloc((size_t)n, sizeof **keys)))
		return oom(l);
	for (const cJSON *g = grid ? grid->child : NULL; g; g = g->next) {
		struct gkey *k = &(*keys)[(*nkeys)++];
		k->key = g->string;
		k->values = g;
		k->n = cJSON_GetArraySize(g);
		if (!dotted_path_ok(g->string))
			return bad(l, "grid key '%s' is not a dotted path such as \"sizeclasses.max_waste\"", g->string);
		for (const cJSON *h = grid->child; h != g; h = h->next) {
			if (!strcmp(h->string, g->string))
				return bad(l, "grid key '%s' is given twice", g->string);
			/* a.b and a.b.c: one point would set what the other's
			 * label says, and the other's value would be lost */
			const cJSON *in = strlen(h->string) < strlen(g->string) ? h : g, *out = in == h ? g : h;
			size_t pre = strlen(in->string);
			if (!strncmp(in->string, out->string, pre) && out->string[pre] == '.')
				return bad(l, "grid keys '%s' and '%s' overlap: a value of one would replace the other's",
					   h->string, g->string);
		}
		if (!cJSON_IsArray(g) || k->n == 0)
			return bad(l, "'grid.%s' must be a non-empty array of values", g->string);
	}
	for (const cJSON *lb = labels ? labels->child : NULL; lb; lb = lb->next) {
		struct gkey *k = NULL;
		for (size_t i = 0; i < *nkeys; i++)
			if (!strcmp((*keys)[i].key, lb->string))
				k = &(*keys)[i];
		if (!k)
			return bad(l, "'labels.%s' names no grid key", lb->string);
		bool ok = cJSON_IsArray(lb) && cJSON_GetArraySize(lb) == k->n;
		for (const cJSON *s = ok ? lb->child : NULL; s; s = s->next)
			ok = ok && cJSON_IsString(s) && *s->valuestring;
		if (!ok)
			return bad(l, "'labels.%s' must be an array of %d names, one per value of 'grid.%s'", lb->string,
				   k->n, lb->string);
		k->labels = lb;
	}
	return 0;
}

/* ---- configs -------------------------------------------------------------- */

/* Take "sizeclasses.fit" out of a merged config: *k = K or 0. */
static int take_fit(struct ld *l, cJSON *cfg, const char *what, uint32_t *k)
{
	cJSON *sc = cJSON_GetObjectItemCaseSensitive(cfg, "sizeclasses");
	cJSON *fit = cJSON_IsObject(sc) ? cJSON_GetObjectItemCaseSensitive(sc, "fit") : NULL;
	*k = 0;
	if (!fit)
		return 0;
	if (!cJSON_IsNumber(fit) || fit->valuedouble != floor(fit->valuedouble) || fit->valuedouble < 1 ||
	    fit->valuedouble > SL_MAX_CLASSES - 1)
		return bad_at(l, what, "'sizeclasses.fit' must be an integer from 1 to %d (classes of the fitted table)",
			      SL_MAX_CLASSES - 1);
	for (const cJSON *c = sc->child; c; c = c->next)
		if (strcmp(c->string, "fit") && strcmp(c->string, "page_size") && strcmp(c->string, "max_small_size"))
			return bad_at(l, what, "'sizeclasses.fit' cannot be combined with 'sizeclasses.%s' (only page_size and max_small_size)",
				      c->string);
	*k = (uint32_t)fit->valuedouble;
	cJSON_DeleteItemFromObjectCaseSensitive(sc, "fit");
	return 0;
}

/* Go's defaults, then cfg (base with a point's values). */
static int apply(struct ld *l, cJSON *cfg, const char *what, struct sim_config *c, uint32_t *k)
{
	char why[1024];
	if (take_fit(l, cfg, what, k))
		return -1;
	config_defaults(c);
	if (config_apply_json(cfg, what, l->dir, c, why, sizeof why)) {
		snprintf(l->err, l->errlen, "%s", why);
		l->code = SL_EXIT_USAGE;
		return -1;
	}
	/* A fit needs the generator's bounds, not its table (fit_resolve_config). */
	if ((*k ? fit_resolve_config(c, why, sizeof why) : config_resolve(c, why, sizeof why)) < 0)
		return bad_at(l, what, "'sizeclasses': %s", why);
	/* The heap refuses these at creation (alloc/heap.c); here they fail
	 * the plan instead of its runs. A fitted table always has the tiny
	 * allocator's class; its arena must still hold a chunk of its pages. */
	if (*k ? config_check_arena(c, why, sizeof why) : config_check_heap(c, why, sizeof why))
		return bad_at(l, what, "%s", why);
	if (*k && (*k < fit_min_classes(c->tiny)))
		return bad_at(l, what, "'sizeclasses.fit' %u: a table needs at least %u classes%s", *k,
			      fit_min_classes(c->tiny), c->tiny ? " with tiny on (8, 16 and max_small_size)" : "");
	return 0;
}

/* Fitted tables, computed once per trace and settings. */
struct fitted {
	size_t trace;
	uint32_t k, page, max_small;
	bool tiny;
	struct fit_result r;
};

struct fit_cache {
	struct fitted *f;
	size_t n;
	struct fit_hist *h;	/* per trace, for the last (max_small, tiny) asked */
	uint32_t *h_small;
	bool *h_tiny;
};

static const struct fit_result *fitted_table(struct ld *l, struct fit_cache *fc, size_t trace, uint32_t k,
					      const struct sim_config *c)
{
	uint32_t page = c->sc_params.page_size, max_small = c->sc_params.max_small_size;
	char why[512];
	for (size_t i = 0; i < fc->n; i++) {
		struct fitted *f = &fc->f[i];
		if (f->trace == trace && f->k == k && f->page == page && f->max_small == max_small && f->tiny == c->tiny)
			return &f->r;
	}
	struct fit_hist *h = &fc->h[trace];
	const char *tpath = l->p->traces[trace].path;
	if (h->count && (fc->h_small[trace] != max_small || fc->h_tiny[trace] != c->tiny))
		fit_hist_free(h);
	if (!h->count) {
		int code;
		if (fit_hist_init(h, max_small, c->tiny, why, sizeof why)) {
			bad(l, "'sizeclasses.fit' for %s: %s", tpath, why);
			return NULL;
		}
		fc->h_small[trace] = max_small;
		fc->h_tiny[trace] = c->tiny;
		if ((code = fit_hist_from_trace(h, tpath, why, sizeof why))) {
			fit_hist_free(h);
			bad(l, "'sizeclasses.fit' needs the sizes of 'traces[%zu]': %s", trace, why);
			l->code = code;
			return NULL;
		}
	}
	struct fitted *nf = realloc(fc->f, (fc->n + 1) * sizeof *nf);
	if (!nf) {
		oom(l);
		return NULL;
	}
	fc->f = nf;
	struct fitted *f = &fc->f[fc->n];
	*f = (struct fitted){ trace, k, page, max_small, c->tiny, { { { 0 } }, 0, 0, 0, 0 } };
	if (fit_table(h, k, page, &f->r, why, sizeof why)) {
		bad(l, "'sizeclasses.fit' %u for %s: %s", k, tpath, why);
		return NULL;
	}
	fc->n++;
	return &f->r;
}

static void identity_key(const char *sweep_id, const char *sha, const char *config, char out[17])
{
	struct sha256 c;
	uint8_t d[32];
	char hex[65];
	sha256_init(&c);
	sha256_update(&c, sweep_id, strlen(sweep_id) + 1);
	sha256_update(&c, sha, strlen(sha) + 1);
	sha256_update(&c, config, strlen(config));
	sha256_final(&c, d);
	sha256_hex(d, hex);
	memcpy(out, hex, 16);
	out[16] = 0;
}

/* The cells of one point: its config on every trace. */
static int expand_point(struct ld *l, size_t pi, cJSON *cfg, const char *what, struct fit_cache *fc)
{
	struct sweep_plan *p = l->p;
	struct sim_config *c = malloc(sizeof *c);
	uint32_t k;
	int rc = -1;

	if (!c)
		return oom(l);
	if (apply(l, cfg, what, c, &k))
		goto out;
	for (size_t t = 0; t < p->ntraces; t++) {
		struct sweep_cell *cell = &p->cells[pi * p->ntraces + t];
		if (k) {
			const struct fit_result *r = fitted_table(l, fc, t, k, c);
			if (!r)
				goto out;
			/* The generator parameters stay in sc_params: the next
			 * trace is fitted from the same ones. */
			c->sc_explicit = true;
			c->sc_page_size = c->sc_params.page_size;
			c->sc_max_small_size = c->sc_params.max_small_size;
			memcpy(c->sc_rows, r->rows, sizeof r->rows);
			c->sc_nrows = r->nrows;
			char why[512];
			if (config_resolve(c, why, sizeof why)) {
				bad_at(l, what, "the table fitted to %s: %s", p->traces[t].path, why);
				goto out;
			}
		}
		cell->point = pi;
		cell->trace = t;
		cell->nclasses = c->classes.nclasses - 1;
		cell->fit = k;
		cell->free_policy = config_free_policy_name(c->free_policy);
		cell->procs = c->procs;
		cell->tiny = c->tiny;
		cell->config_json = config_to_string(c);
		if (!cell->config_json) {
			oom(l);
			goto out;
		}
		identity_key(p->sweep_id, p->traces[t].sha256, cell->config_json, cell->key);
	}
	rc = 0;
out:
	free(c);
	return rc;
}

/* Every grid value on top of base alone, so an error names that value. */
static int check_values(struct ld *l, const cJSON *base, const struct gkey *keys, size_t nkeys)
{
	struct sim_config *c = malloc(sizeof *c);
	int rc = 0;
	if (!c)
		return oom(l);
	for (size_t i = 0; i < nkeys && !rc; i++) {
		int j = 0;
		for (const cJSON *v = keys[i].values->child; v && !rc; v = v->next, j++) {
			char what[1200];
			uint32_t k;
			cJSON *cfg = cJSON_Duplicate(base, 1);
			if (!cfg || set_path(cfg, keys[i].key, v)) {
				cJSON_Delete(cfg);
				rc = oom(l);
				break;
			}
			snprintf(what, sizeof what, "%s: grid['%s'][%d]", l->file, keys[i].key, j);
			rc = apply(l, cfg, what, c, &k);
			cJSON_Delete(cfg);
		}
	}
	free(c);
	return rc;
}

static int point_label(struct ld *l, const struct gkey *keys, size_t nkeys, const int *idx, struct sweep_point *pt)
{
	char label[1024] = "";
	cJSON *params = cJSON_CreateObject();
	size_t varying = 0;
	if (!params)
		return oom(l);
	for (size_t i = 0; i < nkeys; i++) {
		const cJSON *v = cJSON_GetArrayItem(keys[i].values, idx[i]);
		cJSON_AddItemToObject(params, keys[i].key, cJSON_Duplicate(v, 1));
		if (keys[i].n < 2)
			continue;
		if (varying++)
			snprintf(label + strlen(label), sizeof label - strlen(label), ", ");
		if (keys[i].labels) {
			snprintf(label + strlen(label), sizeof label - strlen(label), "%s",
				 cJSON_GetArrayItem(keys[i].labels, idx[i])->valuestring);
		} else {
			const char *leaf = strrchr(keys[i].key, '.');
			value_label(v, cJSON_IsObject(v) ? NULL : leaf ? leaf + 1 : keys[i].key, label, sizeof label);
		}
	}
	pt->label = strdup(varying ? label : "base");
	pt->params = cJSON_PrintUnformatted(params);
	cJSON_Delete(params);
	return pt->label && pt->params ? 0 : oom(l);
}

/* x: the value of the one varying grid key when all its values are numbers. */
static void choose_x(struct sweep_plan *p, const struct gkey *keys, size_t nkeys, int **idx)
{
	const struct gkey *var = NULL;
	size_t nvar = 0, vi = 0;
	for (size_t i = 0; i < nkeys; i++)
		if (keys[i].n > 1) {
			var = &keys[i];
			vi = i;
			nvar++;
		}
	bool numeric = nvar == 1;
	for (const cJSON *v = numeric ? var->values->child : NULL; v; v = v->next)
		numeric = numeric && cJSON_IsNumber(v);
	p->x_key = strdup(numeric ? var->key : "size classes");
	for (size_t i = 0; numeric && i < p->npoints; i++) {
		p->points[i].has_x = true;
		p->points[i].x = cJSON_GetArrayItem(var->values, idx[i][vi])->valuedouble;
	}
}

double sweep_cell_x(const struct sweep_plan *p, const struct sweep_cell *c)
{
	const struct sweep_point *pt = &p->points[c->point];
	return pt->has_x ? pt->x : (double)c->nclasses;
}

static int cmp_cells(const void *a, const void *b, void *arg)
{
	const struct sweep_cell *cells = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(cells[x].key, cells[y].key);
	return c ? c : (x > y) - (x < y);
}

/* same_as: the first cell of each identity (same trace bytes, same config). */
static int find_duplicates(struct ld *l)
{
	struct sweep_plan *p = l->p;
	size_t *ord = malloc(p->ncells * sizeof *ord);
	if (!ord)
		return oom(l);
	for (size_t i = 0; i < p->ncells; i++)
		ord[i] = i;
	qsort_r(ord, p->ncells, sizeof *ord, cmp_cells, p->cells);
	p->distinct = 0;
	for (size_t i = 0; i < p->ncells; i++) {
		struct sweep_cell *c = &p->cells[ord[i]], *first = i ? &p->cells[ord[i - 1]] : NULL;
		if (first && !strcmp(first->key, c->key) &&
		    !strcmp(p->traces[first->trace].sha256, p->traces[c->trace].sha256) &&
		    !strcmp(first->config_json, c->config_json)) {
			c->same_as = first->same_as;
		} else {
			c->same_as = ord[i];
			p->distinct++;
		}
	}
	free(ord);
	return 0;
}

static int expand(struct ld *l, const cJSON *base, const struct gkey *keys, size_t nkeys)
{
	struct sweep_plan *p = l->p;
	struct fit_cache fc = { 0 };
	size_t npoints = 1;
	int rc = -1;
	int **idx = NULL;

	for (size_t i = 0; i < nkeys; i++) {
		npoints *= (size_t)keys[i].n;
		if (npoints * p->ntraces > SWEEP_MAX_CELLS)
			return bad(l, "the grid has more than %d points x traces; split the sweep", SWEEP_MAX_CELLS);
	}
	p->npoints = npoints;
	p->ncells = npoints * p->ntraces;
	p->points = calloc(npoints, sizeof *p->points);
	p->cells = calloc(p->ncells, sizeof *p->cells);
	idx = calloc(npoints, sizeof *idx);
	fc.h = calloc(p->ntraces, sizeof *fc.h);
	fc.h_small = calloc(p->ntraces, sizeof *fc.h_small);
	fc.h_tiny = calloc(p->ntraces, sizeof *fc.h_tiny);
	if (!p->points || !p->cells || !idx || !fc.h || !fc.h_small || !fc.h_tiny) {
		oom(l);
		goto out;
	}
	for (size_t pi = 0; pi < npoints; pi++) {
		/* Mixed radix, the first key slowest. */
		if (!(idx[pi] = calloc(nkeys + 1, sizeof **idx))) {
			oom(l);
			goto out;
		}
		size_t r = pi;
		for (size_t i = nkeys; i-- > 0;) {
			idx[pi][i] = (int)(r % (size_t)keys[i].n);
			r /= (size_t)keys[i].n;
		}
		cJSON *cfg = cJSON_Duplicate(base, 1);
		for (size_t i = 0; cfg && i < nkeys; i++)
			if (set_path(cfg, keys[i].key, cJSON_GetArrayItem(keys[i].values, idx[pi][i]))) {
				cJSON_Delete(cfg);
				cfg = NULL;
			}
		if (!cfg || point_label(l, keys, nkeys, idx[pi], &p->points[pi])) {
			cJSON_Delete(cfg);
			if (!cfg)
				oom(l);
			goto out;
		}
		char what[1400];
		snprintf(what, sizeof what, "%s: grid point %zu (%s)", l->file, pi, p->points[pi].label);
		int e = expand_point(l, pi, cfg, what, &fc);
		cJSON_Delete(cfg);
		if (e)
			goto out;
	}
	choose_x(p, keys, nkeys, idx);
	rc = p->x_key ? find_duplicates(l) : oom(l);
out:
	for (size_t i = 0; idx && i < npoints; i++)
		free(idx[i]);
	free(idx);
	for (size_t t = 0; fc.h && t < p->ntraces; t++)
		fit_hist_free(&fc.h[t]);
	free(fc.h);
	free(fc.h_small);
	free(fc.h_tiny);
	free(fc.f);
	return rc;
}

/* ---- the file ------------------------------------------------------------- */

static char *default_id(const char *path)
{
	const char *base = strrchr(path, '/');
	char *id = strdup(base ? base + 1 : path);
	if (!id)
		return NULL;
	size_t n = strlen(id);
	if (n > 5 && !strcmp(id + n - 5, ".json"))
		id[n - 5] = 0;
	return id;
}

static int load(struct ld *l, const cJSON *root)
{
	static const char *const known[] = { "sweep_id", "traces", "base", "grid", "labels", "repeats" };
	struct sweep_plan *p = l->p;
	const cJSON *base, *grid, *labels, *rep, *id;
	struct gkey *keys = NULL;
	size_t nkeys = 0;
	cJSON *empty = NULL;
	int rc = -1;

	if (!cJSON_IsObject(root))
		return bad(l, "a sweep file must be a JSON object with \"traces\" and \"grid\"");
	for (const cJSON *v = root->child; v; v = v->next) {
		bool ok = false;
		for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
			ok = ok || !strcmp(v->string, known[i]);
		if (!ok)
			return bad(l, "'%s' is not a known key (sweep_id, traces, base, grid, labels, repeats)", v->string);
		for (const cJSON *u = root->child; u != v; u = u->next)
			if (!strcmp(u->string, v->string))	/* cJSON would read the first only */
				return bad(l, "'%s' is given twice", v->string);
	}
	id = cJSON_GetObjectItemCaseSensitive(root, "sweep_id");
	if (!p->sweep_id) {
		if (id && (!cJSON_IsString(id) || !sweep_id_ok(id->valuestring) || strlen(id->valuestring) > 200))
			return bad(l, "'sweep_id' must be a name of 1 to 200 characters on one line");
		if (!(p->sweep_id = id ? strdup(id->valuestring) : default_id(l->file)))
			return oom(l);
	}
	if (!cJSON_GetObjectItemCaseSensitive(root, "traces"))
		return bad(l, "'traces' is missing: the traces to replay, relative to this file");
	if (parse_traces(l, cJSON_GetObjectItemCaseSensitive(root, "traces")))
		return -1;
	rep = cJSON_GetObjectItemCaseSensitive(root, "repeats");
	p->repeats = 1;
	if (rep) {
		if (!cJSON_IsNumber(rep) || rep->valuedouble != floor(rep->valuedouble) || rep->valuedouble < 1 ||
		    rep->valuedouble > SWEEP_MAX_REPEATS)
			return bad(l, "'repeats' must be an integer from 1 to %d", SWEEP_MAX_REPEATS);
		p->repeats = (uint32_t)rep->valuedouble;
	}
	base = cJSON_GetObjectItemCaseSensitive(root, "base");
	if (base && !cJSON_IsObject(base))
		return bad(l, "'base' must be an object (a replay config, docs/config.md)");
	if (!base && !(base = empty = cJSON_CreateObject()))
		return oom(l);
	grid = cJSON_GetObjectItemCaseSensitive(root, "grid");
	labels = cJSON_GetObjectItemCaseSensitive(root, "labels");
	if (parse_grid(l, grid, labels, &keys, &nkeys))
		goto out;
	{
		struct sim_config *c = malloc(sizeof *c);
		char what[1100];
		uint32_t k;
		cJSON *b = cJSON_Duplicate(base, 1);
		snprintf(what, sizeof what, "%s: base", l->file);
		int e = !c || !b ? oom(l) : apply(l, b, what, c, &k);
		free(c);
		cJSON_Delete(b);
		if (e)
			goto out;
	}
	if (check_values(l, base, keys, nkeys) || expand(l, base, keys, nkeys))
		goto out;
	rc = 0;
out:
	free(keys);
	cJSON_Delete(empty);
	return rc;
}

int sweep_load(const char *path, const char *sweep_id, struct sweep_plan *p, char *err, size_t errlen)
{
	struct ld l = { p, path, NULL, err, errlen, 0 };

	memset(p, 0, sizeof *p);
	if (!(p->path = strdup(path)) || (sweep_id && !(p->sweep_id = strdup(sweep_id)))) {
		oom(&l);
		return l.code;
	}
	l.dir = dir_of(path);
	cJSON *root = parse_file(&l);
	if (root && load(&l, root) == 0)
		l.code = 0;
	cJSON_Delete(root);
	free(l.dir);
	return l.code;
}

void sweep_free(struct sweep_plan *p)
{
	for (size_t i = 0; p->traces && i < p->ntraces; i++) {
		free(p->traces[i].path);
		free(p->traces[i].name);
	}
	for (size_t i = 0; p->points && i < p->npoints; i++) {
		free(p->points[i].label);
		free(p->points[i].params);
	}
	for (size_t i = 0; p->cells && i < p->ncells; i++)
		free(p->cells[i].config_json);
	free(p->traces);
	free(p->points);
	free(p->cells);
	free(p->path);
	free(p->sweep_id);
	free(p->x_key);
	memset(p, 0, sizeof *p);
}
