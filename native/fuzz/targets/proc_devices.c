/* /proc/devices (the majors of nvidia-frontend, nvidia-uvm, nvidia-caps...) as the
 * discovery reads it: the static parser of driver_devices.c, included here. */
#include "../fuzz.h"

#include "../../core/discovery/driver_devices.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    (void)char_major(text, "nvidia-frontend");
    (void)char_major(text, "nvidia-caps");
    (void)char_major(text, "");
    free(text);
    return 0;
}
