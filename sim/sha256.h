/*
 * SHA-256 (FIPS 180-4), for the content hash of a trace stored with every
 * run. Small and dependency-free; not constant-time, which a content hash
 * does not need. Incremental: init, update any number of times, final.
 */
#ifndef SPANLAB_SHA256_H
#define SPANLAB_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t h[8];
	uint64_t len;		/* bytes hashed so far */
	uint8_t buf[64];	/* pending partial block */
	size_t nbuf;
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t n);
void sha256_final(struct sha256 *c, uint8_t digest[32]);

/* Lower-case hex of a digest: 64 characters and a NUL. */
void sha256_hex(const uint8_t digest[32], char hex[65]);

/* Hash a whole file's bytes. Returns 0, or -1 with errno set. */
int sha256_file(const char *path, char hex[65]);

#endif
