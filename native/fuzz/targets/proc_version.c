/* /proc/driver/nvidia/version ("NVRM version: ... Kernel Module ... 580.159.04 ...") as
 * the context reads the kernel module's version: the static reader of context.c,
 * included here, over a proc root in a scratch directory. */
#include "../fuzz.h"

#include <sys/stat.h>

#include "../../core/driver-client/context.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct nvc_host host;
    static char file[256];
    char out[64];

    if (file[0] == '\0') {
        const char *dir = fuzz_scratch_dir();
        char d[256];
        snprintf(host.proc_root, sizeof(host.proc_root), "%s", dir);
        snprintf(d, sizeof(d), "%s/driver", dir);
        mkdir(d, 0700);
        snprintf(d, sizeof(d), "%s/driver/nvidia", dir);
        mkdir(d, 0700);
        snprintf(file, sizeof(file), "%s/driver/nvidia/version", dir);
    }
    fuzz_write_file(file, data, size);
    kernel_module_version(&host, out, sizeof(out));
    fuzz_touch(out);
    return 0;
}
