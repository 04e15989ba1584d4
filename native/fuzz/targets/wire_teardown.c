/* The executor's side of a teardown: a TEARDOWN frame from the core decoded and checked by
 * nvc_teardown_decode (the trust boundary for the change list a caller kept between
 * configure and teardown). A request that decodes must encode again and decode to the
 * same changes. */
#include "../fuzz.h"

#include "plan_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint16_t type;
    uint32_t body_len;
    const char *why = NULL;
    struct nvc_teardown_decoded d, again;
    struct nvc_error err;
    uint8_t *buf = NULL;
    size_t len = 0;

    if (size < NVC_PLAN_FRAME_HEADER)
        return 0;
    if (nvc_plan_frame_header(data, &type, &body_len, &why) < 0) {
        fuzz_touch(why);
        body_len = (uint32_t)(size - NVC_PLAN_FRAME_HEADER);
    }
    if (body_len > size - NVC_PLAN_FRAME_HEADER)
        body_len = (uint32_t)(size - NVC_PLAN_FRAME_HEADER);
    if (nvc_teardown_decode(data + NVC_PLAN_FRAME_HEADER, body_len, &d, &err) < 0) {
        fuzz_touch(err.msg);
        return 0;
    }
    if (nvc_teardown_encode(&d.req, &buf, &len, &err) < 0)
        abort(); /* what the executor accepted, the core's encoder must accept too */
    if (nvc_teardown_decode(buf + NVC_PLAN_FRAME_HEADER, len - NVC_PLAN_FRAME_HEADER, &again, &err) < 0 ||
        again.req.nchanges != d.req.nchanges || again.req.pid != d.req.pid ||
        strcmp(again.req.rootfs, d.req.rootfs) != 0)
        abort();
    for (size_t i = 0; i < d.req.nchanges; i++) {
        if (strcmp(again.changes[i].path, d.changes[i].path) != 0 || again.changes[i].ino != d.changes[i].ino ||
            again.changes[i].mnt_unique != d.changes[i].mnt_unique)
            abort();
    }
    nvc_teardown_decoded_free(&again);
    free(buf);
    nvc_teardown_decoded_free(&d);
    return 0;
}
