/* Fuzz the mtrace reader: any bytes, read as mtrace (--from mtrace), normal and
 * strict. Properties: see fuzz_trace in fuzz_common.c. */
#include "fuzz.h"

int fuzz_mtrace(const uint8_t *data, size_t size)
{
	return fuzz_trace(data, size, SLT_FMT_MTRACE);
}

FUZZ_TARGET(mtrace)
