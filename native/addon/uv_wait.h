// One wait of a helper exchange (struct nvc_wait) armed on the event loop: its fd, if any,
// through a new uv_poll_t, and its deadline through the caller's timer. Shared by the jobs of
// the executor and ldconfig helpers (loop_job.h) and the driver service's queue
// (service_queue.h).
#ifndef NVC_ADDON_UV_WAIT_H
#define NVC_ADDON_UV_WAIT_H

#include <poll.h>
#include <uv.h>

extern "C" {
#include "nvc_wait.h"
}

namespace nvc_addon {

// Where poll(2) would not work on the fd (it never happens with sockets and pidfds), the
// exchange is looked at in short steps instead.
constexpr int64_t kWaitFallbackStepMs = 10;

// Starts *timer for the deadline and returns the poll handle watching w.fd (data set to
// `data`), or nullptr when there is no fd or libuv cannot watch it. The caller closes the
// handle (uv_close) when the wait ends.
inline uv_poll_t *ArmWait(uv_loop_t *loop, uv_timer_t *timer, const nvc_wait &w, void *data, uv_poll_cb on_poll,
                          uv_timer_cb on_timer) {
  uv_poll_t *poll = nullptr;
  int64_t delay = w.deadline - nvc_now_ms();
  if (delay < 0) delay = 0;
  if (w.fd >= 0) {
    poll = new uv_poll_t;
    if (uv_poll_init(loop, poll, w.fd) == 0) {
      poll->data = data;
      int events = ((w.events & POLLIN) ? UV_READABLE : 0) | ((w.events & POLLOUT) ? UV_WRITABLE : 0);
      uv_poll_start(poll, events, on_poll);
    } else {
      delete poll;  // never initialised: nothing for libuv to close
      poll = nullptr;
      if (delay > kWaitFallbackStepMs) delay = kWaitFallbackStepMs;
    }
  }
  uv_timer_start(timer, on_timer, static_cast<uint64_t>(delay), 0);
  return poll;
}

}  // namespace nvc_addon

#endif
