/* The service's side of the driver-service protocol: a request record from the core,
 * validated and read the way nvc-ts-driver's serve() reads it. */
#include "../fuzz.h"

#include "driver_proto.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint16_t op;
    uint32_t seq;
    struct nvc_rbuf r;
    const char *why = NULL;
    static uint8_t out[NVC_PROTO_MAX_MSG];
    struct nvc_wbuf w;

    if (size > NVC_PROTO_MAX_MSG || nvc_proto_open(data, size, &op, &seq, &r, &why) < 0) {
        fuzz_touch(why);
        return 0;
    }
    nvc_proto_begin(&w, out, sizeof(out), op, seq);
    if (op == 5 /* NVC_OP_DEVICE */) {
        uint32_t index = nvc_wire_get_u32(&r);
        nvc_wire_put_u32(&w, 0);
        nvc_wire_put_u32(&w, index);
    }
    if (!nvc_wire_done(&r)) {
        /* the service answers a bad request with an error reply: exercise that writer */
        struct nvc_error e;
        nvc_error_set(&e, NVC_ERR_SERVICE_PROTOCOL, 0, "request", NULL, "%s", r.bad ? r.bad : "left over");
        nvc_proto_fail(&w, &e);
    }
    size_t n = nvc_wire_end(&w);
    if (n > 0) {
        /* what the service writes, the core must read back */
        uint16_t op2;
        uint32_t seq2;
        struct nvc_rbuf r2;
        if (nvc_proto_open(out, n, &op2, &seq2, &r2, &why) < 0 || op2 != op || seq2 != seq)
            abort();
    }
    return 0;
}
