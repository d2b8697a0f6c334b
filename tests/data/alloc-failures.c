#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <malloc.h>
#include <errno.h>
int main(void) {
    size_t huge = (size_t)1 << 62;
    void *a = malloc(huge);                  /* fail */
    void *b = calloc(huge, 4);               /* overflow fail */
    void *c = calloc(1, huge);               /* fail */
    void *d = memalign(64, huge);            /* fail */
    void *k = malloc(40);                    /* ok: 40 */
    void *e = realloc(k, huge);              /* fail, k stays */
    void *f = realloc(NULL, huge);           /* fail */
    void *g; int r = posix_memalign(&g, 24, 100); /* EINVAL */
    void *h = aligned_alloc(24, 100);        /* glibc 2.36: ? */
    void *i = memalign(24, 100);             /* rounds to 32 */
    void *j = malloc(0);                     /* non-NULL in glibc */
    void *l = calloc(0, 5);
    void *m = realloc(j, 0);                 /* frees j, returns NULL */
    void *n = pvalloc(5000);                  /* 8192 */
    fprintf(stderr, "%p %p %p %p %p %p r=%d %p %p %p %p %p\n", a,b,c,d,e,f,r,h,i,j,l,m);
    free(k); free(h); free(i); free(l); free(n);
    return 0;
}
