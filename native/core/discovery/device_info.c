#define _GNU_SOURCE
#include "device_info.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discovery.h"
#include "nvc_nvml.h"

/* NVML brand codes to the names nvidia-container-cli prints, so that outputs diff cleanly. */
static const char *brand_name(unsigned brand)
{
    switch (brand) {
    case NVC_NVML_BRAND_QUADRO: return "Quadro";
    case NVC_NVML_BRAND_TESLA: return "Tesla";
    case NVC_NVML_BRAND_NVS: return "NVS";
    case NVC_NVML_BRAND_GRID: return "GRID";
    case NVC_NVML_BRAND_GEFORCE: return "GeForce";
    case NVC_NVML_BRAND_TITAN: return "TITAN";
    case NVC_NVML_BRAND_NVIDIA_VAPPS: return "VApps";
    case NVC_NVML_BRAND_NVIDIA_VPC: return "VPC";
    case NVC_NVML_BRAND_NVIDIA_VCS: return "VCS";
    case NVC_NVML_BRAND_NVIDIA_VWS: return "VWS";
    case NVC_NVML_BRAND_NVIDIA_CLOUD_GAMING: return "CloudGaming";
    case NVC_NVML_BRAND_QUADRO_RTX: return "QuadroRTX";
    case NVC_NVML_BRAND_NVIDIA_RTX: return "NvidiaRTX";
    case NVC_NVML_BRAND_NVIDIA: return "Nvidia";
    case NVC_NVML_BRAND_GEFORCE_RTX: return "GeForceRTX";
    case NVC_NVML_BRAND_TITAN_RTX: return "TitanRTX";
    default: return "Unknown";
    }
}

void nvc_format_cuda_version(int v, char *out, size_t n)
{
    /* NVML encodes major * 1000 + minor * 10: 12040 is 12.4, 12100 is 12.10. */
    snprintf(out, n, "%d.%d", v / 1000, (v % 1000) / 10);
}

int nvc_device_decode(struct nvc_rbuf *r, struct nvc_device *d, struct nvc_error *err)
{
    unsigned brand, domain, bus, slot, nmig;
    int cc_major, cc_minor;

    memset(d, 0, sizeof(*d));
    d->index = nvc_wire_get_u32(r);
    d->minor = nvc_wire_get_u32(r);
    nvc_wire_get_str(r, d->model, sizeof(d->model));
    brand = nvc_wire_get_u32(r);
    nvc_wire_get_str(r, d->uuid, sizeof(d->uuid));
    domain = nvc_wire_get_u32(r);
    bus = nvc_wire_get_u32(r);
    slot = nvc_wire_get_u32(r);
    cc_major = nvc_wire_get_i32(r);
    cc_minor = nvc_wire_get_i32(r);
    d->mig_capable = nvc_wire_get_u32(r) != 0;
    d->mig_enabled = nvc_wire_get_u32(r) != 0;
    uint32_t persistence = nvc_wire_get_u32(r);
    d->persistence_mode = persistence == NVC_PERSISTENCE_ON ? 1 : persistence == NVC_PERSISTENCE_OFF ? 0 : -1;
    nmig = nvc_wire_get_u32(r);
    /* Each MIG record is at least 16 bytes: a count beyond what is left is a lie. */
    if (r->bad || nmig > (r->len - r->off) / 16)
        return nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, 0, "device info", NULL,
                             "malformed device record from the driver service for GPU %u", d->index);

    snprintf(d->brand, sizeof(d->brand), "%s", brand_name(brand));
    snprintf(d->busid, sizeof(d->busid), "%08x:%02x:%02x.0", domain, bus, slot);
    snprintf(d->arch, sizeof(d->arch), "%d.%d", cc_major, cc_minor);
    snprintf(d->node_path, sizeof(d->node_path), "/dev/nvidia%u", d->minor);
    d->node_major = NVC_NVIDIA_MAJOR;
    d->node_minor = d->minor;
    snprintf(d->mig_caps_path, sizeof(d->mig_caps_path), "/proc/driver/nvidia/capabilities/gpu%u", d->minor);

    if (nmig > 0) {
        d->mig = calloc(nmig, sizeof(*d->mig));
        if (d->mig == NULL)
            return nvc_error_sys(err, "calloc", NULL, "device info");
    }
    for (unsigned i = 0; i < nmig; i++) {
        struct nvc_mig_device *m = &d->mig[i];
        m->index = nvc_wire_get_u32(r);
        nvc_wire_get_str(r, m->uuid, sizeof(m->uuid));
        m->gi = nvc_wire_get_u32(r);
        m->ci = nvc_wire_get_u32(r);
        snprintf(m->gi_caps_path, sizeof(m->gi_caps_path), "%s/mig/gi%u", d->mig_caps_path, m->gi);
        snprintf(m->ci_caps_path, sizeof(m->ci_caps_path), "%s/ci%u", m->gi_caps_path, m->ci);
        d->nmig++;
    }
    if (!nvc_wire_done(r))
        return nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, 0, "device info", NULL,
                             "malformed MIG records from the driver service for GPU %u", d->index);
    return 0;
}

void nvc_device_read_cap_minors(const struct nvc_host *host, struct nvc_device *d)
{
    /* They name the /dev/nvidia-caps nodes of each MIG device; unreadable is not fatal. */
    for (size_t i = 0; i < d->nmig; i++) {
        char path[256];
        snprintf(path, sizeof(path), "%s/access", d->mig[i].gi_caps_path);
        d->mig[i].gi_cap_minor = nvc_read_cap_minor(host, path);
        snprintf(path, sizeof(path), "%s/access", d->mig[i].ci_caps_path);
        d->mig[i].ci_cap_minor = nvc_read_cap_minor(host, path);
    }
}

void nvc_device_info_free(struct nvc_device_info *info)
{
    if (info == NULL)
        return;
    for (size_t i = 0; i < info->ndevs; i++)
        free(info->devs[i].mig);
    free(info->devs);
    free(info);
}
