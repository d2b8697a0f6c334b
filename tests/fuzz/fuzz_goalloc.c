/* Fuzz the goalloc reader: any bytes, read as goalloc (--from goalloc), normal and
 * strict. Properties: see fuzz_trace in fuzz_common.c. */
#include "fuzz.h"

int fuzz_goalloc(const uint8_t *data, size_t size)
{
	return fuzz_trace(data, size, SLT_FMT_GOALLOC);
}

FUZZ_TARGET(goalloc)
