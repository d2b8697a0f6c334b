/* Fuzz the text reader: any bytes, read as text (--from text), normal and
 * strict. Properties: see fuzz_trace in fuzz_common.c. */
#include "fuzz.h"

int fuzz_text(const uint8_t *data, size_t size)
{
	return fuzz_trace(data, size, SLT_FMT_TEXT);
}

FUZZ_TARGET(text)
