#ifndef NVC_PROTO_H
#define NVC_PROTO_H

/* The wire protocol between the core and the driver service (nvc-ts-driver).
 * One message per SOCK_SEQPACKET record: a fixed header then a payload made of
 * little typed fields. Every read is bounds-checked; a malformed message is an
 * error for whoever reads it, never undefined behaviour. */

#include <stddef.h>
#include <stdint.h>

#define NVC_PROTO_MAGIC 0x4443564eu /* "NVCD" on the wire */
#define NVC_PROTO_VERSION 1
#define NVC_PROTO_MAX_MSG 16384
#define NVC_PROTO_HEADER_SIZE 16
#define NVC_PROTO_NO_DEVICE UINT32_MAX

enum nvc_op {
    NVC_OP_READY = 1,        /* service -> core, once: NVML loaded and initialised, or why not */
    NVC_OP_CALLING = 2,      /* service -> core: the NVML function about to run (names a crash or hang) */
    NVC_OP_DRIVER = 3,       /* -> str driver version, i32 CUDA version */
    NVC_OP_DEVICE_COUNT = 4, /* -> u32 count */
    NVC_OP_DEVICE = 5,       /* u32 index -> one GPU and its MIG devices */
    NVC_OP_SHUTDOWN = 6,     /* nvmlShutdown, reply, exit */
};

/* First field of every reply. */
enum nvc_status {
    NVC_STATUS_OK = 0,
    NVC_STATUS_NVML = 1,        /* an NVML call failed: u32 ret, str function, str message, u32 device */
    NVC_STATUS_LOAD = 2,        /* the library could not be loaded or lacks a symbol */
    NVC_STATUS_BAD_REQUEST = 3, /* the service could not parse what it got */
    NVC_STATUS_SYSTEM = 4,      /* a system call of the service failed (chroot, setuid, ...) */
};

struct nvc_msg_header {
    uint32_t magic;
    uint16_t version;
    uint16_t op;
    uint32_t seq;
    uint32_t len; /* payload bytes */
};

struct nvc_wbuf {
    uint8_t data[NVC_PROTO_MAX_MSG];
    size_t len;
    int overflow;
};

struct nvc_rbuf {
    const uint8_t *p;
    size_t len;
    size_t off;
    int bad;
};

void nvc_wbuf_start(struct nvc_wbuf *b, uint16_t op, uint32_t seq);
void nvc_put_u32(struct nvc_wbuf *b, uint32_t v);
void nvc_put_i32(struct nvc_wbuf *b, int32_t v);
void nvc_put_str(struct nvc_wbuf *b, const char *s);
/* Writes the payload length into the header; returns the record size, or 0 if a put overflowed. */
size_t nvc_wbuf_finish(struct nvc_wbuf *b);

/* Validates magic, version and length of a received record; on success fills h and points
 * payload at the bytes after the header. Returns 0 or -1 with a reason in *why. */
int nvc_proto_open(const uint8_t *msg, size_t n, struct nvc_msg_header *h, struct nvc_rbuf *payload, const char **why);

uint32_t nvc_get_u32(struct nvc_rbuf *r);
int32_t nvc_get_i32(struct nvc_rbuf *r);
/* Copies a string field into out (always NUL-terminated); marks r bad if it would not fit,
 * overruns the payload, or holds a NUL byte. */
void nvc_get_str(struct nvc_rbuf *r, char *out, size_t outsz);
/* True when every field was read and nothing is left over. */
int nvc_rbuf_done(const struct nvc_rbuf *r);

#endif
