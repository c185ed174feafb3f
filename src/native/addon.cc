// Module entry of the oneDNN addon: each primitive family registers its functions here.
#include "common.h"

#include <omp.h>

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

/** info(): the oneDNN version, its CPU runtime and the instruction set it dispatches to. */
static Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const dnnl_version_t* v = dnnl_version();
  Napi::Object out = Napi::Object::New(env);
  out.Set("version", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
  out.Set("cpuRuntime", v->cpu_runtime == DNNL_RUNTIME_OMP ? "omp" : std::to_string(v->cpu_runtime));
  out.Set("isa", isaName(dnnl::get_effective_cpu_isa()));
  out.Set("maxThreads", static_cast<double>(omp_get_max_threads()));
  return out;
}

/** clearCaches(): drops every cached primitive and scratch buffer. */
static Napi::Value ClearCaches(const Napi::CallbackInfo& info) {
  clearAllCaches();
  return info.Env().Undefined();
}

/** releaseToken(token): data with this token was disposed; frees the reordered copies made from it. */
static Napi::Value ReleaseToken(const Napi::CallbackInfo& info) {
  CachedReorder::releaseToken(numberArg(info, 0, "token"));
  return info.Env().Undefined();
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exportFunction(env, exports, "info", Info);
  exportFunction(env, exports, "clearCaches", ClearCaches);
  exportFunction(env, exports, "releaseToken", ReleaseToken);
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
