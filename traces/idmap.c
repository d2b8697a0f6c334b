/*
 * The id rule and the address -> id map, shared by the writer, the readers,
 * the importers and the recorder (which is why nothing here calls malloc:
 * tables live in anonymous mappings, grown by mremap or by rehashing into a
 * new mapping).
 *
 * Id rule (slt.h): a new object takes the top of a LIFO stack of freed ids,
 * else the next never-used id. Invariants: live + nfree == next; bit i of
 * `bits` is set exactly for the live ids (so a double free is caught).
 *
 * Map: open addressing, linear probing, load factor <= 1/2, backward-shift
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

uint64_t slt_ids_take(struct slt_ids *ids)
{
	uint64_t id;
	if (ids->nfree) {
		id = ids->free[--ids->nfree];
	} else {
		if ((ids->next >> 6) >= ids->nwords &&
		    grow_words(&ids->bits, &ids->nwords, (ids->next >> 6) + 1) < 0)
			return UINT64_MAX;
		id = ids->next++;
	}
	ids->bits[id >> 6] |= 1ull << (id & 63);
	ids->live++;
	return id;
}

int slt_ids_put(struct slt_ids *ids, uint64_t id)
{
	if (!slt_ids_live(ids, id))
		return -2;
	if (ids->nfree == ids->cap && grow_words(&ids->free, &ids->cap, ids->cap + 1) < 0)
		return -1;
	ids->bits[id >> 6] &= ~(1ull << (id & 63));
	ids->free[ids->nfree++] = id;
	ids->live--;
	return 0;
}

uint64_t slt_report_inconsistencies(const struct slt_report *r)
{
	return r->unknown_frees + r->double_allocs + r->realloc_zero + r->realloc_unknown +
	       r->lost_alignment;
}

/* ---- the map --------------------------------------------------------- */

/* Addresses are 16-byte aligned and clustered: mix before masking. */
static inline uint64_t slot_of(const struct slt_idmap *m, uint64_t key)
{
	return ((key * 0x9E3779B97F4A7C15ull) >> 20) & m->mask;
}

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

int slt_idmap_get(const struct slt_idmap *m, uint64_t key, uint64_t *id)
{
	uint64_t k = key + 1;
	for (uint64_t i = slot_of(m, key);; i = (i + 1) & m->mask) {
		if (m->tab[i].key == k) {
			*id = m->tab[i].id;
			return 1;
		}
		if (!m->tab[i].key)
			return 0;
	}
}

static void raw_insert(struct slt_idmap *m, uint64_t k, uint64_t id)
{
	uint64_t i = slot_of(m, k - 1);
	while (m->tab[i].key)
		i = (i + 1) & m->mask;
	m->tab[i].key = k;
	m->tab[i].id = id;
}

static int grow(struct slt_idmap *m)
{
	uint64_t ocap = m->mask + 1, ncap = ocap * 2;
	struct slt_idmap_ent *old = m->tab, *nt = tab_new(ncap);
	if (!nt)
		return -1;
	m->tab = nt;
	m->mask = ncap - 1;
	for (uint64_t i = 0; i < ocap; i++)
		if (old[i].key)
			raw_insert(m, old[i].key, old[i].id);
	munmap(old, ocap * sizeof *old);
	return 0;
}

int slt_idmap_put(struct slt_idmap *m, uint64_t key, uint64_t id)
{
	if ((m->n + 1) * 2 > m->mask + 1 && grow(m) < 0)
		return -1;
	raw_insert(m, key + 1, id);
	m->n++;
	return 0;
}

/* Backward-shift deletion: move later entries of the probe run into the
 * hole when their home slot does not lie cyclically in (hole, j]. */
static void delete_at(struct slt_idmap *m, uint64_t hole)
{
	for (uint64_t j = (hole + 1) & m->mask; m->tab[j].key; j = (j + 1) & m->mask) {
		uint64_t home = slot_of(m, m->tab[j].key - 1);
		bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
		if (stays)
			continue;
		m->tab[hole] = m->tab[j];
		hole = j;
	}
	m->tab[hole].key = 0;
}

int slt_idmap_del(struct slt_idmap *m, uint64_t key, uint64_t *id)
{
	uint64_t k = key + 1;
	for (uint64_t i = slot_of(m, key);; i = (i + 1) & m->mask) {
		if (m->tab[i].key == k) {
			*id = m->tab[i].id;
			delete_at(m, i);
			m->n--;
			return 1;
		}
		if (!m->tab[i].key)
			return 0;
	}
}
