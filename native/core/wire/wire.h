#ifndef NVC_WIRE_H
#define NVC_WIRE_H

/* The one wire layer of every helper protocol (driver service "NVCD", executor "NVCP",
 * ldconfig report "NVCL"). A message is one frame:
 *
 *   frame  = u32 magic | u16 version | u16 type | u32 body length | body
 *   u8/u16/u32/i32      little-endian, whatever the host
 *   u64    = u32 high half | u32 low half
 *   str    = u32 length | bytes          (no NUL inside; the reader gives the bound)
 *   blob   = u32 length | bytes          (any bytes)
 *   ostr/oblob = str/blob, or u32 0xffffffff for "absent"
 *   error  = str code name | i32 errno | str step | str path | str message | i32 NVML return
 *
 * Protocols differ only in magic, version, frame types, the largest frame they accept and
 * how a frame travels (one SOCK_SEQPACKET record, or a SOCK_STREAM read header first).
 *
 * Writers never write past their maximum: a put that does not fit marks the writer and
 * every later put is a no-op, so a frame is either whole or refused, never cut. Readers
 * check every length against what is left of the body and against the caller's bound
 * before they copy anything; the first problem is remembered (r->bad) and makes every
 * later read a no-op returning zero/empty, so a decoder can read all its fields and check
 * once. Error codes travel by name: an enum value means something only within one build. */

#include <stddef.h>
#include <stdint.h>

#include "nvc_error.h"

#define NVC_WIRE_HEADER_SIZE 12
#define NVC_WIRE_ABSENT      0xffffffffu

struct nvc_wire_header {
    uint32_t magic;
    uint16_t version;
    uint16_t type;
    uint32_t len; /* body bytes */
};

enum nvc_wire_overflow {
    NVC_WIRE_OK = 0,
    NVC_WIRE_TOO_LARGE = 1, /* the frame would exceed the writer's maximum */
    NVC_WIRE_NO_MEMORY = 2, /* growing the heap buffer failed */
};

struct nvc_wbuf {
    uint8_t *data;
    size_t len; /* bytes written, header included */
    size_t cap;
    size_t max; /* the whole frame, header included */
    enum nvc_wire_overflow overflow;
    int heap; /* data is malloc'd by the writer (else the caller's storage) */
};

/* Starts a frame in the caller's storage of cap bytes (cap >= NVC_WIRE_HEADER_SIZE). */
void nvc_wire_begin_fixed(struct nvc_wbuf *w, void *storage, size_t cap, uint32_t magic, uint16_t version,
                          uint16_t type);
/* Starts a frame in a heap buffer that grows up to max bytes; nvc_wire_end hands it over
 * or frees it. */
void nvc_wire_begin_heap(struct nvc_wbuf *w, size_t max, uint32_t magic, uint16_t version, uint16_t type);
/* Keeps the header and the first body_len bytes of the body (at most what was written)
 * and forgets any overflow: for a writer that started a success reply and must send an
 * error instead. */
void nvc_wire_truncate(struct nvc_wbuf *w, size_t body_len);
/* Patches the body length into the header. Returns the frame size, or 0 when a put
 * failed (w->overflow says why; a heap buffer is freed then). */
size_t nvc_wire_end(struct nvc_wbuf *w);

void nvc_wire_put_u8(struct nvc_wbuf *w, uint8_t v);
void nvc_wire_put_u16(struct nvc_wbuf *w, uint16_t v);
void nvc_wire_put_u32(struct nvc_wbuf *w, uint32_t v);
void nvc_wire_put_i32(struct nvc_wbuf *w, int32_t v);
void nvc_wire_put_u64(struct nvc_wbuf *w, uint64_t v);
void nvc_wire_put_raw(struct nvc_wbuf *w, const void *d, size_t n); /* no length prefix */
void nvc_wire_put_blob(struct nvc_wbuf *w, const void *d, size_t n);
void nvc_wire_put_str(struct nvc_wbuf *w, const char *s);
void nvc_wire_put_ostr(struct nvc_wbuf *w, const char *s); /* NULL: absent */
void nvc_wire_put_absent(struct nvc_wbuf *w);
void nvc_wire_put_error(struct nvc_wbuf *w, const struct nvc_error *e);

/* Checks a header's magic and version and that the body is at most max_body bytes.
 * Returns 0 with h filled, or -1 with a reason in *why. The frame type is the
 * protocol's business. */
int nvc_wire_parse_header(const uint8_t hdr[NVC_WIRE_HEADER_SIZE], uint32_t magic, uint16_t version, size_t max_body,
                          struct nvc_wire_header *h, const char **why);

struct nvc_rbuf {
    const uint8_t *p;
    size_t len;
    size_t off;
    const char *bad; /* the first problem met; NULL while all is well */
};

void nvc_wire_reader(struct nvc_rbuf *r, const uint8_t *body, size_t len);

/* For record transports: a record must be exactly one frame, header and body. Returns 0
 * with h filled and body set up on the bytes after the header, or -1 with *why. */
int nvc_wire_open(const uint8_t *rec, size_t n, uint32_t magic, uint16_t version, size_t max_body,
                  struct nvc_wire_header *h, struct nvc_rbuf *body, const char **why);

uint8_t nvc_wire_get_u8(struct nvc_rbuf *r);
uint32_t nvc_wire_get_u32(struct nvc_rbuf *r);
int32_t nvc_wire_get_i32(struct nvc_rbuf *r);
uint64_t nvc_wire_get_u64(struct nvc_rbuf *r);
/* n raw bytes, or NULL (and r bad) when fewer are left. */
const uint8_t *nvc_wire_get_raw(struct nvc_rbuf *r, size_t n);

#define NVC_WIRE_TEXT     1 /* refuse NUL bytes */
#define NVC_WIRE_OPTIONAL 2 /* "absent" is allowed (returns NULL with r still good) */
/* A length-prefixed field of at most max bytes: a pointer into the body and its length. */
const uint8_t *nvc_wire_get_field(struct nvc_rbuf *r, size_t max, int flags, size_t *n);
/* A str copied into out, NUL-terminated; longer than outsz - 1 bytes is an error. out is
 * "" whenever r is bad. */
void nvc_wire_get_str(struct nvc_rbuf *r, char *out, size_t outsz);
/* An error field into e (cleared first). An unknown code name marks r bad. */
void nvc_wire_get_error(struct nvc_rbuf *r, struct nvc_error *e);
/* True when nothing went wrong and every byte was read. */
int nvc_wire_done(const struct nvc_rbuf *r);

#endif
