#ifndef NVC_SERVICE_H
#define NVC_SERVICE_H

/* The core's side of the driver service: start it, send it requests with a deadline, turn
 * its death or silence into typed errors, reap it. The service answers one request at a
 * time, so there is one exchange at a time: begun by nvc_service_start_begin,
 * nvc_service_request or nvc_service_stop_begin, driven by nvc_service_step until it says
 * the exchange is over, read by nvc_service_result. A step never blocks: it does what can
 * be done at once and says which fd and deadline it waits for (struct nvc_wait), so that
 * the caller may wait with poll (the synchronous API) or an event loop (the addon), and no
 * thread sits in a wait while NVML is slow or stuck. Not thread-safe: the context makes
 * sure only one caller drives a service. */

#include <stdint.h>
#include <sys/types.h>

#include "child.h"
#include "nvc.h"
#include "nvc_wait.h"
#include "driver_proto.h"

enum nvc_service_phase {
    NVC_SVC_IDLE,    /* no exchange begun, or its result read */
    NVC_SVC_AWAIT,   /* a reply (or READY) awaited on the socket */
    NVC_SVC_LEAVING, /* stopping: socket closed, the service's own exit awaited */
    NVC_SVC_ENDING,  /* its end (after SIGTERM or SIGKILL) awaited, see `after` */
    NVC_SVC_OVER,    /* the exchange is over: nvc_service_result tells how */
};

/* What to report once an ending service is gone. */
enum nvc_service_after {
    NVC_SVC_KEEP_ERROR,   /* err already says it (timeout, protocol error, failed start) */
    NVC_SVC_REPORT_DEATH, /* it hung up without answering: how it ended is the error */
    NVC_SVC_QUIET,        /* it was stopping anyway: nothing */
};

struct nvc_service {
    struct nvc_child child; /* pid 0 when not running */
    uint32_t seq;
    unsigned timeout_ms;
    char calling[96]; /* last NVML function the service announced */
    uint32_t calling_device;

    /* The exchange under way. */
    enum nvc_service_phase phase;
    enum nvc_service_after after;
    uint16_t op; /* the reply awaited */
    uint32_t op_seq;
    char what[64]; /* names the call in messages ("driver info") */
    int64_t deadline;
    int starting, stopping; /* the exchange is start's or stop's (their own endings) */
    int failed;             /* err holds the outcome */
    struct nvc_error err;
    struct nvc_rbuf reply; /* after an OK status, into rx */
    struct nvc_child_end end;
    uint8_t rx[NVC_PROTO_MAX_MSG];
};

void nvc_service_reset(struct nvc_service *svc);
/* Spawns the helper and begins waiting for its READY record (NVML loaded and initialised).
 * Only a spawn failure is returned here (-1 with err); everything later comes out of the
 * exchange. */
int nvc_service_start_begin(struct nvc_service *svc, const struct nvc_host *host, struct nvc_error *err);
/* Sends op (with an optional u32 argument); `what` names the call in messages. A service
 * that is not running, or a send that fails, ends the exchange at once (with the error). */
void nvc_service_request(struct nvc_service *svc, uint16_t op, const uint32_t *arg, const char *what);
/* Asks for nvmlShutdown, then waits a short grace for the exit, terminates, kills if need
 * be; always reaps. Over at once when nothing runs. */
void nvc_service_stop_begin(struct nvc_service *svc);
/* 1 once the exchange is over, or 0 with *w to wait for. */
int nvc_service_step(struct nvc_service *svc, struct nvc_wait *w);
/* The outcome of the exchange just over: 0 with *reply positioned after a successful
 * status (valid until the next exchange begins), or -1 with err. A stop reports only an
 * nvmlShutdown failure: a service that died or hung on the way out was reaped all the same. */
int nvc_service_result(struct nvc_service *svc, struct nvc_rbuf *reply, struct nvc_error *err);
/* Kills without asking and reaps in the background, whatever the exchange: for finalizers,
 * exit hooks and a caller that gives up on a call. */
void nvc_service_abandon(struct nvc_service *svc);

#endif
