// Element-wise kernels: binary ops with broadcasting, unary ops, and AddN.
//
// JS API (all buffers Float32Array; outputs are preallocated by JS and written in place):
//   binary(op, a, b, out, dims, aStrides, bStrides)
//       `dims` (1 to kMaxRank integers) is the output's shape after the caller merged adjacent axes; `aStrides` and
//       `bStrides` give each operand's stride in elements along each of those axes, 0 where the operand is
//       broadcast. Along the last axis a stride must be 0 or 1. `op` is a BinaryOp code.
//   unary(op, x, out, alpha)         `op` is a UnaryOp code; `alpha` is Step's value for x <= 0.
//   addN(inputs, out)                `inputs` is an array of Float32Arrays, each of out's length.
//   adam(value, m, v, gradient, newValue, newM, newV, scalars)
//       One Adam step of one variable in one pass. `scalars` is 8 float32 values as numbers: [beta1, 1 - beta1,
//       beta2, 1 - beta2, 1 - beta1^t, 1 - beta2^t, epsilon, -learningRate]. Each value is computed with the
//       float32 operations of tfjs's AdamOptimizer.applyGradients in its order, so results are bit-identical:
//         newM = m*beta1 + g*(1-beta1)          newV = v*beta2 + (g*g)*(1-beta2)
//         newValue = (newM/(1-beta1^t)) / (sqrt(newV/(1-beta2^t)) + epsilon) * -learningRate + value
//
// Every op computes in float32 exactly as IEEE float arithmetic does, which for +, -, *, / and sqrt is bit-identical
// to tfjs's CPU kernels (they compute in double and round once: double rounding is innocuous for these). Work is
// split into blocks of kBlock elements; tensors under kParallelThreshold elements run on the calling thread only, so
// the many small tensors of an optimizer step (biases, BatchNorm parameters) stay cheap.
#include "common.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

// Never contract a*b+c into fused multiply-adds: they round differently from tfjs's separate operations.
#pragma GCC optimize("fp-contract=off")

namespace onednn_backend {
namespace {

constexpr int64_t kParallelThreshold = 32768;
constexpr int64_t kBlock = 16384;
constexpr size_t kMaxRank = 6;

/** Binary op codes; they match BINARY_OPS in src/backend/eltwise_utils.ts. */
enum class BinaryOp : int {
  Add = 0,
  Sub = 1,
  Mul = 2,
  Div = 3,
  SquaredDifference = 4,
  Maximum = 5,
  Minimum = 6,
  // dy * step(x) of Relu's gradient, fused: a = dy, b = x. Same values as mul(dy, step(x)), NaN included.
  ReluGrad = 7,
  // dy * (x * 2) of Square's gradient, fused: a = dy, b = x. Same values as mul(dy, mul(x, 2)).
  SquareGrad = 8,
};

/** Unary op codes; they match UNARY_OPS in src/backend/eltwise_utils.ts. */
enum class UnaryOp : int { Relu = 0, Step = 1, Sqrt = 2, Rsqrt = 3, Square = 4, Neg = 5 };

template <BinaryOp op>
inline float apply(float a, float b) {
  if constexpr (op == BinaryOp::Add) return a + b;
  if constexpr (op == BinaryOp::Sub) return a - b;
  if constexpr (op == BinaryOp::Mul) return a * b;
  if constexpr (op == BinaryOp::Div) return a / b;
  if constexpr (op == BinaryOp::SquaredDifference) {
    const float d = a - b;
    return d * d;
  }
  // Math.max / Math.min: NaN if either is NaN. Written without short-circuits, which would keep the loops from
  // vectorising.
  if constexpr (op == BinaryOp::Maximum) return ((a > b) | (a != a)) ? a : b;
  if constexpr (op == BinaryOp::Minimum) return ((a < b) | (a != a)) ? a : b;
  if constexpr (op == BinaryOp::ReluGrad) {
    const float step = b > 0.f ? 1.f : 0.f;
    return a * (b != b ? b : step);
  }
  if constexpr (op == BinaryOp::SquareGrad) return a * (b * 2.f);
  return 0.f;
}

/** out[i] = a[i*sa] op b[i*sb] for i < n, with sa, sb in {0, 1}. */
template <BinaryOp op>
void binaryRun(const float* __restrict a, int64_t sa, const float* __restrict b, int64_t sb, float* __restrict out,
               int64_t n) {
  if (sa == 1 && sb == 1) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = apply<op>(a[i], b[i]);
  } else if (sa == 1) {
    const float bv = b[0];
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = apply<op>(a[i], bv);
  } else if (sb == 1) {
    const float av = a[0];
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = apply<op>(av, b[i]);
  } else {
    std::fill(out, out + n, apply<op>(a[0], b[0]));
  }
}

/** The strided broadcasting loop: blocks of the flat output index, each walked in runs along the last axis. */
template <BinaryOp op>
void binaryStrided(const float* a, const float* b, float* out, const std::vector<int64_t>& dims,
                   const std::vector<int64_t>& as, const std::vector<int64_t>& bs) {
  const int rank = static_cast<int>(dims.size());
  int64_t total = 1;
  for (int64_t d : dims) total *= d;
  if (total == 0) return;
  const int64_t inner = dims[rank - 1];
  const int64_t innerSa = as[rank - 1], innerSb = bs[rank - 1];
  const int64_t blocks = (total + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (total >= kParallelThreshold)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t start = blk * kBlock, end = std::min(total, start + kBlock);
    int64_t coords[kMaxRank];
    int64_t rest = start;
    for (int d = rank - 1; d >= 0; --d) {
      coords[d] = rest % dims[d];
      rest /= dims[d];
    }
    int64_t pos = start;
    while (pos < end) {
      int64_t aOff = 0, bOff = 0;
      for (int d = 0; d < rank; ++d) {
        aOff += coords[d] * as[d];
        bOff += coords[d] * bs[d];
      }
      const int64_t len = std::min(inner - coords[rank - 1], end - pos);
      binaryRun<op>(a + aOff, innerSa, b + bOff, innerSb, out + pos, len);
      pos += len;
      coords[rank - 1] += len;
      for (int d = rank - 1; d > 0 && coords[d] == dims[d]; --d) {
        coords[d] = 0;
        ++coords[d - 1];
      }
    }
  }
}

using StridedFn = void (*)(const float*, const float*, float*, const std::vector<int64_t>&,
                           const std::vector<int64_t>&, const std::vector<int64_t>&);

StridedFn binaryFunction(int code) {
  switch (static_cast<BinaryOp>(code)) {
    case BinaryOp::Add: return binaryStrided<BinaryOp::Add>;
    case BinaryOp::Sub: return binaryStrided<BinaryOp::Sub>;
    case BinaryOp::Mul: return binaryStrided<BinaryOp::Mul>;
    case BinaryOp::Div: return binaryStrided<BinaryOp::Div>;
    case BinaryOp::SquaredDifference: return binaryStrided<BinaryOp::SquaredDifference>;
    case BinaryOp::Maximum: return binaryStrided<BinaryOp::Maximum>;
    case BinaryOp::Minimum: return binaryStrided<BinaryOp::Minimum>;
    case BinaryOp::ReluGrad: return binaryStrided<BinaryOp::ReluGrad>;
    case BinaryOp::SquareGrad: return binaryStrided<BinaryOp::SquareGrad>;
  }
  return nullptr;
}

/** Reads an int list of any length from 1 to kMaxRank (a JS array). */
std::vector<int64_t> dimsArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = info.Length() > index ? info[index] : info.Env().Undefined();
  const size_t n = v.IsArray() ? v.As<Napi::Array>().Length() : 0;
  check(info.Env(), n >= 1 && n <= kMaxRank,
        std::string("argument '") + name + "' must be an array of 1 to " + std::to_string(kMaxRank) + " integers");
  return intsArg(info, index, name, n);
}

Napi::Value Binary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t code = intArg(info, 0, "op");
  StridedFn fn = code >= 0 && code <= static_cast<int64_t>(BinaryOp::SquareGrad) ? binaryFunction(static_cast<int>(code))
                                                                                : nullptr;
  check(env, fn != nullptr, "binary: unknown op code " + std::to_string(code));
  const std::vector<int64_t> dims = dimsArg(info, 4, "dims");
  const std::vector<int64_t> as = intsArg(info, 5, "aStrides", dims.size());
  const std::vector<int64_t> bs = intsArg(info, 6, "bStrides", dims.size());
  int64_t total = 1, aSpan = 1, bSpan = 1;
  for (size_t d = 0; d < dims.size(); ++d) {
    check(env, dims[d] >= 0 && as[d] >= 0 && bs[d] >= 0, "binary: negative dimension or stride");
    total *= dims[d];
    if (dims[d] > 0) {
      aSpan += (dims[d] - 1) * as[d];
      bSpan += (dims[d] - 1) * bs[d];
    }
  }
  const size_t last = dims.size() - 1;
  check(env, as[last] <= 1 && bs[last] <= 1, "binary: strides along the last axis must be 0 or 1");
  const F32Arg out = f32Arg(info, 3, "out", static_cast<size_t>(total));
  if (total == 0) return env.Undefined();
  const F32Arg a = f32Arg(info, 1, "a", static_cast<size_t>(aSpan));
  const F32Arg b = f32Arg(info, 2, "b", static_cast<size_t>(bSpan));
  fn(a.data, b.data, out.data, dims, as, bs);
  return env.Undefined();
}

/** out[i] = f(x[i]) for i in [start, end). */
template <typename F>
void unaryBlock(const float* __restrict x, float* __restrict out, int64_t start, int64_t end, F f) {
#pragma omp simd
  for (int64_t i = start; i < end; ++i) out[i] = f(x[i]);
}

template <typename F>
void unaryLoop(const float* x, float* out, int64_t n, F f) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (n >= kParallelThreshold)
  for (int64_t blk = 0; blk < blocks; ++blk) unaryBlock(x, out, blk * kBlock, std::min(n, (blk + 1) * kBlock), f);
}

Napi::Value Unary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t code = intArg(info, 0, "op");
  const F32Arg x = f32Arg(info, 1, "x", 0);
  const F32Arg out = f32Arg(info, 2, "out", x.length);
  const float alpha = static_cast<float>(numberArg(info, 3, "alpha"));
  const int64_t n = static_cast<int64_t>(x.length);
  switch (static_cast<UnaryOp>(code)) {
    // Math.max(0, x): NaN stays NaN.
    case UnaryOp::Relu: unaryLoop(x.data, out.data, n, [](float v) { return v < 0.f ? 0.f : v; }); break;
    case UnaryOp::Step:
      unaryLoop(x.data, out.data, n, [alpha](float v) { return v > 0.f ? 1.f : (v != v ? v : alpha); });
      break;
    case UnaryOp::Sqrt: unaryLoop(x.data, out.data, n, [](float v) { return std::sqrt(v); }); break;
    // 1 / Math.sqrt(x) rounded once, as tfjs computes it.
    case UnaryOp::Rsqrt:
      unaryLoop(x.data, out.data, n,
                [](float v) { return static_cast<float>(1.0 / std::sqrt(static_cast<double>(v))); });
      break;
    case UnaryOp::Square: unaryLoop(x.data, out.data, n, [](float v) { return v * v; }); break;
    case UnaryOp::Neg: unaryLoop(x.data, out.data, n, [](float v) { return -v; }); break;
    default: check(env, false, "unary: unknown op code " + std::to_string(code));
  }
  return env.Undefined();
}

Napi::Value AddN(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check(env, info.Length() >= 2 && info[0].IsArray(), "addN: argument 'inputs' must be an array of Float32Arrays");
  const F32Arg out = f32Arg(info, 1, "out", 0);
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<const float*> inputs;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value v = list.Get(i);
    check(env, v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array &&
                   v.As<Napi::Float32Array>().ElementLength() >= out.length,
          "addN: input " + std::to_string(i) + " must be a Float32Array of the output's length");
    inputs.push_back(v.As<Napi::Float32Array>().Data());
  }
  const int64_t n = static_cast<int64_t>(out.length);
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  float* o = out.data;
#pragma omp parallel for schedule(static) if (n >= kParallelThreshold)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t start = blk * kBlock, end = std::min(n, start + kBlock);
    std::fill(o + start, o + end, 0.f);
    for (const float* in : inputs) {
#pragma omp simd
      for (int64_t i = start; i < end; ++i) o[i] += in[i];
    }
  }
  return env.Undefined();
}

/**
 * The Adam update (see the file comment) of elements [start, end). GCC does not vectorise std::sqrt unless errno is
 * given up for the whole build, so the x86 path spells the same IEEE operations out with SSE intrinsics (4 floats at
 * a time, each operation rounded exactly as the scalar one).
 */
void adamBlock(const float* __restrict w, const float* __restrict m, const float* __restrict v,
               const float* __restrict g, float* __restrict nw, float* __restrict nm, float* __restrict nv,
               int64_t start, int64_t end, const std::array<float, 8>& k) {
  const float b1 = k[0], c1 = k[1], b2 = k[2], c2 = k[3], oma1 = k[4], oma2 = k[5], eps = k[6], negLr = k[7];
  int64_t i = start;
#if defined(__SSE2__)
  const __m128 B1 = _mm_set1_ps(b1), C1 = _mm_set1_ps(c1), B2 = _mm_set1_ps(b2), C2 = _mm_set1_ps(c2);
  const __m128 OMA1 = _mm_set1_ps(oma1), OMA2 = _mm_set1_ps(oma2), EPS = _mm_set1_ps(eps), NEG_LR = _mm_set1_ps(negLr);
  for (; i + 4 <= end; i += 4) {
    const __m128 gi = _mm_loadu_ps(g + i);
    const __m128 mi = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(m + i), B1), _mm_mul_ps(gi, C1));
    const __m128 vi = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(v + i), B2), _mm_mul_ps(_mm_mul_ps(gi, gi), C2));
    _mm_storeu_ps(nm + i, mi);
    _mm_storeu_ps(nv + i, vi);
    const __m128 denom = _mm_add_ps(_mm_sqrt_ps(_mm_div_ps(vi, OMA2)), EPS);
    const __m128 step = _mm_mul_ps(_mm_div_ps(_mm_div_ps(mi, OMA1), denom), NEG_LR);
    _mm_storeu_ps(nw + i, _mm_add_ps(step, _mm_loadu_ps(w + i)));
  }
#endif
  for (; i < end; ++i) {
    const float gi = g[i];
    const float mi = m[i] * b1 + gi * c1;
    const float vi = v[i] * b2 + (gi * gi) * c2;
    nm[i] = mi;
    nv[i] = vi;
    const float denom = std::sqrt(vi / oma2) + eps;
    nw[i] = ((mi / oma1) / denom) * negLr + w[i];
  }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ADAM_STREAMING 1
/**
 * adamBlock for [start, end) where newValue, newM and newV + start are 64-byte aligned and end - start is a multiple
 * of 16: the same operations 16 floats at a time, stored with non-temporal (streaming) stores. Why: an optimizer step
 * writes three arrays as large as the model (ResNet-50: 3 x 94 MB) that no cache holds, and an ordinary store first
 * reads the line it writes, so the pass moves ten arrays' worth of memory instead of seven. Streaming stores of whole
 * 64-byte lines skip those reads (a C++ loop over 23.5 million weights on this project's 2 cores: 13 to 18 ms
 * against 24 to 34 ms; 16-byte SSE streaming stores gave nothing). The caller fences.
 */
__attribute__((target("avx512f"))) void adamBlockStreaming(const float* __restrict w, const float* __restrict m,
                                                           const float* __restrict v, const float* __restrict g,
                                                           float* __restrict nw, float* __restrict nm,
                                                           float* __restrict nv, int64_t start, int64_t end,
                                                           const std::array<float, 8>& k) {
  const __m512 B1 = _mm512_set1_ps(k[0]), C1 = _mm512_set1_ps(k[1]), B2 = _mm512_set1_ps(k[2]);
  const __m512 C2 = _mm512_set1_ps(k[3]), OMA1 = _mm512_set1_ps(k[4]), OMA2 = _mm512_set1_ps(k[5]);
  const __m512 EPS = _mm512_set1_ps(k[6]), NEG_LR = _mm512_set1_ps(k[7]);
  for (int64_t i = start; i < end; i += 16) {
    const __m512 gi = _mm512_loadu_ps(g + i);
    const __m512 mi = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(m + i), B1), _mm512_mul_ps(gi, C1));
    const __m512 vi = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(v + i), B2), _mm512_mul_ps(_mm512_mul_ps(gi, gi), C2));
    _mm512_stream_ps(nm + i, mi);
    _mm512_stream_ps(nv + i, vi);
    // maskz_sqrt with every lane set is sqrt; GCC 12 warns (wrongly) on the unmasked intrinsic.
    const __m512 denom = _mm512_add_ps(_mm512_maskz_sqrt_ps(0xFFFF, _mm512_div_ps(vi, OMA2)), EPS);
    const __m512 step = _mm512_mul_ps(_mm512_div_ps(_mm512_div_ps(mi, OMA1), denom), NEG_LR);
    _mm512_stream_ps(nw + i, _mm512_add_ps(step, _mm512_loadu_ps(w + i)));
  }
}

/**
 * Elements from which an Adam update streams its stores (256 KB): the whole update passes through far more memory
 * than the caches hold, so even a small variable's new values are gone from them by the time the next step reads
 * them. Per training step of ResNet-50 (profile-step, same machine, same run): 17-25 ms from 65,536 elements,
 * 22-30 ms from 1,048,576, 35-39 ms without streaming.
 */
constexpr int64_t kStreamingThreshold = 1 << 16;
#endif

Napi::Value Adam(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const F32Arg value = f32Arg(info, 0, "value", 0);
  const size_t n = value.length;
  const F32Arg m = f32Arg(info, 1, "m", n);
  const F32Arg v = f32Arg(info, 2, "v", n);
  const F32Arg g = f32Arg(info, 3, "gradient", n);
  const F32Arg nw = f32Arg(info, 4, "newValue", n);
  const F32Arg nm = f32Arg(info, 5, "newM", n);
  const F32Arg nv = f32Arg(info, 6, "newV", n);
  check(env, info.Length() > 7 && info[7].IsArray() && info[7].As<Napi::Array>().Length() == 8,
        "adam: argument 'scalars' must be an array of 8 numbers");
  std::array<float, 8> k{};
  Napi::Array list = info[7].As<Napi::Array>();
  for (uint32_t i = 0; i < 8; ++i) {
    Napi::Value e = list.Get(i);
    check(env, e.IsNumber(), "adam: argument 'scalars' must be an array of 8 numbers");
    k[i] = static_cast<float>(e.As<Napi::Number>().DoubleValue());
  }
  const int64_t total = static_cast<int64_t>(n), blocks = (total + kBlock - 1) / kBlock;
#if defined(ADAM_STREAMING)
  // Streaming needs the three outputs at the same offset from a 64-byte line (the backend's output arrays start on
  // one); every block then lines up too, kBlock being a multiple of 16 floats. The elements before the first whole
  // line and after the last go through adamBlock: the same operations, so the same bits.
  const auto phase = [](const float* p) { return reinterpret_cast<uintptr_t>(p) % 64; };
  const bool streaming = total >= kStreamingThreshold && phase(nw.data) == phase(nm.data) &&
                         phase(nw.data) == phase(nv.data) && __builtin_cpu_supports("avx512f");
  if (streaming) {
    const int64_t head = static_cast<int64_t>((64 - phase(nw.data)) % 64 / sizeof(float));
#pragma omp parallel
    {
#pragma omp for schedule(static)
      for (int64_t blk = 0; blk < blocks; ++blk) {
        const int64_t start = blk * kBlock, end = std::min(total, start + kBlock);
        const int64_t a = std::min(end, start + head), b = a + (end - a) / 16 * 16;
        adamBlock(value.data, m.data, v.data, g.data, nw.data, nm.data, nv.data, start, a, k);
        adamBlockStreaming(value.data, m.data, v.data, g.data, nw.data, nm.data, nv.data, a, b, k);
        adamBlock(value.data, m.data, v.data, g.data, nw.data, nm.data, nv.data, b, end, k);
      }
      _mm_sfence();  // this thread's streaming stores are globally visible before the region ends
    }
    return env.Undefined();
  }
#endif
#pragma omp parallel for schedule(static) if (total >= kParallelThreshold)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    adamBlock(value.data, m.data, v.data, g.data, nw.data, nm.data, nv.data, blk * kBlock,
              std::min(total, (blk + 1) * kBlock), k);
  }
  return env.Undefined();
}

}  // namespace

void RegisterEltwise(Napi::Env env, Napi::Object exports) {
  exportFunction(env, exports, "binary", Binary);
  exportFunction(env, exports, "unary", Unary);
  exportFunction(env, exports, "addN", AddN);
  exportFunction(env, exports, "adam", Adam);
}

}  // namespace onednn_backend
