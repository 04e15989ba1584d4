/* The nvidia-caps proc files (/proc/driver/nvidia/capabilities/.../access,
 * mig/config, mig/monitor: "DeviceFileMinor: N"), read from a proc root in a scratch
 * directory by nvc_read_cap_minor. */
#include "../fuzz.h"

#include <sys/stat.h>

#include "discovery.h"
#include "nvc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct nvc_host host;
    static char file[256];

    if (file[0] == '\0') {
        const char *dir = fuzz_scratch_dir();
        char d[256];
        snprintf(host.proc_root, sizeof(host.proc_root), "%s", dir);
        snprintf(d, sizeof(d), "%s/driver", dir);
        mkdir(d, 0700);
        snprintf(d, sizeof(d), "%s/driver/nvidia", dir);
        mkdir(d, 0700);
        snprintf(d, sizeof(d), "%s/driver/nvidia/capabilities", dir);
        mkdir(d, 0700);
        snprintf(d, sizeof(d), "%s/driver/nvidia/capabilities/mig", dir);
        mkdir(d, 0700);
        snprintf(file, sizeof(file), "%s/driver/nvidia/capabilities/mig/config", dir);
    }
    fuzz_write_file(file, data, size);
    (void)nvc_read_cap_minor(&host, "/proc/driver/nvidia/capabilities/mig/config");
    return 0;
}
