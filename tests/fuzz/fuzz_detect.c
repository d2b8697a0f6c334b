/* Fuzz format detection: any bytes, format detected from content (what
 * `spanlab info` and `replay` do without --from), then read. */
#include "fuzz.h"

int fuzz_detect(const uint8_t *data, size_t size)
{
	return fuzz_trace(data, size, SLT_FMT_AUTO);
}

FUZZ_TARGET(detect)
