#define _GNU_SOURCE
/* The driver-info cache (discovery/driver_cache.c) and the witness behind it (util/witness.c):
 * a second lookup over an unchanged driver root is the first one's copy; every kind of change
 * discovery could see gives a fresh discovery that shows the change. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "discovery.h"
#include "driver_cache.h"
#include "fixture.h"
#include "harness.h"
#include "witness.h"

#define VER      "580.159.04"
#define CUDA     13000
#define L        "usr/lib/x86_64-linux-gnu"
#define SETTLE   50 /* ms: the settling time of these tests (the default is 2000) */
#define ELF_STUB "\177ELF stub"

static char T[PATH_MAX], R[PATH_MAX];
static struct nvc_host host;
static struct nvc_driver_cache cache;
static int have_tools;

static int setup(void)
{
    if (fx_tmpdir(T, sizeof(T)) < 0 || fx_path(R, sizeof(R), "%s/root", T) < 0)
        return -1;
    have_tools = fx_cc() != NULL && fx_ldconfig() != NULL;
    if (have_tools) {
        const char *dirs[] = {"/" L, NULL};
        if (fx_build_so(R, L "/libnvidia-ml.so." VER, "libnvidia-ml.so.1", NULL, 0) < 0 ||
            fx_build_so(R, L "/libcuda.so." VER, "libcuda.so.1", NULL, 0) < 0 ||
            fx_build_so(R, L "/alt/libcuda.so." VER, "libcuda.so.1", NULL, 0) < 0 || fx_make_ldcache(R, dirs) < 0)
            return -1;
    }
    /* /opt is a link to one of two trees that both hold nvidia-smi: retargeting it moves the
     * binary without touching either file. */
    if (fx_write_str(R, "opt1/bin/nvidia-smi", ELF_STUB) < 0 || fx_write_str(R, "opt2/bin/nvidia-smi", ELF_STUB) < 0 ||
        fx_symlink(R, "opt", "opt1") < 0 || fx_mkdirs(R, "usr/local/bin") < 0 ||
        fx_write_str(R, "lib/firmware/nvidia/" VER "/gsp_ga10x.bin", "ga") < 0 ||
        fx_write_str(T, "proc/devices", "Character devices:\n195 nvidia\n241 nvidia-caps\n\nBlock devices:\n") < 0 ||
        fx_mkdirs(T, "dev") < 0 || fx_mkdirs(T, "sys") < 0)
        return -1;
    if (fx_host(&host, R, T, "/usr/local/bin:/opt/bin") < 0)
        return -1;
    host.discovery_settle_ms = SETTLE;
    nvc_driver_cache_init(&cache);
    return 0;
}

static void teardown(void)
{
    nvc_driver_cache_destroy(&cache);
    fx_rmrf(T);
}

static void settle(void)
{
    struct timespec ts = {0, (SETTLE + 20) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* One driver-info lookup in c; *how: 'r' read afresh, 'u' reused, '?' neither (a failure). */
static struct nvc_driver_info *get_in(struct nvc_driver_cache *c, const struct nvc_host *h, const char *version,
                                      int cuda, char *how)
{
    struct nvc_driver_info_stats before, after;
    struct nvc_driver_info *info;
    struct nvc_error err;

    nvc_driver_cache_stats(c, &before);
    info = nvc_driver_cache_get(c, h, version, cuda, &err);
    nvc_driver_cache_stats(c, &after);
    *how = '?';
    if (info == NULL)
        fprintf(stderr, "# driver info: %s (%s, errno %d)\n", err.msg, err.path, err.sys_errno);
    else if (after.reads == before.reads + 1 && after.reuses == before.reuses)
        *how = 'r';
    else if (after.reuses == before.reuses + 1 && after.reads == before.reads)
        *how = 'u';
    return info;
}

static struct nvc_driver_info *get(const char *version, int cuda, char *how)
{
    return get_in(&cache, &host, version, cuda, how);
}

static const struct nvc_file *find_file(const struct nvc_file *arr, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(arr[i].path, path) == 0)
            return &arr[i];
    return NULL;
}

static const struct nvc_file *find_lib(const struct nvc_driver_info *info, const char *prefix)
{
    for (size_t i = 0; i < info->nlibs; i++) {
        const char *base = strrchr(info->libs[i].path, '/');
        if (base != NULL && strncmp(base + 1, prefix, strlen(prefix)) == 0)
            return &info->libs[i];
    }
    return NULL;
}

static const struct nvc_device_node *find_dev(const struct nvc_driver_info *info, const char *path)
{
    for (size_t i = 0; i < info->ndevs; i++)
        if (strcmp(info->devs[i].path, path) == 0)
            return &info->devs[i];
    return NULL;
}

/* Two lookups on a settled tree: the second is the first one's copy (equal, not the same
 * memory: each caller frees its own). */
static int settled_and_reused(void)
{
    struct nvc_driver_info *a, *b;
    char how;
    int ok;

    settle();
    a = get(VER, CUDA, &how);
    CHECK(a != NULL);
    b = get(VER, CUDA, &how);
    ok = b != NULL && how == 'u' && b != a && b->nlibs == a->nlibs && b->nbins == a->nbins &&
         b->nfirmware == a->nfirmware && b->ndevs == a->ndevs && b->nvcaps_major == a->nvcaps_major &&
         strcmp(b->cuda_version, a->cuda_version) == 0;
    for (size_t i = 0; ok && i < a->nlibs; i++)
        ok =
            strcmp(a->libs[i].path, b->libs[i].path) == 0 && a->libs[i].path != b->libs[i].path &&
            (a->libs[i].soname == NULL ? b->libs[i].soname == NULL : strcmp(a->libs[i].soname, b->libs[i].soname) == 0);
    nvc_driver_info_free(a);
    nvc_driver_info_free(b);
    if (!ok)
        fprintf(stderr, "# the second lookup was not the first one's copy (how: %c)\n", how);
    return ok ? 0 : -1;
}

static int absent_tools(void)
{
    if (fx_cc() == NULL)
        return test_absent("cc", "no fixture libraries can be built");
    return test_absent("ldconfig", "no fixture ld.so.cache can be built");
}

/* Replace R/rel by a link to target, atomically (as `ln -sfn` does). */
static int retarget(const char *rel, const char *target)
{
    char tmp[PATH_MAX], dst[PATH_MAX];

    if (fx_path(tmp, sizeof(tmp), "%s/%s.new", R, rel) < 0 || fx_path(dst, sizeof(dst), "%s/%s", R, rel) < 0)
        return -1;
    if (symlink(target, tmp) < 0 || rename(tmp, dst) < 0) {
        fprintf(stderr, "# retarget %s: %s\n", dst, strerror(errno));
        return -1;
    }
    return 0;
}

static int test_reused_while_unchanged(void)
{
    struct nvc_driver_info *info;
    char how;

    if (!have_tools)
        return absent_tools();
    CHECK(settled_and_reused() == 0);
    /* Once more: reuse does not wear out. */
    info = get(VER, CUDA, &how);
    CHECK(info != NULL && how == 'u' && find_lib(info, "libcuda.so") != NULL);
    CHECK_STR(find_lib(info, "libcuda.so")->path, "/" L "/libcuda.so." VER);
    CHECK(find_file(info->bins, info->nbins, "/opt1/bin/nvidia-smi") != NULL);
    CHECK(info->nvcaps_major == 241);
    nvc_driver_info_free(info);
    return 0;
}

/* Other versions from NVML: nothing on disk changed, but the files are those of another driver. */
static int test_new_versions(void)
{
    struct nvc_driver_info *info;
    char how;

    if (!have_tools)
        return absent_tools();
    CHECK(settled_and_reused() == 0);
    info = get(VER, CUDA + 10, &how);
    CHECK(info != NULL && how == 'r');
    CHECK_STR(info->cuda_version, "13.1");
    nvc_driver_info_free(info);
    /* A library only matches its own version: 581.1 finds no libcuda. */
    info = get("581.1", CUDA + 10, &how);
    CHECK(info != NULL && how == 'r' && find_lib(info, "libcuda.so") == NULL);
    nvc_driver_info_free(info);
    return 0;
}

static int test_ldcache_replaced(void)
{
    const char *dirs[] = {"/" L, NULL};
    struct nvc_driver_info *info;
    char how;

    if (!have_tools)
        return absent_tools();
    /* A library the cache does not list yet is not discovered: only the cache lists libraries. */
    CHECK(fx_build_so(R, L "/libnvidia-cfg.so." VER, "libnvidia-cfg.so.1", NULL, 0) == 0);
    CHECK(settled_and_reused() == 0);
    info = get(VER, CUDA, &how);
    CHECK(info != NULL && how == 'u' && find_lib(info, "libnvidia-cfg.so") == NULL);
    nvc_driver_info_free(info);
    CHECK(fx_make_ldcache(R, dirs) == 0);
    info = get(VER, CUDA, &how);
    CHECK(info != NULL && how == 'r' && find_lib(info, "libnvidia-cfg.so") != NULL);
    nvc_driver_info_free(info);
    return 0;
}

static int test_library_replaced(void)
{
    char src[PATH_MAX], dst[PATH_MAX];
    struct nvc_driver_info *info;
    char how;

    if (!have_tools)
        return absent_tools();
    CHECK(fx_build_so(R, "staging/libcuda.so." VER, "libcuda.so.9", NULL, 0) == 0);
    CHECK(settled_and_reused() == 0);
    CHECK(fx_path(src, sizeof(src), "%s/staging/libcuda.so." VER, R) == 0);
    CHECK(fx_path(dst, sizeof(dst), "%s/" L "/libcuda.so." VER, R) == 0);
    CHECK(rename(src, dst) == 0);
    info = get(VER, CUDA, &how);
    CHECK(info != NULL && how == 'r' && find_lib(info, "libcuda.so") != NULL);
    CHECK_STR(find_lib(info, "libcuda.so")->soname, "libcuda.so.9");
    nvc_driver_info_free(info);
    return 0;
}

static int test_library_link_retargeted(void)
{
    struct nvc_driver_info *info;
    char how;

    if (!have_tools)
        return absent_tools();
    CHECK(settled_and_reused() == 0);
    /* The cache names L/libcuda.so.1, the link ldconfig made. */
    CHECK(retarget(L "/libcuda.so.1", "alt/libcuda.so." VER) == 0);
    info = get(VER, CUDA, &how);
    CHECK(info != NULL && how == 'r' && find_lib(info, "libcuda.so") != NULL);
    CHECK_STR(find_lib(info, "libcuda.so")->path, "/" L "/alt/libcuda.so." VER);
    nvc_driver_info_free(info);
    return 0;
}

static int test_directory_link_retargeted(void)
{
    struct nvc_driver_info *info;
    char how;

    if (!have_tools)
        return absent_tools();
    CHECK(settled_and_reused() == 0);
    /* /opt/bin/nvidia-smi: neither the file nor its directory changes, only the link on the way. */
    CHECK(retarget("opt", "opt2") == 0);
    info = get(VER, CUDA, &how);
    CHECK(info != NULL && how == 'r');
    CHECK(find_file(info->bins, info->nbins, "/opt2/bin/nvidia-smi") != NULL);
    CHECK(find_file(info->bins, info->nbins, "/opt1/bin/nvidia-smi") == NULL);
    nvc_driver_info_free(info);
    return 0;
}

static int test_binary_added_where_absent(void)
{
    struct nvc_driver_info *info;
    char how;

    if (!have_tools)
        return absent_tools();
    CHECK(settled_and_reused() == 0);
    /* Earlier on the search path than the one found. */
    CHECK(fx_write_str(R, "usr/local/bin/nvidia-smi", ELF_STUB) == 0);
    info = get(VER, CUDA, &how);
    CHECK(info != NULL && how == 'r');
    CHECK(find_file(info->bins, info->nbins, "/usr/local/bin/nvidia-smi") != NULL);
    CHECK(find_file(info->bins, info->nbins, "/opt2/bin/nvidia-smi") == NULL);
    nvc_driver_info_free(info);
    return 0;
}

static int test_firmware_added(void)
{
    struct nvc_driver_info *info;
    char how;

    if (!have_tools)
        return absent_tools();
    CHECK(settled_and_reused() == 0);
    CHECK(fx_write_str(R, "lib/firmware/nvidia/" VER "/gsp_tu10x.bin", "tu") == 0);
    info = get(VER, CUDA, &how);
    CHECK(info != NULL && how == 'r' && info->nfirmware == 2);
    CHECK(find_file(info->firmware, info->nfirmware, "/lib/firmware/nvidia/" VER "/gsp_tu10x.bin") != NULL);
    nvc_driver_info_free(info);
    return 0;
}

static int test_device_node_created_and_removed(void)
{
    struct nvc_driver_info *info;
    const struct nvc_device_node *d;
    char p[PATH_MAX], how;

    if (!have_tools)
        return absent_tools();
    CHECK(settled_and_reused() == 0);
    CHECK(fx_path(p, sizeof(p), "%s/dev/nvidia-uvm", T) == 0);
    if (mknod(p, S_IFCHR | 0600, makedev(238, 0)) < 0)
        return test_absent("mknod", "the device node cases");
    info = get(VER, CUDA, &how);
    CHECK(info != NULL && how == 'r');
    d = find_dev(info, "/dev/nvidia-uvm");
    CHECK(d != NULL && d->major == 238 && d->minor == 0 && d->exists);
    nvc_driver_info_free(info);

    CHECK(settled_and_reused() == 0);
    CHECK(unlink(p) == 0);
    info = get(VER, CUDA, &how);
    CHECK(info != NULL && how == 'r' && find_dev(info, "/dev/nvidia-uvm") == NULL);
    nvc_driver_info_free(info);
    return 0;
}

static int test_proc_devices_changed(void)
{
    struct nvc_driver_info *info;
    struct timespec keep[2];
    struct stat st;
    char p[PATH_MAX], how;

    if (!have_tools)
        return absent_tools();
    CHECK(settled_and_reused() == 0);
    /* The same size and the old modification time: procfs has no times worth reading, so the
     * content is what counts. */
    CHECK(fx_path(p, sizeof(p), "%s/proc/devices", T) == 0 && stat(p, &st) == 0);
    keep[0] = st.st_atim;
    keep[1] = st.st_mtim;
    CHECK(fx_write_str(T, "proc/devices", "Character devices:\n195 nvidia\n250 nvidia-caps\n\nBlock devices:\n") == 0);
    CHECK(utimensat(AT_FDCWD, p, keep, 0) == 0);
    info = get(VER, CUDA, &how);
    CHECK(info != NULL && how == 'r' && info->nvcaps_major == 250);
    nvc_driver_info_free(info);
    return 0;
}

/* Changed within the settling time before it was looked at: never trusted, even unchanged
 * since. The default settling time (2 s) here, so that a slow machine cannot make the two
 * lookups below fall on both sides of it. */
static int test_racy_entry_not_reused(void)
{
    static struct nvc_host h;
    struct nvc_driver_cache c;
    struct nvc_driver_info *a, *b;
    char how_a, how_b;
    int ok;

    if (!have_tools)
        return absent_tools();
    h = host;
    h.discovery_settle_ms = 2000;
    CHECK(fx_write_str(R, "lib/firmware/nvidia/" VER "/gsp_gb10x.bin", "gb") == 0);
    nvc_driver_cache_init(&c);
    a = get_in(&c, &h, VER, CUDA, &how_a);
    /* Nothing changed since, but the directory changed too recently before that lookup. */
    b = get_in(&c, &h, VER, CUDA, &how_b);
    ok = a != NULL && b != NULL && how_a == 'r' && how_b == 'r' && a->nfirmware == 3 && b->nfirmware == 3;
    nvc_driver_info_free(a);
    nvc_driver_info_free(b);
    nvc_driver_cache_destroy(&c);
    CHECK(ok);
    /* The same tree, settled for this test's shorter time: kept. */
    CHECK(settled_and_reused() == 0);
    return 0;
}

/* The witness on its own: an intermediate link retargeted to an identical copy of the tree
 * (same names, same sizes) changes it; an entry added beside a walked path does not. */
static int test_witness_walk(void)
{
    struct nvc_witness *w = nvc_witness_new(0);
    int unchanged_before, unchanged_beside, unchanged_after;

    CHECK(w != NULL);
    CHECK(fx_write_str(R, "wa/sub/f", "x") == 0 && fx_write_str(R, "wb/sub/f", "x") == 0);
    CHECK(fx_symlink(R, "wl", "/wa") == 0);
    nvc_witness_walk(w, R, "/wl/sub/../sub/f", 0);
    nvc_witness_walk(w, R, "/wl/sub/missing", 0);
    unchanged_before = nvc_witness_unchanged(w);
    CHECK(fx_write_str(R, "wa/sub/other", "y") == 0);
    unchanged_beside = nvc_witness_unchanged(w);
    CHECK(fx_write_str(R, "wa/sub/missing", "z") == 0);
    unchanged_after = nvc_witness_unchanged(w);
    nvc_witness_free(w);
    CHECK(unchanged_before == 1 && unchanged_beside == 1 && unchanged_after == 0);

    w = nvc_witness_new(0);
    CHECK(w != NULL);
    nvc_witness_walk(w, R, "/wl/sub/f", 0);
    unchanged_before = nvc_witness_unchanged(w);
    CHECK(retarget("wl", "/wb") == 0);
    unchanged_after = nvc_witness_unchanged(w);
    nvc_witness_free(w);
    CHECK(unchanged_before == 1 && unchanged_after == 0);
    return 0;
}

int main(void)
{
    static const struct test_case tests[] = {
        TEST(test_reused_while_unchanged),
        TEST(test_new_versions),
        TEST(test_ldcache_replaced),
        TEST(test_library_replaced),
        TEST(test_library_link_retargeted),
        TEST(test_directory_link_retargeted),
        TEST(test_binary_added_where_absent),
        TEST(test_firmware_added),
        TEST(test_device_node_created_and_removed),
        TEST(test_proc_devices_changed),
        TEST(test_racy_entry_not_reused),
        TEST(test_witness_walk),
    };
    return RUN_FIXTURE_TESTS(setup, teardown, tests);
}
