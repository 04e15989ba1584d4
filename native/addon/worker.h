// Shared by the binding's source files: the error bridge and the promise worker base.
#ifndef NVC_ADDON_WORKER_H
#define NVC_ADDON_WORKER_H

#include <napi.h>

#include <cerrno>
#include <cstring>  // strerrorname_np
#include <string>

extern "C" {
#include "nvc_error.h"
}

namespace nvc_addon {

inline Napi::Error MakeError(Napi::Env env, const nvc_error &err) {
  Napi::Error e = Napi::Error::New(env, err.msg);
  Napi::Object o = e.Value();
  o.Set("code", nvc_errcode_string(err.code));
  if (err.sys_errno != 0) {
    const char *name = strerrorname_np(err.sys_errno);
    o.Set("errno", name ? name : std::to_string(err.sys_errno));
  }
  if (err.step[0]) o.Set("syscall", err.step);
  if (err.path[0]) o.Set("path", err.path);
  if (err.code == NVC_ERR_NVML || err.code == NVC_ERR_VERSION_MISMATCH) o.Set("nvmlReturn", err.nvml_ret);
  return e;
}

// Base for calls whose work is done on a libuv pool thread (file and cgroup work, never a wait
// for a helper: see loop_job.h and service_queue.h): runs Run() there and settles a promise with
// Result() or the core's error.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env, const char *name)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {
    nvc_error_clear(&err_);
  }
  // Queues the work and returns its promise; the worker deletes itself once settled.
  Napi::Promise Start() {
    Napi::Promise p = deferred_.Promise();
    Queue();
    return p;
  }

 protected:
  virtual int Run(nvc_error *err) = 0;
  virtual Napi::Value Result(Napi::Env env) = 0;

 private:
  void Execute() override { failed_ = Run(&err_) < 0; }
  void OnOK() override {
    Napi::HandleScope scope(Env());
    if (failed_)
      deferred_.Reject(MakeError(Env(), err_).Value());
    else
      deferred_.Resolve(Result(Env()));
  }
  Napi::Promise::Deferred deferred_;
  nvc_error err_;
  bool failed_ = false;
};

Napi::Object RegisterContainerFunctions(Napi::Env env, Napi::Object exports);
Napi::Object RegisterKmodFunctions(Napi::Env env, Napi::Object exports);
Napi::Object RegisterPeerCredFunctions(Napi::Env env, Napi::Object exports);
Napi::Object RegisterLstatFunctions(Napi::Env env, Napi::Object exports);

}  // namespace nvc_addon

#endif
