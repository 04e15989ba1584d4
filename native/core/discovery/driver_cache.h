#ifndef NVC_DRIVER_CACHE_H
#define NVC_DRIVER_CACHE_H

/* The last driver discovery of a context, handed out again (as a copy) while NVML reports
 * the versions it was made for and nothing it examined has changed (witness.h); otherwise
 * discovered afresh and kept in its place. Discovery reads the ld.so.cache, every driver
 * library's ELF notes, the firmware directories, /proc: a millisecond or two per call, where
 * the check is one lstat per path it examined. */

#include <pthread.h>

#include "nvc.h"

struct nvc_witness;

struct nvc_driver_cache {
    pthread_mutex_t lock;         /* callers on several threads: the addon finishes calls on the pool */
    struct nvc_driver_info *info; /* NULL: nothing kept */
    int cuda;                     /* the CUDA version info was made for (its nvrm_version is the other) */
    struct nvc_witness *witness;
    struct nvc_driver_info_stats stats;
};

void nvc_driver_cache_init(struct nvc_driver_cache *c);
void nvc_driver_cache_destroy(struct nvc_driver_cache *c);

/* The driver info for NVML's answer (version, cuda as the service reports it): malloc'd, for
 * nvc_driver_info_free. Blocks on the filesystem: never on an event loop. NULL with err
 * filled when discovery fails (nothing is kept then). */
struct nvc_driver_info *nvc_driver_cache_get(struct nvc_driver_cache *c, const struct nvc_host *host,
                                             const char *version, int cuda, struct nvc_error *err);

void nvc_driver_cache_stats(struct nvc_driver_cache *c, struct nvc_driver_info_stats *out);

#endif
