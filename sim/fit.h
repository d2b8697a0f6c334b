/*
 * Workload-fitted size classes: the K-class table that minimises a trace's
 * internal fragmentation, by exact dynamic programming (`spanlab
 * sizeclasses --fit TRACE --classes K`, and the `sizeclasses.fit` key of a
 * sweep). docs/sweeps.md states the objective for users; in short:
 *
 *   minimise  W(T) = sum over small requests r of (class_T(r) - size(r))
 *
 * over valid tables T of exactly K classes, where the sum runs over every
 * allocation request of the trace (malloc, calloc, aligned, realloc's new
 * size; a 0-byte request counts as 1 byte, as the allocator serves it) of
 * at most max_small_size bytes that does not go to the tiny allocator
 * (with tiny on: requests under 16 bytes). Large requests (> max_small_size)
 * get their own spans whatever the table says and are not part of W;
 * neither are tiny requests, whose 16-byte blocks class 2 must provide.
 * W counts each request once, over the whole trace (not the live objects
 * at some instant): the replay's internal_frag_bytes_at_peak is a
 * different figure, measured at the peak of live bytes.
 *
 * A valid table (alloc/sizeclass.h): sizes strictly increase, are multiples
 * of 8, of 16 from 32 B up and of 128 above 1 KiB; the last class is
 * max_small_size; each class gets the pages Go's mksizeclasses.go would
 * give it (the fewest whose tail is at most 1/8 of the span), must hold an
 * object and have exact division magic; with tiny on, classes 1 and 2 are
 * 8 and 16 bytes (the tiny allocator's blocks).
 *
 * The algorithm. Call a size "allowed" when it can be a class (alignment,
 * pages, magic). Each request r can only be served without loss by a(r),
 * the smallest allowed size >= r, and an optimal table needs no other
 * sizes: lowering a class to a(largest request it serves) keeps every
 * request where it was and wastes less. So group the requests by a(r):
 * candidates v_1 < ... < v_m (v_m = max_small_size, forced), weights W_j
 * (requests) and S_j (requested bytes). A table is a subset ending at v_m;
 * the class v_j serving groups i+1..j costs
 *   cost(i, j) = v_j (W_{i+1..j}) - S_{i+1..j},
 * and f_k(j) = min_i f_{k-1}(i) + cost(i, j) is the least waste of groups
 * 1..j with k classes, the k-th being v_j. cost is Monge
 * (cost(a,d) + cost(b,c) - cost(a,c) - cost(b,d) = (v_d - v_c) W_{a+1..b}
 * >= 0), so the best i is monotone in j and each layer is computed by
 * divide and conquer in O(m log m): O(K m log m) in all, exact. With fewer
 * groups than classes, the table is padded with unused allowed sizes in
 * its widest gaps (by ratio), which cannot change W.
 */
#ifndef SPANLAB_SIM_FIT_H
#define SPANLAB_SIM_FIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sizeclass.h"

/* A trace's request sizes, as the objective counts them. */
struct fit_hist {
	uint32_t max_small;		/* larger requests are large objects */
	bool tiny;			/* requests under 16 B go to the tiny allocator */
	uint64_t *count;		/* count[s], s in 1..max_small (non-tiny small requests) */
	uint64_t requests;		/* sum of count[] */
	uint64_t requested_bytes;	/* sum of s * count[s] */
	uint64_t tiny_requests, large_requests;
	uint64_t aligned_requests;	/* aligned allocations among the counted requests */
};

/* 0, or -1 with a message (out of memory, max_small out of range). */
int fit_hist_init(struct fit_hist *h, uint32_t max_small, bool tiny, char *err, size_t errlen);
void fit_hist_free(struct fit_hist *h);
/* Count n requests of `size` bytes (0 counts as 1, as the allocator serves it). */
void fit_hist_add(struct fit_hist *h, uint64_t size, uint64_t n, bool aligned);
/* Count every allocation request of a trace (any format slt_open reads).
 * 0, or an exit code of cli.h with "FILE: problem" in err. */
int fit_hist_from_trace(struct fit_hist *h, const char *path, char *err, size_t errlen);

/* W(t): the waste of table t on the counted requests. t must have h's
 * max_small_size. */
uint64_t fit_waste(const struct fit_hist *h, const struct sl_sizeclasses *t);

/* Pages per span for a class of `size` bytes by Go's rule: the fewest
 * pages whose tail (span mod size) is at most 1/8 of the span. */
uint32_t fit_pages(uint32_t size, uint32_t page_size);

struct fit_result {
	uint32_t rows[SL_MAX_CLASSES][2];	/* {size, pages} of classes 1..nrows */
	size_t nrows;				/* == k */
	uint64_t waste;				/* W of the table: the optimum */
	uint32_t groups;			/* distinct candidate sizes a(r) */
	uint32_t serving;			/* classes that serve at least one request */
};

/* The fitted table of exactly k classes for h, with pages of page_size.
 * 0, or -1 with a one-line reason (k out of range for these settings). */
int fit_table(const struct fit_hist *h, uint32_t k, uint32_t page_size, struct fit_result *r, char *err,
	      size_t errlen);

/* A config's size classes for a fit, which needs only their bounds
 * (page_size, max_small_size), not the generator's table, which may not
 * exist for them (its division magic fails above about 64 KiB): 0 when
 * config_resolve made the table; 1 when the generator refused, with its
 * reason in err, but the bounds can have a table (max_small_size in range
 * and itself a valid class, page_size a power of two in range); -1 with
 * the generator's reason otherwise (and for an explicit table). */
struct sim_config;
int fit_resolve_config(struct sim_config *c, char *err, size_t errlen);

/* Fewest and most classes fit_table accepts for these settings. */
uint32_t fit_min_classes(bool tiny);
uint32_t fit_max_classes(uint32_t max_small, uint32_t page_size, bool tiny);

#endif
