#ifndef NVC_FDUTIL_H
#define NVC_FDUTIL_H

/* The first thing every helper executable does: whatever fds the spawner's process
 * leaked, none survives but the helper's socket. */

/* Close every fd above `fd` (close_range, or a loop where the kernel lacks it). */
void nvc_fd_close_above(int fd);
/* Point stdin, stdout and stderr at /dev/null (a helper prints nothing; a library it
 * loads, such as NVML, might). */
void nvc_fd_stdio_to_null(void);

#endif
