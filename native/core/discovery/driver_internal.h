#ifndef NVC_DRIVER_INTERNAL_H
#define NVC_DRIVER_INTERNAL_H

/* Shared by the driver_*.c files that together implement discovery.h. */

#include <stddef.h>
#include <sys/types.h>

#include "nvc.h"
#include "witness.h"

#define NVC_CAP_ALL                                                                                                    \
    (NVC_CAP_UTILITY | NVC_CAP_COMPUTE | NVC_CAP_VIDEO | NVC_CAP_GRAPHICS | NVC_CAP_DISPLAY | NVC_CAP_NGX)

/* Append a copy of path to a file array. */
int nvc_drv_add_file(struct nvc_file **arr, size_t *n, const char *path, unsigned caps, struct nvc_error *err);
void nvc_drv_free_files(struct nvc_file *arr, size_t n);

/* O_PATH fd of the driver root. */
int nvc_drv_open_root(const struct nvc_host *host, struct nvc_error *err);

/* Read a small text file of the host (/proc, /sys) into buf, NUL-terminated, at most
 * bufsz - 1 bytes. Returns its length, or -1 with errno. */
ssize_t nvc_drv_read_text(const char *host_path, char *buf, size_t bufsz);

/* One step of nvc_discover_driver each. w (NULL: do not record) witnesses every path the
 * step looks at, before it looks (witness.h). */
int nvc_drv_libraries(int rootfd, const struct nvc_host *host, struct nvc_driver_info *info, struct nvc_witness *w,
                      struct nvc_error *err);
int nvc_drv_binaries(int rootfd, const struct nvc_host *host, struct nvc_driver_info *info, struct nvc_witness *w,
                     struct nvc_error *err);
int nvc_drv_ipcs(int rootfd, const struct nvc_host *host, struct nvc_driver_info *info, struct nvc_witness *w,
                 struct nvc_error *err);
int nvc_drv_firmware(int rootfd, const struct nvc_host *host, struct nvc_driver_info *info, struct nvc_witness *w,
                     struct nvc_error *err);
int nvc_drv_devices(const struct nvc_host *host, struct nvc_driver_info *info, struct nvc_witness *w,
                    struct nvc_error *err);

#endif
