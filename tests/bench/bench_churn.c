/*
 * A malloc-heavy program for the recorder benchmark (scripts/bench.d/
 * 20-recorder.sh): N operations over 1024 slots, each either freeing the
 * slot's object or allocating 16..527 bytes into it (the random-mix loop of
 * field-survey.md C1). Plain main, no spanlab code: it is what gets traced.
 *
 * `bench_churn N [THREADS]`: with THREADS > 1 each thread runs its own loop
 * of N / THREADS operations on its own slots (no object crosses threads),
 * so what the recorder adds is the threaded path: the shared sequence
 * counter and one ring per thread.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *churn(void *arg)
{
	long n = *(long *)arg;
	void *slot[1024] = { 0 };
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
	return NULL;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	int threads = argc > 2 ? atoi(argv[2]) : 1;
	if (threads <= 1) {
		churn(&n);
		return 0;
	}
	if (threads > 64)
		threads = 64;
	pthread_t t[64];
	long each = n / threads;
	for (int i = 0; i < threads; i++)
		if (pthread_create(&t[i], NULL, churn, &each)) {
			perror("pthread_create");
			return 1;
		}
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	return 0;
}
