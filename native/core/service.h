#ifndef NVC_SERVICE_H
#define NVC_SERVICE_H

/* The core's side of the driver service: start it, send it requests with a
 * deadline, turn its death or silence into typed errors, reap it. Not thread-safe:
 * the context serialises calls. */

#include <stdint.h>
#include <sys/types.h>

#include "child.h"
#include "nvc.h"
#include "proto.h"

struct nvc_service {
    struct nvc_child child; /* pid 0 when not running */
    uint32_t seq;
    unsigned timeout_ms;
    char calling[96];   /* last NVML function the service announced */
    uint32_t calling_device;
    uint8_t rx[NVC_PROTO_MAX_MSG];
};

void nvc_service_reset(struct nvc_service *svc);
/* Spawns the helper and waits for its READY record (NVML loaded and initialised). */
int nvc_service_start(struct nvc_service *svc, const struct nvc_host *host, struct nvc_error *err);
/* Sends op (with an optional u32 argument) and returns the reply payload positioned after
 * a successful status. A failure status becomes the matching error. `what` names the call
 * in messages ("driver info"). */
int nvc_service_call(struct nvc_service *svc, uint16_t op, const uint32_t *arg, const char *what,
                     struct nvc_rbuf *reply, struct nvc_error *err);
/* Asks for nvmlShutdown, then terminates (short grace) and kills if needed; always reaps. */
int nvc_service_stop(struct nvc_service *svc, struct nvc_error *err);
/* Kills without asking and reaps in the background: for finalizers and exit hooks. */
void nvc_service_abandon(struct nvc_service *svc);

#endif
