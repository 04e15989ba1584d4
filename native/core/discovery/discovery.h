#ifndef NVC_DISCOVERY_H
#define NVC_DISCOVERY_H

/* Finding the driver's files in the driver root: the NVML library to load, and
 * everything nvc_driver_info lists (libraries, binaries, IPC sockets, firmware,
 * device nodes, nvidia-caps numbers). No NVML here: versions come from the caller. */

#include <stddef.h>

#include "nvc.h"

/* Host path (root prefix + real path inside the root) of the 64-bit libnvidia-ml.so.1
 * named by the ld.so cache of the driver root. Fails with NVC_ERR_DRIVER_NOT_FOUND
 * when the cache or the entry is missing. */
int nvc_find_nvml(const struct nvc_host *host, char *out, size_t outsz, struct nvc_error *err);

/* Fill info (whose nvrm_version and cuda_version the caller has set) with malloc'd
 * arrays; release with nvc_driver_info_free (info must then be malloc'd) or, for a
 * caller-owned struct, nvc_driver_info_release. On failure nothing stays allocated and
 * the arrays are NULL. */
int nvc_discover_driver(const struct nvc_host *host, struct nvc_driver_info *info, struct nvc_error *err);

/* The same, recording into w (NULL: nothing) every host path discovery examined, so that
 * nvc_witness_unchanged(w) later tells whether a rerun would find the same (driver-client/
 * context.c keeps the result while it does). */
struct nvc_witness;
int nvc_discover_driver_witnessed(const struct nvc_host *host, struct nvc_driver_info *info, struct nvc_witness *w,
                                  struct nvc_error *err);

/* A deep copy of src (malloc'd, for nvc_driver_info_free); NULL with err filled when out of memory. */
struct nvc_driver_info *nvc_driver_info_copy(const struct nvc_driver_info *src, struct nvc_error *err);

/* Free the arrays of info and zero them, leaving the struct itself. */
void nvc_driver_info_release(struct nvc_driver_info *info);

/* The DeviceFileMinor of an nvidia-caps proc file, e.g.
 * "/proc/driver/nvidia/capabilities/gpu1/mig/gi1/access" (a directory such as
 * ".../gi1" means its "access" file). The leading "/proc" is mapped onto
 * host->proc_root. Returns the minor, or -1 when the file is absent or unreadable. */
int nvc_read_cap_minor(const struct nvc_host *host, const char *proc_path);

#endif
