// Batched matrix multiplication with optional fused bias and activation.
//
// JS API (all buffers Float32Array; the output is written in place):
//   matmul(a, b, c, dims, bias|null, activation, alpha)
// `dims` is 7 integers: [batchA, batchB, m, k, n, transposeA, transposeB]. `a` holds batchA matrices, m x k
// (stored k x m when transposeA), `b` holds batchB matrices, k x n (stored n x k when transposeB), and `c` gets
// max(batchA, batchB) matrices, m x n. batchA and batchB must be equal, or one of them 1 (broadcast). `bias` has
// n values, added to every row.
#include "common.h"

namespace onednn_backend {
namespace {

struct MatmulEntry {
  dnnl::matmul prim;
  memory::desc a, b, c, bias;
};

PrimitiveCache<MatmulEntry> matmulCache;

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::vector<int64_t> d = intsArg(info, 3, "dims", 7);
  const int64_t batchA = d[0], batchB = d[1], m = d[2], k = d[3], n = d[4];
  const bool transA = d[5] != 0, transB = d[6] != 0;
  check(env, batchA > 0 && batchB > 0 && m > 0 && k > 0 && n > 0, "matmul: sizes must be positive");
  check(env, batchA == batchB || batchA == 1 || batchB == 1, "matmul: batch sizes must be equal or 1");
  const int64_t batch = std::max(batchA, batchB);
  const F32Arg a = f32Arg(info, 0, "a", static_cast<size_t>(batchA * m * k));
  const F32Arg b = f32Arg(info, 1, "b", static_cast<size_t>(batchB * k * n));
  const F32Arg c = f32Arg(info, 2, "c", static_cast<size_t>(batch * m * n));
  const F32Arg bias = optionalF32Arg(info, 4, "bias", static_cast<size_t>(n));
  const Activation act = activationArg(info, 5, "activation");
  const float alpha = static_cast<float>(numberArg(info, 6, "alpha"));
  const bool withBias = bias.data != nullptr;

  CacheKey key;
  key.add(d).add(withBias).add(static_cast<int64_t>(act)).addFloat(act == Activation::LeakyRelu ? alpha : 0.f);
  MatmulEntry& e = matmulCache.get(key, [&] {
    auto entry = std::make_unique<MatmulEntry>();
    entry->a = memory::desc({batchA, m, k}, dt::f32,
                            transA ? memory::dims{m * k, 1, m} : memory::dims{m * k, k, 1});
    entry->b = memory::desc({batchB, k, n}, dt::f32,
                            transB ? memory::dims{k * n, 1, k} : memory::dims{k * n, n, 1});
    entry->c = memory::desc({batch, m, n}, dt::f32, tag::abc);
    entry->bias = memory::desc({1, 1, n}, dt::f32, tag::abc);
    auto desc = withBias ? dnnl::matmul::desc(entry->a, entry->b, entry->bias, entry->c)
                         : dnnl::matmul::desc(entry->a, entry->b, entry->c);
    entry->prim = dnnl::matmul(dnnl::matmul::primitive_desc(desc, activationAttr(act, alpha), cpuEngine()));
    return entry;
  });

  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(e.a, a.data)},
                                       {DNNL_ARG_WEIGHTS, wrap(e.b, b.data)},
                                       {DNNL_ARG_DST, wrap(e.c, c.data)}};
  if (withBias) args.emplace(DNNL_ARG_BIAS, wrap(e.bias, bias.data));
  execute(e.prim, args);
  return env.Undefined();
}

}  // namespace

void RegisterMatmul(Napi::Env env, Napi::Object exports) {
  exportFunction(env, exports, "matmul", Matmul);
  registerCacheClearer([] { matmulCache.clear(); });
}

}  // namespace onednn_backend
