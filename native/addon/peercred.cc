// peerCredentials(fd): who is at the other end of a unix socket (SO_PEERCRED), for `nvc-ts serve`,
// which answers only root and the ids its operator allows. Synchronous: getsockopt does not block.
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "worker.h"

namespace nvc_addon {
namespace {

Napi::Value PeerCredentials(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "peerCredentials(fd): fd must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct ucred cred {};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
    Napi::Error e = Napi::Error::New(env, std::string("getsockopt(SO_PEERCRED): ") + strerror(errno));
    e.Set("errno", Napi::Number::New(env, errno));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

}  // namespace

Napi::Object RegisterPeerCredFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("peerCredentials", Napi::Function::New<PeerCredentials>(env, "peerCredentials"));
  return exports;
}

}  // namespace nvc_addon
