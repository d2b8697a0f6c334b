/*
 * The id rule and the address -> id map, shared by the writer, the readers,
 * the importers and the recorder's merger. Nothing here calls malloc (a
 * rule from when the recorder ran inside the traced program): tables live
 * in anonymous mappings, grown by mremap or by rehashing into a new
 * mapping. The hot operations are inline in slt.h.
 *
 * Id rule (slt.h): a new object takes the top of a LIFO stack of freed ids,
 * else the next never-used id. Invariants: live + nfree == next; bit i of
 * `bits` is set exactly for the live ids (so a double free is caught).
 *
 * Map: open addressing, linear probing, load factor <= 1/4 (half the
 * collisions of 1/2, measured: 0.4 fewer mispredicted branches per event in
 * the recorder's merger, for 64 bytes of table per live object), backward-shift
 * deletion, so a lookup probes a short run and no tombstones accumulate.
 * Keys are stored + 1 so that 0 marks an empty slot (address 0 is never an
 * object; text traces may use key 0, hence the shift).
 */
#define _GNU_SOURCE
#include "slt.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

static void *map_anon(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void slt_ids_init(struct slt_ids *ids)
{
	memset(ids, 0, sizeof *ids);
}

void slt_ids_destroy(struct slt_ids *ids)
{
	if (ids->free)
		munmap(ids->free, ids->cap * sizeof(uint64_t));
	if (ids->bits)
		munmap(ids->bits, ids->nwords * sizeof(uint64_t));
	memset(ids, 0, sizeof *ids);
}

/* Grow an mmap'd array of 8-byte words to at least `need` words,
 * doubling from 4096 (one 32 KiB mapping), so growth is O(1) amortised. */
static int grow_words(uint64_t **arr, uint64_t *cap, uint64_t need)
{
	uint64_t ncap = *cap ? *cap : 4096;
	while (ncap < need)
		ncap *= 2;
	void *p;
	if (*arr)
		p = mremap(*arr, *cap * 8, ncap * 8, MREMAP_MAYMOVE);
	else
		p = mmap(NULL, ncap * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* slt_ids_take and slt_ids_put are inline in slt.h; their growth here. */
int slt_ids_grow_bits(struct slt_ids *ids)
{
	return grow_words(&ids->bits, &ids->nwords, (ids->next >> 6) + 1);
}

int slt_ids_grow_free(struct slt_ids *ids)
{
	return grow_words(&ids->free, &ids->cap, ids->cap + 1);
}

uint64_t slt_report_inconsistencies(const struct slt_report *r)
{
	return r->unknown_frees + r->double_allocs + r->realloc_zero + r->realloc_unknown +
	       r->lost_alignment + r->lost_results;
}

/* ---- the map --------------------------------------------------------- */

static struct slt_idmap_ent *tab_new(uint64_t cap)
{
	return map_anon(cap * sizeof(struct slt_idmap_ent));
}

int slt_idmap_init(struct slt_idmap *m)
{
	memset(m, 0, sizeof *m);
	slt_ids_init(&m->ids);
	m->tab = tab_new(1024);
	if (!m->tab)
		return -1;
	m->mask = 1023;
	return 0;
}

void slt_idmap_destroy(struct slt_idmap *m)
{
	if (m->tab)
		munmap(m->tab, (m->mask + 1) * sizeof(struct slt_idmap_ent));
	slt_ids_destroy(&m->ids);
	memset(m, 0, sizeof *m);
}

/* get, put, set and del are inline in slt.h. */
int slt_idmap_grow(struct slt_idmap *m)
{
	uint64_t ocap = m->mask + 1, ncap = ocap * 2;
	struct slt_idmap_ent *old = m->tab, *nt = tab_new(ncap);
	if (!nt)
		return -1;
	m->tab = nt;
	m->mask = ncap - 1;
	for (uint64_t i = 0; i < ocap; i++)
		if (old[i].key)
			slt_idmap_insert_(m, old[i].key, old[i].id);
	munmap(old, ocap * sizeof *old);
	return 0;
}
