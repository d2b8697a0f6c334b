/*
 * SHA-256 of the trace content hash: the FIPS 180-2 example vectors, the
 * same message fed in random pieces, and a file hashed through
 * sha256_file equal to hashing its bytes in memory.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "testlib.h"

static void hex_of(const void *data, size_t n, char hex[65])
{
	struct sha256 c;
	uint8_t d[32];
	sha256_init(&c);
	sha256_update(&c, data, n);
	sha256_final(&c, d);
	sha256_hex(d, hex);
}

Test(sha256, fips_vectors)
{
	static const struct { const char *msg, *hex; } v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
		{ "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
		  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
	};
	char hex[65];
	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		hex_of(v[i].msg, strlen(v[i].msg), hex);
		cr_assert_str_eq(hex, v[i].hex, "vector %zu", i);
	}
	/* one million 'a' */
	char *m = malloc(1000000);
	memset(m, 'a', 1000000);
	hex_of(m, 1000000, hex);
	cr_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(m);
}

Test(sha256, pieces_equal_the_whole)
{
	uint64_t seed = tl_seed("sha256::pieces_equal_the_whole");
	size_t n = 10007;
	uint8_t *m = malloc(n);
	for (size_t i = 0; i < n; i++)
		m[i] = (uint8_t)(i * 131 + (i >> 7));
	char whole[65], pieces[65];
	hex_of(m, n, whole);
	for (int round = 0; round < 50; round++) {
		struct sha256 c;
		uint8_t d[32];
		sha256_init(&c);
		for (size_t off = 0; off < n;) {
			seed = seed * 6364136223846793005u + 1442695040888963407u;
			size_t k = (size_t)(seed >> 33) % 200;
			k = k > n - off ? n - off : k;
			sha256_update(&c, m + off, k);
			off += k;
		}
		sha256_final(&c, d);
		sha256_hex(d, pieces);
		cr_assert_str_eq(pieces, whole, "round %d", round);
	}
	free(m);
}

Test(sha256, file_hash)
{
	char *dir = tl_tmpdir(), path[4096], hex[65], want[65];
	snprintf(path, sizeof path, "%s/f", dir);
	size_t n = 100000;	/* more than one read buffer */
	char *m = malloc(n);
	for (size_t i = 0; i < n; i++)
		m[i] = (char)(i % 251);
	cr_assert_eq(tl_write_file(path, m, n), 0);
	cr_assert_eq(sha256_file(path, hex), 0);
	hex_of(m, n, want);
	cr_assert_str_eq(hex, want);
	strcat(path, ".missing");
	cr_assert_eq(sha256_file(path, hex), -1);
	free(m);
	tl_tmpdir_remove(dir);
}
