#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "discovery.h"
#include "fault_points.h"
#include "fixture.h"
#include "harness.h"

#define VER     "580.159.04"
#define L       "usr/lib/x86_64-linux-gnu"
#define GFX     (NVC_CAP_GRAPHICS | NVC_CAP_DISPLAY)
#define ALLCAPS (NVC_CAP_UTILITY | NVC_CAP_COMPUTE | NVC_CAP_VIDEO | NVC_CAP_GRAPHICS | NVC_CAP_DISPLAY | NVC_CAP_NGX)

/* A simulated driver host: T/root is the driver root (laid out like the GPU machine:
 * libraries reachable twice, the real nvidia-smi first in PATH, firmware under
 * /usr/local/nvidia/firmware), T/proc, T/dev and T/sys stand for the host's. */
static char T[PATH_MAX], R[PATH_MAX];
static struct nvc_host host;
static int have_tools, have_m32, have_nodes;

struct so {
    const char *path, *soname, *abi;
};

static const struct so libs64[] = {
    {L "/libnvidia-ml.so." VER, "libnvidia-ml.so.1", NULL},
    {L "/libcuda.so." VER, "libcuda.so.1", NULL},
    {L "/libnvidia-ptxjitcompiler.so." VER, "libnvidia-ptxjitcompiler.so.1", NULL},
    {L "/libnvidia-opencl.so." VER, "libnvidia-opencl.so.1", NULL},
    {L "/libnvidia-pkcs11-openssl3.so." VER, "libnvidia-pkcs11-openssl3.so." VER, NULL},
    {L "/libnvidia-ngx.so." VER, "libnvidia-ngx.so.1", NULL},
    {L "/vdpau/libvdpau_nvidia.so." VER, "libvdpau_nvidia.so.1", NULL},
    {L "/libnvidia-glcore.so." VER, "libnvidia-glcore.so." VER, NULL},
    /* ldconfig lists tls/ (a legacy hwcap dir) first: the later, wrongly tagged entry
     * would win without the ABI check. */
    {L "/tls/libnvidia-tls.so." VER, "libnvidia-tls.so." VER, "2.3.99"},
    {L "/libnvidia-tls.so." VER, "libnvidia-tls.so." VER, "2.2.5"}, /* wrong TLS ABI */
    {L "/libGLX_nvidia.so." VER, "libGLX_nvidia.so.0", NULL},
    {L "/libnvidia-cfg.so.1", "libnvidia-cfg.so.1", NULL},         /* no version suffix */
    {L "/libnvidia-gtk3.so." VER, "libnvidia-gtk3.so." VER, NULL}, /* not a container lib */
    {"usr/lib/old/libcuda.so.535.104.05", "libcuda.so.1", NULL},   /* stale driver */
};

/* R/rel as a shared object linked without -soname (fx_build_so always gives one). */
static int build_so_without_soname(const char *rel)
{
    char src[PATH_MAX], out[PATH_MAX];
    char *argv[] = {(char *)fx_cc(), "-shared", "-fPIC", "-nostdlib", src, "-o", out, NULL};

    if (fx_path(src, sizeof(src), "%s/plain.c", T) < 0 || fx_path(out, sizeof(out), "%s/%s", R, rel) < 0 ||
        fx_write_str(T, "plain.c", "int nvc_plain_fn(void) { return 2; }\n") < 0)
        return -1;
    if (fx_run(argv) != 0) {
        fprintf(stderr, "# fixture: linking %s failed\n", out);
        return -1;
    }
    return 0;
}

static int build_tree(void)
{
    const char *dirs[] = {"/" L, "/" L "/vdpau", "/" L "/tls", "/usr/lib/old", "/lib", "/usr/lib/i386-linux-gnu", NULL};
    char outside[PATH_MAX];

    for (size_t i = 0; i < sizeof(libs64) / sizeof(libs64[0]); i++)
        if (fx_build_so(R, libs64[i].path, libs64[i].soname, libs64[i].abi, 0) < 0)
            return -1;
    if (have_m32 && fx_build_so(R, "usr/lib/i386-linux-gnu/libcuda.so." VER, "libcuda.so.1", NULL, 1) < 0)
        return -1;
    /* A driver library without DT_SONAME (ldconfig lists it by file name): still
     * selected, with no soname. */
    if (build_so_without_soname(L "/libnvidia-nscq.so." VER) < 0)
        return -1;
    /* As on the GPU host: /lib holds links to the same files, so the cache has each
     * library twice. */
    if (fx_symlink(R, "lib/libcuda.so.1", "/" L "/libcuda.so." VER) < 0 ||
        fx_symlink(R, "lib/libnvidia-ml.so.1", "/" L "/libnvidia-ml.so." VER) < 0 || fx_make_ldcache(R, dirs) < 0)
        return -1;
    /* After ldconfig: the opencl soname link is turned into a link to a host path
     * outside the root; it must not be followed there. */
    if (fx_path(outside, sizeof(outside), "%s/outside/libnvidia-opencl.so." VER, T) < 0 ||
        fx_write_str(T, "outside/libnvidia-opencl.so." VER, "outside") < 0 ||
        fx_symlink(R, L "/libnvidia-opencl.so.1", outside) < 0)
        return -1;
    return 0;
}

static int build_rest(void)
{
    struct {
        const char *name;
        mode_t mode;
        unsigned maj, min;
    } nodes[] = {
        {"nvidiactl", S_IFCHR, 195, 255}, {"nvidia-uvm", S_IFCHR, 238, 0}, {"nvidia-uvm-tools", S_IFCHR, 238, 1}};
    char p[PATH_MAX];

    if (
        /* binaries */
        fx_write_str(R, "usr/local/nvidia/bin/nvidia-smi", "\177ELF nvidia-smi") < 0 ||
        fx_write_str(R, "usr/bin/nvidia-smi", "#!/bin/sh\nexec /usr/local/nvidia/bin/nvidia-smi \"$@\"\n") < 0 ||
        fx_write_str(R, "usr/bin/nvidia-debugdump", "\177ELF") < 0 ||
        fx_mkdirs(R, "usr/local/nvidia/bin/nvidia-persistenced") < 0 ||
        fx_write_str(R, "usr/bin/nvidia-persistenced", "\177ELF") < 0 ||
        fx_write_str(R, "opt/mps/nvidia-cuda-mps-control", "\177ELF") < 0 ||
        /* A wrapper script first on PATH, the real binary only in the bin directory
         * beside the libraries' (L/../bin), which PATH does not name. */
        fx_write_str(R, "usr/bin/nv-fabricmanager", "#!/bin/sh\nexec /usr/lib/bin/nv-fabricmanager \"$@\"\n") < 0 ||
        fx_write_str(R, "usr/lib/bin/nv-fabricmanager", "\177ELF fm") < 0 ||
        /* A script and nothing else: no binary at all. */
        fx_write_str(R, "usr/bin/nvidia-cuda-mps-server", "#!/bin/sh\nexit 0\n") < 0 ||
        fx_symlink(R, "sbin/nvidia-cuda-mps-control", "/opt/mps/nvidia-cuda-mps-control") < 0 ||
        fx_write_str(R, "relative/dir/nv-fabricmanager", "x") < 0 ||
        fx_write_str(T, "bin/nvidia-cuda-mps-server", "outside") < 0 ||
        /* IPC */
        fx_symlink(R, "var/run", "/run") < 0 || fx_write_str(R, "run/nvidia-persistenced/socket", "") < 0 ||
        fx_mkdirs(R, "custom/mps") < 0 ||
        /* firmware */
        fx_write_str(T, "sys/module/firmware_class/parameters/path", "/usr/local/nvidia/firmware\n") < 0 ||
        fx_write_str(R, "usr/local/nvidia/firmware/nvidia/" VER "/gsp_tu10x.bin", "tu") < 0 ||
        fx_write_str(R, "usr/local/nvidia/firmware/nvidia/" VER "/gsp_ga10x.bin", "ga") < 0 ||
        fx_write_str(R, "usr/local/nvidia/firmware/nvidia/" VER "/notes.txt", "") < 0 ||
        fx_mkdirs(R, "usr/local/nvidia/firmware/nvidia/" VER "/gsp_dir.bin") < 0 ||
        fx_write_str(R, "lib/firmware/nvidia/" VER "/gsp_ga10x.bin", "ga2") < 0 ||
        fx_write_str(R, "lib/firmware/nvidia/535.104.05/gsp_old.bin", "") < 0 ||
        fx_symlink(R, "fwlink", "/lib/firmware") < 0 ||
        /* procfs */
        fx_write_str(T, "proc/devices",
                     "Character devices:\n  1 mem\n195 nvidia\n195 nvidiactl\n238 nvidia-uvm\n"
                     "241 nvidia-caps\n242 nvidia-caps-imex-channels\n\nBlock devices:\n241 nvidia-caps-block\n") < 0 ||
        fx_write_str(T, "proc/driver/nvidia/capabilities/mig/config",
                     "DeviceFileMinor: 1\nDeviceFileMode: 256\nDeviceFileModify: 1\n") < 0 ||
        fx_write_str(T, "proc/driver/nvidia/capabilities/mig/monitor",
                     "DeviceFileMinor: 2\nDeviceFileMode: 292\nDeviceFileModify: 1\n") < 0 ||
        fx_write_str(T, "proc/driver/nvidia/capabilities/gpu0/mig/gi1/access",
                     "DeviceFileMinor: 10\nDeviceFileMode: 292\n") < 0 ||
        fx_write_str(T, "proc/driver/nvidia/capabilities/gpu0/mig/gi1/ci0/access",
                     "DeviceFileMode: 292\nDeviceFileMinor: 11\n") < 0 ||
        fx_write_str(T, "proc/driver/nvidia/capabilities/gpu0/mig/gi2/access", "DeviceFileMinor: x\n") < 0 ||
        fx_mkdirs(T, "dev") < 0)
        return -1;
    have_nodes = 1;
    for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
        if (fx_path(p, sizeof(p), "%s/dev/%s", T, nodes[i].name) < 0)
            return -1;
        if (mknod(p, nodes[i].mode | 0600, makedev(nodes[i].maj, nodes[i].min)) < 0)
            have_nodes = 0; /* no CAP_MKNOD: test_devices says so (feature "mknod") */
    }
    return 0;
}

static int setup(void)
{
    if (fx_tmpdir(T, sizeof(T)) < 0 || fx_path(R, sizeof(R), "%s/root", T) < 0)
        return -1;
    have_tools = fx_cc() != NULL && fx_ldconfig() != NULL;
    have_m32 = have_tools && fx_can_m32();
    if (have_tools && build_tree() < 0)
        return -1;
    if (build_rest() < 0)
        return -1;
    if (fx_host(&host, R, T, "/usr/local/nvidia/bin::relative/dir:/usr/bin:/sbin") < 0)
        return -1;
    return 0;
}

struct want {
    const char *path;
    unsigned caps;
    const char *soname; /* NULL: none expected (everything but libraries, and libraries without one) */
};

static int same_soname(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static int check_files(const char *what, const struct nvc_file *got, size_t n, const struct want *want, size_t nwant)
{
    int bad = n != nwant;

    for (size_t i = 0; i < n && i < nwant; i++)
        bad |= strcmp(got[i].path, want[i].path) != 0 || got[i].caps != want[i].caps ||
               !same_soname(got[i].soname, want[i].soname);
    if (bad) {
        fprintf(stderr, "# %s: got %zu, want %zu\n", what, n, nwant);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "#   got  %s (0x%x, soname %s)\n", got[i].path, got[i].caps,
                    got[i].soname ? got[i].soname : "none");
        for (size_t i = 0; i < nwant; i++)
            fprintf(stderr, "#   want %s (0x%x, soname %s)\n", want[i].path, want[i].caps,
                    want[i].soname ? want[i].soname : "none");
        return -1;
    }
    return 0;
}

#define CHECK_FILES(what, arr, n, want) CHECK(check_files(what, arr, n, want, sizeof(want) / sizeof(want[0])) == 0)

/* Without the compiler or ldconfig there is no driver tree to discover: every test that
 * needs one is left out, and only if NVC_TEST_ABSENT says which of the two is missing. */
static int absent_tools(void)
{
    if (fx_cc() == NULL)
        return test_absent("cc", "no fixture libraries can be built");
    return test_absent("ldconfig", "no fixture ld.so.cache can be built");
}

static struct nvc_driver_info *discover(struct nvc_error *err)
{
    struct nvc_driver_info *info = calloc(1, sizeof(*info));

    if (info == NULL)
        return NULL;
    fx_path(info->nvrm_version, sizeof(info->nvrm_version), VER);
    fx_path(info->cuda_version, sizeof(info->cuda_version), "13.0");
    if (nvc_discover_driver(&host, info, err) < 0) {
        fprintf(stderr, "# discover: %s (%s, errno %d)\n", err->msg, err->path, err->sys_errno);
        nvc_driver_info_free(info);
        return NULL;
    }
    return info;
}

static int test_find_nvml(void)
{
    char out[PATH_MAX], want[PATH_MAX];
    struct nvc_error err;

    if (!have_tools)
        return absent_tools();
    CHECK(nvc_find_nvml(&host, out, sizeof(out), &err) == 0);
    CHECK(fx_path(want, sizeof(want), "%s/" L "/libnvidia-ml.so." VER, R) == 0);
    CHECK_STR(out, want);
    return 0;
}

static int test_find_nvml_errors(void)
{
    struct nvc_host h = host;
    char out[PATH_MAX];
    struct nvc_error err;
    const char *dirs[] = {"/lib64", NULL};

    if (!have_tools)
        return absent_tools();
    fx_path(h.ldcache, sizeof(h.ldcache), "/etc/none.cache");
    CHECK(nvc_find_nvml(&h, out, sizeof(out), &err) < 0);
    CHECK(err.code == NVC_ERR_DRIVER_NOT_FOUND && err.sys_errno == ENOENT);
    CHECK(strstr(err.msg, "/etc/none.cache") && strstr(err.msg, "does not exist") && strstr(err.msg, R));

    /* a root whose cache lists no NVML */
    CHECK(fx_path(h.root, sizeof(h.root), "%s/root2", T) == 0);
    CHECK(fx_build_so(h.root, "lib64/libcuda.so." VER, "libcuda.so.1", NULL, 0) == 0);
    CHECK(fx_make_ldcache(h.root, dirs) == 0);
    fx_path(h.ldcache, sizeof(h.ldcache), "/etc/ld.so.cache");
    CHECK(nvc_find_nvml(&h, out, sizeof(out), &err) < 0);
    CHECK(err.code == NVC_ERR_DRIVER_NOT_FOUND);
    CHECK(strstr(err.msg, "libnvidia-ml.so.1 was not found in /etc/ld.so.cache under the driver root") != NULL);
    CHECK(strstr(err.msg, h.root) != NULL);

    fx_path(h.root, sizeof(h.root), "%s/no-such-root", T);
    CHECK(nvc_find_nvml(&h, out, sizeof(out), &err) < 0);
    CHECK(err.code == NVC_ERR_DRIVER_NOT_FOUND && err.sys_errno == ENOENT);
    return 0;
}

static int test_libraries(void)
{
    static const struct want want64[] = {
        {"/" L "/libnvidia-ml.so." VER, NVC_CAP_UTILITY, "libnvidia-ml.so.1"},
        {"/" L "/libnvidia-nscq.so." VER, NVC_CAP_UTILITY, NULL}, /* linked without a soname */
        {"/" L "/libcuda.so." VER, NVC_CAP_COMPUTE, "libcuda.so.1"},
        {"/" L "/libnvidia-ptxjitcompiler.so." VER, NVC_CAP_COMPUTE, "libnvidia-ptxjitcompiler.so.1"},
        {"/" L "/libnvidia-pkcs11-openssl3.so." VER, NVC_CAP_COMPUTE, "libnvidia-pkcs11-openssl3.so." VER},
        {"/" L "/libnvidia-ngx.so." VER, NVC_CAP_NGX, "libnvidia-ngx.so.1"},
        {"/" L "/vdpau/libvdpau_nvidia.so." VER, NVC_CAP_VIDEO, "libvdpau_nvidia.so.1"},
        {"/" L "/libnvidia-glcore.so." VER, GFX, "libnvidia-glcore.so." VER},
        {"/" L "/tls/libnvidia-tls.so." VER, GFX, "libnvidia-tls.so." VER},
        {"/" L "/libGLX_nvidia.so." VER, GFX, "libGLX_nvidia.so.0"},
    };
    static const struct want want32[] = {{"/usr/lib/i386-linux-gnu/libcuda.so." VER, NVC_CAP_COMPUTE, "libcuda.so.1"}};
    struct nvc_error err;
    struct nvc_driver_info *info;

    if (!have_tools)
        return absent_tools();
    /* Without i386 objects the 32-bit half would pass vacuously (nothing built, nothing
     * found): that must be declared, not assumed. */
    if (!have_m32 && test_absent_part("m32", "the i386 library checks") < 0)
        return -1;
    info = discover(&err);
    CHECK(info != NULL);
    if (check_files("libs", info->libs, info->nlibs, want64, sizeof(want64) / sizeof(want64[0])) < 0 ||
        (have_m32 && check_files("libs32", info->libs32, info->nlibs32, want32, 1) < 0) ||
        (!have_m32 && info->nlibs32 != 0)) {
        nvc_driver_info_free(info);
        return -1;
    }
    nvc_driver_info_free(info);
    return 0;
}

static int test_binaries_and_ipcs(void)
{
    static const struct want bins[] = {
        {"/usr/local/nvidia/bin/nvidia-smi", NVC_CAP_UTILITY, NULL},
        {"/usr/bin/nvidia-debugdump", NVC_CAP_UTILITY, NULL},
        {"/usr/bin/nvidia-persistenced", NVC_CAP_UTILITY, NULL},
        {"/usr/lib/bin/nv-fabricmanager", NVC_CAP_UTILITY, NULL},
        {"/opt/mps/nvidia-cuda-mps-control", NVC_CAP_COMPUTE, NULL},
    };
    static const struct want ipcs_env[] = {
        {"/run/nvidia-persistenced/socket", NVC_CAP_UTILITY, NULL},
        {"/custom/mps", NVC_CAP_COMPUTE, NULL},
    };
    static const struct want ipcs_default[] = {{"/run/nvidia-persistenced/socket", NVC_CAP_UTILITY, NULL}};
    struct nvc_error err;
    struct nvc_driver_info *info;
    int r = 0;

    if (!have_tools)
        return absent_tools();
    /* $CUDA_MPS_PIPE_DIRECTORY as the caller passed it (nvc_config.mps_pipe_dir). */
    snprintf(host.mps_pipe_dir, sizeof(host.mps_pipe_dir), "/custom/mps");
    info = discover(&err);
    CHECK(info != NULL);
    r |= check_files("bins", info->bins, info->nbins, bins, sizeof(bins) / sizeof(bins[0]));
    r |= check_files("ipcs", info->ipcs, info->nipcs, ipcs_env, sizeof(ipcs_env) / sizeof(ipcs_env[0]));
    nvc_driver_info_free(info);
    snprintf(host.mps_pipe_dir, sizeof(host.mps_pipe_dir), "custom/mps"); /* relative: ignored */
    info = discover(&err);
    CHECK(info != NULL);
    r |= check_files("ipcs", info->ipcs, info->nipcs, ipcs_default, 1);
    nvc_driver_info_free(info);
    host.mps_pipe_dir[0] = '\0';
    return r;
}

static int firmware_with(const char *param, const struct want *want, size_t nwant)
{
    struct nvc_error err;
    struct nvc_driver_info *info;
    int r;

    if (fx_write_str(T, "sys/module/firmware_class/parameters/path", param) < 0)
        return -1;
    info = discover(&err);
    CHECK(info != NULL);
    r = check_files("firmware", info->firmware, info->nfirmware, want, nwant);
    nvc_driver_info_free(info);
    return r;
}

static int test_firmware(void)
{
    static const struct want custom[] = {
        {"/usr/local/nvidia/firmware/nvidia/" VER "/gsp_ga10x.bin", ALLCAPS, NULL},
        {"/usr/local/nvidia/firmware/nvidia/" VER "/gsp_tu10x.bin", ALLCAPS, NULL},
        {"/lib/firmware/nvidia/" VER "/gsp_ga10x.bin", ALLCAPS, NULL},
    };
    static const struct want dflt[] = {{"/lib/firmware/nvidia/" VER "/gsp_ga10x.bin", ALLCAPS, NULL}};
    static const struct want via_link[] = {{"/fwlink/nvidia/" VER "/gsp_ga10x.bin", ALLCAPS, NULL}};
    int r = 0;

    if (!have_tools)
        return absent_tools();
    r |= firmware_with("/usr/local/nvidia/firmware\n", custom, 3);
    r |= firmware_with("/lib/firmware/\n", dflt, 1); /* same dir twice: listed once */
    r |= firmware_with("", dflt, 1);
    r |= firmware_with("relative/dir", dflt, 1);
    r |= firmware_with("/fwlink", via_link, 1); /* same files by another name: listed once */
    fx_write_str(T, "sys/module/firmware_class/parameters/path", "/usr/local/nvidia/firmware\n");
    return r;
}

static int test_devices(void)
{
    struct nvc_error err;
    struct nvc_driver_info *info;
    struct nvc_device_node *d;
    char p[PATH_MAX];

    if (!have_tools)
        return absent_tools();
    info = discover(&err);
    CHECK(info != NULL);
    d = info->devs;
    CHECK(info->nvcaps_major == 241 && info->imex_major == 242);
    CHECK(info->mig_config_minor == 1 && info->mig_monitor_minor == 2);
    if (!have_nodes) {
        nvc_driver_info_free(info);
        return test_absent("mknod", "the device node checks");
    }
    CHECK(info->ndevs == 4);
    CHECK(!strcmp(d[0].path, "/dev/nvidiactl") && d[0].major == 195 && d[0].minor == 255 && d[0].exists);
    CHECK(!strcmp(d[1].path, "/dev/nvidia-uvm") && d[1].major == 238 && d[1].minor == 0 && d[1].exists);
    CHECK(!strcmp(d[2].path, "/dev/nvidia-uvm-tools") && d[2].major == 238 && d[2].minor == 1 && d[2].exists);
    CHECK(!strcmp(d[3].path, "/dev/nvidia-modeset") && d[3].major == 195 && d[3].minor == 254 && !d[3].exists);
    nvc_driver_info_free(info);

    /* uvm absent and nvidiactl with the wrong numbers */
    CHECK(fx_path(p, sizeof(p), "%s/dev/nvidia-uvm", T) == 0 && unlink(p) == 0);
    CHECK(fx_path(p, sizeof(p), "%s/dev/nvidiactl", T) == 0 && unlink(p) == 0);
    CHECK(mknod(p, S_IFCHR | 0600, makedev(195, 0)) == 0);
    info = discover(&err);
    CHECK(info != NULL);
    d = info->devs;
    CHECK(info->ndevs == 3);
    CHECK(!strcmp(d[0].path, "/dev/nvidiactl") && !d[0].exists);
    CHECK(!strcmp(d[1].path, "/dev/nvidia-uvm-tools") && d[1].exists);
    CHECK(!strcmp(d[2].path, "/dev/nvidia-modeset") && !d[2].exists);
    nvc_driver_info_free(info);
    return 0;
}

static int test_cap_minor(void)
{
    CHECK(nvc_read_cap_minor(&host, "/proc/driver/nvidia/capabilities/gpu0/mig/gi1/access") == 10);
    CHECK(nvc_read_cap_minor(&host, "/proc/driver/nvidia/capabilities/gpu0/mig/gi1") == 10);
    CHECK(nvc_read_cap_minor(&host, "/proc/driver/nvidia/capabilities/gpu0/mig/gi1/ci0/access") == 11);
    CHECK(nvc_read_cap_minor(&host, "/proc/driver/nvidia/capabilities/gpu0/mig/gi1/ci0") == 11);
    CHECK(nvc_read_cap_minor(&host, "/proc/driver/nvidia/capabilities/mig/config") == 1);
    CHECK(nvc_read_cap_minor(&host, "/proc/driver/nvidia/capabilities/gpu0/mig/gi2/access") == -1);
    CHECK(nvc_read_cap_minor(&host, "/proc/driver/nvidia/capabilities/gpu0/mig/gi9/access") == -1);
    CHECK(nvc_read_cap_minor(&host, "/proc/../proc/driver/nvidia/capabilities/mig/config") == -1);
    CHECK(nvc_read_cap_minor(&host, "/sys/driver/nvidia/capabilities/mig/config") == -1);
    CHECK(nvc_read_cap_minor(&host, "/procx/driver") == -1);
    /* "/proc" must be a whole component: "/procdriver/..." is not under /proc, even though
     * cutting "/proc" off would leave a path that exists below the proc root */
    CHECK(nvc_read_cap_minor(&host, "/procdriver/nvidia/capabilities/mig/config") == -1);
    CHECK(nvc_read_cap_minor(&host, NULL) == -1);
    return 0;
}

static int test_bad_inputs(void)
{
    struct nvc_host h = host;
    struct nvc_driver_info info;
    struct nvc_error err;

    memset(&info, 0, sizeof(info));
    fx_path(info.nvrm_version, sizeof(info.nvrm_version), "../" VER);
    CHECK(nvc_discover_driver(&host, &info, &err) < 0);
    CHECK(err.code == NVC_ERR_INVALID_ARGUMENT);
    CHECK(info.libs == NULL && info.devs == NULL);
    fx_path(info.nvrm_version, sizeof(info.nvrm_version), VER);
    fx_path(h.root, sizeof(h.root), "%s/no-such-root", T);
    CHECK(nvc_discover_driver(&h, &info, &err) < 0);
    CHECK(err.code == NVC_ERR_DRIVER_NOT_FOUND);
    /* an unreadable ld.so.cache fails discovery as a whole, leaving nothing allocated */
    h = host;
    fx_path(h.ldcache, sizeof(h.ldcache), "/usr/bin/nvidia-debugdump");
    CHECK(nvc_discover_driver(&h, &info, &err) < 0);
    CHECK(err.code == NVC_ERR_LDCACHE_INVALID);
    CHECK(info.libs == NULL && info.nlibs == 0 && info.devs == NULL);
    nvc_driver_info_free(NULL);
    return 0;
}

/* Discovery with call on files ending in suffix failing with e (pread with 0: the file
 * ends early): it must fail with NVC_ERR_SYSTEM (or NO_MEMORY), e (EIO for an early end),
 * step and a path naming that file (ending in shown: the name it was looked up by, when
 * that is a link to it); nothing left allocated. The fault must have been met. */
static int fails_as(const char *call, const char *suffix, int e, const char *step, const char *shown)
{
    struct nvc_driver_info info;
    struct nvc_error err;
    unsigned hits;
    int r;

    memset(&info, 0, sizeof(info));
    fx_path(info.nvrm_version, sizeof(info.nvrm_version), VER);
    fp_arm(call, suffix, e);
    r = nvc_discover_driver(&host, &info, &err);
    hits = fp_disarm();
    if (r == 0)
        nvc_driver_info_release(&info);
    if (hits == 0 || r == 0 || err.code != (e == ENOMEM ? NVC_ERR_NO_MEMORY : NVC_ERR_SYSTEM) ||
        err.sys_errno != (e == 0 ? EIO : e) || strcmp(err.step, step) != 0 || !fp_ends_with(err.path, shown) ||
        info.libs != NULL || info.devs != NULL) {
        fprintf(stderr, "# %s on *%s (%s): %d hits, discovery %s: code %s, errno %d, step %s, path %s: %s\n", call,
                suffix, strerror(e), hits, r == 0 ? "succeeded" : "failed", nvc_errcode_string(err.code), err.sys_errno,
                err.step, err.path, err.msg);
        return -1;
    }
    return 0;
}

/* A file that may be there and cannot be looked at is an error naming it, never taken for
 * "not there" (issue 11): one EIO or EMFILE must not cost a container its libcuda soname,
 * its nvidia-smi, a firmware image or /dev/nvidia-uvm. */
static int fails_with(const char *call, const char *suffix, int e, const char *step)
{
    return fails_as(call, suffix, e, step, suffix);
}

static int test_read_failures(void)
{
    int r = 0;

    if (!have_tools)
        return absent_tools();
    /* A library's ELF headers: EIO, and the file ending before the size fstat gave. */
    r |= fails_with("pread", "/libcuda.so." VER, EIO, "read");
    r |= fails_with("pread", "/libcuda.so." VER, 0, "read");
    /* Met first where libcuda.so.1 is resolved to it: named by the link. */
    r |= fails_as("fstat", "/libcuda.so." VER, EIO, "fstat", "/libcuda.so.1");
    /* The TLS library whose ABI tag decides between two builds. */
    r |= fails_with("pread", "/tls/libnvidia-tls.so." VER, EIO, "read");
    /* A binary's ELF magic, its type. */
    r |= fails_with("pread", "/usr/local/nvidia/bin/nvidia-smi", EIO, "read");
    r |= fails_with("fstat", "/usr/local/nvidia/bin/nvidia-smi", ENOMEM, "fstat");
    /* An IPC socket's link count (nvc_path_fd_in_root: removed while resolved?). */
    r |= fails_with("fstat", "/run/nvidia-persistenced/socket", EIO, "fstat");
    /* A firmware image. */
    r |= fails_with("fstat", "/gsp_ga10x.bin", EIO, "fstat");
    /* A device node, with or without the node there (mknod): its absence is an answer,
     * a failure to look is not. */
    r |= fails_with("fstatat", "nvidia-uvm", EACCES, "fstatat");
    r |= fails_with("fstatat", "nvidiactl", ENOMEM, "fstatat");
    return r;
}

/* Absence stays an answer: no dev root at all, or a file in its place, lists the fixed
 * nodes as absent and nothing else; a directory where a binary or a firmware image is
 * looked for is passed over (build_rest puts one of each). */
static int test_absent_is_not_an_error(void)
{
    struct nvc_host saved = host;
    struct nvc_error err;
    struct nvc_driver_info *info;
    const char *roots[] = {"no-such-dev", "proc/devices"};
    int r = 0;

    if (!have_tools)
        return absent_tools();
    for (size_t i = 0; i < 2; i++) {
        fx_path(host.dev_root, sizeof(host.dev_root), "%s/%s", T, roots[i]);
        info = discover(&err);
        host = saved;
        CHECK(info != NULL);
        r |= info->ndevs == 2 && !strcmp(info->devs[0].path, "/dev/nvidiactl") && !info->devs[0].exists &&
                     !strcmp(info->devs[1].path, "/dev/nvidia-modeset") && !info->devs[1].exists
                 ? 0
                 : -1;
        /* nvidia-persistenced: a directory in /usr/local/nvidia/bin, the ELF in /usr/bin. */
        for (size_t j = 0; j < info->nbins; j++)
            r |= strcmp(info->bins[j].path, "/usr/local/nvidia/bin/nvidia-persistenced") == 0 ? -1 : 0;
        for (size_t j = 0; j < info->nfirmware; j++)
            r |= strstr(info->firmware[j].path, "gsp_dir.bin") != NULL ? -1 : 0;
        nvc_driver_info_free(info);
    }
    return r;
}

static void teardown(void)
{
    if (!T[0])
        return;
    if (getenv("NVC_TEST_KEEP"))
        fprintf(stderr, "# fixture kept in %s\n", T);
    else
        fx_rmrf(T);
}

int main(void)
{
    static const struct test_case tests[] = {
        TEST(test_find_nvml),     TEST(test_find_nvml_errors),
        TEST(test_libraries),     TEST(test_binaries_and_ipcs),
        TEST(test_firmware),      TEST(test_devices),
        TEST(test_cap_minor),     TEST(test_bad_inputs),
        TEST(test_read_failures), TEST(test_absent_is_not_an_error),
    };
    return RUN_FIXTURE_TESTS(setup, teardown, tests);
}
