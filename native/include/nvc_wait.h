#ifndef NVC_WAIT_H
#define NVC_WAIT_H

/* What an exchange with a helper process waits for next (see the *_job functions of
 * nvc_plan.h and nvc_ldconfig.h). The caller waits for it however it likes (poll, an event
 * loop), then steps the exchange again; a spurious wake-up is harmless. */

#include <stdint.h>

struct nvc_wait {
    int fd;           /* ready for `events`, or -1: only the deadline */
    short events;     /* POLLIN and/or POLLOUT */
    int64_t deadline; /* milliseconds on nvc_now_ms()'s clock (CLOCK_MONOTONIC) */
};

int64_t nvc_now_ms(void);

#endif
