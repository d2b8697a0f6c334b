/* Fuzz the slt reader: any bytes, read as slt (--from slt), normal and
 * strict. Properties: see fuzz_trace in fuzz_common.c. */
#include "fuzz.h"

int fuzz_slt(const uint8_t *data, size_t size)
{
	return fuzz_trace(data, size, SLT_FMT_SLT);
}

FUZZ_TARGET(slt)
