/* The core's side of the driver-service protocol: every record the service may send
 * (READY, CALLING, the replies to DRIVER, DEVICE_COUNT and DEVICE, error replies), read
 * the way driver_service.c and context.c read them. */
#include "../fuzz.h"

#include "device_info.h"
#include "discovery.h"
#include "driver_proto.h"
#include "nvc.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint16_t op;
    uint32_t seq;
    struct nvc_rbuf r;
    const char *why = NULL;

    if (nvc_proto_open(data, size, &op, &seq, &r, &why) < 0) {
        fuzz_touch(why);
        return 0;
    }
    if (op == NVC_OP_CALLING) {
        char fn[128];
        nvc_wire_get_str(&r, fn, sizeof(fn));
        (void)nvc_wire_get_u32(&r);
        fuzz_touch(fn);
        return nvc_wire_done(&r) ? 0 : 0;
    }
    uint32_t status = nvc_wire_get_u32(&r);
    if (status == NVC_STATUS_ERROR) {
        struct nvc_error e;
        nvc_wire_get_error(&r, &e);
        fuzz_touch(e.msg);
        fuzz_touch(e.step);
        fuzz_touch(e.path);
        return 0;
    }
    switch (op) {
    case NVC_OP_DRIVER: {
        char version[64];
        nvc_wire_get_str(&r, version, sizeof(version));
        int cuda = nvc_wire_get_i32(&r);
        char text[32];
        nvc_format_cuda_version(cuda, text, sizeof(text));
        fuzz_touch(version);
        break;
    }
    case NVC_OP_DEVICE_COUNT: (void)nvc_wire_get_u32(&r); break;
    case NVC_OP_DEVICE: {
        struct nvc_device d;
        struct nvc_error err;
        memset(&d, 0, sizeof(d));
        if (nvc_device_decode(&r, &d, &err) == 0) {
            fuzz_touch(d.model);
            fuzz_touch(d.uuid);
            fuzz_touch(d.brand);
            fuzz_touch(d.busid);
            fuzz_touch(d.arch);
            for (size_t i = 0; i < d.nmig; i++) {
                fuzz_touch(d.mig[i].uuid);
                fuzz_touch(d.mig[i].ci_caps_path);
            }
        } else {
            fuzz_touch(err.msg);
        }
        free(d.mig);
        break;
    }
    default: break;
    }
    (void)nvc_wire_done(&r);
    return 0;
}
