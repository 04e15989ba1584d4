/* The executor's side of the plan protocol: a frame from the core (header, then body)
 * decoded and checked by nvc_plan_decode, the executor's trust boundary. A plan that
 * decodes must encode again and decode to the same edits. */
#include "../fuzz.h"

#include "plan_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint16_t type;
    uint32_t body_len;
    const char *why = NULL;
    struct nvc_plan_decoded d;
    struct nvc_error err;

    if (size < NVC_PLAN_FRAME_HEADER)
        return 0;
    if (nvc_plan_frame_header(data, &type, &body_len, &why) < 0) {
        fuzz_touch(why);
        /* the body parser is the interesting part: read the rest as a body anyway */
        body_len = (uint32_t)(size - NVC_PLAN_FRAME_HEADER);
    }
    if (body_len > size - NVC_PLAN_FRAME_HEADER)
        body_len = (uint32_t)(size - NVC_PLAN_FRAME_HEADER);
    if (nvc_plan_decode(data + NVC_PLAN_FRAME_HEADER, body_len, &d, &err) < 0) {
        fuzz_touch(err.msg);
        return 0;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (nvc_plan_encode(&d.plan, &buf, &len, &err) < 0)
        abort(); /* what the executor accepted, the core's encoder must accept too */
    struct nvc_plan_decoded again;
    if (nvc_plan_decode(buf + NVC_PLAN_FRAME_HEADER, len - NVC_PLAN_FRAME_HEADER, &again, &err) < 0 ||
        again.plan.nedits != d.plan.nedits)
        abort();
    nvc_plan_decoded_free(&again);
    free(buf);
    nvc_plan_decoded_free(&d);
    return 0;
}
