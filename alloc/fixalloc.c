/*
 * Off-heap metadata: Go's persistentalloc (malloc.go), fixalloc
 * (mfixalloc.go) and the gcBits arenas (mheap.go), in one small file.
 *
 * Metadata never comes from malloc, so the core can later be preloaded as
 * the process's malloc. It comes from PERSISTENT_CHUNK (256 KiB) mappings
 * made with sys_alloc (or bigger ones for big requests), chained on a list
 * so that sl_heap_destroy unmaps every one of them. Memory is handed out
 * by bumping a pointer and is never returned to the OS before that.
 *
 *   fixalloc:   fixed-size records (mspan) with a free list; a record is
 *               not zeroed on reuse unless the caller does it.
 *   bits_alloc: power-of-two blocks for the per-span bitmaps, one free list
 *               per size; block sizes repeat (one per span class), so the
 *               lists are short and reuse is high.
 * Out of memory returns NULL; callers turn it into a NULL allocation.
 */
#include "internal.h"

void *persistent_alloc(struct mheap *h, size_t size, size_t align)
{
	struct persistent_alloc *pa = &h->persistent;
	uintptr_t p = ((uintptr_t)pa->cur + align - 1) & ~(uintptr_t)(align - 1);
	if (pa->cur == NULL || p + size > (uintptr_t)pa->end) {
		size_t hdr = (sizeof(struct persistent_chunk) + 63) & ~(size_t)63;
		size_t n = PERSISTENT_CHUNK;
		if (size + align + hdr > n)
			n = (size + align + hdr + PHYS_PAGE_SIZE - 1) & ~(size_t)(PHYS_PAGE_SIZE - 1);
		struct persistent_chunk *c = sys_alloc(h, n);
		if (c == NULL)
			return NULL;
		c->size = n;
		c->next = pa->chunks;
		pa->chunks = c;
		pa->cur = (char *)c + hdr;
		pa->end = (char *)c + n;
		p = ((uintptr_t)pa->cur + align - 1) & ~(uintptr_t)(align - 1);
	}
	pa->cur = (char *)(p + size);
	return (void *)p;
}

/* Unmap every chunk. The heap struct itself lives in the first chunk, so
 * the caller must not touch h after this. */
void persistent_release_all(struct mheap *h)
{
	struct persistent_chunk *c = h->persistent.chunks;
	const struct sl_os_ops *os = h->sys.os;
	while (c != NULL) {
		struct persistent_chunk *next = c->next;
		os->release(os->ctx, c, c->size);
		c = next;
	}
}

void fixalloc_init(struct fixalloc *f, size_t size)
{
	f->size = size < sizeof(void *) ? sizeof(void *) : size;
	f->list = NULL;
	f->inuse = 0;
}

void *fixalloc_alloc(struct mheap *h, struct fixalloc *f)
{
	void *v = f->list;
	if (v != NULL)
		f->list = *(void **)v;
	else if ((v = persistent_alloc(h, f->size, 16)) == NULL)
		return NULL;
	f->inuse++;
	return v;
}

void fixalloc_free(struct fixalloc *f, void *v)
{
	*(void **)v = f->list;
	f->list = v;
	f->inuse--;
}

static unsigned bits_shift(size_t bytes)
{
	unsigned k = BITS_MIN_SHIFT;
	while (((size_t)1 << k) < bytes)
		k++;
	return k;
}

/* A zeroed block of at least `bytes`. */
void *bits_alloc(struct mheap *h, size_t bytes)
{
	unsigned k = bits_shift(bytes);
	void *v = h->bitsalloc.free[k];
	if (v != NULL) {
		h->bitsalloc.free[k] = *(void **)v;
	} else {
		v = persistent_alloc(h, (size_t)1 << k, 64);
		if (v == NULL)
			return NULL;
	}
	memset(v, 0, (size_t)1 << k);
	return v;
}

void bits_free(struct mheap *h, void *v, size_t bytes)
{
	unsigned k = bits_shift(bytes);
	*(void **)v = h->bitsalloc.free[k];
	h->bitsalloc.free[k] = v;
}
