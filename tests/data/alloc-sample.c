#include <stdlib.h>
#include <malloc.h>
#include <pthread.h>
#include <string.h>
static void *th(void *a) { void *p = malloc(77); free(p); return a; }
int main(void) {
  void *a = malloc(24); void *b = calloc(4, 100); a = realloc(a, 1000);
  void *c = memalign(64, 200); void *d; posix_memalign(&d, 128, 300);
  void *e = valloc(100); void *f = aligned_alloc(256, 512);
  void *g = realloc(NULL, 50); char *s = strdup("hello");
  pthread_t t; pthread_create(&t, 0, th, 0); pthread_join(t, 0);
  g = realloc(g, 0); free(NULL);
  free(a); free(b); free(c); free(d); free(e); free(f); free(s);
  void *h = malloc(40); (void)h; return 0; }
