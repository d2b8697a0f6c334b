/*
 * A malloc-heavy program for the recorder benchmark (scripts/bench.d/
 * 20-recorder.sh): N operations over 1024 slots, each either freeing the
 * slot's object or allocating 16..527 bytes into it (the random-mix loop of
 * field-survey.md C1). Plain main, no spanlab code: it is what gets traced.
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	static void *slot[1024];
	unsigned x = 12345;
	for (long i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		unsigned k = (x >> 8) & 1023;
		if (slot[k]) {
			free(slot[k]);
			slot[k] = NULL;
		} else {
			slot[k] = malloc(16 + (x >> 20) % 512);
		}
	}
	for (int k = 0; k < 1024; k++)
		free(slot[k]);
	return 0;
}
