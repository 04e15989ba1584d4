#ifndef NVC_PROTO_H
#define NVC_PROTO_H

/* The driver-service protocol (the core and nvc-ts-driver), on the wire layer (wire.h):
 * one frame per SOCK_SEQPACKET record, the frame type is the operation, and every body
 * starts with the request's sequence number, so that a reply can be matched to its
 * request:
 *
 *   request = u32 seq | arguments
 *   reply   = u32 seq | u32 status | (OK: the answer's fields) | (ERROR: wire error)
 *   CALLING = u32 0 | str NVML function | u32 device (or NVC_PROTO_NO_DEVICE)
 *
 * Every read is bounds-checked; a malformed record is an error for whoever reads it,
 * never undefined behaviour. */

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define NVC_PROTO_MAGIC     0x4443564eu /* "NVCD" on the wire */
#define NVC_PROTO_VERSION   3           /* 3: persistence mode in NVC_OP_DEVICE's reply */
#define NVC_PROTO_MAX_MSG   16384       /* a whole record */
#define NVC_PROTO_NO_DEVICE UINT32_MAX

enum nvc_op {
    NVC_OP_READY = 1,        /* service -> core, once: NVML loaded and initialised, or why not */
    NVC_OP_CALLING = 2,      /* service -> core: the NVML function about to run (names a crash or hang) */
    NVC_OP_DRIVER = 3,       /* -> str driver version, i32 CUDA version */
    NVC_OP_DEVICE_COUNT = 4, /* -> u32 count */
    NVC_OP_DEVICE = 5,       /* u32 index -> one GPU and its MIG devices */
    NVC_OP_SHUTDOWN = 6,     /* nvmlShutdown, reply, exit */
};

/* A GPU's persistence mode in NVC_OP_DEVICE's reply; unknown where NVML cannot say. */
enum nvc_persistence { NVC_PERSISTENCE_OFF = 0, NVC_PERSISTENCE_ON = 1, NVC_PERSISTENCE_UNKNOWN = 2 };

/* Second field of every reply. */
enum nvc_status {
    NVC_STATUS_OK = 0,
    /* The service failed: an NVML call (code ERR_NVC_NVML or ERR_NVC_VERSION_MISMATCH, the
     * function as step, the NVML return), loading the library (ERR_NVC_NVML_LOAD_FAILED),
     * confining itself (ERR_NVC_SERVICE_START with errno) or parsing the request
     * (ERR_NVC_SERVICE_PROTOCOL). */
    NVC_STATUS_ERROR = 1,
};

/* Starts a record of op for seq in storage of cap bytes (at most NVC_PROTO_MAX_MSG are used). */
void nvc_proto_begin(struct nvc_wbuf *w, void *storage, size_t cap, uint16_t op, uint32_t seq);
/* Turns a reply begun with nvc_proto_begin into an error reply, whatever was written. */
void nvc_proto_fail(struct nvc_wbuf *w, const struct nvc_error *e);

/* Validates a received record (magic, version, size, length) and reads its sequence
 * number; on success body is positioned after it. Returns 0 or -1 with *why. */
int nvc_proto_open(const uint8_t *rec, size_t n, uint16_t *op, uint32_t *seq, struct nvc_rbuf *body, const char **why);

#endif
