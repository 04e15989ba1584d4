// lstatIdentities(paths): one lstat per path on one pool thread, for the host-facts witness
// (lib/path-witness.ts). Tens of paths checked before each plan cost a pool round trip each
// through node:fs; here they cost one. A path that cannot be examined answers null: to the
// witness that is a change, and the facts are read afresh.
#include <sys/stat.h>

#include <string>
#include <vector>

#include "worker.h"

namespace nvc_addon {
namespace {

// Far more than a witness records (one lookup examines tens of paths).
constexpr size_t kMaxPaths = 100000;

class LstatBatch : public PromiseWorker {
 public:
  LstatBatch(Napi::Env env, std::vector<std::string> paths)
      : PromiseWorker(env, "nvc-ts:lstatIdentities"),
        paths_(std::move(paths)),
        stats_(paths_.size()),
        ok_(paths_.size()) {}

 protected:
  int Run(nvc_error *) override {
    for (size_t i = 0; i < paths_.size(); i++) ok_[i] = lstat(paths_[i].c_str(), &stats_[i]) == 0;
    return 0;
  }

  // The numbers as decimal strings: device and inode numbers and nanosecond times exceed 2^53.
  Napi::Value Result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, paths_.size());
    for (size_t i = 0; i < paths_.size(); i++) {
      if (!ok_[i]) {
        out.Set(i, env.Null());
        continue;
      }
      const struct stat &st = stats_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("dev", std::to_string(static_cast<unsigned long long>(st.st_dev)));
      o.Set("ino", std::to_string(static_cast<unsigned long long>(st.st_ino)));
      o.Set("mode", Napi::Number::New(env, st.st_mode));
      o.Set("size", std::to_string(static_cast<long long>(st.st_size)));
      o.Set("mtimeNs", std::to_string(static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec));
      o.Set("ctimeNs", std::to_string(static_cast<long long>(st.st_ctim.tv_sec) * 1000000000LL + st.st_ctim.tv_nsec));
      out.Set(i, o);
    }
    return out;
  }

 private:
  std::vector<std::string> paths_;
  std::vector<struct stat> stats_;
  std::vector<bool> ok_;
};

Napi::Value LstatIdentities(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    Napi::TypeError::New(env, "lstatIdentities(paths): paths must be an array of strings").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array list = info[0].As<Napi::Array>();
  if (list.Length() > kMaxPaths) {
    Napi::RangeError::New(env, "lstatIdentities(paths): more than 100000 paths").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<std::string> paths;
  paths.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    if (!v.IsString()) {
      Napi::TypeError::New(env, "lstatIdentities(paths): paths must be an array of strings")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    paths.push_back(v.As<Napi::String>().Utf8Value());
  }
  return (new LstatBatch(env, std::move(paths)))->Start();
}

}  // namespace

Napi::Object RegisterLstatFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("lstatIdentities", Napi::Function::New<LstatIdentities>(env, "lstatIdentities"));
  return exports;
}

}  // namespace nvc_addon
