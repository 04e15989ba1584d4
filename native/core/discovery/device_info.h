#ifndef NVC_DEVICE_INFO_H
#define NVC_DEVICE_INFO_H

#include "nvc.h"
#include "driver_proto.h"

/* Decode one DEVICE reply (after its status) into d, formatting ids the way the
 * reference prints them. Frees nothing on failure: the caller owns d->mig. */
int nvc_device_decode(struct nvc_rbuf *r, struct nvc_device *d, struct nvc_error *err);

/* The /dev/nvidia-caps minors of d's MIG devices, from the driver's capability files. */
void nvc_device_read_cap_minors(const struct nvc_host *host, struct nvc_device *d);

/* 12040 -> "12.4", 13000 -> "13.0", 12100 -> "12.10". */
void nvc_format_cuda_version(int v, char *out, size_t n);

#endif
