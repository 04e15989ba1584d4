/* One /proc/self/mountinfo line as the executor parses it (mountinfo.c, included here:
 * its parser is static). */
#include "../fuzz.h"

#include "../../exec/mountinfo.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mi_entry e;
    char *line = fuzz_cstr(data, size);
    if (parse(line, &e) == 0)
        fuzz_touch(e.mountpoint);
    free(line);
    return 0;
}
