#include "driver_proto.h"

void nvc_proto_begin(struct nvc_wbuf *w, void *storage, size_t cap, uint16_t op, uint32_t seq)
{
    nvc_wire_begin_fixed(w, storage, cap < NVC_PROTO_MAX_MSG ? cap : NVC_PROTO_MAX_MSG, NVC_PROTO_MAGIC,
                         NVC_PROTO_VERSION, op);
    nvc_wire_put_u32(w, seq);
}

void nvc_proto_fail(struct nvc_wbuf *w, const struct nvc_error *e)
{
    nvc_wire_truncate(w, 4); /* keep the sequence number */
    nvc_wire_put_u32(w, NVC_STATUS_ERROR);
    nvc_wire_put_error(w, e);
}

int nvc_proto_open(const uint8_t *rec, size_t n, uint16_t *op, uint32_t *seq, struct nvc_rbuf *body, const char **why)
{
    struct nvc_wire_header h;

    if (nvc_wire_open(rec, n, NVC_PROTO_MAGIC, NVC_PROTO_VERSION, NVC_PROTO_MAX_MSG - NVC_WIRE_HEADER_SIZE, &h, body,
                      why) < 0)
        return -1;
    *op = h.type;
    *seq = nvc_wire_get_u32(body);
    if (body->bad) {
        *why = "record without a sequence number";
        return -1;
    }
    return 0;
}
