// Bindings for the kernel-module loader and the device-node creator: finit_module, init_module,
// delete_module, mknod and symlink, each run on the libuv pool (they may sleep in the kernel:
// module init can take seconds) and each checking its own arguments, since these calls change
// the running kernel or /dev.
#include <napi.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "worker.h"

namespace nvc_addon {
namespace {

// The flags of finit_module(2) we pass on; MODULE_INIT_COMPRESSED_FILE lets the kernel
// decompress (the caller checked /sys/module/compression first).
constexpr unsigned kModuleInitCompressedFile = 4;
// Module parameters are one string; the kernel refuses more than a page's worth anyway.
constexpr size_t kMaxParams = 4096;
// 56 bytes minus the NUL: MODULE_NAME_LEN.
constexpr size_t kMaxModuleName = 55;
// The largest major and minor a dev_t can carry (MINORBITS 20, 12 bits of major).
constexpr uint32_t kMaxMajor = 4095;
constexpr uint32_t kMaxMinor = (1u << 20) - 1;

struct ArgError {
  std::string message;
};

Napi::Object Config(const Napi::CallbackInfo &info, const char *fn) {
  if (info.Length() < 1 || !info[0].IsObject()) throw ArgError{std::string(fn) + ": argument must be an object"};
  return info[0].As<Napi::Object>();
}

std::string Text(Napi::Object o, const char *key, size_t max) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw ArgError{std::string(key) + " must be a string"};
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) throw ArgError{std::string(key) + " contains a NUL byte"};
  if (s.size() > max) throw ArgError{std::string(key) + " is too long"};
  return s;
}

std::string AbsolutePath(Napi::Object o, const char *key) {
  std::string s = Text(o, key, 4095);
  if (s.empty() || s[0] != '/') throw ArgError{std::string(key) + " must be an absolute path"};
  return s;
}

uint32_t Number(Napi::Object o, const char *key, uint32_t max) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw ArgError{std::string(key) + " must be a number"};
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= max) || d != static_cast<double>(static_cast<uint32_t>(d)))
    throw ArgError{std::string(key) + " must be an integer in 0.." + std::to_string(max)};
  return static_cast<uint32_t>(d);
}

std::string ModuleName(Napi::Object o) {
  std::string name = Text(o, "name", kMaxModuleName);
  if (name.empty()) throw ArgError{"name must not be empty"};
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      throw ArgError{"name must be a module name (letters, digits, _ and -)"};
  return name;
}

class FinitModuleWorker : public PromiseWorker {
 public:
  FinitModuleWorker(Napi::Env env, std::string path, std::string params, unsigned flags)
      : PromiseWorker(env, "nvc-ts:finitModule"), path_(std::move(path)), params_(std::move(params)), flags_(flags) {}

 protected:
  int Run(nvc_error *err) override {
    int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nvc_error_sys(err, "open", path_.c_str(), "cannot open the module file");
    int rc = static_cast<int>(syscall(SYS_finit_module, fd, params_.c_str(), flags_));
    int saved = errno;
    close(fd);
    if (rc != 0) {
      errno = saved;
      return nvc_error_sys(err, "finit_module", path_.c_str(), "the kernel refused the module");
    }
    return 0;
  }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::string path_, params_;
  unsigned flags_;
};

class InitModuleWorker : public PromiseWorker {
 public:
  InitModuleWorker(Napi::Env env, std::vector<uint8_t> image, std::string params, std::string label)
      : PromiseWorker(env, "nvc-ts:initModule"),
        image_(std::move(image)),
        params_(std::move(params)),
        label_(std::move(label)) {}

 protected:
  int Run(nvc_error *err) override {
    if (syscall(SYS_init_module, image_.data(), image_.size(), params_.c_str()) != 0)
      return nvc_error_sys(err, "init_module", label_.c_str(), "the kernel refused the module");
    return 0;
  }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::vector<uint8_t> image_;
  std::string params_, label_;
};

class DeleteModuleWorker : public PromiseWorker {
 public:
  DeleteModuleWorker(Napi::Env env, std::string name)
      : PromiseWorker(env, "nvc-ts:deleteModule"), name_(std::move(name)) {}

 protected:
  int Run(nvc_error *err) override {
    // O_NONBLOCK: fail with EWOULDBLOCK while the module is in use instead of waiting for it.
    if (syscall(SYS_delete_module, name_.c_str(), O_NONBLOCK) != 0)
      return nvc_error_sys(err, "delete_module", nullptr, "cannot unload module %s", name_.c_str());
    return 0;
  }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::string name_;
};

class MknodWorker : public PromiseWorker {
 public:
  MknodWorker(Napi::Env env, std::string path, mode_t perm, dev_t dev)
      : PromiseWorker(env, "nvc-ts:mknod"), path_(std::move(path)), perm_(perm), dev_(dev) {}

 protected:
  int Run(nvc_error *err) override {
    if (mknod(path_.c_str(), S_IFCHR | perm_, dev_) != 0)
      return nvc_error_sys(err, "mknod", path_.c_str(), "cannot create the device node");
    return 0;
  }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::string path_;
  mode_t perm_;
  dev_t dev_;
};

class SymlinkWorker : public PromiseWorker {
 public:
  SymlinkWorker(Napi::Env env, std::string target, std::string path)
      : PromiseWorker(env, "nvc-ts:symlink"), target_(std::move(target)), path_(std::move(path)) {}

 protected:
  int Run(nvc_error *err) override {
    if (symlink(target_.c_str(), path_.c_str()) != 0)
      return nvc_error_sys(err, "symlink", path_.c_str(), "cannot create the link to %s", target_.c_str());
    return 0;
  }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::string target_, path_;
};

template <typename F>
Napi::Value Guard(const Napi::CallbackInfo &info, F start) {
  try {
    return start();
  } catch (const ArgError &e) {
    Napi::TypeError::New(info.Env(), e.message).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
}

Napi::Value FinitModule(const Napi::CallbackInfo &info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Object o = Config(info, "finitModule");
    std::string path = AbsolutePath(o, "path");
    std::string params = Text(o, "params", kMaxParams);
    uint32_t flags = Number(o, "flags", kModuleInitCompressedFile);
    if (flags != 0 && flags != kModuleInitCompressedFile)
      throw ArgError{"flags must be 0 or 4 (MODULE_INIT_COMPRESSED_FILE)"};
    return (new FinitModuleWorker(info.Env(), std::move(path), std::move(params), flags))->Start();
  });
}

Napi::Value InitModule(const Napi::CallbackInfo &info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Object o = Config(info, "initModule");
    Napi::Value v = o.Get("image");
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      throw ArgError{"image must be a Uint8Array"};
    Napi::Uint8Array image = v.As<Napi::Uint8Array>();
    if (image.ByteLength() < 64) throw ArgError{"image is too small to be a module"};
    std::string params = Text(o, "params", kMaxParams);
    std::string label = Text(o, "label", 4095);
    // A copy: the pool thread must not read a buffer JavaScript may change or collect.
    std::vector<uint8_t> bytes(image.Data(), image.Data() + image.ByteLength());
    return (new InitModuleWorker(info.Env(), std::move(bytes), std::move(params), std::move(label)))->Start();
  });
}

Napi::Value DeleteModule(const Napi::CallbackInfo &info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Object o = Config(info, "deleteModule");
    return (new DeleteModuleWorker(info.Env(), ModuleName(o)))->Start();
  });
}

Napi::Value Mknod(const Napi::CallbackInfo &info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Object o = Config(info, "mknod");
    std::string path = AbsolutePath(o, "path");
    uint32_t perm = Number(o, "mode", 0777);
    uint32_t major = Number(o, "major", kMaxMajor);
    uint32_t minor = Number(o, "minor", kMaxMinor);
    return (new MknodWorker(info.Env(), std::move(path), static_cast<mode_t>(perm), makedev(major, minor)))->Start();
  });
}

Napi::Value Symlink(const Napi::CallbackInfo &info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Object o = Config(info, "symlink");
    std::string target = Text(o, "target", 4095);
    if (target.empty()) throw ArgError{"target must not be empty"};
    std::string path = AbsolutePath(o, "path");
    return (new SymlinkWorker(info.Env(), std::move(target), std::move(path)))->Start();
  });
}

}  // namespace

Napi::Object RegisterKmodFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("finitModule", Napi::Function::New<FinitModule>(env, "finitModule"));
  exports.Set("initModule", Napi::Function::New<InitModule>(env, "initModule"));
  exports.Set("deleteModule", Napi::Function::New<DeleteModule>(env, "deleteModule"));
  exports.Set("mknod", Napi::Function::New<Mknod>(env, "mknod"));
  exports.Set("symlink", Napi::Function::New<Symlink>(env, "symlink"));
  return exports;
}

}  // namespace nvc_addon
