// Shared infrastructure of the oneDNN addon (`build/Release/onednn_backend.node`).
//
// HOW TO ADD A KERNEL FAMILY (e.g. pooling):
//   1. Create `src/native/pooling.cc`. Include "common.h" and put the code in `namespace onednn_backend`.
//   2. Write each JS-callable function as `Napi::Value PoolingForward(const Napi::CallbackInfo& info)`:
//        - read arguments with `f32Arg` / `optionalF32Arg` / `intArg` / `intsArg` / `numberArg`
//          (they validate and throw a JS TypeError with the argument's name);
//        - outputs are Float32Arrays preallocated by JS: write into them in place and return `info.Env().Undefined()`;
//        - build a `CacheKey` from everything the primitive depends on (shapes, attributes) and keep the
//          primitive in a `PrimitiveCache<YourEntry>` (primitive creation is far dearer than execution);
//        - run with `execute(primitive, args)` (uses the shared engine/stream and waits for completion).
//      Never keep a pointer to a JS buffer after the call returns; scratch memory belongs to cache entries.
//      C++ exceptions (dnnl::error included) become JS exceptions automatically.
//   3. Write `void RegisterPooling(Napi::Env env, Napi::Object exports)` that calls `exportFunction` per function,
//      declare it in the "Family registration" list at the bottom of this file, and call it from `addon.cc`.
//   4. Declare the functions' TypeScript signatures in `src/backend/native.ts` (`OnednnAddon`), and add a kernel
//      file under `src/backend/kernels/` (see `src/backend/register_all_kernels.ts`).
//   `npm run build:native` picks up new .cc files by itself.
//
// Conventions: activations are NHWC (`format_tag::nhwc`), conv filters are tfjs's HWIO; all data is float32.
// Threading: functions are called from the JS thread only (caches are not locked; Node worker threads would need
// a lock); inside a call, oneDNN and `#pragma omp parallel` loops use every core through OpenMP.
#pragma once

#include <napi.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace onednn_backend {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

// ---------------------------------------------------------------------------------------------------------------
// Engine and stream: one CPU engine and one in-order stream for the whole process. oneDNN parallelises each
// primitive with OpenMP over all cores (OMP_NUM_THREADS limits that).

dnnl::engine& cpuEngine();
dnnl::stream& cpuStream();

/** Executes `prim` on the shared stream and waits for it to finish. */
void execute(const dnnl::primitive& prim, const std::unordered_map<int, memory>& args);

/** A plain memory object over `data` (not owned) with descriptor `md`. */
inline memory wrap(const memory::desc& md, const void* data) {
  return memory(md, cpuEngine(), const_cast<void*>(data));
}

// ---------------------------------------------------------------------------------------------------------------
// Argument helpers. They validate the JS value and throw a TypeError naming the argument.

/** A Float32Array argument, seen zero-copy (valid only during the call). */
struct F32Arg {
  float* data = nullptr;
  size_t length = 0;  // in elements
};

/** Argument `index`, which must be a Float32Array with at least `minLength` elements. */
F32Arg f32Arg(const Napi::CallbackInfo& info, size_t index, const char* name, size_t minLength);
/** Like f32Arg, but null/undefined gives {nullptr, 0}. */
F32Arg optionalF32Arg(const Napi::CallbackInfo& info, size_t index, const char* name, size_t minLength);
/** Argument `index` as an integer (a JS number with an integral value). */
int64_t intArg(const Napi::CallbackInfo& info, size_t index, const char* name);
/** Argument `index` as a number. */
double numberArg(const Napi::CallbackInfo& info, size_t index, const char* name);
/** Argument `index` as a list of exactly `count` integers (a JS array or an Int32Array). */
std::vector<int64_t> intsArg(const Napi::CallbackInfo& info, size_t index, const char* name, size_t count);

/** Throws a JS RangeError unless `ok`. */
void check(const Napi::Env& env, bool ok, const std::string& message);

// ---------------------------------------------------------------------------------------------------------------
// Primitive cache.

/** A key made of integers (shapes, attribute codes; floats via their bit pattern), hashed as a whole. */
class CacheKey {
 public:
  CacheKey& add(int64_t v) {
    values_.push_back(v);
    return *this;
  }
  CacheKey& add(const std::vector<int64_t>& vs) {
    values_.insert(values_.end(), vs.begin(), vs.end());
    return *this;
  }
  CacheKey& addFloat(float f);
  bool operator==(const CacheKey& o) const { return values_ == o.values_; }
  size_t hash() const;

 private:
  std::vector<int64_t> values_;
};

struct CacheKeyHash {
  size_t operator()(const CacheKey& k) const { return k.hash(); }
};

/**
 * Entries (a primitive with whatever it needs: descriptors, scratch memory) by key, created on first use.
 * Bounded: when `capacity` entries exist, the whole cache is dropped before inserting (networks use a few dozen
 * shapes, so this only happens with unusual workloads). References returned by get() stay valid until then.
 */
template <typename Entry>
class PrimitiveCache {
 public:
  explicit PrimitiveCache(size_t capacity = 1024) : capacity_(capacity) {}

  Entry& get(const CacheKey& key, const std::function<std::unique_ptr<Entry>()>& create) {
    auto it = map_.find(key);
    if (it != map_.end()) return *it->second;
    auto entry = create();
    if (map_.size() >= capacity_) map_.clear();
    return *map_.emplace(key, std::move(entry)).first->second;
  }
  void clear() { map_.clear(); }
  size_t size() const { return map_.size(); }

 private:
  size_t capacity_;
  std::unordered_map<CacheKey, std::unique_ptr<Entry>, CacheKeyHash> map_;
};

/** Registers a function that empties a family's caches; `clearCaches()` in JS calls them all. */
void registerCacheClearer(std::function<void()> clear);
/** Empties every registered cache. */
void clearAllCaches();

// ---------------------------------------------------------------------------------------------------------------
// Reordered constant data (e.g. conv weights from tfjs's HWIO into the primitive's preferred blocked layout).

/**
 * Reorders user data (layout `from`) into the layout `to` chosen by a primitive, into memory owned here.
 * Keeps up to `kSlots` reordered copies, each tagged by a caller-supplied `token` that identifies the content of
 * the user data (tfjs tensor data never changes once written, so the backend gives each filter's data its own
 * token, and calls `releaseToken` when that data is disposed). A call with a token already held reuses that copy
 * without reordering; token 0 means "unknown" and always reorders. A released slot is reused before a new one is
 * allocated, so in training (new filters every step, old ones disposed) there is one slot per layer of this shape,
 * rewritten each step without allocating. If `from == to` the user pointer is used directly.
 */
class CachedReorder {
 public:
  /**
   * Enough for every filter of one shape in the deepest networks tfjs users run whole (ResNet-152's stage 4 has 36
   * convolutions of each of its shapes): with fewer, a model that cycles through more filters of a shape than there
   * are slots evicts each copy just before it is needed again and reorders on every call. Slots are only allocated
   * as live filters need them, and a disposed filter's slot is reused.
   */
  static constexpr int kSlots = 64;
  CachedReorder(const memory::desc& from, const memory::desc& to);
  ~CachedReorder();
  CachedReorder(const CachedReorder&) = delete;
  CachedReorder& operator=(const CachedReorder&) = delete;
  /** Memory in layout `to` holding the content of `user` (which has layout `from`). */
  memory get(const float* user, double token);
  const memory::desc& to() const { return to_; }
  /** Frees every slot (of every CachedReorder) that holds data with this token. */
  static void releaseToken(double token);
  /**
   * A token no data has had in this process (1, 2, ...). Tokens come from here rather than from each JS backend
   * instance, because the slots are shared by the whole process: a second backend (after tf.engine().reset(), or
   * in another realm) counting from 1 again would be handed the reordered copies of the first one's filters.
   */
  static double newToken();

 private:
  struct Slot {
    double token = 0;  // 0: free
    uint64_t lastUse = 0;
    memory mem;
  };
  memory::desc from_, to_;
  bool identity_;
  dnnl::reorder reorder_;
  std::vector<Slot> slots_;
  uint64_t clock_ = 0;
};

/** Reorders `src` into `dst` (both wrap memory) now. */
void reorderNow(const memory& src, const memory& dst);

// ---------------------------------------------------------------------------------------------------------------
// Fused activations, shared by every family that can fuse one (codes match ACTIVATION_CODES in
// src/backend/kernel_utils.ts).

enum class Activation : int { Linear = 0, Relu = 1, Relu6 = 2, LeakyRelu = 3, Elu = 4, Sigmoid = 5 };

/** Reads an activation code argument; throws a RangeError for an unknown code. */
Activation activationArg(const Napi::CallbackInfo& info, size_t index, const char* name);
/** Appends `act` (with parameter `alpha` for LeakyRelu) to `ops` as an eltwise post-op; nothing for Linear. */
void appendActivation(dnnl::post_ops& ops, Activation act, float alpha);
/** Primitive attributes with `act` (with parameter `alpha` for LeakyRelu) as an eltwise post-op. */
dnnl::primitive_attr activationAttr(Activation act, float alpha);

// ---------------------------------------------------------------------------------------------------------------
// Exporting functions to JS.

using NativeFunction = Napi::Value (*)(const Napi::CallbackInfo&);
/** Adds `fn` to `exports` under `name`. */
void exportFunction(Napi::Env env, Napi::Object exports, const char* name, NativeFunction fn);

// ---------------------------------------------------------------------------------------------------------------
// Family registration: each primitive family's file defines one of these; addon.cc calls them all.

void RegisterConv(Napi::Env env, Napi::Object exports);    // conv.cc
void RegisterMatmul(Napi::Env env, Napi::Object exports);  // matmul.cc
void RegisterBatchNorm(Napi::Env env, Napi::Object exports);  // batchnorm.cc
void RegisterEltwise(Napi::Env env, Napi::Object exports);    // eltwise.cc
void RegisterPooling(Napi::Env env, Napi::Object exports);    // pooling.cc
void RegisterReduce(Napi::Env env, Napi::Object exports);     // reduce.cc

}  // namespace onednn_backend
