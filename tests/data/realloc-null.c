#include <stdlib.h>
#include <stdio.h>
int main(void) {
    void *volatile np = NULL;
    void *a = realloc(np, 77);     /* realloc of NULL */
    size_t volatile z = 0;
    void *b = malloc(50);
    void *c = realloc(b, z);       /* realloc to 0 */
    free(np);                      /* free(NULL) */
    fprintf(stderr, "%p %p\n", a, c);
    free(a);
    return 0;
}
