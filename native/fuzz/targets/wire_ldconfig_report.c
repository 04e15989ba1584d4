/* The core's side of the ldconfig helper's report: one record decoded by
 * nvc_ldconfig_report_decode. A report that decodes must encode to a record that
 * decodes to the same report (the helper's side of the protocol is that encoder; its
 * request travels as argv, see ldconfig_argv). */
#include "../fuzz.h"

#include "ldconfig_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct nvc_ldconfig_report rep, again;
    static uint8_t buf[NVC_LDCONFIG_REPORT_MAX];
    const char *why = NULL;

    if (nvc_ldconfig_report_decode(data, size, &rep, &why) < 0) {
        fuzz_touch(why);
        return 0;
    }
    fuzz_touch(rep.error.msg);
    size_t n = nvc_ldconfig_report_encode(&rep, buf, sizeof(buf));
    if (n == 0 || nvc_ldconfig_report_decode(buf, n, &again, &why) < 0)
        abort();
    if (again.outcome != rep.outcome || again.status != rep.status || again.output_len != rep.output_len ||
        memcmp(again.output, rep.output, rep.output_len) != 0)
        abort();
    return 0;
}
