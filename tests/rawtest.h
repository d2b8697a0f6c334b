/*
 * For the recorder tests that claim process slots and rings in the
 * recorder's shared memory by hand (traces/record/raw.h) and then watch
 * the merger hand the claims of dead claimers back.
 */
#ifndef SPANLAB_RAWTEST_H
#define SPANLAB_RAWTEST_H

#include <unistd.h>

#include "record/raw.h"

/* Wait up to 20 s for process slot `slot` and ring `ring` to be free
 * again: 0, or 2 if the slot stayed claimed, 3 if the ring did. */
static inline int raw_wait_handed_back(struct raw_hdr *h, unsigned slot, unsigned ring)
{
	for (int w = 0; w < 2000; w++) {
		if (__atomic_load_n(&h->procs[slot].state, __ATOMIC_ACQUIRE) == RAW_FREE_SLOT &&
		    __atomic_load_n(&h->rings[ring].state, __ATOMIC_ACQUIRE) == RAW_FREE_SLOT)
			return 0;
		usleep(10000);
	}
	return __atomic_load_n(&h->procs[slot].state, __ATOMIC_ACQUIRE) != RAW_FREE_SLOT ? 2 : 3;
}

#endif
