/* /proc/PID/cgroup ("ID:controllers:path" lines) as nvc_cgroup_version reads it, from a
 * proc root in a scratch directory. */
#include "../fuzz.h"

#include <sys/stat.h>

#include "cgroup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char file[256];
    const char *dir = fuzz_scratch_dir();
    struct nvc_error err;
    int version;

    if (file[0] == '\0') {
        char d[256];
        snprintf(d, sizeof(d), "%s/1", dir);
        mkdir(d, 0700);
        snprintf(file, sizeof(file), "%s/1/cgroup", dir);
    }
    fuzz_write_file(file, data, size);
    if (nvc_cgroup_version(dir, 1, &version, &err) < 0)
        fuzz_touch(err.msg);
    else if (version != 1 && version != 2)
        abort();
    return 0;
}
