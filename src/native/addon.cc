// Module entry of the oneDNN addon: each primitive family registers its functions here.
#include "common.h"

#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace onednn_backend {

static const char* isaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

/**
 * Makes glibc keep freed memory for reuse instead of returning it to the OS, once per process.
 *
 * Every tfjs op allocates its output as a new typed array, and V8 frees the old ones at garbage collection. With
 * glibc's defaults, multi-megabyte arrays are mmap'ed and unmapped (or trimmed off the heap) each time, so every
 * output is page-faulted in afresh: measured here, that doubled the time of a 7x7 stem convolution at batch 32.
 * Serving blocks up to 32 MiB (glibc's maximum) from the heap and never trimming it removes that cost; the price
 * is that the process keeps its peak heap. Skipped when RESNET_ONEDNN_MALLOPT=0 or when the user tunes malloc
 * through GLIBC_TUNABLES / MALLOC_*_ variables.
 */
static bool tuneMalloc() {
#ifdef __GLIBC__
  static const bool tuned = [] {
    const char* optOut = std::getenv("RESNET_ONEDNN_MALLOPT");
    if (optOut != nullptr && std::strcmp(optOut, "0") == 0) return false;
    const char* tunables = std::getenv("GLIBC_TUNABLES");
    if (tunables != nullptr && std::strstr(tunables, "malloc") != nullptr) return false;
    if (std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr || std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr) {
      return false;
    }
    return mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, INT32_MAX) == 1;
  }();
  return tuned;
#else
  return false;
#endif
}

/** info(): the oneDNN version, its CPU runtime and the instruction set it dispatches to. */
static Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const dnnl_version_t* v = dnnl_version();
  Napi::Object out = Napi::Object::New(env);
  out.Set("version", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
  out.Set("cpuRuntime", v->cpu_runtime == DNNL_RUNTIME_OMP ? "omp" : std::to_string(v->cpu_runtime));
  out.Set("isa", isaName(dnnl::get_effective_cpu_isa()));
  out.Set("maxThreads", static_cast<double>(omp_get_max_threads()));
  out.Set("mallocTuned", tuneMalloc());
  return out;
}

/** clearCaches(): drops every cached primitive and scratch buffer. */
static Napi::Value ClearCaches(const Napi::CallbackInfo& info) {
  clearAllCaches();
  return info.Env().Undefined();
}

/** newToken(): a token (a positive integer) that no data has had in this process. */
static Napi::Value NewToken(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), CachedReorder::newToken());
}

/** releaseToken(token): data with this token was disposed; frees the reordered copies made from it. */
static Napi::Value ReleaseToken(const Napi::CallbackInfo& info) {
  CachedReorder::releaseToken(numberArg(info, 0, "token"));
  return info.Env().Undefined();
}

/**
 * alignedArrayBuffer(byteLength): a new ArrayBuffer of exactly `byteLength` bytes (contents undefined) whose memory
 * starts on a 64-byte boundary, freed after the ArrayBuffer is garbage collected (Node runs the finalizer on a later
 * turn of the event loop). The output pool makes the arrays of kernels that write whole cache lines with streaming
 * stores (adam in eltwise.cc) in these; V8's own ArrayBuffers are only 16-byte aligned.
 */
static Napi::Value AlignedArrayBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t length = intArg(info, 0, "byteLength");
  check(env, length >= 0, "alignedArrayBuffer: byteLength must not be negative");
  constexpr size_t kAlignment = 64;
  // aligned_alloc wants a multiple of the alignment; the ArrayBuffer shows only the bytes asked for.
  const size_t bytes = (static_cast<size_t>(length) + kAlignment - 1) / kAlignment * kAlignment;
  void* data = std::aligned_alloc(kAlignment, bytes == 0 ? kAlignment : bytes);
  if (data == nullptr) {
    Napi::Error::New(env, "alignedArrayBuffer: out of memory for " + std::to_string(length) + " bytes")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::ArrayBuffer::New(env, data, static_cast<size_t>(length), [](Napi::Env, void* p) { std::free(p); });
}

/**
 * Whether the calling thread may use the addon: the first JavaScript thread that loads it owns it for as long as it
 * keeps it loaded (a worker's copy is unloaded when the worker exits). Its caches (primitives, reordered filters,
 * scratch memory) are process-wide and unsynchronised, so a second thread (a worker_thread) must not share them;
 * loading it there fails, and the backend there falls back to tfjs's cpu backend, saying why.
 */
static bool claimThread() {
  static std::mutex mutex;
  static std::optional<std::thread::id> owner;
  std::lock_guard<std::mutex> lock(mutex);
  if (!owner) owner = std::this_thread::get_id();
  return *owner == std::this_thread::get_id();
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  if (!claimThread()) {
    Napi::Error::New(env, "the oneDNN addon is in use by another thread of this process (one thread per process)")
        .ThrowAsJavaScriptException();
    return exports;
  }
  tuneMalloc();
  exportFunction(env, exports, "info", Info);
  exportFunction(env, exports, "clearCaches", ClearCaches);
  exportFunction(env, exports, "newToken", NewToken);
  exportFunction(env, exports, "releaseToken", ReleaseToken);
  exportFunction(env, exports, "alignedArrayBuffer", AlignedArrayBuffer);
  RegisterConv(env, exports);
  RegisterMatmul(env, exports);
  RegisterBatchNorm(env, exports);
  RegisterEltwise(env, exports);
  RegisterPooling(env, exports);
  RegisterReduce(env, exports);
  return exports;
}

}  // namespace onednn_backend

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return onednn_backend::Init(env, exports); }

NODE_API_MODULE(onednn_backend, InitAddon)
