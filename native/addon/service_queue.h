// A context's calls to its driver service (init's start, driverInfo, deviceInfo, shutdown),
// run from the event loop. NVML may be slow or stuck for as long as the context's timeout; a
// libuv pool thread waiting that out would be one of four, and four stuck contexts would stall
// every other asynchronous call of the process (fs.promises included). So the calls are C state
// machines that never block (nvc_call_*, nvc.h), and this queue drives them on the loop thread:
// the service answers one request at a time, so a context's calls wait here in order, the one at
// the head says which fd and deadline it waits for, a uv_poll_t and a uv_timer_t watch them, and
// the next call starts as soon as the service's part of the previous one is over. What is left
// of a call then (the files that go with the answer: ld.so.cache, ELF notes, /proc) runs on a
// pool thread, as any file access does, and settles the promise.
#ifndef NVC_ADDON_SERVICE_QUEUE_H
#define NVC_ADDON_SERVICE_QUEUE_H

#include <napi.h>
#include <uv.h>

#include <poll.h>

#include <deque>
#include <functional>
#include <memory>
#include <utility>

#include "worker.h"

extern "C" {
#include "nvc.h"
}

#include "uv_wait.h"

namespace nvc_addon {

// Builds the JavaScript value of a call that succeeded, on the JavaScript thread.
using CallResult = std::function<Napi::Value(Napi::Env, const nvc_call *)>;

// The end of one call: nvc_call_finish on a pool thread, then its promise settled. It owns the
// call, and `owner` keeps the context alive until then.
class CallFinisher : public Napi::AsyncWorker {
 public:
  CallFinisher(Napi::Env env, const char *name, nvc_call *call, const nvc_error &err, Napi::Promise::Deferred deferred,
               CallResult result, std::shared_ptr<void> owner)
      : Napi::AsyncWorker(env, name),
        call_(call),
        err_(err),
        deferred_(std::move(deferred)),
        result_(std::move(result)),
        owner_(std::move(owner)) {}
  ~CallFinisher() override { nvc_call_free(call_); }

 private:
  // No call: nvc_call_start refused, and err_ says why.
  void Execute() override { failed_ = call_ == nullptr || nvc_call_finish(call_, &err_) < 0; }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (failed_) {
      deferred_.Reject(MakeError(env, err_).Value());
      return;
    }
    try {
      deferred_.Resolve(result_(env, call_));
    } catch (const Napi::Error &e) {
      deferred_.Reject(e.Value());
    }
  }

  nvc_call *call_;
  nvc_error err_;
  bool failed_ = false;
  Napi::Promise::Deferred deferred_;
  CallResult result_;
  std::shared_ptr<void> owner_;
};

// One per context, used on the JavaScript thread of the environment that made the context only.
// While it has calls to drive or handles to close it keeps its owner (the context's holder)
// alive, so that it is idle, with nothing to close, whenever it is destroyed.
class ServiceQueue {
 public:
  explicit ServiceQueue(nvc_context *ctx) : ctx_(ctx) {}
  ServiceQueue(const ServiceQueue &) = delete;
  ServiceQueue &operator=(const ServiceQueue &) = delete;

  // Queues a call; `deferred` settles with result(...) or the call's error. owner: what keeps
  // this queue and its context alive (the holder this queue is part of).
  void Push(Napi::Env env, std::shared_ptr<void> owner, nvc_call_kind kind, const char *name,
            Napi::Promise::Deferred deferred, CallResult result) {
    env_ = env;
    items_.push_back(Item{kind, name, std::move(deferred), std::move(result), std::move(owner)});
    if (current_ == nullptr && !tornDown_) Next();
  }

 private:
  struct Item {
    nvc_call_kind kind;
    const char *name;
    Napi::Promise::Deferred deferred;
    CallResult result;
    std::shared_ptr<void> owner;
  };

  // Starts queued calls until one has to wait (or none is left).
  void Next() {
    while (current_ == nullptr && !items_.empty()) {
      Item item = std::move(items_.front());
      items_.pop_front();
      nvc_error err;
      nvc_error_clear(&err);
      nvc_call *call = nvc_call_start(ctx_, item.kind, &err);
      if (call == nullptr) {
        Finish(std::move(item), nullptr, err);
        continue;
      }
      current_ = call;
      item_.reset(new Item(std::move(item)));
      Pump();
    }
    if (current_ == nullptr) CloseTimer();  // idle: nothing may keep the loop (or the owner) alive
  }

  // Steps the call at the head: it waits for something, or the service's part is over and the
  // rest of the call goes to a pool thread.
  void Pump() {
    nvc_wait w;
    if (!nvc_call_step(current_, &w)) {
      Arm(w);
      return;
    }
    nvc_call *call = current_;
    current_ = nullptr;
    nvc_error none;
    nvc_error_clear(&none);
    std::unique_ptr<Item> item = std::move(item_);
    Finish(std::move(*item), call, none);
  }

  void Finish(Item item, nvc_call *call, const nvc_error &err) {
    Napi::HandleScope scope(env_);
    (new CallFinisher(env_, item.name, call, err, std::move(item.deferred), std::move(item.result),
                      std::move(item.owner)))
        ->Queue();
  }

  void Arm(const nvc_wait &w) {
    uv_loop_t *loop = nullptr;
    if (napi_get_uv_event_loop(env_, &loop) != napi_ok) {
      // Cannot happen while the environment lives; give the call up rather than spin.
      GiveUp();
      return;
    }
    if (timer_ == nullptr) {
      timer_ = new uv_timer_t;
      uv_timer_init(loop, timer_);
      timer_->data = this;
      Opened();
    }
    poll_ = ArmWait(loop, timer_, w, this, OnPoll, OnTimer);
    if (poll_ != nullptr) Opened();
  }

  // Every wake-up ends the current wait. The poll handle is closed, not just stopped: the call may
  // close that fd (a service that ended), and uv_close drops libuv's interest in it at once.
  void Disarm() {
    if (timer_ != nullptr) uv_timer_stop(timer_);
    if (poll_ != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t *>(poll_), [](uv_handle_t *h) {
        auto *q = static_cast<ServiceQueue *>(h->data);
        delete reinterpret_cast<uv_poll_t *>(h);
        q->Closed();
      });
      poll_ = nullptr;
    }
  }

  void CloseTimer() {
    if (timer_ == nullptr) return;
    uv_close(reinterpret_cast<uv_handle_t *>(timer_), [](uv_handle_t *h) {
      auto *q = static_cast<ServiceQueue *>(h->data);
      delete reinterpret_cast<uv_timer_t *>(h);
      q->Closed();
    });
    timer_ = nullptr;
  }

  static void OnPoll(uv_poll_t *h, int, int) { static_cast<ServiceQueue *>(h->data)->Wake(); }
  static void OnTimer(uv_timer_t *h) { static_cast<ServiceQueue *>(h->data)->Wake(); }
  void Wake() {
    Disarm();
    if (current_ != nullptr) Pump();
    Next();
  }

  // Handles are open from uv_*_init to their close callback. While any is, the owner is kept
  // (the callbacks reach this object) and teardown of the environment has to wait for them.
  void Opened() {
    if (open_++ > 0) return;
    keep_ = item_ ? item_->owner : nullptr;
    napi_add_async_cleanup_hook(env_, OnTeardown, this, &hook_);
  }
  void Closed() {
    if (--open_ > 0) return;
    napi_remove_async_cleanup_hook(hook_);
    hook_ = nullptr;
    std::shared_ptr<void> keep = std::move(keep_);
    keep.reset();  // may destroy this queue's owner, and this queue: nothing after it
  }

  // Drops the call at the head: its service is killed without waiting (reaped in the background)
  // and its promise is never settled.
  void GiveUp() {
    nvc_call_free(current_);
    current_ = nullptr;
    item_.reset();
  }

  // The environment goes away (a worker thread ending, process exit) with calls in flight: there
  // is no JavaScript left to see their promises. The service is killed, the handles closed; Node
  // waits for the hook to be removed, which the last close callback does.
  static void OnTeardown(napi_async_cleanup_hook_handle, void *arg) {
    auto *q = static_cast<ServiceQueue *>(arg);
    q->tornDown_ = true;
    if (q->current_ != nullptr) q->GiveUp();
    q->items_.clear();
    q->Disarm();
    q->CloseTimer();
  }

  nvc_context *ctx_;
  Napi::Env env_ = Napi::Env(nullptr);
  std::deque<Item> items_;
  nvc_call *current_ = nullptr;  // the call at its steps
  std::unique_ptr<Item> item_;   // and what settles it
  uv_timer_t *timer_ = nullptr;
  uv_poll_t *poll_ = nullptr;
  int open_ = 0;
  std::shared_ptr<void> keep_;
  napi_async_cleanup_hook_handle hook_ = nullptr;
  bool tornDown_ = false;
};

}  // namespace nvc_addon

#endif
