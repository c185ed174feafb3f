// Batch normalization over the last axis (channels of NHWC), forward and the gradient of all its inputs.
//
// JS API (Float32Arrays; outputs are preallocated by JS and written in place). `x` is seen as [rows, channels].
//   batchNorm(x, mean, variance, offset|null, scale|null, out, channels, epsilon)
//       out = offset + (x - mean) * scale / sqrt(variance + epsilon). Each parameter has `channels` values, or one
//       value used for every channel.
//   batchNormGrad(dy, x, mean, variance, scale|null, dx, dMean, dVariance, dScale, dOffset, channels, epsilon)
//       The gradients tfjs's FusedBatchNorm gradient gives for parameters of shape [channels], in one pass over
//       dy and x (mean, variance and scale are inputs, not statistics of x: their own gradients are returned):
//         r = 1 / sqrt(variance + epsilon)
//         dx = dy * r * scale                        dOffset = sum(dy)
//         dMean = sum(-r * dy * scale)               dScale = sum(dy * (x - mean) * r)
//         dVariance = sum(-r^3 / 2 * (x - mean) * dy * scale)
//       Every product is rounded to float32 in the order tfjs evaluates it, and the sums are taken in double.
//   batchNormTraining(x, scale|null, offset|null, y, mean, variance, channels, epsilon)
//       Training mode (tf.moments over every axis but the last, then batchNorm): mean and variance are the batch's
//       per-channel mean and biased variance (divided by rows), y = offset + (x - mean) * scale / sqrt(variance +
//       epsilon).
//   batchNormTrainingGrad(dy, x, scale|null, mean, variance, dMeanIn|null, dVarianceIn|null, dx, dScale, dOffset,
//                         channels, epsilon)
//       The gradient of batchNormTraining with respect to x, scale and offset, the statistics being functions of x.
//       With N = rows, r = 1 / sqrt(variance + epsilon), xhat = (x - mean) * r:
//         dOffset = sum(dy)      dScale = sum(dy * xhat)
//         dx = scale * r * (dy - dOffset / N - xhat * dScale / N) + dMeanIn / N + dVarianceIn * 2 * (x - mean) / N
//       where dMeanIn and dVarianceIn (absent = 0) are gradients that reached the mean and variance outputs.
//
// batchNorm computes each value in double and rounds once, as tfjs's CPU kernel does. Rows are split over
// the OpenMP threads for tensors of kParallelThreshold elements or more.
#include "common.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace onednn_backend {
namespace {

constexpr int64_t kParallelThreshold = 32768;

/** A per-channel parameter: `channels` values, or 1 value broadcast to every channel. */
F32Arg paramArg(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t channels, bool optional) {
  F32Arg p = optional ? optionalF32Arg(info, index, name, 1) : f32Arg(info, index, name, 1);
  check(info.Env(), p.data == nullptr || p.length == 1 || p.length == static_cast<size_t>(channels),
        std::string("batchNorm: '") + name + "' must have 1 or " + std::to_string(channels) + " values");
  return p;
}

inline float paramAt(const F32Arg& p, int64_t c, float fallback) {
  if (p.data == nullptr) return fallback;
  return p.length == 1 ? p.data[0] : p.data[c];
}

Napi::Value BatchNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t channels = intArg(info, 6, "channels");
  check(env, channels > 0, "batchNorm: channels must be positive");
  const F32Arg x = f32Arg(info, 0, "x", 0);
  check(env, x.length % static_cast<size_t>(channels) == 0, "batchNorm: x's length is not a multiple of channels");
  const F32Arg mean = paramArg(info, 1, "mean", channels, false);
  const F32Arg variance = paramArg(info, 2, "variance", channels, false);
  const F32Arg offset = paramArg(info, 3, "offset", channels, true);
  const F32Arg scale = paramArg(info, 4, "scale", channels, true);
  const F32Arg out = f32Arg(info, 5, "out", x.length);
  const double epsilon = numberArg(info, 7, "epsilon");

  const int64_t C = channels, rows = static_cast<int64_t>(x.length) / C;
  std::vector<double> m(C), k(C), b(C);
  for (int64_t c = 0; c < C; ++c) {
    m[c] = paramAt(mean, c, 0.f);
    k[c] = static_cast<double>(paramAt(scale, c, 1.f)) /
           std::sqrt(static_cast<double>(paramAt(variance, c, 0.f)) + epsilon);
    b[c] = paramAt(offset, c, 0.f);
  }
  const float* __restrict xs = x.data;
  float* __restrict ys = out.data;
  const double* __restrict mp = m.data();
  const double* __restrict kp = k.data();
  const double* __restrict bp = b.data();
#pragma omp parallel for schedule(static) if (static_cast<int64_t>(x.length) >= kParallelThreshold)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = xs + r * C;
    float* yr = ys + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      yr[c] = static_cast<float>(bp[c] + (static_cast<double>(xr[c]) - mp[c]) * kp[c]);
    }
  }
  return env.Undefined();
}

Napi::Value BatchNormGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t channels = intArg(info, 10, "channels");
  check(env, channels > 0, "batchNormGrad: channels must be positive");
  const size_t C = static_cast<size_t>(channels);
  const F32Arg dy = f32Arg(info, 0, "dy", 0);
  check(env, dy.length % C == 0, "batchNormGrad: dy's length is not a multiple of channels");
  const F32Arg x = f32Arg(info, 1, "x", dy.length);
  const F32Arg mean = f32Arg(info, 2, "mean", C);
  const F32Arg variance = f32Arg(info, 3, "variance", C);
  const F32Arg scale = optionalF32Arg(info, 4, "scale", C);
  const F32Arg dx = f32Arg(info, 5, "dx", dy.length);
  const F32Arg dMean = f32Arg(info, 6, "dMean", C);
  const F32Arg dVariance = f32Arg(info, 7, "dVariance", C);
  const F32Arg dScale = f32Arg(info, 8, "dScale", C);
  const F32Arg dOffset = f32Arg(info, 9, "dOffset", C);
  const float epsilon = static_cast<float>(numberArg(info, 11, "epsilon"));

  // Per-channel factors, rounded like tfjs's tensor ops on [C] tensors.
  std::vector<float> r(C), negR(C), minusHalfRCube(C), s(C);
  for (size_t c = 0; c < C; ++c) {
    const float ve = variance.data[c] + epsilon;
    r[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(ve)));
    negR[c] = -r[c];
    minusHalfRCube[c] = ((r[c] * r[c]) * r[c]) * -0.5f;
    s[c] = scale.data ? scale.data[c] : 1.f;
  }

  const int64_t rows = static_cast<int64_t>(dy.length / C);
  const int threads = static_cast<int64_t>(dy.length) >= kParallelThreshold ? omp_get_max_threads() : 1;
  // Per thread: sums of dMean, dVariance, dScale and dOffset terms, C doubles each.
  std::vector<double> sums(static_cast<size_t>(threads) * 4 * C, 0.0);
  const float* __restrict dys = dy.data;
  const float* __restrict xs = x.data;
  const float* __restrict ms = mean.data;
  float* __restrict dxs = dx.data;
  const float* __restrict rp = r.data();
  const float* __restrict nrp = negR.data();
  const float* __restrict hp = minusHalfRCube.data();
  const float* __restrict sp = s.data();
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    double* __restrict sMean = sums.data() + static_cast<size_t>(t) * 4 * C;
    double* __restrict sVar = sMean + C;
    double* __restrict sScale = sVar + C;
    double* __restrict sOffset = sScale + C;
    const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    for (int64_t row = r0; row < r1; ++row) {
      const float* dyr = dys + row * static_cast<int64_t>(C);
      const float* xr = xs + row * static_cast<int64_t>(C);
      float* dxr = dxs + row * static_cast<int64_t>(C);
#pragma omp simd
      for (size_t c = 0; c < C; ++c) {
        const float g = dyr[c];
        const float dyScaled = g * sp[c];
        const float xm = xr[c] - ms[c];
        dxr[c] = (g * rp[c]) * sp[c];
        sMean[c] += static_cast<double>(nrp[c] * dyScaled);
        sVar[c] += static_cast<double>((hp[c] * xm) * dyScaled);
        sScale[c] += static_cast<double>(g * (xm * rp[c]));
        sOffset[c] += static_cast<double>(g);
      }
    }
  }
  for (size_t c = 0; c < C; ++c) {
    double a = 0, b = 0, d = 0, e = 0;
    for (int t = 0; t < threads; ++t) {
      const double* base = sums.data() + static_cast<size_t>(t) * 4 * C;
      a += base[c];
      b += base[C + c];
      d += base[2 * C + c];
      e += base[3 * C + c];
    }
    dMean.data[c] = static_cast<float>(a);
    dVariance.data[c] = static_cast<float>(b);
    dScale.data[c] = static_cast<float>(d);
    dOffset.data[c] = static_cast<float>(e);
  }
  return env.Undefined();
}

// ---- training mode ----
//
// Both directions run oneDNN's batch_normalization primitives (forward_training, and backward with scale and
// shift) on x seen as NHWC [rows, C, 1, 1], which selects oneDNN's JIT implementation for this CPU ("nc" memory of
// [rows, C] selects a reference implementation, 30 times slower). Measured on ResNet-50's training shapes (idle
// machine, 2 cores, AVX-512, each call on other buffers than the last, as in a network), forward/backward in ms:
//   rows x C     oneDNN        two-pass loops, double sums    the same loops built for AVX-512
//   8192x256     0.57 / 0.82   1.18 / 1.47                    0.66 / 1.00
//   128x2048     0.12 / 0.17   0.24 / 0.30                    0.20 / 0.23
//   32768x64     0.52 / 0.66   0.80 / 1.03                    0.58 / 0.94
//   2048x512     0.28 / 0.34   0.48 / 0.56                    0.35 / 0.50
// (this addon is built for baseline x86-64, so plain loops run without AVX). With one other busy process on the
// two cores, oneDNN's forward became 3 to 4 times slower than the loops (its JIT synchronises the threads several
// times per call), while the loops slowed by 10-60%. oneDNN computes the variance as the mean of
// (x - mean)^2 (no cancellation) with float32 sums; against double sums the results differed by at most 2e-5
// relative on those shapes with |mean| = 20 standard deviations.
// oneDNN's backward does not take gradients that reach the mean and variance outputs: when they are present and
// not all zero, one more pass adds their part to dx.

struct TrainingEntry {
  memory::desc data, channel;
  dnnl::batch_normalization_forward forward;
  dnnl::batch_normalization_backward backward;
  std::vector<float> ones, zeros;  // scale and shift when the caller has none
};

PrimitiveCache<TrainingEntry> trainingCache;

/** The primitives for x of [rows, C] and this epsilon (created on first use). */
TrainingEntry& trainingEntry(int64_t rows, int64_t C, float epsilon) {
  CacheKey key;
  key.add(rows).add(C).addFloat(epsilon);
  return trainingCache.get(key, [&] {
    auto e = std::make_unique<TrainingEntry>();
    e->data = memory::desc({rows, C, 1, 1}, dt::f32, tag::nhwc);
    e->channel = memory::desc({C}, dt::f32, tag::a);
    const auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
    const auto forwardPd = dnnl::batch_normalization_forward::primitive_desc(
        dnnl::batch_normalization_forward::desc(dnnl::prop_kind::forward_training, e->data, epsilon, flags),
        cpuEngine());
    e->forward = dnnl::batch_normalization_forward(forwardPd);
    e->backward = dnnl::batch_normalization_backward(dnnl::batch_normalization_backward::primitive_desc(
        dnnl::batch_normalization_backward::desc(dnnl::prop_kind::backward, e->data, e->data, epsilon, flags),
        cpuEngine(), forwardPd));
    e->ones.assign(static_cast<size_t>(C), 1.f);
    e->zeros.assign(static_cast<size_t>(C), 0.f);
    return e;
  });
}

/** Whether `p` is absent or holds only zeros among its first `n` values. */
bool absentOrZero(const float* p, int64_t n) {
  if (p == nullptr) return true;
  for (int64_t i = 0; i < n; ++i) {
    if (p[i] != 0.f) return false;
  }
  return true;
}

Napi::Value BatchNormTraining(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t channels = intArg(info, 6, "channels");
  check(env, channels > 0, "batchNormTraining: channels must be positive");
  const size_t C = static_cast<size_t>(channels);
  const F32Arg x = f32Arg(info, 0, "x", 0);
  check(env, x.length > 0 && x.length % C == 0, "batchNormTraining: x's length is not a positive multiple of channels");
  const F32Arg scale = optionalF32Arg(info, 1, "scale", C);
  const F32Arg offset = optionalF32Arg(info, 2, "offset", C);
  const F32Arg y = f32Arg(info, 3, "y", x.length);
  const F32Arg mean = f32Arg(info, 4, "mean", C);
  const F32Arg variance = f32Arg(info, 5, "variance", C);
  const double epsilon = numberArg(info, 7, "epsilon");
  TrainingEntry& e = trainingEntry(static_cast<int64_t>(x.length / C), channels, static_cast<float>(epsilon));
  execute(e.forward, {{DNNL_ARG_SRC, wrap(e.data, x.data)},
                      {DNNL_ARG_DST, wrap(e.data, y.data)},
                      {DNNL_ARG_MEAN, wrap(e.channel, mean.data)},
                      {DNNL_ARG_VARIANCE, wrap(e.channel, variance.data)},
                      {DNNL_ARG_SCALE, wrap(e.channel, scale.data ? scale.data : e.ones.data())},
                      {DNNL_ARG_SHIFT, wrap(e.channel, offset.data ? offset.data : e.zeros.data())}});
  return env.Undefined();
}

Napi::Value BatchNormTrainingGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t channels = intArg(info, 10, "channels");
  check(env, channels > 0, "batchNormTrainingGrad: channels must be positive");
  const size_t C = static_cast<size_t>(channels);
  const F32Arg dy = f32Arg(info, 0, "dy", 0);
  check(env, dy.length > 0 && dy.length % C == 0,
        "batchNormTrainingGrad: dy's length is not a positive multiple of channels");
  const F32Arg x = f32Arg(info, 1, "x", dy.length);
  const F32Arg scale = optionalF32Arg(info, 2, "scale", C);
  const F32Arg mean = f32Arg(info, 3, "mean", C);
  const F32Arg variance = f32Arg(info, 4, "variance", C);
  const F32Arg dMeanIn = optionalF32Arg(info, 5, "dMeanIn", C);
  const F32Arg dVarianceIn = optionalF32Arg(info, 6, "dVarianceIn", C);
  const F32Arg dx = f32Arg(info, 7, "dx", dy.length);
  const F32Arg dScale = f32Arg(info, 8, "dScale", C);
  const F32Arg dOffset = f32Arg(info, 9, "dOffset", C);
  const double epsilon = numberArg(info, 11, "epsilon");
  const int64_t rows = static_cast<int64_t>(dy.length / C);
  TrainingEntry& e = trainingEntry(rows, channels, static_cast<float>(epsilon));
  // oneDNN 2.6 wants the shift among the backward arguments too (it does not enter the gradients).
  execute(e.backward, {{DNNL_ARG_SRC, wrap(e.data, x.data)},
                       {DNNL_ARG_DIFF_DST, wrap(e.data, dy.data)},
                       {DNNL_ARG_MEAN, wrap(e.channel, mean.data)},
                       {DNNL_ARG_VARIANCE, wrap(e.channel, variance.data)},
                       {DNNL_ARG_SCALE, wrap(e.channel, scale.data ? scale.data : e.ones.data())},
                       {DNNL_ARG_SHIFT, wrap(e.channel, e.zeros.data())},
                       {DNNL_ARG_DIFF_SRC, wrap(e.data, dx.data)},
                       {DNNL_ARG_DIFF_SCALE, wrap(e.channel, dScale.data)},
                       {DNNL_ARG_DIFF_SHIFT, wrap(e.channel, dOffset.data)}});
  if (absentOrZero(dMeanIn.data, channels) && absentOrZero(dVarianceIn.data, channels)) return env.Undefined();

  // dx += dMeanIn / N + dVarianceIn * 2 * (x - mean) / N
  const double n = static_cast<double>(rows);
  std::vector<double> k(C), b(C), m(C);
  for (size_t c = 0; c < C; ++c) {
    k[c] = dMeanIn.data ? dMeanIn.data[c] / n : 0.0;
    b[c] = dVarianceIn.data ? 2.0 * dVarianceIn.data[c] / n : 0.0;
    m[c] = mean.data[c];
  }
  const float* __restrict xs = x.data;
  float* __restrict dxs = dx.data;
  const double* __restrict kp = k.data();
  const double* __restrict bp = b.data();
  const double* __restrict mp = m.data();
#pragma omp parallel for schedule(static) if (static_cast<int64_t>(dy.length) >= kParallelThreshold)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = xs + r * channels;
    float* dxr = dxs + r * channels;
#pragma omp simd
    for (int64_t c = 0; c < channels; ++c) {
      dxr[c] = static_cast<float>(dxr[c] + kp[c] + bp[c] * (static_cast<double>(xr[c]) - mp[c]));
    }
  }
  return env.Undefined();
}

}  // namespace

void RegisterBatchNorm(Napi::Env env, Napi::Object exports) {
  exportFunction(env, exports, "batchNorm", BatchNorm);
  exportFunction(env, exports, "batchNormGrad", BatchNormGrad);
  exportFunction(env, exports, "batchNormTraining", BatchNormTraining);
  exportFunction(env, exports, "batchNormTrainingGrad", BatchNormTrainingGrad);
  registerCacheClearer([] { trainingCache.clear(); });
}

}  // namespace onednn_backend
