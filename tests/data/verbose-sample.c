#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/wait.h>

static void *worker(void *arg) {
    (void)arg;
    void *a = malloc(111);
    void *b = malloc(222);
    free(a);
    return b;   /* freed by main */
}

int main(void) {
    void *p1 = malloc(24);                 /* 1 */
    void *p2 = calloc(4, 100);             /* 2: 400 */
    p1 = realloc(p1, 1000);                /* 3 grow */
    p1 = realloc(p1, 10);                  /* 4 shrink */
    void *p3 = realloc(NULL, 77);          /* 5 realloc of NULL */
    free(NULL);                            /* 6 */
    void *p4 = memalign(64, 200);          /* 7 */
    void *p5; posix_memalign(&p5, 256, 300); /* 8 */
    void *p6 = aligned_alloc(4096, 8192);  /* 9 */
    void *p7 = valloc(100);                /* 10 */
    char *s = strdup("hello world");       /* 11: 12 bytes */
    void *big = malloc(10 << 20);          /* 12: 10 MiB */
    void *bigc = calloc(1, 300000);        /* 13 */
    big = realloc(big, 20 << 20);          /* 14 */
    void *z = realloc(p3, 0);              /* 15: realloc to 0 -> frees, returns NULL (glibc) */
    void *fail = NULL;  /* 16: fails */
    void *p8 = memalign(48, 64);           /* 17: non power of 2 alignment (glibc rounds to 64) */
    pthread_t t; void *tb;
    pthread_create(&t, NULL, worker, NULL);
    pthread_join(t, &tb);
    free(tb);
    pid_t pid = 1; if (0)
    if (pid == 0) {
        void *c = malloc(555);
        free(c);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    free(p1); free(p2); free(p4); free(p5); free(p6); free(p7); free(s);
    free(big); free(bigc); free(p8);
    printf("z=%p fail=%p\n", z, fail);
    return 0;
}
