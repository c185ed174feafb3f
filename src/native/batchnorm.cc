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
//   batchNormTraining(x, scale|null, offset|null, y, mean, variance, channels, epsilon[, relu])
//       Training mode (tf.moments over every axis but the last, then batchNorm): mean and variance are the batch's
//       per-channel mean and biased variance (divided by rows), y = offset + (x - mean) * scale / sqrt(variance +
//       epsilon); with relu true, y is the ReLU of that (a batch norm and the ReLU after it in one pass).
//   batchNormTrainingGrad(dy, x, scale|null, mean, variance, dMeanIn|null, dVarianceIn|null, dx, dScale, dOffset,
//                         channels, epsilon[, reluOutput|null[, dxSums|null]])
//       The gradient of batchNormTraining with respect to x, scale and offset, the statistics being functions of x.
//       With N = rows, r = 1 / sqrt(variance + epsilon), xhat = (x - mean) * r:
//         dOffset = sum(dy)      dScale = sum(dy * xhat)
//         dx = scale * r * (dy - dOffset / N - xhat * dScale / N) + dMeanIn / N + dVarianceIn * 2 * (x - mean) / N
//       where dMeanIn and dVarianceIn (absent = 0) are gradients that reached the mean and variance outputs. With
//       reluOutput (the y of a forward pass with relu), dy is the gradient of that ReLU's output: dy * step(y) is used
//       in its place, as ReLU's own gradient would compute it. dxSums receives dx summed per channel over the rows
//       (the gradient of a bias added to x), in the same pass.
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

// The addon is compiled for baseline x86-64; the loops of this file are also compiled for AVX2 and AVX-512 and the
// best one for the CPU is chosen when the addon loads (GCC/Clang function multiversioning).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define BATCHNORM_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define BATCHNORM_MULTIVERSION
#endif

/** Threads for a pass over `length` elements of `rows` rows: all of them for large tensors, at most one per row. */
int threadsFor(size_t length, int64_t rows) {
  if (static_cast<int64_t>(length) < kParallelThreshold) return 1;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), rows)));
}

/** ys = b + (xs - m) * k per channel over [rows, C], each value computed in double and rounded once. */
BATCHNORM_MULTIVERSION
void normalizeRows(const float* __restrict xs, float* __restrict ys, int64_t rows, int64_t C,
                   const double* __restrict m, const double* __restrict k, const double* __restrict b, bool relu = false) {
  const int threads = threadsFor(static_cast<size_t>(rows * C), rows);
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = xs + r * C;
    float* yr = ys + r * C;
    if (relu) {
      // A ReLU fused on the output, as the eltwise Relu computes it (NaN stays NaN).
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        const float v = static_cast<float>(b[c] + (static_cast<double>(xr[c]) - m[c]) * k[c]);
        yr[c] = v < 0.f ? 0.f : v;
      }
    } else {
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        yr[c] = static_cast<float>(b[c] + (static_cast<double>(xr[c]) - m[c]) * k[c]);
      }
    }
  }
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
  normalizeRows(x.data, out.data, rows, C, m.data(), k.data(), b.data());
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
  const int threads = threadsFor(dy.length, rows);
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
// Plain loops, two passes each way: statistics (sums in double, per thread, added in thread order) then y; sums
// of dy and dy * (x - mean) then dx. Each thread takes a static block of rows, so each call synchronises the
// threads only at the end of each pass.
//
// Why not oneDNN's batch_normalization primitives (forward_training and backward with scale and shift, on x seen
// as NHWC [rows, C, 1, 1]; 2-D "nc" memory selects a reference implementation 30 times slower): in isolation,
// back to back on an idle machine (2 cores, AVX-512), they were 1.5-2 times faster than these loops compiled for
// baseline x86-64 and about as fast as the AVX-512 build of them (e.g. 8192x256: oneDNN 0.57 ms forward, 0.82 ms
// backward; these loops 0.66 and 1.00). But inside a ResNet-50 training step (64x64x3, batch 32, profile-step)
// oneDNN's forward took 1.1-1.4 ms per call even on 512x256 tensors (its JIT synchronises the threads several
// times per call, and between kernels the OpenMP threads sleep), and the 53 layers took 29 ms forward and 32 ms
// backward per step, against 16 ms and 23 ms with these loops. With another busy process on the two cores,
// oneDNN's forward was 3 to 4 times slower than the loops. These loops also take the gradients that reach the
// mean and variance outputs in the same pass, which oneDNN's backward does not.

/**
 * Per-channel batch mean and biased variance of x ([rows, C]), in double. The sums are taken of x minus the first
 * row (a per-channel shift close to the data), so that sum(d^2)/N - (sum(d)/N)^2 does not lose the variance to
 * cancellation when |mean| is large against the standard deviation.
 */
BATCHNORM_MULTIVERSION
void batchMoments(const float* __restrict xs, int64_t rows, int64_t C, double* __restrict meanOut,
                  double* __restrict varianceOut) {
  const int threads = threadsFor(static_cast<size_t>(rows * C), rows);
  std::vector<double> sums(static_cast<size_t>(threads) * 2 * C, 0.0);
  const float* __restrict shift = xs;  // the first row
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    double* __restrict s1 = sums.data() + static_cast<size_t>(t) * 2 * C;
    double* __restrict s2 = s1 + C;
    const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    for (int64_t row = r0; row < r1; ++row) {
      const float* xr = xs + row * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        const double d = static_cast<double>(xr[c]) - static_cast<double>(shift[c]);
        s1[c] += d;
        s2[c] += d * d;
      }
    }
  }
  const double n = static_cast<double>(rows);
  for (int64_t c = 0; c < C; ++c) {
    double a = 0, b = 0;
    for (int t = 0; t < threads; ++t) {
      a += sums[static_cast<size_t>(t) * 2 * C + c];
      b += sums[static_cast<size_t>(t) * 2 * C + C + c];
    }
    const double m = a / n;
    meanOut[c] = static_cast<double>(shift[c]) + m;
    // Rounding can make the difference slightly negative: 0 then. A NaN (from NaN or Inf in x) stays NaN, as tfjs's
    // moments give it (std::max(0.0, NaN) would be 0).
    const double variance = b / n - m * m;
    varianceOut[c] = variance < 0 ? 0.0 : variance;
  }
}

/**
 * The forward pass of batchNormTraining on raw arrays: x and y are [rows, C]; scale and offset have C values or are
 * null; mean and variance receive C values each. With `relu`, y is the ReLU of the normalized values.
 */
BATCHNORM_MULTIVERSION
void trainingForward(const float* __restrict xs, const float* scale, const float* offset, float* __restrict ys,
                     float* meanOut, float* varianceOut, int64_t rows, int64_t C, double epsilon, bool relu) {
  std::vector<double> m(C), v(C), k(C), b(C);
  batchMoments(xs, rows, C, m.data(), v.data());
  for (int64_t c = 0; c < C; ++c) {
    meanOut[c] = static_cast<float>(m[c]);
    varianceOut[c] = static_cast<float>(v[c]);
    k[c] = (scale ? static_cast<double>(scale[c]) : 1.0) / std::sqrt(v[c] + epsilon);
    b[c] = offset ? static_cast<double>(offset[c]) : 0.0;
  }
  normalizeRows(xs, ys, rows, C, m.data(), k.data(), b.data(), relu);
}

/** dy * step(y) as float32, ReLU's gradient as the eltwise ReluGrad computes it (NaN where y is NaN). */
inline float reluMasked(float dy, float y) {
  const float step = y > 0.f ? 1.f : 0.f;
  return dy * (y != y ? y : step);
}

/**
 * The gradient pass of batchNormTrainingGrad on raw arrays: dy, x and dx are [rows, C]; scale, dMeanIn and
 * dVarianceIn have C values or are null; dScale and dOffset receive C values each. With `reluOut` (the forward pass's
 * output, [rows, C], of a batch norm with a fused ReLU), dy is the gradient of that ReLU's output and is first masked
 * where the output is 0.
 */
BATCHNORM_MULTIVERSION
void trainingBackward(const float* __restrict dys, const float* __restrict xs, const float* scale, const float* mean,
                      const float* variance, const float* dMeanIn, const float* dVarianceIn, float* __restrict dxs,
                      float* dScale, float* dOffset, int64_t rows, int64_t C, double epsilon,
                      const float* __restrict reluOut, float* dxSums) {
  const int threads = threadsFor(static_cast<size_t>(rows * C), rows);
  const float* __restrict ms = mean;

  // Pass 1: per channel, sum(dy) and sum(dy * (x - mean)).
  std::vector<double> sums(static_cast<size_t>(threads) * 2 * C, 0.0);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    double* __restrict sDy = sums.data() + static_cast<size_t>(t) * 2 * C;
    double* __restrict sDyXm = sDy + C;
    const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    for (int64_t row = r0; row < r1; ++row) {
      const float* dyr = dys + row * C;
      const float* xr = xs + row * C;
      if (reluOut != nullptr) {
        const float* yr = reluOut + row * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
          const double g = reluMasked(dyr[c], yr[c]);
          sDy[c] += g;
          sDyXm[c] += g * (static_cast<double>(xr[c]) - static_cast<double>(ms[c]));
        }
      } else {
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
          const double g = dyr[c];
          sDy[c] += g;
          sDyXm[c] += g * (static_cast<double>(xr[c]) - static_cast<double>(ms[c]));
        }
      }
    }
  }

  // dx = a * dy + b * (x - mean) + k per channel, from the formula in the header:
  //   a = scale * r,  b = -scale * r^2 * dScale / N + 2 * dVarianceIn / N,  k = -scale * r * dOffset / N + dMeanIn / N
  const double n = static_cast<double>(rows);
  std::vector<double> a(C), b(C), k(C), m(C);
  for (int64_t c = 0; c < C; ++c) {
    double sumDy = 0, sumDyXm = 0;
    for (int t = 0; t < threads; ++t) {
      sumDy += sums[static_cast<size_t>(t) * 2 * C + c];
      sumDyXm += sums[static_cast<size_t>(t) * 2 * C + C + c];
    }
    const double r = 1.0 / std::sqrt(static_cast<double>(variance[c]) + epsilon);
    const double s = scale ? static_cast<double>(scale[c]) : 1.0;
    const double gScale = sumDyXm * r;
    dOffset[c] = static_cast<float>(sumDy);
    dScale[c] = static_cast<float>(gScale);
    a[c] = s * r;
    b[c] = -s * r * r * gScale / n + (dVarianceIn ? 2.0 * dVarianceIn[c] / n : 0.0);
    k[c] = -s * r * sumDy / n + (dMeanIn ? dMeanIn[c] / n : 0.0);
    m[c] = ms[c];
  }

  // Pass 2: dx, and where asked for, its per-channel sums (the gradient of a bias added before the batch norm).
  const double* __restrict ap = a.data();
  const double* __restrict bp = b.data();
  const double* __restrict kp = k.data();
  const double* __restrict mp = m.data();
  std::vector<double> dxPartial(dxSums != nullptr ? static_cast<size_t>(threads) * C : 0, 0.0);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    double* __restrict part = dxSums != nullptr ? dxPartial.data() + static_cast<size_t>(t) * C : nullptr;
    for (int64_t row = r0; row < r1; ++row) {
      const float* dyr = dys + row * C;
      const float* xr = xs + row * C;
      const float* yr = reluOut != nullptr ? reluOut + row * C : nullptr;
      float* dxr = dxs + row * C;
      if (part != nullptr && yr != nullptr) {
        // The sums in the same loop, from the values as stored.
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
          const double g = reluMasked(dyr[c], yr[c]);
          const float v = static_cast<float>(ap[c] * g + bp[c] * (static_cast<double>(xr[c]) - mp[c]) + kp[c]);
          dxr[c] = v;
          part[c] += v;
        }
      } else if (part != nullptr) {
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
          const float v = static_cast<float>(ap[c] * static_cast<double>(dyr[c]) + bp[c] * (static_cast<double>(xr[c]) - mp[c]) +
                                             kp[c]);
          dxr[c] = v;
          part[c] += v;
        }
      } else if (yr != nullptr) {
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
          const double g = reluMasked(dyr[c], yr[c]);
          dxr[c] = static_cast<float>(ap[c] * g + bp[c] * (static_cast<double>(xr[c]) - mp[c]) + kp[c]);
        }
      } else {
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
          dxr[c] = static_cast<float>(ap[c] * static_cast<double>(dyr[c]) + bp[c] * (static_cast<double>(xr[c]) - mp[c]) +
                                      kp[c]);
        }
      }
    }
  }
  if (dxSums != nullptr) {
    for (int64_t c = 0; c < C; ++c) {
      double sum = 0;
      for (int t = 0; t < threads; ++t) sum += dxPartial[static_cast<size_t>(t) * C + c];
      dxSums[c] = static_cast<float>(sum);
    }
  }
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
  // Optional: apply a ReLU to y (a batch norm followed by a ReLU in one pass).
  const bool relu = info.Length() > 8 && info[8].IsBoolean() && info[8].As<Napi::Boolean>().Value();
  trainingForward(x.data, scale.data, offset.data, y.data, mean.data, variance.data,
                  static_cast<int64_t>(x.length / C), channels, epsilon, relu);
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
  // Optional: the output of the forward pass with a fused ReLU, whose gradient dy then is.
  const F32Arg reluOut = optionalF32Arg(info, 12, "reluOutput", dy.length);
  // Optional: receives dx summed over the rows per channel.
  const F32Arg dxSums = optionalF32Arg(info, 13, "dxSums", C);
  trainingBackward(dy.data, x.data, scale.data, mean.data, variance.data, dMeanIn.data, dVarianceIn.data, dx.data,
                   dScale.data, dOffset.data, static_cast<int64_t>(dy.length / C), channels, epsilon, reluOut.data,
                   dxSums.data);
  return env.Undefined();
}

}  // namespace

void RegisterBatchNorm(Napi::Env env, Napi::Object exports) {
  exportFunction(env, exports, "batchNorm", BatchNorm);
  exportFunction(env, exports, "batchNormGrad", BatchNormGrad);
  exportFunction(env, exports, "batchNormTraining", BatchNormTraining);
  exportFunction(env, exports, "batchNormTrainingGrad", BatchNormTrainingGrad);
}

}  // namespace onednn_backend
