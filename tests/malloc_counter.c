/* Counts the C heap's allocations in a process it is preloaded into (LD_PRELOAD), for the
 * zero-allocation tests: every allocation entry point forwards to glibc's own after bumping
 * one counter. fnn_malloc_count() reads it (ctypes). glibc only: __libc_* are its exports. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);
extern void __libc_free(void*);

static uint64_t count;

static void bump(void) { __atomic_fetch_add(&count, 1, __ATOMIC_RELAXED); }

uint64_t fnn_malloc_count(void) { return __atomic_load_n(&count, __ATOMIC_RELAXED); }

void* malloc(size_t n) { bump(); return __libc_malloc(n); }
void* calloc(size_t n, size_t size) { bump(); return __libc_calloc(n, size); }
void* realloc(void* p, size_t n) { bump(); return __libc_realloc(p, n); }
void free(void* p) { __libc_free(p); }
void* memalign(size_t align, size_t n) { bump(); return __libc_memalign(align, n); }
void* aligned_alloc(size_t align, size_t n) { bump(); return __libc_memalign(align, n); }
void* valloc(size_t n) { bump(); return __libc_memalign(4096, n); }
int posix_memalign(void** out, size_t align, size_t n) {
  bump();
  void* p = __libc_memalign(align, n);
  if (p == NULL && n != 0) return ENOMEM;
  *out = p;
  return 0;
}
