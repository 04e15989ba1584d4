// Bindings for container setup: apply an edit plan, program device cgroups, run ldconfig.
// Each validates only types (the TypeScript layer validated values). Cgroup work runs on
// the thread pool; the plan and ldconfig wait for helper processes, which the event loop
// watches (loop_job.h): no pool thread waits for them.
#include <napi.h>

#include <array>
#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

extern "C" {
#include "cgroup.h"
#include "container_probe.h"
#include "pidref.h"
#include "nvc.h"
#include "nvc_ldconfig.h"
#include "nvc_plan.h"
}

#include "loop_job.h"
#include "worker.h"

namespace nvc_addon {
namespace {

struct ArgError {
  std::string message;
};

std::string Str(Napi::Object o, const char *key, bool required = true) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() && !required) return std::string();
  if (!v.IsString()) throw ArgError{std::string(key) + " must be a string"};
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) throw ArgError{std::string(key) + " contains a NUL byte"};
  return s;
}

uint32_t U32(Napi::Object o, const char *key, uint32_t fallback, bool required = false) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) {
    if (required) throw ArgError{std::string(key) + " is required"};
    return fallback;
  }
  if (!v.IsNumber()) throw ArgError{std::string(key) + " must be a number"};
  double d = v.As<Napi::Number>().DoubleValue();
  if (d < 0 || d > 4294967295.0 || d != static_cast<double>(static_cast<uint32_t>(d)))
    throw ArgError{std::string(key) + " must be an integer in 0..2^32-1"};
  return static_cast<uint32_t>(d);
}

// A non-negative integer up to 2^53 (a process start time in clock ticks).
uint64_t U53(Napi::Object o, const char *key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return 0;
  if (!v.IsNumber()) throw ArgError{std::string(key) + " must be a number"};
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<uint64_t>(d)))
    throw ArgError{std::string(key) + " must be an integer in 0..2^53-1"};
  return static_cast<uint64_t>(d);
}

// The names of the edit vocabulary (nvc_vocabulary.def), in its order.
struct Named {
  const char *name;
  unsigned value;
};
const Named kEditKinds[] = {
#define NVC_EDIT_KIND(name, NAME) {#name, NVC_EDIT_##NAME},
#include "nvc_vocabulary.def"
};
const Named kSourceKinds[] = {
#define NVC_SOURCE_KIND(name, NAME) {#name, NVC_SRC_##NAME},
#include "nvc_vocabulary.def"
};
const Named kMountFlags[] = {
#define NVC_MOUNT_FLAG(name, NAME) {#name, NVC_MNT_##NAME},
#include "nvc_vocabulary.def"
};
const Named kCapabilities[] = {
#define NVC_CAPABILITY(name, NAME) {#name, NVC_CAP_##NAME},
#include "nvc_vocabulary.def"
};

template <size_t N>
unsigned Lookup(const Named (&table)[N], const std::string &name, const char *what) {
  for (const Named &n : table)
    if (name == n.name) return n.value;
  throw ArgError{std::string("unknown ") + what + " " + name};
}

unsigned Flags(Napi::Object o) {
  Napi::Value v = o.Get("flags");
  if (v.IsUndefined()) return 0;
  if (!v.IsArray()) throw ArgError{"flags must be an array"};
  Napi::Array a = v.As<Napi::Array>();
  unsigned out = 0;
  for (uint32_t i = 0; i < a.Length(); i++)
    out |= Lookup(kMountFlags, Napi::Value(a[i]).ToString().Utf8Value(), "mount flag");
  return out;
}

// An edit whose strings are owned here, so the C view stays valid on the pool thread.
struct OwnedEdit {
  nvc_edit_kind kind;
  std::string target, source, link, data;
  unsigned mode = 0, flags = 0, major = 0, minor = 0;
  nvc_source_kind sourceKind = static_cast<nvc_source_kind>(0);  // binds only: the executor refuses it elsewhere
};

OwnedEdit ParseEdit(Napi::Object e) {
  OwnedEdit out;
  out.kind = static_cast<nvc_edit_kind>(Lookup(kEditKinds, Str(e, "kind"), "edit kind"));
  out.target = Str(e, "target");
  out.mode = U32(e, "mode", 0);
  out.flags = Flags(e);
  if (out.kind == NVC_EDIT_BIND) {
    out.source = Str(e, "source");
    out.sourceKind = static_cast<nvc_source_kind>(Lookup(kSourceKinds, Str(e, "sourceKind"), "sourceKind"));
    out.major = U32(e, "major", 0);
    out.minor = U32(e, "minor", 0);
  }
  if (out.kind == NVC_EDIT_SYMLINK) out.link = Str(e, "link");
  if (out.kind == NVC_EDIT_WRITE) {
    Napi::Value d = e.Get("data");
    if (d.IsBuffer()) {
      auto b = d.As<Napi::Buffer<char>>();
      out.data.assign(b.Data(), b.Length());
    } else if (d.IsString()) {
      out.data = d.As<Napi::String>().Utf8Value();
    } else {
      throw ArgError{"data must be a Buffer or a string"};
    }
  }
  return out;
}

// 64-bit ids travel as decimal strings: JSON and JavaScript numbers cannot hold them all.
const char *const kChangeKinds[] = {"", "mount", "file", "directory", "symlink", "flags"};

Napi::Object ChangeToJs(Napi::Env env, const nvc_change &c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", kChangeKinds[c.kind]);
  o.Set("path", c.path);
  if (c.kind == NVC_CHANGE_MOUNT || c.kind == NVC_CHANGE_FLAGS) {
    o.Set("mountId", std::to_string(c.mnt_id));
    o.Set("uniqueMountId", std::to_string(c.mnt_unique));
  }
  if (c.kind != NVC_CHANGE_FLAGS) {
    o.Set("dev", std::to_string(c.dev));
    o.Set("ino", std::to_string(c.ino));
  }
  if (c.kind == NVC_CHANGE_FILE || c.kind == NVC_CHANGE_DIR || c.kind == NVC_CHANGE_SYMLINK)
    o.Set("btime", std::to_string(c.btime));
  if (c.kind == NVC_CHANGE_FLAGS) {
    Napi::Array flags = Napi::Array::New(env);
    for (const Named &n : kMountFlags)
      if (c.flags & n.value) flags.Set(flags.Length(), n.name);
    o.Set("flags", flags);
  }
  return o;
}

uint64_t U64String(Napi::Object o, const char *key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return 0;
  if (!v.IsString()) throw ArgError{std::string(key) + " must be a decimal string"};
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != std::string::npos)
    throw ArgError{std::string(key) + " must be a decimal string"};
  errno = 0;
  unsigned long long n = strtoull(s.c_str(), nullptr, 10);
  if (errno == ERANGE) throw ArgError{std::string(key) + " is out of range"};
  return n;
}

struct OwnedChange {
  nvc_change_kind kind;
  std::string path;
  uint64_t mntId = 0, mntUnique = 0, dev = 0, ino = 0, btime = 0;
  unsigned flags = 0;
};

OwnedChange ParseChange(Napi::Object o) {
  OwnedChange c;
  std::string kind = Str(o, "kind");
  unsigned k = 0;
  for (unsigned i = 1; i < sizeof(kChangeKinds) / sizeof(kChangeKinds[0]); i++)
    if (kind == kChangeKinds[i]) k = i;
  if (k == 0) throw ArgError{"unknown change kind " + kind};
  c.kind = static_cast<nvc_change_kind>(k);
  c.path = Str(o, "path");
  c.mntId = U64String(o, "mountId");
  c.mntUnique = U64String(o, "uniqueMountId");
  c.dev = U64String(o, "dev");
  c.ino = U64String(o, "ino");
  c.btime = U64String(o, "btime");
  c.flags = Flags(o);
  return c;
}

class TeardownJob : public LoopJob {
 public:
  TeardownJob(Napi::Env env, std::string exec, uint32_t pid, uint64_t pidStart, std::string rootfs,
              std::vector<OwnedChange> changes)
      : LoopJob(env, "nvc-ts:teardown"),
        exec_(std::move(exec)),
        rootfs_(std::move(rootfs)),
        owned_(std::move(changes)) {
    req_.pid = static_cast<pid_t>(pid);
    req_.pid_start = pidStart;
  }
  ~TeardownJob() override {
    nvc_plan_job_free(job_);
    nvc_teardown_result_free(&result_);
  }

 protected:
  int Begin(nvc_error *err) override {
    std::vector<nvc_change> view(owned_.size());
    for (size_t i = 0; i < owned_.size(); i++) {
      const OwnedChange &o = owned_[i];
      view[i] = nvc_change{};
      view[i].kind = o.kind;
      view[i].path = const_cast<char *>(o.path.c_str());  // read only: encoded below
      view[i].mnt_id = o.mntId;
      view[i].mnt_unique = o.mntUnique;
      view[i].dev = o.dev;
      view[i].ino = o.ino;
      view[i].btime = o.btime;
      view[i].flags = o.flags;
    }
    req_.rootfs = rootfs_.c_str();
    req_.changes = view.data();
    req_.nchanges = view.size();
    job_ = nvc_teardown_job_start(exec_.c_str(), &req_, err);
    req_.changes = nullptr;
    return job_ ? 0 : -1;
  }
  int Step(nvc_wait *w) override { return nvc_plan_job_step(job_, w); }
  int Finish(nvc_error *err) override { return nvc_teardown_job_finish(job_, &result_, err); }
  void Abandon() override {
    nvc_plan_job_free(job_);
    job_ = nullptr;
  }
  Napi::Value Result(Napi::Env env) override {
    static const char *const kStatus[] = {"", "undone", "absent", "kept"};
    Napi::Array out = Napi::Array::New(env, result_.nchanges);
    for (size_t i = 0; i < result_.nchanges; i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("status", kStatus[result_.reports[i].status]);
      o.Set("why", result_.reports[i].why);
      out.Set(i, o);
    }
    return out;
  }

 private:
  std::string exec_, rootfs_;
  std::vector<OwnedChange> owned_;
  struct nvc_teardown req_ {};
  nvc_plan_job *job_ = nullptr;
  nvc_teardown_result result_{};
};

// What an ldconfig run is given besides the container (ldconfig()'s request, or applyPlan's
// `ldconfig`, whose helper starts with the executor and waits, prepared, for the edits).
struct LdconfigSpec {
  std::string helper, ldconfig;
  std::vector<std::string> dirs;
  bool noPivot = false;
};

// Starts the helper for spec on the container (the request travels as its argv: the views
// need live only for this call).
nvc_ldconfig_job *StartLdconfigJob(const LdconfigSpec &spec, pid_t pid, uint64_t pidStart, const std::string &rootfs,
                                   uid_t uid, gid_t gid, uint32_t timeoutMs, bool gated, nvc_error *err) {
  std::vector<const char *> dirs;
  for (const auto &d : spec.dirs) dirs.push_back(d.c_str());
  nvc_ldconfig_request req{};
  req.pid = pid;
  req.pid_start = pidStart;
  req.rootfs = rootfs.c_str();
  req.ldconfig = spec.ldconfig.c_str();
  req.dirs = dirs.data();
  req.ndirs = dirs.size();
  req.uid = uid;
  req.gid = gid;
  req.timeout_ms = timeoutMs;
  req.no_pivot = spec.noPivot ? 1 : 0;
  req.gated = gated ? 1 : 0;
  return nvc_ldconfig_job_start(spec.helper.c_str(), &req, err);
}

Napi::Object LdconfigResultToJs(Napi::Env env, const nvc_ldconfig_result &res) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ran", res.ran != 0);
  o.Set("warning", res.warning);
  return o;
}

class ApplyPlanJob : public LoopJob {
 public:
  ApplyPlanJob(Napi::Env env, std::string exec, uint32_t pid, uint64_t pidStart, std::string rootfs, uint32_t uid,
               uint32_t gid, std::vector<OwnedEdit> edits, uint32_t timeoutMs, std::unique_ptr<LdconfigSpec> ld)
      : LoopJob(env, "nvc-ts:applyPlan"),
        exec_(std::move(exec)),
        rootfs_(std::move(rootfs)),
        edits_(std::move(edits)),
        timeoutMs_(timeoutMs),
        ld_(std::move(ld)) {
    plan_.pid = static_cast<pid_t>(pid);
    plan_.pid_start = pidStart;
    plan_.uid = uid;
    plan_.gid = gid;
    nvc_error_clear(&ldErr_);
  }
  ~ApplyPlanJob() override {
    nvc_plan_job_free(job_);
    nvc_ldconfig_job_free(ldJob_);
    nvc_plan_result_free(&result_);
  }

 protected:
  // The plan is encoded here, so the views need live only for this call.
  int Begin(nvc_error *err) override {
    std::vector<nvc_edit> view(edits_.size());
    for (size_t i = 0; i < edits_.size(); i++) {
      const OwnedEdit &o = edits_[i];
      nvc_edit &e = view[i];
      e = nvc_edit{};
      e.kind = o.kind;
      e.target = o.target.c_str();
      e.source = o.kind == NVC_EDIT_BIND ? o.source.c_str() : nullptr;
      e.link = o.kind == NVC_EDIT_SYMLINK ? o.link.c_str() : nullptr;
      e.data = o.kind == NVC_EDIT_WRITE ? o.data.data() : nullptr;
      e.data_len = o.kind == NVC_EDIT_WRITE ? o.data.size() : 0;
      e.mode = o.mode;
      e.flags = o.flags;
      e.source_kind = o.sourceKind;
      e.major = o.major;
      e.minor = o.minor;
    }
    plan_.rootfs = rootfs_.c_str();
    plan_.edits = view.data();
    plan_.nedits = view.size();
    started_ = Clock::now();
    job_ = nvc_plan_job_start(exec_.c_str(), &plan_, err);
    nvc_plan_job_set_timeout(job_, timeoutMs_);
    plan_.edits = nullptr;
    edits_.clear();
    if (job_ == nullptr) return -1;
    // Spawned gated: its wait for the edits costs nothing, its start is off the critical path.
    if (ld_)
      ldJob_ =
          StartLdconfigJob(*ld_, plan_.pid, plan_.pid_start, rootfs_, plan_.uid, plan_.gid, timeoutMs_, true, &ldErr_);
    return 0;
  }
  // The executor first; once its edits are in, the waiting ldconfig helper is let go. A helper
  // that could not be started is reported after the edits, as an ldconfig failure: the mounts
  // stay, as they do when ldconfig itself fails.
  int Step(nvc_wait *w) override {
    if (!planOver_) {
      if (!nvc_plan_job_step(job_, w)) return 0;
      planOver_ = true;
      planFailed_ = nvc_plan_job_finish(job_, &result_, &planErr_) < 0;
      if (planFailed_ || !ld_) return 1;
      if (ldJob_ == nullptr) return 1;  // ldErr_ says why it never started
      uint32_t left = 0;
      if (timeoutMs_ > 0) {
        double rest = timeoutMs_ - MsSince(started_);
        left = static_cast<uint32_t>(rest < 1 ? 1 : rest);
      }
      ldStarted_ = Clock::now();
      if (nvc_ldconfig_job_release(ldJob_, left, &ldErr_) < 0) {
        nvc_ldconfig_job_free(ldJob_);
        ldJob_ = nullptr;
        return 1;
      }
    }
    if (!nvc_ldconfig_job_step(ldJob_, w)) return 0;
    return 1;
  }
  int Finish(nvc_error *err) override {
    if (planFailed_) {
      *err = planErr_;
      return -1;
    }
    if (!ld_) return 0;
    if (ldJob_ == nullptr) {
      *err = ldErr_;
      return -1;
    }
    int rc = nvc_ldconfig_job_finish(ldJob_, &ldResult_, err);
    ldconfigMs_ = MsSince(ldStarted_);
    return rc;
  }
  void Abandon() override {
    nvc_plan_job_free(job_);
    job_ = nullptr;
    nvc_ldconfig_job_free(ldJob_);
    ldJob_ = nullptr;
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    if (ld_) {
      o.Set("ldconfig", LdconfigResultToJs(env, ldResult_));
      o.Set("ldconfigMs", ldconfigMs_);
    }
    Napi::Array outcomes = Napi::Array::New(env, result_.nedits);
    for (size_t i = 0; i < result_.nedits; i++)
      outcomes.Set(i, result_.outcomes[i] == NVC_OUTCOME_SKIPPED ? "skipped" : "done");
    o.Set("outcomes", outcomes);
    if (result_.edits_us != NVC_PLAN_NO_TIME) o.Set("editsMs", result_.edits_us / 1000.0);
    Napi::Array changes = Napi::Array::New(env, result_.nchanges);
    for (size_t i = 0; i < result_.nchanges; i++) changes.Set(i, ChangeToJs(env, result_.changes[i]));
    o.Set("changes", changes);
    return o;
  }

 private:
  std::string exec_, rootfs_;
  std::vector<OwnedEdit> edits_;
  uint32_t timeoutMs_;
  std::unique_ptr<LdconfigSpec> ld_;
  nvc_plan plan_{};
  nvc_plan_job *job_ = nullptr;
  nvc_plan_result result_{};
  nvc_error planErr_;
  bool planOver_ = false, planFailed_ = false;
  nvc_ldconfig_job *ldJob_ = nullptr;
  nvc_error ldErr_;
  nvc_ldconfig_result ldResult_{};
  using Clock = std::chrono::steady_clock;
  static double MsSince(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
  }
  Clock::time_point started_, ldStarted_;
  double ldconfigMs_ = 0;
};

class CgroupWorker : public PromiseWorker {
 public:
  CgroupWorker(Napi::Env env, std::string procRoot, uint32_t pid, uint64_t pidStart, std::vector<std::string> access,
               std::vector<nvc_device_rule> rules)
      : PromiseWorker(env, "nvc-ts:cgroupAllow"),
        procRoot_(std::move(procRoot)),
        pid_(pid),
        pidStart_(pidStart),
        access_(std::move(access)),
        rules_(std::move(rules)) {}

 protected:
  int Run(nvc_error *err) override {
    for (size_t i = 0; i < rules_.size(); i++) rules_[i].access = access_[i].c_str();
    // The cgroup is read from <proc>/<pid>/cgroup: the pid must still name the process the
    // caller opened (pidref.h), before the read and after it.
    if (SameProcess(err) < 0) return -1;
    if (nvc_cgroup_version(procRoot_.c_str(), static_cast<pid_t>(pid_), &version_, err) < 0) return -1;
    added_.assign(rules_.size(), {0, 0, 0, 0});
    if (deny_) {
      if (version_ != 1) return 0;  // the caller says what v2 cannot take back
      std::vector<int> present(rules_.size(), 0);
      if (nvc_cgroup_deny_v1(procRoot_.c_str(), static_cast<pid_t>(pid_), rules_.data(), rules_.size(), present.data(),
                             err) < 0)
        return -1;
      for (size_t i = 0; i < rules_.size(); i++)
        if (present[i]) snprintf(added_[i].data(), 4, "%s", rules_[i].access);
      return SameProcess(err);
    }
    if (nvc_cgroup_allow_report(procRoot_.c_str(), static_cast<pid_t>(pid_), version_, rules_.data(), rules_.size(),
                                reinterpret_cast<char(*)[4]>(added_.data()), err) < 0)
      return -1;
    return SameProcess(err);
  }
  int SameProcess(nvc_error *err) {
    uint64_t now = 0;
    if (pidStart_ == 0) return 0;
    if (nvc_pid_start_time(procRoot_.c_str(), static_cast<pid_t>(pid_), &now) == 0 && now == pidStart_) return 0;
    return nvc_error_set(err, NVC_ERR_NAMESPACE, ESRCH, "stat", nullptr,
                         "the container process %u exited and its pid now names another process (or none)", pid_);
  }
  // allow: the rules as far as they added access; deny: the rules as far as they were still there.
  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("version", version_);
    Napi::Array changed = Napi::Array::New(env);
    for (size_t i = 0; i < added_.size(); i++) {
      if (added_[i][0] == '\0') continue;
      Napi::Object r = Napi::Object::New(env);
      r.Set("type", std::string(1, rules_[i].type));
      r.Set("major", rules_[i].major);
      r.Set("minor", rules_[i].minor);
      r.Set("access", std::string(added_[i].data()));
      changed.Set(changed.Length(), r);
    }
    o.Set(deny_ ? "removed" : "added", changed);
    return o;
  }

 public:
  bool deny_ = false;

 private:
  std::vector<std::array<char, 4>> added_;
  std::string procRoot_;
  uint32_t pid_;
  uint64_t pidStart_;
  std::vector<std::string> access_;
  std::vector<nvc_device_rule> rules_;
  int version_ = 0;
};

class LdconfigJob : public LoopJob {
 public:
  LdconfigJob(Napi::Env env, LdconfigSpec spec, uint32_t pid, uint64_t pidStart, std::string rootfs, uint32_t uid,
              uint32_t gid, uint32_t timeoutMs)
      : LoopJob(env, "nvc-ts:ldconfig"),
        spec_(std::move(spec)),
        rootfs_(std::move(rootfs)),
        pid_(pid),
        pidStart_(pidStart),
        uid_(uid),
        gid_(gid),
        timeoutMs_(timeoutMs) {}
  ~LdconfigJob() override { nvc_ldconfig_job_free(job_); }

 protected:
  int Begin(nvc_error *err) override {
    job_ = StartLdconfigJob(spec_, static_cast<pid_t>(pid_), pidStart_, rootfs_, uid_, gid_, timeoutMs_, false, err);
    return job_ ? 0 : -1;
  }
  int Step(nvc_wait *w) override { return nvc_ldconfig_job_step(job_, w); }
  int Finish(nvc_error *err) override { return nvc_ldconfig_job_finish(job_, &res_, err); }
  void Abandon() override {
    nvc_ldconfig_job_free(job_);
    job_ = nullptr;
  }
  Napi::Value Result(Napi::Env env) override { return LdconfigResultToJs(env, res_); }

 private:
  LdconfigSpec spec_;
  std::string rootfs_;
  uint32_t pid_;
  uint64_t pidStart_;
  uint32_t uid_, gid_, timeoutMs_;
  nvc_ldconfig_job *job_ = nullptr;
  nvc_ldconfig_result res_{};
};

// helperPath, ldconfig, dirs and noPivot of an ldconfig request.
LdconfigSpec ParseLdconfigSpec(const Napi::Object &o) {
  LdconfigSpec spec;
  spec.helper = Str(o, "helperPath");
  spec.ldconfig = Str(o, "ldconfig");
  Napi::Value dirsValue = o.Get("dirs");
  if (!dirsValue.IsArray()) throw ArgError{"dirs must be an array"};
  Napi::Array dirsArray = dirsValue.As<Napi::Array>();
  for (uint32_t i = 0; i < dirsArray.Length(); i++) {
    Napi::Value d = dirsArray[i];
    if (!d.IsString()) throw ArgError{"dirs must hold strings"};
    std::string dir = d.As<Napi::String>().Utf8Value();
    if (dir.find('\0') != std::string::npos) throw ArgError{"dirs must not contain NUL bytes"};
    spec.dirs.push_back(std::move(dir));
  }
  spec.noPivot = o.Get("noPivot").IsBoolean() && o.Get("noPivot").As<Napi::Boolean>().Value();
  return spec;
}

Napi::Value Reject(Napi::Env env, const std::string &what, const ArgError &e) {
  Napi::TypeError::New(env, what + ": " + e.message).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ApplyPlan(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  try {
    if (!info[0].IsObject()) throw ArgError{"plan must be an object"};
    Napi::Object o = info[0].As<Napi::Object>();
    Napi::Value editsValue = o.Get("edits");
    if (!editsValue.IsArray()) throw ArgError{"edits must be an array"};
    Napi::Array edits = editsValue.As<Napi::Array>();
    std::vector<OwnedEdit> owned;
    for (uint32_t i = 0; i < edits.Length(); i++) {
      Napi::Value e = edits[i];
      if (!e.IsObject()) throw ArgError{"every edit must be an object"};
      owned.push_back(ParseEdit(e.As<Napi::Object>()));
    }
    std::unique_ptr<LdconfigSpec> ld;
    Napi::Value lv = o.Get("ldconfig");
    if (!lv.IsUndefined() && !lv.IsNull()) {
      if (!lv.IsObject()) throw ArgError{"ldconfig must be an object"};
      ld = std::make_unique<LdconfigSpec>(ParseLdconfigSpec(lv.As<Napi::Object>()));
    }
    return (new ApplyPlanJob(env, Str(o, "execPath"), U32(o, "pid", 0), U53(o, "pidStart"), Str(o, "rootfs"),
                             U32(o, "uid", 0), U32(o, "gid", 0), std::move(owned), U32(o, "timeoutMs", 0),
                             std::move(ld)))
        ->Start();
  } catch (const ArgError &e) {
    return Reject(env, "applyPlan", e);
  }
}

Napi::Value CgroupRules(const Napi::CallbackInfo &info, bool deny) {
  Napi::Env env = info.Env();
  try {
    if (!info[0].IsObject()) throw ArgError{"request must be an object"};
    Napi::Object o = info[0].As<Napi::Object>();
    Napi::Value rulesValue = o.Get("rules");
    if (!rulesValue.IsArray()) throw ArgError{"rules must be an array"};
    Napi::Array rules = rulesValue.As<Napi::Array>();
    std::vector<nvc_device_rule> out;
    std::vector<std::string> access;
    for (uint32_t i = 0; i < rules.Length(); i++) {
      Napi::Value rv = rules[i];
      if (!rv.IsObject()) throw ArgError{"every rule must be an object"};
      Napi::Object r = rv.As<Napi::Object>();
      std::string type = Str(r, "type");
      if (type != "c" && type != "b") throw ArgError{"rule type must be 'c' or 'b'"};
      nvc_device_rule rule{};
      rule.type = type[0];
      rule.major = U32(r, "major", 0, true);
      rule.minor = U32(r, "minor", 0, true);
      access.push_back(Str(r, "access"));
      out.push_back(rule);
    }
    std::string procRoot = Str(o, "procRoot", false);
    auto *w = new CgroupWorker(env, procRoot.empty() ? "/proc" : procRoot, U32(o, "pid", 0, true), U53(o, "pidStart"),
                               std::move(access), std::move(out));
    w->deny_ = deny;
    return w->Start();
  } catch (const ArgError &e) {
    return Reject(env, deny ? "cgroupDeny" : "cgroupAllow", e);
  }
}

Napi::Value CgroupAllow(const Napi::CallbackInfo &info) { return CgroupRules(info, false); }
// cgroupDeny({ procRoot, pid, pidStart, rules }): v1 only; takes back what cgroupAllow reported as added.
Napi::Value CgroupDeny(const Napi::CallbackInfo &info) { return CgroupRules(info, true); }

// teardown({ execPath, pid, pidStart, rootfs, changes }): per change { status, why }.
Napi::Value Teardown(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  try {
    if (!info[0].IsObject()) throw ArgError{"request must be an object"};
    Napi::Object o = info[0].As<Napi::Object>();
    Napi::Value cv = o.Get("changes");
    if (!cv.IsArray()) throw ArgError{"changes must be an array"};
    Napi::Array arr = cv.As<Napi::Array>();
    std::vector<OwnedChange> owned;
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value c = arr[i];
      if (!c.IsObject()) throw ArgError{"every change must be an object"};
      owned.push_back(ParseChange(c.As<Napi::Object>()));
    }
    return (new TeardownJob(env, Str(o, "execPath"), U32(o, "pid", 0), U53(o, "pidStart"), Str(o, "rootfs"),
                            std::move(owned)))
        ->Start();
  } catch (const ArgError &e) {
    return Reject(env, "teardown", e);
  }
}

Napi::Value RunLdconfig(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  try {
    if (!info[0].IsObject()) throw ArgError{"request must be an object"};
    Napi::Object o = info[0].As<Napi::Object>();
    return (new LdconfigJob(env, ParseLdconfigSpec(o), U32(o, "pid", 0), U53(o, "pidStart"), Str(o, "rootfs"),
                            U32(o, "uid", 0), U32(o, "gid", 0), U32(o, "timeoutMs", 0)))
        ->Start();
  } catch (const ArgError &e) {
    return Reject(env, "ldconfig", e);
  }
}

}  // namespace

class ProbeWorker : public PromiseWorker {
 public:
  ProbeWorker(Napi::Env env, uint32_t pid, uint64_t pidStart, std::string rootfs, std::vector<std::string> paths,
              std::vector<int> follow)
      : PromiseWorker(env, "nvc-ts:probeContainer"),
        pid_(pid),
        pidStart_(pidStart),
        rootfs_(std::move(rootfs)),
        paths_(std::move(paths)),
        items_(paths_.size()) {
    for (size_t i = 0; i < paths_.size(); i++) items_[i].follow = follow[i];
  }

 protected:
  int Run(nvc_error *err) override {
    for (size_t i = 0; i < paths_.size(); i++) items_[i].path = paths_[i].c_str();
    return nvc_container_probe(static_cast<pid_t>(pid_), pidStart_, rootfs_.c_str(), items_.data(), items_.size(), err);
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, items_.size());
    for (size_t i = 0; i < items_.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("exists", items_[i].exists != 0);
      o.Set("isDirectory", items_[i].is_dir != 0);
      o.Set("fsType", static_cast<double>(items_[i].fs_type));
      if (items_[i].sys_errno != 0) {
        const char *name = strerrorname_np(items_[i].sys_errno);
        o.Set("errno", name ? name : std::to_string(items_[i].sys_errno));
      }
      out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
  }

 private:
  uint32_t pid_;
  uint64_t pidStart_;
  std::string rootfs_;
  std::vector<std::string> paths_;
  std::vector<nvc_probe_item> items_;
};

// probeContainer({ pid, pidStart, rootfs, paths: [{ path, follow }] }): each path as the
// executor will see it (container_probe.h).
Napi::Value ProbeContainer(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  try {
    if (!info[0].IsObject()) throw ArgError{"request must be an object"};
    Napi::Object o = info[0].As<Napi::Object>();
    Napi::Value pv = o.Get("paths");
    if (!pv.IsArray()) throw ArgError{"paths must be an array"};
    Napi::Array arr = pv.As<Napi::Array>();
    if (arr.Length() > NVC_PROBE_MAX_PATHS) throw ArgError{"too many paths"};
    std::vector<std::string> paths;
    std::vector<int> follow;
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value v = arr[i];
      if (!v.IsObject()) throw ArgError{"every path must be an object"};
      Napi::Object p = v.As<Napi::Object>();
      paths.push_back(Str(p, "path", true));
      Napi::Value f = p.Get("follow");
      follow.push_back(f.IsBoolean() && f.As<Napi::Boolean>().Value() ? 1 : 0);
    }
    return (new ProbeWorker(env, U32(o, "pid", 0), U53(o, "pidStart"), Str(o, "rootfs", true), std::move(paths),
                            std::move(follow)))
        ->Start();
  } catch (const ArgError &e) {
    return Reject(env, "probeContainer", e);
  }
}

template <size_t N>
Napi::Array Names(Napi::Env env, const Named (&table)[N]) {
  Napi::Array out = Napi::Array::New(env);
  for (const Named &n : table) out.Set(out.Length(), n.name);
  return out;
}

// vocabulary(): the names of nvc_vocabulary.def, for the test that keeps the TypeScript copies in step.
Napi::Value Vocabulary(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("editKinds", Names(env, kEditKinds));
  o.Set("sourceKinds", Names(env, kSourceKinds));
  o.Set("mountFlags", Names(env, kMountFlags));
  o.Set("capabilities", Names(env, kCapabilities));
  return o;
}

Napi::Object RegisterContainerFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("vocabulary", Napi::Function::New<Vocabulary>(env, "vocabulary"));
  exports.Set("applyPlan", Napi::Function::New<ApplyPlan>(env, "applyPlan"));
  exports.Set("cgroupAllow", Napi::Function::New<CgroupAllow>(env, "cgroupAllow"));
  exports.Set("cgroupDeny", Napi::Function::New<CgroupDeny>(env, "cgroupDeny"));
  exports.Set("teardown", Napi::Function::New<Teardown>(env, "teardown"));
  exports.Set("ldconfig", Napi::Function::New<RunLdconfig>(env, "ldconfig"));
  exports.Set("probeContainer", Napi::Function::New<ProbeContainer>(env, "probeContainer"));
  return exports;
}

}  // namespace nvc_addon
