/* Allocation that never returns NULL: out of memory aborts (see STYLE.md 4). */
#ifndef BERTH_CORE_MEM_H
#define BERTH_CORE_MEM_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Formats into a fresh heap string; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same from a va_list (for functions of the printf family's shape). */
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#define XNEW(type) ((type *)xcalloc(1, sizeof(type)))
#define XNEWV(type, n) ((type *)xcalloc((n), sizeof(type)))

#endif
