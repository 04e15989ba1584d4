/* The cgroup code's reading of mountinfo lines (which mount shows a container's
 * cgroup): the static parsers of cgroup.c, included here. The first byte picks the
 * hierarchy version; the cgroup path is a fixed, typical one. */
#include "../fuzz.h"

#include "../../core/setup/cgroup.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *mnt;
    const char *rest;
    int foreign = 0;

    if (size < 1)
        return 0;
    int version = (data[0] & 1) + 1;
    char *line = fuzz_cstr(data + 1, size - 1);
    if (mount_shows(line, version, "/system.slice/ctr.scope", &mnt, &rest, &foreign)) {
        fuzz_touch(mnt);
        fuzz_touch(rest);
    }
    free(line);
    return 0;
}
