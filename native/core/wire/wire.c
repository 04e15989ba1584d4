#include "wire.h"

#include <stdlib.h>
#include <string.h>

static void store_u16(uint8_t *d, uint16_t v)
{
    d[0] = (uint8_t)v;
    d[1] = (uint8_t)(v >> 8);
}

static void store_u32(uint8_t *d, uint32_t v)
{
    d[0] = (uint8_t)v;
    d[1] = (uint8_t)(v >> 8);
    d[2] = (uint8_t)(v >> 16);
    d[3] = (uint8_t)(v >> 24);
}

static uint16_t load_u16(const uint8_t *s)
{
    return (uint16_t)(s[0] | s[1] << 8);
}

static uint32_t load_u32(const uint8_t *s)
{
    return (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24;
}

/* ---- writing ---------------------------------------------------------------------- */

/* Room for n more bytes, or the writer marked. A heap buffer doubles (from 4 KiB) but
 * never beyond max, so a refused frame never costs more memory than an accepted one. */
static int reserve(struct nvc_wbuf *w, size_t n)
{
    if (w->overflow != NVC_WIRE_OK)
        return -1;
    if (n > w->max - w->len) {
        w->overflow = NVC_WIRE_TOO_LARGE;
        return -1;
    }
    /* Fixed storage has cap == max: only a heap buffer gets past this. */
    if (w->len + n <= w->cap)
        return 0;
    size_t want = w->cap ? w->cap : 4096;
    while (want < w->len + n)
        want = want > w->max / 2 ? w->max : want * 2;
    if (want > w->max)
        want = w->max;
    uint8_t *np = realloc(w->data, want);
    if (np == NULL) {
        w->overflow = NVC_WIRE_NO_MEMORY;
        return -1;
    }
    w->data = np;
    w->cap = want;
    return 0;
}

static void write_header(struct nvc_wbuf *w, uint32_t magic, uint16_t version, uint16_t type)
{
    uint8_t h[NVC_WIRE_HEADER_SIZE];
    store_u32(h, magic);
    store_u16(h + 4, version);
    store_u16(h + 6, type);
    store_u32(h + 8, 0); /* body length: nvc_wire_end patches it */
    nvc_wire_put_raw(w, h, sizeof(h));
}

void nvc_wire_begin_fixed(struct nvc_wbuf *w, void *storage, size_t cap, uint32_t magic, uint16_t version,
                          uint16_t type)
{
    w->data = storage;
    w->len = 0;
    w->cap = w->max = cap;
    w->overflow = NVC_WIRE_OK;
    w->heap = 0;
    write_header(w, magic, version, type);
}

void nvc_wire_begin_heap(struct nvc_wbuf *w, size_t max, uint32_t magic, uint16_t version, uint16_t type)
{
    w->data = NULL;
    w->len = w->cap = 0;
    w->max = max;
    w->overflow = NVC_WIRE_OK;
    w->heap = 1;
    write_header(w, magic, version, type);
}

void nvc_wire_truncate(struct nvc_wbuf *w, size_t body_len)
{
    if (w->data == NULL || w->len < NVC_WIRE_HEADER_SIZE) { /* it could not even hold its header */
        w->overflow = NVC_WIRE_NO_MEMORY;
        return;
    }
    if (body_len < w->len - NVC_WIRE_HEADER_SIZE)
        w->len = NVC_WIRE_HEADER_SIZE + body_len;
    w->overflow = NVC_WIRE_OK;
}

size_t nvc_wire_end(struct nvc_wbuf *w)
{
    if (w->overflow != NVC_WIRE_OK) {
        if (w->heap) {
            free(w->data);
            w->data = NULL;
            w->cap = 0;
        }
        return 0;
    }
    store_u32(w->data + 8, (uint32_t)(w->len - NVC_WIRE_HEADER_SIZE));
    return w->len;
}

void nvc_wire_put_raw(struct nvc_wbuf *w, const void *d, size_t n)
{
    if (reserve(w, n) < 0)
        return;
    if (n > 0)
        memcpy(w->data + w->len, d, n);
    w->len += n;
}

void nvc_wire_put_u8(struct nvc_wbuf *w, uint8_t v)
{
    nvc_wire_put_raw(w, &v, 1);
}

void nvc_wire_put_u16(struct nvc_wbuf *w, uint16_t v)
{
    uint8_t b[2];
    store_u16(b, v);
    nvc_wire_put_raw(w, b, sizeof(b));
}

void nvc_wire_put_u32(struct nvc_wbuf *w, uint32_t v)
{
    uint8_t b[4];
    store_u32(b, v);
    nvc_wire_put_raw(w, b, sizeof(b));
}

void nvc_wire_put_i32(struct nvc_wbuf *w, int32_t v)
{
    nvc_wire_put_u32(w, (uint32_t)v);
}

void nvc_wire_put_u64(struct nvc_wbuf *w, uint64_t v)
{
    nvc_wire_put_u32(w, (uint32_t)(v >> 32));
    nvc_wire_put_u32(w, (uint32_t)v);
}

void nvc_wire_put_blob(struct nvc_wbuf *w, const void *d, size_t n)
{
    /* A length of 0xffffffff would read back as "absent". */
    if (n >= NVC_WIRE_ABSENT) {
        if (w->overflow == NVC_WIRE_OK)
            w->overflow = NVC_WIRE_TOO_LARGE;
        return;
    }
    nvc_wire_put_u32(w, (uint32_t)n);
    nvc_wire_put_raw(w, d, n);
}

void nvc_wire_put_str(struct nvc_wbuf *w, const char *s)
{
    nvc_wire_put_blob(w, s, strlen(s));
}

void nvc_wire_put_absent(struct nvc_wbuf *w)
{
    nvc_wire_put_u32(w, NVC_WIRE_ABSENT);
}

void nvc_wire_put_ostr(struct nvc_wbuf *w, const char *s)
{
    if (s == NULL)
        nvc_wire_put_absent(w);
    else
        nvc_wire_put_str(w, s);
}

void nvc_wire_put_error(struct nvc_wbuf *w, const struct nvc_error *e)
{
    /* strnlen: an error filled by hand may lack its terminator; never read past a field. */
    nvc_wire_put_str(w, nvc_errcode_string(e->code));
    nvc_wire_put_i32(w, e->sys_errno);
    nvc_wire_put_blob(w, e->step, strnlen(e->step, sizeof(e->step)));
    nvc_wire_put_blob(w, e->path, strnlen(e->path, sizeof(e->path)));
    nvc_wire_put_blob(w, e->msg, strnlen(e->msg, sizeof(e->msg)));
    nvc_wire_put_i32(w, e->nvml_ret);
}

/* ---- reading ---------------------------------------------------------------------- */

int nvc_wire_parse_header(const uint8_t hdr[NVC_WIRE_HEADER_SIZE], uint32_t magic, uint16_t version, size_t max_body,
                          struct nvc_wire_header *h, const char **why)
{
    h->magic = load_u32(hdr);
    h->version = load_u16(hdr + 4);
    h->type = load_u16(hdr + 6);
    h->len = load_u32(hdr + 8);
    if (h->magic != magic) {
        *why = "bad magic";
        return -1;
    }
    if (h->version != version) {
        *why = "protocol version mismatch (the helper and the addon come from different builds)";
        return -1;
    }
    if (h->len > max_body) {
        *why = "frame length larger than the protocol allows";
        return -1;
    }
    return 0;
}

void nvc_wire_reader(struct nvc_rbuf *r, const uint8_t *body, size_t len)
{
    r->p = body;
    r->len = len;
    r->off = 0;
    r->bad = NULL;
}

int nvc_wire_open(const uint8_t *rec, size_t n, uint32_t magic, uint16_t version, size_t max_body,
                  struct nvc_wire_header *h, struct nvc_rbuf *body, const char **why)
{
    if (n < NVC_WIRE_HEADER_SIZE) {
        *why = "record shorter than the header";
        return -1;
    }
    if (nvc_wire_parse_header(rec, magic, version, max_body, h, why) < 0)
        return -1;
    if (h->len != n - NVC_WIRE_HEADER_SIZE) {
        *why = "body length does not match the record size";
        return -1;
    }
    nvc_wire_reader(body, rec + NVC_WIRE_HEADER_SIZE, h->len);
    return 0;
}

const uint8_t *nvc_wire_get_raw(struct nvc_rbuf *r, size_t n)
{
    const uint8_t *d;
    if (r->bad)
        return NULL;
    if (r->len - r->off < n) {
        r->bad = "truncated";
        return NULL;
    }
    d = r->p + r->off;
    r->off += n;
    return d;
}

uint8_t nvc_wire_get_u8(struct nvc_rbuf *r)
{
    const uint8_t *d = nvc_wire_get_raw(r, 1);
    return d ? d[0] : 0;
}

uint32_t nvc_wire_get_u32(struct nvc_rbuf *r)
{
    const uint8_t *d = nvc_wire_get_raw(r, 4);
    return d ? load_u32(d) : 0;
}

int32_t nvc_wire_get_i32(struct nvc_rbuf *r)
{
    return (int32_t)nvc_wire_get_u32(r);
}

uint64_t nvc_wire_get_u64(struct nvc_rbuf *r)
{
    uint64_t hi = nvc_wire_get_u32(r);
    return hi << 32 | nvc_wire_get_u32(r);
}

const uint8_t *nvc_wire_get_field(struct nvc_rbuf *r, size_t max, int flags, size_t *n)
{
    uint32_t l = nvc_wire_get_u32(r);
    const uint8_t *d;

    *n = 0;
    if (r->bad)
        return NULL;
    if (l == NVC_WIRE_ABSENT) {
        if (!(flags & NVC_WIRE_OPTIONAL))
            r->bad = "a required field is absent";
        return NULL;
    }
    if (l > max) {
        r->bad = "a field is longer than allowed";
        return NULL;
    }
    if (r->len - r->off < l) {
        r->bad = "a field runs past the end of the frame";
        return NULL;
    }
    d = r->p + r->off;
    if ((flags & NVC_WIRE_TEXT) && memchr(d, '\0', l) != NULL) {
        r->bad = "a text field holds a NUL byte";
        return NULL;
    }
    r->off += l;
    *n = l;
    return d;
}

void nvc_wire_get_str(struct nvc_rbuf *r, char *out, size_t outsz)
{
    size_t n;
    const uint8_t *d = nvc_wire_get_field(r, outsz - 1, NVC_WIRE_TEXT, &n);
    out[0] = '\0';
    if (d == NULL)
        return;
    memcpy(out, d, n);
    out[n] = '\0';
}

void nvc_wire_get_error(struct nvc_rbuf *r, struct nvc_error *e)
{
    char code[64];

    nvc_error_clear(e);
    nvc_wire_get_str(r, code, sizeof(code));
    e->sys_errno = nvc_wire_get_i32(r);
    nvc_wire_get_str(r, e->step, sizeof(e->step));
    nvc_wire_get_str(r, e->path, sizeof(e->path));
    nvc_wire_get_str(r, e->msg, sizeof(e->msg));
    e->nvml_ret = nvc_wire_get_i32(r);
    if (r->bad)
        return;
    for (int c = 1; c < NVC_ERRCODE_COUNT; c++) {
        if (strcmp(code, nvc_errcode_string((enum nvc_errcode)c)) == 0) {
            e->code = (enum nvc_errcode)c;
            return;
        }
    }
    r->bad = "unknown error code";
}

int nvc_wire_done(const struct nvc_rbuf *r)
{
    return r->bad == NULL && r->off == r->len;
}
