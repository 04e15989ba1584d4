/* The core's side of the executor protocol: the executor's answer read by
 * nvc_plan_decode_result (DONE with one outcome per edit and the change list, or ERROR)
 * or, for a teardown, by nvc_teardown_decode_result (UNDONE with one report per change,
 * or ERROR). The first two bytes choose the frame type and the expected count; an odd
 * type byte above 3 reads the answer as a teardown's. */
#include "../fuzz.h"

#include "plan_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nvc_plan_result result;
    struct nvc_teardown_result undone;
    struct nvc_error reported;
    const char *why = NULL;
    int r;

    if (size < 2)
        return 0;
    uint16_t type = data[0] % 6;
    size_t count = data[1];
    memset(&result, 0, sizeof(result));
    memset(&undone, 0, sizeof(undone));
    if (data[0] & 0x80) {
        r = nvc_teardown_decode_result(type, data + 2, size - 2, count, &undone, &reported, &why);
        if (r == 0) {
            for (size_t i = 0; i < undone.nchanges; i++)
                fuzz_touch(undone.reports[i].why);
            nvc_teardown_result_free(&undone);
        }
    } else {
        r = nvc_plan_decode_result(type, data + 2, size - 2, count, &result, &reported, &why);
        if (r == 0) {
            for (size_t i = 0; i < result.nchanges; i++)
                fuzz_touch(result.changes[i].path);
            nvc_plan_result_free(&result);
        }
    }
    if (r == 1)
        fuzz_touch(reported.msg);
    else if (r < 0)
        fuzz_touch(why);
    return 0;
}
