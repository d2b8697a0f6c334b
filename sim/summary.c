/*
 * The `replay --json` object, generated from SL_SUMMARY_FIELDS: each field
 * goes under its JSON key, a dotted key ("hit_rates.mcache") into nested
 * objects created on first use, in list order. Non-finite REALs print as
 * null (cJSON's own rule for NaN and infinities), and so do INTs holding
 * SIM_NULL (a Go-only figure of a baseline run).
 */
#include "summary.h"

#include <cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "snapshot.h"

/* The object at `path` minus its last component, created as needed; *leaf
 * points at the last component. NULL on out of memory or a key clash. */
static cJSON *parent_of(cJSON *root, const char *path, const char **leaf)
{
	cJSON *o = root;
	const char *dot;

	while ((dot = strchr(path, '.'))) {
		char key[64];
		size_t n = (size_t)(dot - path);
		if (n >= sizeof key)
			return NULL;
		memcpy(key, path, n);
		key[n] = 0;
		cJSON *child = cJSON_GetObjectItemCaseSensitive(o, key);
		if (!child)
			child = cJSON_AddObjectToObject(o, key);
		if (!cJSON_IsObject(child))
			return NULL;
		o = child;
		path = dot + 1;
	}
	*leaf = path;
	return o;
}

static int add_number(cJSON *root, const char *path, double v)
{
	const char *leaf;
	cJSON *o = parent_of(root, path, &leaf);
	return o && cJSON_AddNumberToObject(o, leaf, v) ? 0 : -1;
}

static bool is_null_INT(int64_t v)
{
	return v == SIM_NULL;
}

static bool is_null_REAL(double v)
{
	return false;
}

cJSON *summary_to_json(const struct sim_summary *s)
{
	cJSON *root = cJSON_CreateObject();
	int bad = !root;

#define X(name, type, json, doc) bad = bad || add_number(root, json, is_null_##type(s->name) ? NAN : (double)s->name);
	SL_SUMMARY_FIELDS(X)
#undef X
	if (bad) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}
