#include "proto.h"

#include <string.h>

static void put_bytes(struct nvc_wbuf *b, const void *src, size_t n)
{
    if (b->overflow || n > sizeof(b->data) - b->len) {
        b->overflow = 1;
        return;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

static void store_u32(uint8_t *dst, uint32_t v)
{
    dst[0] = (uint8_t)v;
    dst[1] = (uint8_t)(v >> 8);
    dst[2] = (uint8_t)(v >> 16);
    dst[3] = (uint8_t)(v >> 24);
}

static uint32_t load_u32(const uint8_t *src)
{
    return (uint32_t)src[0] | (uint32_t)src[1] << 8 | (uint32_t)src[2] << 16 | (uint32_t)src[3] << 24;
}

void nvc_wbuf_start(struct nvc_wbuf *b, uint16_t op, uint32_t seq)
{
    b->len = NVC_PROTO_HEADER_SIZE;
    b->overflow = 0;
    store_u32(b->data, NVC_PROTO_MAGIC);
    b->data[4] = (uint8_t)NVC_PROTO_VERSION;
    b->data[5] = (uint8_t)(NVC_PROTO_VERSION >> 8);
    b->data[6] = (uint8_t)op;
    b->data[7] = (uint8_t)(op >> 8);
    store_u32(b->data + 8, seq);
    store_u32(b->data + 12, 0);
}

void nvc_put_u32(struct nvc_wbuf *b, uint32_t v)
{
    uint8_t tmp[4];
    store_u32(tmp, v);
    put_bytes(b, tmp, sizeof(tmp));
}

void nvc_put_i32(struct nvc_wbuf *b, int32_t v)
{
    nvc_put_u32(b, (uint32_t)v);
}

void nvc_put_str(struct nvc_wbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (n > UINT32_MAX) {
        b->overflow = 1;
        return;
    }
    nvc_put_u32(b, (uint32_t)n);
    put_bytes(b, s, n);
}

size_t nvc_wbuf_finish(struct nvc_wbuf *b)
{
    if (b->overflow)
        return 0;
    store_u32(b->data + 12, (uint32_t)(b->len - NVC_PROTO_HEADER_SIZE));
    return b->len;
}

int nvc_proto_open(const uint8_t *msg, size_t n, struct nvc_msg_header *h, struct nvc_rbuf *payload, const char **why)
{
    if (n < NVC_PROTO_HEADER_SIZE) {
        *why = "record shorter than the header";
        return -1;
    }
    h->magic = load_u32(msg);
    h->version = (uint16_t)(msg[4] | msg[5] << 8);
    h->op = (uint16_t)(msg[6] | msg[7] << 8);
    h->seq = load_u32(msg + 8);
    h->len = load_u32(msg + 12);
    if (h->magic != NVC_PROTO_MAGIC) {
        *why = "bad magic";
        return -1;
    }
    if (h->version != NVC_PROTO_VERSION) {
        *why = "protocol version mismatch (the driver service and the addon come from different builds)";
        return -1;
    }
    if (h->len != n - NVC_PROTO_HEADER_SIZE) {
        *why = "payload length does not match the record size";
        return -1;
    }
    payload->p = msg + NVC_PROTO_HEADER_SIZE;
    payload->len = h->len;
    payload->off = 0;
    payload->bad = 0;
    return 0;
}

uint32_t nvc_get_u32(struct nvc_rbuf *r)
{
    if (r->bad || r->len - r->off < 4) {
        r->bad = 1;
        return 0;
    }
    uint32_t v = load_u32(r->p + r->off);
    r->off += 4;
    return v;
}

int32_t nvc_get_i32(struct nvc_rbuf *r)
{
    return (int32_t)nvc_get_u32(r);
}

void nvc_get_str(struct nvc_rbuf *r, char *out, size_t outsz)
{
    out[0] = '\0';
    uint32_t n = nvc_get_u32(r);
    if (r->bad || n > r->len - r->off || n >= outsz || memchr(r->p + r->off, '\0', n) != NULL) {
        r->bad = 1;
        return;
    }
    memcpy(out, r->p + r->off, n);
    out[n] = '\0';
    r->off += n;
}

int nvc_rbuf_done(const struct nvc_rbuf *r)
{
    return !r->bad && r->off == r->len;
}
