/* Fuzz the valgrind reader: any bytes, read as valgrind (--from valgrind), normal and
 * strict. Properties: see fuzz_trace in fuzz_common.c. */
#include "fuzz.h"

int fuzz_valgrind(const uint8_t *data, size_t size)
{
	return fuzz_trace(data, size, SLT_FMT_VALGRIND);
}

FUZZ_TARGET(valgrind)
