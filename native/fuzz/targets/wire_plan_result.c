/* The core's side of the plan protocol: the executor's answer (DONE with one outcome per
 * edit, or ERROR) read by nvc_plan_decode_result. The first two bytes choose the frame
 * type and the plan's edit count. */
#include "../fuzz.h"

#include "plan_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nvc_plan_result result;
    struct nvc_error reported;
    const char *why = NULL;

    if (size < 2)
        return 0;
    uint16_t type = data[0] & 3;
    size_t nedits = data[1];
    memset(&result, 0, sizeof(result));
    int r = nvc_plan_decode_result(type, data + 2, size - 2, nedits, &result, &reported, &why);
    if (r == 0)
        free(result.outcomes);
    else if (r == 1)
        fuzz_touch(reported.msg);
    else
        fuzz_touch(why);
    return 0;
}
