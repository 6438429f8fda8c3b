/* Small file-system helpers the components share. */
#ifndef BERTH_CORE_FS_H
#define BERTH_CORE_FS_H

#include <stddef.h>
#include <sys/types.h>

/* Creates <path> and its missing parents, each with <mode>. Returns 0 (also
 * when it exists), or -errno. */
int fs_mkdir_p(const char *path, mode_t mode);
/* Creates the missing directories above the file <path> with <mode>, as
 * far as it can (a later open() says what failed). */
void fs_mkdir_parents(const char *path, mode_t mode);
/* Writes all of <p, n> to <fd>, going on after short writes and EINTR.
 * Returns 0, or -1 with errno set (EIO when write() wrote nothing). */
int fs_write_all(int fd, const void *p, size_t n);

#endif
