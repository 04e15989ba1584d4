// The Node binding: a thin layer that runs core calls off the JavaScript thread (file work on
// the libuv thread pool, waits for the driver service on the event loop: service_queue.h) and
// turns C results and errors into plain JavaScript values. No logic lives here.
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>

extern "C" {
#include "nvc.h"
}

#include "service_queue.h"
#include "worker.h"

using nvc_addon::MakeError;

namespace {

// Owns one C context and the queue of its calls. Calls in flight (and the queue while it has
// handles open) hold a reference, so the context is freed only when neither JavaScript nor a
// pending call can reach it, and never with a call at its steps.
struct Slot {
  explicit Slot(nvc_context *c) : ctx(c), queue(c) {}
  ~Slot() { nvc_context_abandon(ctx); }
  nvc_context *ctx;
  nvc_addon::ServiceQueue queue;
};

// Per-environment (main thread or worker thread) registry of live contexts, so that
// tearing the environment down kills their services instead of leaking them.
// Node deletes the instance data when the environment goes away (process exit, or a
// worker thread ending), which is when open contexts must lose their services.
struct AddonData {
  std::mutex mutex;
  std::set<std::weak_ptr<Slot>, std::owner_less<std::weak_ptr<Slot>>> live;
  Napi::FunctionReference contextClass;

  void Add(const std::shared_ptr<Slot> &slot) {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto it = live.begin(); it != live.end();) it = it->expired() ? live.erase(it) : std::next(it);
    live.insert(slot);
  }
  ~AddonData() {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto &weak : live) {
      if (auto slot = weak.lock()) nvc_context_kill(slot->ctx);
    }
  }
};

Napi::Array Files(Napi::Env env, const nvc_file *files, size_t n) {
  Napi::Array out = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; i++) {
    Napi::Object f = Napi::Object::New(env);
    f.Set("path", files[i].path);
    f.Set("caps", files[i].caps);
    if (files[i].soname != nullptr) f.Set("soname", files[i].soname);
    out.Set(i, f);
  }
  return out;
}

Napi::Value NullableInt(Napi::Env env, int v) { return v < 0 ? env.Null() : Napi::Number::New(env, v); }

Napi::Object DriverToJs(Napi::Env env, const nvc_driver_info *d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", d->nvrm_version);
  o.Set("cudaVersion", d->cuda_version);
  o.Set("libraries", Files(env, d->libs, d->nlibs));
  o.Set("libraries32", Files(env, d->libs32, d->nlibs32));
  o.Set("binaries", Files(env, d->bins, d->nbins));
  o.Set("ipcs", Files(env, d->ipcs, d->nipcs));
  o.Set("firmware", Files(env, d->firmware, d->nfirmware));
  Napi::Array devs = Napi::Array::New(env, d->ndevs);
  for (size_t i = 0; i < d->ndevs; i++) {
    Napi::Object n = Napi::Object::New(env);
    n.Set("path", d->devs[i].path);
    n.Set("major", d->devs[i].major);
    n.Set("minor", d->devs[i].minor);
    n.Set("exists", d->devs[i].exists != 0);
    devs.Set(i, n);
  }
  o.Set("deviceNodes", devs);
  o.Set("nvcapsMajor", NullableInt(env, d->nvcaps_major));
  o.Set("imexMajor", NullableInt(env, d->imex_major));
  o.Set("migConfigMinor", NullableInt(env, d->mig_config_minor));
  o.Set("migMonitorMinor", NullableInt(env, d->mig_monitor_minor));
  return o;
}

// The host paths in force, every default filled in (the facade's HostPaths).
Napi::Object HostPathsToJs(Napi::Env env, const nvc_host *h) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("root", h->root);
  o.Set("ldcache", h->ldcache);
  o.Set("procRoot", h->proc_root);
  o.Set("devRoot", h->dev_root);
  o.Set("sysRoot", h->sys_root);
  o.Set("nvmlPath", h->nvml_path);
  return o;
}

Napi::Array DevicesToJs(Napi::Env env, const nvc_device_info *info) {
  Napi::Array out = Napi::Array::New(env, info->ndevs);
  for (size_t i = 0; i < info->ndevs; i++) {
    const nvc_device &d = info->devs[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", d.index);
    o.Set("minor", d.minor);
    o.Set("model", d.model);
    o.Set("brand", d.brand);
    o.Set("uuid", d.uuid);
    o.Set("busId", d.busid);
    o.Set("architecture", d.arch);
    Napi::Object node = Napi::Object::New(env);
    node.Set("path", d.node_path);
    node.Set("major", d.node_major);
    node.Set("minor", d.node_minor);
    o.Set("deviceNode", node);
    if (d.persistence_mode < 0)
      o.Set("persistenceMode", env.Null());
    else
      o.Set("persistenceMode", d.persistence_mode == 1);
    Napi::Object mig = Napi::Object::New(env);
    mig.Set("capable", d.mig_capable != 0);
    mig.Set("enabled", d.mig_enabled != 0);
    mig.Set("capsPath", d.mig_caps_path);
    Napi::Array migs = Napi::Array::New(env, d.nmig);
    for (size_t j = 0; j < d.nmig; j++) {
      const nvc_mig_device &m = d.mig[j];
      Napi::Object mo = Napi::Object::New(env);
      mo.Set("index", m.index);
      mo.Set("uuid", m.uuid);
      mo.Set("gpuInstance", m.gi);
      mo.Set("computeInstance", m.ci);
      mo.Set("giCapsPath", m.gi_caps_path);
      mo.Set("ciCapsPath", m.ci_caps_path);
      mo.Set("giCapMinor", NullableInt(env, m.gi_cap_minor));
      mo.Set("ciCapMinor", NullableInt(env, m.ci_cap_minor));
      migs.Set(j, mo);
    }
    mig.Set("devices", migs);
    o.Set("mig", mig);
    out.Set(i, o);
  }
  return out;
}

class NativeContext : public Napi::ObjectWrap<NativeContext> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "NativeContext",
        {InstanceMethod<&NativeContext::DriverInfo>("driverInfo"),
         InstanceMethod<&NativeContext::DeviceInfo>("deviceInfo"), InstanceMethod<&NativeContext::Shutdown>("shutdown"),
         InstanceAccessor<&NativeContext::Pid>("pid"), InstanceAccessor<&NativeContext::Host>("host"),
         InstanceAccessor<&NativeContext::DriverInfoStats>("driverInfoStats")});
  }

  explicit NativeContext(const Napi::CallbackInfo &info) : Napi::ObjectWrap<NativeContext>(info) {
    if (!info[0].IsExternal()) {
      Napi::TypeError::New(info.Env(), "NativeContext is created by init()").ThrowAsJavaScriptException();
      return;
    }
    slot_ = *info[0].As<Napi::External<std::shared_ptr<Slot>>>().Data();
  }

  std::shared_ptr<Slot> slot() const { return slot_; }

 private:
  Napi::Value DriverInfo(const Napi::CallbackInfo &info);
  Napi::Value DeviceInfo(const Napi::CallbackInfo &info);
  Napi::Value Shutdown(const Napi::CallbackInfo &info);
  // Queues a call on this context's service; the promise settles with result(...) or its error.
  Napi::Value Queue(Napi::Env env, nvc_call_kind kind, const char *name, nvc_addon::CallResult result);
  Napi::Value Pid(const Napi::CallbackInfo &info) {
    pid_t pid = slot_ ? nvc_service_pid(slot_->ctx) : 0;
    return pid > 0 ? Napi::Number::New(info.Env(), pid) : info.Env().Null();
  }
  // The host paths in force, every default filled in (for the TypeScript planner).
  Napi::Value Host(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!slot_) return env.Null();
    return HostPathsToJs(env, nvc_context_host(slot_->ctx));
  }
  // How driver-info calls got their files: discovered afresh (reads) or the last discovery
  // reused (reuses), for tests and diagnostics.
  Napi::Value DriverInfoStats(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!slot_) return env.Null();
    nvc_driver_info_stats stats;
    nvc_context_driver_info_stats(slot_->ctx, &stats);
    Napi::Object o = Napi::Object::New(env);
    o.Set("reads", Napi::Number::New(env, static_cast<double>(stats.reads)));
    o.Set("reuses", Napi::Number::New(env, static_cast<double>(stats.reuses)));
    return o;
  }
  std::shared_ptr<Slot> slot_;
};

// Strings from JavaScript, kept alive for the duration of nvc_context_new on the pool thread.
struct InitArgs {
  std::string root, ldcache, procRoot, devRoot, sysRoot, nvmlPath, driverPath, binPath;
  bool has[8] = {};
  std::string pathEnv, mpsPipeDir;  // read here, on the JavaScript thread: getenv races setenv
  bool hasPathEnv = false, hasMpsPipeDir = false;
  long uid = -1, gid = -1;
  unsigned timeoutMs = 0;
  long discoverySettleMs = 0;  // 0: the core's default

  // A config viewing these strings (valid while this object lives).
  void Fill(nvc_config *cfg) const {
    const std::string *fields[] = {&root, &ldcache, &procRoot, &devRoot, &sysRoot, &nvmlPath, &driverPath, &binPath};
    const char **targets[] = {&cfg->root,     &cfg->ldcache,   &cfg->proc_root,   &cfg->dev_root,
                              &cfg->sys_root, &cfg->nvml_path, &cfg->driver_path, &cfg->bin_path};
    for (size_t i = 0; i < 8; i++) *targets[i] = has[i] ? fields[i]->c_str() : nullptr;
    cfg->path_env = hasPathEnv ? pathEnv.c_str() : nullptr;
    cfg->mps_pipe_dir = hasMpsPipeDir ? mpsPipeDir.c_str() : nullptr;
    cfg->uid = uid;
    cfg->gid = gid;
    cfg->timeout_ms = timeoutMs;
    cfg->discovery_settle_ms = discoverySettleMs;
  }
};

// init: the host resolved and NVML found on a pool thread (nvc_context_new reads the
// ld.so.cache), then the service started through the context's queue, which settles the promise
// with the NativeContext once the service is ready.
class InitWorker : public Napi::AsyncWorker {
 public:
  InitWorker(Napi::Env env, InitArgs args)
      : Napi::AsyncWorker(env, "nvc-ts:init"), deferred_(Napi::Promise::Deferred::New(env)), args_(std::move(args)) {
    nvc_error_clear(&err_);
  }
  ~InitWorker() override {
    if (ctx_) nvc_context_abandon(ctx_);  // never handed on: it has no service yet
  }
  Napi::Promise Start() {
    Napi::Promise p = deferred_.Promise();
    Queue();
    return p;
  }

 private:
  void Execute() override {
    nvc_config cfg{};
    args_.Fill(&cfg);
    ctx_ = nvc_context_new(&cfg, &err_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (ctx_ == nullptr) {
      deferred_.Reject(MakeError(env, err_).Value());
      return;
    }
    auto slot = std::make_shared<Slot>(ctx_);
    ctx_ = nullptr;
    auto *data = env.GetInstanceData<AddonData>();
    data->Add(slot);  // from now on, teardown of the environment kills its service
    slot->queue.Push(
        env, slot, NVC_CALL_START, "nvc-ts:init", deferred_, [data, slot](Napi::Env env, const nvc_call *) {
          auto holder = std::make_unique<std::shared_ptr<Slot>>(slot);
          Napi::External<std::shared_ptr<Slot>> ext = Napi::External<std::shared_ptr<Slot>>::New(env, holder.get());
          return Napi::Value(data->contextClass.New({ext}));
        });
  }

  Napi::Promise::Deferred deferred_;
  InitArgs args_;
  nvc_context *ctx_ = nullptr;
  nvc_error err_;
};

Napi::Value NativeContext::Queue(Napi::Env env, nvc_call_kind kind, const char *name, nvc_addon::CallResult result) {
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  Napi::Promise p = deferred.Promise();
  slot_->queue.Push(env, slot_, kind, name, deferred, std::move(result));
  return p;
}

Napi::Value NativeContext::DriverInfo(const Napi::CallbackInfo &info) {
  return Queue(info.Env(), NVC_CALL_DRIVER_INFO, "nvc-ts:driverInfo", [](Napi::Env env, const nvc_call *call) {
    return Napi::Value(DriverToJs(env, nvc_call_driver_info(call)));
  });
}
Napi::Value NativeContext::DeviceInfo(const Napi::CallbackInfo &info) {
  return Queue(info.Env(), NVC_CALL_DEVICE_INFO, "nvc-ts:deviceInfo", [](Napi::Env env, const nvc_call *call) {
    return Napi::Value(DevicesToJs(env, nvc_call_device_info(call)));
  });
}
Napi::Value NativeContext::Shutdown(const Napi::CallbackInfo &info) {
  return Queue(info.Env(), NVC_CALL_SHUTDOWN, "nvc-ts:shutdown",
               [](Napi::Env env, const nvc_call *) { return env.Undefined(); });
}

// The string keys of init's config, in InitArgs' order: the addon's one list of them (a test
// checks it against the facade's initOptionsSchema).
const char *const kInitPathKeys[] = {"root",    "ldcache",  "procRoot",   "devRoot",
                                     "sysRoot", "nvmlPath", "driverPath", "binPath"};
const char *const kInitNumberKeys[] = {"uid", "gid", "timeoutMs"};

// The facade has validated and normalised every field already; this only checks types so that
// a misuse of the raw binding throws instead of crashing. False: a JS exception is pending.
bool ParseInitArgs(Napi::Env env, const Napi::Value &value, const char *fn, InitArgs *args) {
  if (!value.IsObject()) {
    Napi::TypeError::New(env, std::string(fn) + "(config): config must be an object").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Object cfg = value.As<Napi::Object>();
  std::string *fields[] = {&args->root,    &args->ldcache,  &args->procRoot,   &args->devRoot,
                           &args->sysRoot, &args->nvmlPath, &args->driverPath, &args->binPath};
  for (size_t i = 0; i < 8; i++) {
    Napi::Value v = cfg.Get(kInitPathKeys[i]);
    if (v.IsUndefined() || v.IsNull()) continue;
    if (!v.IsString()) {
      Napi::TypeError::New(env, std::string(fn) + "(config): " + kInitPathKeys[i] + " must be a string")
          .ThrowAsJavaScriptException();
      return false;
    }
    *fields[i] = v.As<Napi::String>().Utf8Value();
    if (fields[i]->find('\0') != std::string::npos) {
      Napi::TypeError::New(env, std::string(fn) + "(config): " + kInitPathKeys[i] + " contains a NUL byte")
          .ThrowAsJavaScriptException();
      return false;
    }
    args->has[i] = true;
  }
  if (cfg.Get("uid").IsNumber()) args->uid = cfg.Get("uid").As<Napi::Number>().Int64Value();
  if (cfg.Get("gid").IsNumber()) args->gid = cfg.Get("gid").As<Napi::Number>().Int64Value();
  if (cfg.Get("timeoutMs").IsNumber()) args->timeoutMs = cfg.Get("timeoutMs").As<Napi::Number>().Uint32Value();
  return true;
}

Napi::Value Init(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  InitArgs args;
  if (!ParseInitArgs(env, info[0], "init", &args)) return env.Undefined();
  if (const char *v = getenv("PATH")) {
    args.pathEnv = v;
    args.hasPathEnv = true;
  }
  if (const char *v = getenv("CUDA_MPS_PIPE_DIRECTORY")) {
    args.mpsPipeDir = v;
    args.hasMpsPipeDir = true;
  }
  // Tests only: hosts they have just built are all within the settling time of a kept driver
  // discovery (nvc_config.discovery_settle_ms); "0" there means none, unset the default.
  if (const char *v = getenv("NVC_TS_TEST_DISCOVERY_SETTLE_MS")) {
    char *end = nullptr;
    long ms = strtol(v, &end, 10);
    if (end != v && *end == '\0' && ms >= 0) args.discoverySettleMs = ms == 0 ? -1 : ms;
  }
  return (new InitWorker(env, std::move(args)))->Start();
}

// resolveHost(config): the host paths init would use, every default filled in, without
// starting anything (synchronous: it reads no file).
Napi::Value ResolveHost(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  InitArgs args;
  if (!ParseInitArgs(env, info[0], "resolveHost", &args)) return env.Undefined();
  nvc_config cfg{};
  args.Fill(&cfg);
  nvc_host host;
  nvc_error err{};
  if (nvc_host_paths_resolve(&cfg, &host, &err) < 0) {
    MakeError(env, err).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return HostPathsToJs(env, &host);
}

Napi::Value InitKeys(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  for (const char *k : kInitPathKeys) out.Set(out.Length(), k);
  for (const char *k : kInitNumberKeys) out.Set(out.Length(), k);
  return out;
}

Napi::Value ErrorCodes(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  for (int c = 0; c < NVC_ERRCODE_COUNT; c++) out.Set(out.Length(), nvc_errcode_string(static_cast<nvc_errcode>(c)));
  return out;
}

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  auto *data = new AddonData();
  data->contextClass = Napi::Persistent(NativeContext::Define(env));
  env.SetInstanceData<AddonData>(data);
  exports.Set("init", Napi::Function::New<Init>(env, "init"));
  exports.Set("errorCodes", Napi::Function::New<ErrorCodes>(env, "errorCodes"));
  exports.Set("resolveHost", Napi::Function::New<ResolveHost>(env, "resolveHost"));
  exports.Set("initKeys", Napi::Function::New<InitKeys>(env, "initKeys"));
  exports.Set("version", Napi::String::New(env, nvc_version()));
  nvc_addon::RegisterContainerFunctions(env, exports);
  nvc_addon::RegisterKmodFunctions(env, exports);
  nvc_addon::RegisterPeerCredFunctions(env, exports);
  nvc_addon::RegisterLstatFunctions(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(nvc_ts, InitModule)
