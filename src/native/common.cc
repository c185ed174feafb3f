// Implementation of the shared helpers declared in common.h.
#include "common.h"

#include <atomic>

#include <cmath>
#include <cstring>
#include <unordered_set>

namespace onednn_backend {

// The engine and stream are never destroyed: cached primitives (static objects) may outlive them at exit.
dnnl::engine& cpuEngine() {
  static auto* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

dnnl::stream& cpuStream() {
  static auto* stream = new dnnl::stream(cpuEngine());
  return *stream;
}

void execute(const dnnl::primitive& prim, const std::unordered_map<int, memory>& args) {
  prim.execute(cpuStream(), args);
  cpuStream().wait();
}

void reorderNow(const memory& src, const memory& dst) {
  dnnl::reorder(src, dst).execute(cpuStream(), const_cast<memory&>(src), const_cast<memory&>(dst));
  cpuStream().wait();
}

// ---- arguments ----

static Napi::Value argAt(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (index >= info.Length()) {
    throw Napi::TypeError::New(info.Env(), std::string("missing argument '") + name + "'");
  }
  return info[index];
}

F32Arg f32Arg(const Napi::CallbackInfo& info, size_t index, const char* name, size_t minLength) {
  Napi::Value v = argAt(info, index, name);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(info.Env(), std::string("argument '") + name + "' must be a Float32Array");
  }
  auto arr = v.As<Napi::Float32Array>();
  if (arr.ElementLength() < minLength) {
    throw Napi::RangeError::New(info.Env(), std::string("argument '") + name + "' has " +
                                                std::to_string(arr.ElementLength()) + " elements, needs " +
                                                std::to_string(minLength));
  }
  return {arr.Data(), arr.ElementLength()};
}

F32Arg optionalF32Arg(const Napi::CallbackInfo& info, size_t index, const char* name, size_t minLength) {
  if (index >= info.Length() || info[index].IsNull() || info[index].IsUndefined()) return {};
  return f32Arg(info, index, name, minLength);
}

double numberArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = argAt(info, index, name);
  if (!v.IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string("argument '") + name + "' must be a number");
  }
  return v.As<Napi::Number>().DoubleValue();
}

int64_t intArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  double d = numberArg(info, index, name);
  if (!std::isfinite(d) || std::floor(d) != d) {
    throw Napi::TypeError::New(info.Env(), std::string("argument '") + name + "' must be an integer");
  }
  return static_cast<int64_t>(d);
}

std::vector<int64_t> intsArg(const Napi::CallbackInfo& info, size_t index, const char* name, size_t count) {
  Napi::Value v = argAt(info, index, name);
  std::vector<int64_t> out;
  out.reserve(count);
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    auto arr = v.As<Napi::Int32Array>();
    for (size_t i = 0; i < arr.ElementLength(); ++i) out.push_back(arr[i]);
  } else if (v.IsArray()) {
    auto arr = v.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value e = arr.Get(i);
      double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : NAN;
      if (!std::isfinite(d) || std::floor(d) != d) {
        throw Napi::TypeError::New(info.Env(), std::string("argument '") + name + "' must hold integers");
      }
      out.push_back(static_cast<int64_t>(d));
    }
  } else {
    throw Napi::TypeError::New(info.Env(), std::string("argument '") + name + "' must be an array of integers");
  }
  if (out.size() != count) {
    throw Napi::RangeError::New(info.Env(), std::string("argument '") + name + "' must have " +
                                                std::to_string(count) + " elements, got " +
                                                std::to_string(out.size()));
  }
  return out;
}

void check(const Napi::Env& env, bool ok, const std::string& message) {
  if (!ok) throw Napi::RangeError::New(env, message);
}

// ---- cache ----

CacheKey& CacheKey::addFloat(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return add(static_cast<int64_t>(bits));
}

size_t CacheKey::hash() const {
  // FNV-1a over the 64-bit values.
  uint64_t h = 1469598103934665603ull;
  for (int64_t v : values_) {
    uint64_t u = static_cast<uint64_t>(v);
    for (int i = 0; i < 8; ++i) {
      h ^= (u >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  }
  return static_cast<size_t>(h);
}

static std::vector<std::function<void()>>& cacheClearers() {
  static std::vector<std::function<void()>> clearers;
  return clearers;
}

void registerCacheClearer(std::function<void()> clear) { cacheClearers().push_back(std::move(clear)); }

void clearAllCaches() {
  for (auto& clear : cacheClearers()) clear();
}

// ---- reordered constant data ----

static std::unordered_set<CachedReorder*>& liveReorders() {
  static auto* live = new std::unordered_set<CachedReorder*>();
  return *live;
}

CachedReorder::CachedReorder(const memory::desc& from, const memory::desc& to)
    : from_(from), to_(to), identity_(from == to) {
  if (!identity_) reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(cpuEngine(), from_, cpuEngine(), to_));
  liveReorders().insert(this);
}

CachedReorder::~CachedReorder() { liveReorders().erase(this); }

double CachedReorder::newToken() {
  static std::atomic<uint64_t> last{0};
  return static_cast<double>(++last);
}

void CachedReorder::releaseToken(double token) {
  if (token == 0) return;
  for (CachedReorder* r : liveReorders())
    for (auto& s : r->slots_)
      if (s.token == token) s.token = 0;
}

memory CachedReorder::get(const float* user, double token) {
  if (identity_) return wrap(to_, user);
  ++clock_;
  if (token != 0) {
    for (auto& s : slots_) {
      if (s.token == token) {
        s.lastUse = clock_;
        return s.mem;
      }
    }
  }
  // A free slot, else a new one, else the least recently used.
  Slot* target = nullptr;
  for (auto& s : slots_)
    if (s.token == 0 && (target == nullptr || s.lastUse < target->lastUse)) target = &s;
  if (target == nullptr && slots_.size() < static_cast<size_t>(kSlots)) {
    slots_.push_back(Slot{0, 0, memory(to_, cpuEngine())});
    target = &slots_.back();
  }
  if (target == nullptr) {
    target = &slots_[0];
    for (auto& s : slots_)
      if (s.lastUse < target->lastUse) target = &s;
  }
  memory src = wrap(from_, user);
  execute(reorder_, {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, target->mem}});
  target->token = token;
  target->lastUse = clock_;
  return target->mem;
}

// ---- activations ----

Activation activationArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  int64_t code = intArg(info, index, name);
  if (code < 0 || code > static_cast<int64_t>(Activation::Sigmoid)) {
    throw Napi::RangeError::New(info.Env(), std::string("argument '") + name + "' is not an activation code");
  }
  return static_cast<Activation>(code);
}

void appendActivation(dnnl::post_ops& ops, Activation act, float alpha) {
  switch (act) {
    case Activation::Relu: ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f); break;
    case Activation::Relu6: ops.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, 0.f, 6.f); break;
    case Activation::LeakyRelu: ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, alpha, 0.f); break;
    case Activation::Elu: ops.append_eltwise(1.f, dnnl::algorithm::eltwise_elu, 1.f, 0.f); break;
    case Activation::Sigmoid: ops.append_eltwise(1.f, dnnl::algorithm::eltwise_logistic, 0.f, 0.f); break;
    case Activation::Linear: break;
  }
}

dnnl::primitive_attr activationAttr(Activation act, float alpha) {
  dnnl::primitive_attr attr;
  if (act == Activation::Linear) return attr;
  dnnl::post_ops ops;
  appendActivation(ops, act, alpha);
  attr.set_post_ops(ops);
  return attr;
}

// ---- exports ----

void exportFunction(Napi::Env env, Napi::Object exports, const char* name, NativeFunction fn) {
  exports.Set(name, Napi::Function::New(env, fn, name));
}

}  // namespace onednn_backend
