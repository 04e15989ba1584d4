/* glibc's ld.so.cache as nvc_ldcache_parse reads it from a possibly hostile driver root. */
#include "../fuzz.h"

#include "ldcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nvc_ldcache c;
    struct nvc_error err;

    if (nvc_ldcache_parse(data, size, "fuzz", &c, &err) < 0) {
        fuzz_touch(err.msg);
        return 0;
    }
    for (size_t i = 0; i < c.nentries; i++) {
        fuzz_touch(c.entries[i].key);
        fuzz_touch(c.entries[i].value);
        (void)nvc_ldcache_entry_usable(&c.entries[i], 0);
        (void)nvc_ldcache_entry_usable(&c.entries[i], 1);
    }
    nvc_ldcache_free(&c);
    return 0;
}
