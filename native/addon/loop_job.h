// Calls whose work is waiting for a helper process (the executor, the ldconfig helper).
// A libuv pool thread must not sit in such a wait: with four of them, four slow container
// starts would stall every other asynchronous call of the process (fs.promises included).
// So the C side is a state machine that never blocks (nvc_*_job_*), and this class drives
// it from the event loop: the job says which fd and deadline it waits for, a uv_poll_t
// and a uv_timer_t watch them, and the promise settles on the loop thread.
#ifndef NVC_ADDON_LOOP_JOB_H
#define NVC_ADDON_LOOP_JOB_H

#include <napi.h>
#include <uv.h>

#include <poll.h>

#include "worker.h"

extern "C" {
#include "nvc_wait.h"
}

#include "uv_wait.h"

namespace nvc_addon {

class LoopJob {
 public:
  LoopJob(Napi::Env env, const char *name)
      : env_(env), deferred_(Napi::Promise::Deferred::New(env)), async_(env, name) {
    nvc_error_clear(&err_);
  }
  virtual ~LoopJob() = default;
  LoopJob(const LoopJob &) = delete;
  LoopJob &operator=(const LoopJob &) = delete;

  // Spawns the helper (short, on this thread) and returns the promise; the job deletes
  // itself once settled and its handles are closed.
  Napi::Promise Start() {
    Napi::Promise p = deferred_.Promise();
    if (Begin(&err_) < 0) {
      deferred_.Reject(MakeError(env_, err_).Value());
      delete this;
      return p;
    }
    if (napi_get_uv_event_loop(env_, &loop_) != napi_ok) {
      nvc_error_set(&err_, NVC_ERR_SYSTEM, 0, "napi_get_uv_event_loop", nullptr, "no event loop to wait on");
      Abandon();
      deferred_.Reject(MakeError(env_, err_).Value());
      delete this;
      return p;
    }
    timer_ = new uv_timer_t;
    uv_timer_init(loop_, timer_);
    timer_->data = this;
    // Teardown of the environment (a worker thread ending, process exit) while the helper
    // works: Node waits for this hook to be removed, which happens once our handles are closed.
    napi_add_async_cleanup_hook(env_, OnTeardown, this, &hook_);
    Pump();
    return p;
  }

 protected:
  virtual int Begin(nvc_error *err) = 0;          // spawn: 0, or -1 with err
  virtual int Step(nvc_wait *w) = 0;              // 1 over, 0 wait for *w
  virtual int Finish(nvc_error *err) = 0;         // the outcome once over: 0, or -1 with err
  virtual Napi::Value Result(Napi::Env env) = 0;  // after Finish returned 0
  virtual void Abandon() = 0;                     // end the helper without waiting (teardown)

 private:
  void Pump() {
    nvc_wait w;
    if (Step(&w)) {
      bool failed = Finish(&err_) < 0;
      Settle(failed);
      Close();
      return;
    }
    poll_ = ArmWait(loop_, timer_, w, this, OnPoll, OnTimer);
  }

  // Every wake-up ends the current wait. The poll handle is closed, not just stopped, before
  // the job runs again: the job may close that fd, and uv_close drops libuv's interest in it
  // at once (a stopped handle would leave it registered until the loop noticed).
  void Disarm() {
    uv_timer_stop(timer_);
    if (poll_ != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t *>(poll_), [](uv_handle_t *h) { delete reinterpret_cast<uv_poll_t *>(h); });
      poll_ = nullptr;
    }
  }

  static void OnPoll(uv_poll_t *h, int, int) { Wake(static_cast<LoopJob *>(h->data)); }
  static void OnTimer(uv_timer_t *h) { Wake(static_cast<LoopJob *>(h->data)); }
  static void Wake(LoopJob *job) {
    job->Disarm();
    job->Pump();
  }

  void Settle(bool failed) {
    // A callback scope, so that the promise's reactions (microtasks) run when this returns,
    // as they do after any other callback from the loop.
    Napi::HandleScope scope(env_);
    Napi::CallbackScope callback(env_, async_);
    try {
      if (failed)
        deferred_.Reject(MakeError(env_, err_).Value());
      else
        deferred_.Resolve(Result(env_));
    } catch (const Napi::Error &e) {
      deferred_.Reject(e.Value());
    }
  }

  // Closes the handles; the last close callback removes the teardown hook and deletes the job.
  void Close() {
    Disarm();
    uv_close(reinterpret_cast<uv_handle_t *>(timer_), [](uv_handle_t *h) {
      auto *job = static_cast<LoopJob *>(h->data);
      delete reinterpret_cast<uv_timer_t *>(h);
      napi_remove_async_cleanup_hook(job->hook_);
      delete job;
    });
    timer_ = nullptr;
  }

  static void OnTeardown(napi_async_cleanup_hook_handle, void *arg) {
    auto *job = static_cast<LoopJob *>(arg);
    if (job->timer_ == nullptr) return;  // already closing: its close callback removes the hook
    job->Abandon();
    job->Close();  // the promise is never settled: there is no JavaScript left to see it
  }

  Napi::Env env_;
  Napi::Promise::Deferred deferred_;
  Napi::AsyncContext async_;
  uv_loop_t *loop_ = nullptr;
  uv_timer_t *timer_ = nullptr;
  uv_poll_t *poll_ = nullptr;
  napi_async_cleanup_hook_handle hook_ = nullptr;
  nvc_error err_;
};

}  // namespace nvc_addon

#endif
