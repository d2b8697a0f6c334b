#include <new>
struct alignas(64) A { char x[100]; };
int main() { int *p = new int(3); delete p; int *q = new int[10]; delete[] q; A *a = new A; delete a; return 0; }
