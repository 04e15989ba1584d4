/* The CDI hook's minimal JSON reader (the OCI state on stdin, config.json): a string
 * and a number looked up by key path in hostile text. */
#include "../fuzz.h"

#include "../../cdi-hook/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const root[] = {"root", "path", NULL};
    static const char *const pid[] = {"pid", NULL};
    static const char *const bundle[] = {"bundle", NULL};
    char out[4096];
    long v;

    char *text = fuzz_cstr(data, size);
    if (hook_json_string(text, root, out, sizeof(out)) == 0)
        fuzz_touch(out);
    if (hook_json_string(text, bundle, out, 8) == 0)
        fuzz_touch(out);
    (void)hook_json_long(text, pid, &v);
    free(text);
    return 0;
}
