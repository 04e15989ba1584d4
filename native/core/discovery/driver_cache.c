#define _GNU_SOURCE
/* nvc_driver_cache: a context's last driver discovery and its witness. */
#include "driver_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device_info.h"
#include "discovery.h"
#include "witness.h"

void nvc_driver_cache_init(struct nvc_driver_cache *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
}

void nvc_driver_cache_destroy(struct nvc_driver_cache *c)
{
    nvc_driver_info_free(c->info);
    nvc_witness_free(c->witness);
    c->info = NULL;
    c->witness = NULL;
    pthread_mutex_destroy(&c->lock);
}

/* Called with the lock held. */
static struct nvc_driver_info *discover(struct nvc_driver_cache *c, const struct nvc_host *host, const char *version,
                                        int cuda, struct nvc_error *err)
{
    struct nvc_driver_info *info = calloc(1, sizeof(*info)), *keep = NULL;
    struct nvc_error ignored; /* nothing kept: only the next call is slower */
    struct nvc_witness *w;

    if (info == NULL) {
        nvc_error_sys(err, "calloc", NULL, "driver info");
        return NULL;
    }
    snprintf(info->nvrm_version, sizeof(info->nvrm_version), "%s", version);
    nvc_format_cuda_version(cuda, info->cuda_version, sizeof(info->cuda_version));
    /* No memory for a witness: discovered all the same, and nothing kept. */
    w = nvc_witness_new(host->discovery_settle_ms);
    if (nvc_discover_driver_witnessed(host, info, w, err) < 0) {
        nvc_witness_free(w);
        nvc_driver_info_free(info);
        return NULL;
    }
    c->stats.reads++;
    if (w != NULL)
        keep = nvc_driver_info_copy(info, &ignored);
    if (keep == NULL) {
        nvc_witness_free(w);
        w = NULL;
    }
    nvc_driver_info_free(c->info);
    nvc_witness_free(c->witness);
    c->info = keep;
    c->cuda = cuda;
    c->witness = w;
    return info;
}

struct nvc_driver_info *nvc_driver_cache_get(struct nvc_driver_cache *c, const struct nvc_host *host,
                                             const char *version, int cuda, struct nvc_error *err)
{
    struct nvc_driver_info *info;

    /* Held through a discovery too: two at once on one context would only do the work twice. */
    pthread_mutex_lock(&c->lock);
    if (c->info != NULL && c->cuda == cuda && strcmp(c->info->nvrm_version, version) == 0 &&
        nvc_witness_unchanged(c->witness)) {
        info = nvc_driver_info_copy(c->info, err);
        if (info != NULL)
            c->stats.reuses++;
    } else
        info = discover(c, host, version, cuda, err);
    pthread_mutex_unlock(&c->lock);
    return info;
}

void nvc_driver_cache_stats(struct nvc_driver_cache *c, struct nvc_driver_info_stats *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->stats;
    pthread_mutex_unlock(&c->lock);
}
