#include "ldconfig_report.h"

#include <string.h>

#include "wire.h"

static int has_error(uint32_t outcome)
{
    return outcome == NVC_LDCONFIG_MISSING || outcome == NVC_LDCONFIG_SETUP_FAILED ||
           outcome == NVC_LDCONFIG_OVER_BUDGET;
}

size_t nvc_ldconfig_report_encode(const struct nvc_ldconfig_report *rep, uint8_t *buf, size_t cap)
{
    struct nvc_wbuf w;
    size_t out = rep->output_len <= sizeof(rep->output) ? rep->output_len : sizeof(rep->output);

    nvc_wire_begin_fixed(&w, buf, cap, NVC_LDCONFIG_MAGIC, NVC_LDCONFIG_WIRE_VERSION, NVC_LDCONFIG_FRAME_REPORT);
    nvc_wire_put_u32(&w, rep->outcome);
    nvc_wire_put_i32(&w, rep->status);
    nvc_wire_put_u32(&w, rep->output_cut != 0);
    nvc_wire_put_blob(&w, rep->output, out);
    nvc_wire_put_u8(&w, (uint8_t)has_error(rep->outcome));
    if (has_error(rep->outcome))
        nvc_wire_put_error(&w, &rep->error);
    return nvc_wire_end(&w);
}

int nvc_ldconfig_report_decode(const uint8_t *rec, size_t n, struct nvc_ldconfig_report *rep, const char **why)
{
    struct nvc_wire_header h;
    struct nvc_rbuf r;
    const uint8_t *out;
    size_t outlen;

    memset(rep, 0, sizeof(*rep));
    if (nvc_wire_open(rec, n, NVC_LDCONFIG_MAGIC, NVC_LDCONFIG_WIRE_VERSION,
                      NVC_LDCONFIG_REPORT_MAX - NVC_WIRE_HEADER_SIZE, &h, &r, why) < 0)
        return -1;
    if (h.type != NVC_LDCONFIG_FRAME_REPORT) {
        *why = "not a report";
        return -1;
    }
    rep->outcome = nvc_wire_get_u32(&r);
    rep->status = nvc_wire_get_i32(&r);
    rep->output_cut = nvc_wire_get_u32(&r) != 0;
    out = nvc_wire_get_field(&r, sizeof(rep->output), 0, &outlen);
    if (out != NULL) {
        memcpy(rep->output, out, outlen);
        rep->output_len = (uint32_t)outlen;
    }
    uint8_t flagged = nvc_wire_get_u8(&r);
    if (!r.bad && (rep->outcome < NVC_LDCONFIG_EXITED || rep->outcome > NVC_LDCONFIG_OVER_BUDGET))
        r.bad = "unknown outcome";
    if (!r.bad && flagged != has_error(rep->outcome))
        r.bad = "an error where none belongs, or none where one does";
    if (!r.bad && flagged)
        nvc_wire_get_error(&r, &rep->error);
    if (!nvc_wire_done(&r)) {
        *why = r.bad ? r.bad : "bytes left over after the report";
        return -1;
    }
    return 0;
}
