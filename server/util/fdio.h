/* fdio.h -- small helpers over file descriptors */
#ifndef SK_FDIO_H
#define SK_FDIO_H

#include <stddef.h>

/* Write all `n` bytes at `p` to `fd`, retrying short writes and EINTR. 0, or a negative errno
 * (-EIO when the descriptor takes nothing). Blocks as the descriptor does. */
int sk_write_all(int fd, const void *p, size_t n);

#endif
