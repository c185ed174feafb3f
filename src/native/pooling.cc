// 2-D pooling of NHWC tensors (forward and gradients) and constant padding.
//
// JS API (Float32Arrays; outputs are preallocated by JS and written in place). `geometry` is 12 integers:
// [batch, inHeight, inWidth, channels, outHeight, outWidth, filterHeight, filterWidth, strideHeight, strideWidth,
//  padTop, padLeft], as tfjs's computePool2DInfo gives them.
//   pool(kind, x, out, geometry)           kind 0: max, 1: average over the window's cells inside the input
//   maxPoolGrad(dy, x, dx, geometry)       dy goes to the first largest input of each window (row-major order)
//   avgPoolGrad(dy, dx, geometry)          dy / (filterHeight * filterWidth) goes to each input cell of the window
//   pad(x, out, shape, before, after, value)
//       Constant padding: `shape` (1 to 6 integers) is x's shape, `before`/`after` the padding of each axis.
//
// These follow tfjs's CPU kernels exactly: the max ignores NaN and keeps the first maximum, the average divides
// by the number of cells inside the input, and the average's gradient divides by the full window size (tfjs's
// AvgPoolGrad does, even for 'same' padding). The loops run over channels innermost, which NHWC keeps contiguous,
// and are split over the OpenMP threads by (image, row) or (image, block of channels).
#include "common.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace onednn_backend {
namespace {

constexpr int64_t kParallelThreshold = 32768;
constexpr int64_t kChannelBlock = 64;

/** Input rows [begin, end) or columns of one pooling window, clipped to the image. */
struct Span {
  int64_t begin, end;
};

struct Geometry {
  int64_t n, h, w, c, oh, ow, fh, fw, sh, sw, pt, pl;

  /** The input rows under output row `yr`'s window. */
  Span rows(int64_t yr) const {
    const int64_t corner = yr * sh - pt;
    return {std::max<int64_t>(0, corner), std::min(h, corner + fh)};
  }
  /** The input columns under output column `yc`'s window. */
  Span cols(int64_t yc) const {
    const int64_t corner = yc * sw - pl;
    return {std::max<int64_t>(0, corner), std::min(w, corner + fw)};
  }
};

Geometry geometryArg(const Napi::CallbackInfo& info, size_t index) {
  const std::vector<int64_t> g = intsArg(info, index, "geometry", 12);
  Geometry geo{g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11]};
  check(info.Env(),
        geo.n >= 0 && geo.h > 0 && geo.w > 0 && geo.c > 0 && geo.oh >= 0 && geo.ow >= 0 && geo.fh > 0 &&
            geo.fw > 0 && geo.sh > 0 && geo.sw > 0,
        "pooling: bad geometry");
  return geo;
}

Napi::Value Pool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t kind = intArg(info, 0, "kind");
  check(env, kind == 0 || kind == 1, "pool: kind must be 0 (max) or 1 (avg)");
  const Geometry g = geometryArg(info, 3);
  const F32Arg x = f32Arg(info, 1, "x", static_cast<size_t>(g.n * g.h * g.w * g.c));
  const F32Arg out = f32Arg(info, 2, "out", static_cast<size_t>(g.n * g.oh * g.ow * g.c));
  const int64_t C = g.c;
  const float* xs = x.data;
  float* ys = out.data;
  const bool big = g.n * g.oh * g.ow * C >= kParallelThreshold || g.n * g.h * g.w * C >= kParallelThreshold;
#pragma omp parallel if (big)
  {
    std::vector<double> acc(static_cast<size_t>(C));
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < g.n; ++b) {
      for (int64_t yr = 0; yr < g.oh; ++yr) {
        const auto [r0, r1] = g.rows(yr);
        for (int64_t yc = 0; yc < g.ow; ++yc) {
          const auto [c0, c1] = g.cols(yc);
          float* o = ys + ((b * g.oh + yr) * g.ow + yc) * C;
          if (kind == 0) {
            std::fill(o, o + C, -std::numeric_limits<float>::infinity());
            for (int64_t r = r0; r < r1; ++r) {
              for (int64_t cc = c0; cc < c1; ++cc) {
                const float* px = xs + ((b * g.h + r) * g.w + cc) * C;
#pragma omp simd
                for (int64_t d = 0; d < C; ++d) o[d] = px[d] > o[d] ? px[d] : o[d];
              }
            }
          } else {
            std::fill(acc.begin(), acc.end(), 0.0);
            double* a = acc.data();
            for (int64_t r = r0; r < r1; ++r) {
              for (int64_t cc = c0; cc < c1; ++cc) {
                const float* px = xs + ((b * g.h + r) * g.w + cc) * C;
#pragma omp simd
                for (int64_t d = 0; d < C; ++d) a[d] += static_cast<double>(px[d]);
              }
            }
            const double count = static_cast<double>((r1 - r0) * (c1 - c0));
            for (int64_t d = 0; d < C; ++d) o[d] = static_cast<float>(a[d] / count);
          }
        }
      }
    }
  }
  return env.Undefined();
}

/** Where px[d] > best[d]: best[d] = px[d] and where[d] = k (the first maximum stays on ties), for d < n. */
inline void keepLarger(const float* __restrict px, float* __restrict best, int32_t* __restrict where, int32_t k,
                       int64_t n) {
  for (int64_t d = 0; d < n; ++d) {
    const float v = px[d];
    const float b = best[d];
    const int32_t larger = -static_cast<int32_t>(v > b);  // all ones or zero: a form GCC vectorises
    best[d] = v > b ? v : b;
    where[d] = (where[d] & ~larger) | (k & larger);
  }
}

/**
 * Runs `body(b, d0, d1)` for every image b and block [d0, d1) of channels, split over threads; each call owns
 * dx[b, :, :, d0:d1], which it must zero first.
 */
template <typename Body>
void forImageChannelBlocks(const Geometry& g, bool parallel, Body body) {
  const int64_t blocks = (g.c + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
  for (int64_t b = 0; b < g.n; ++b) {
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t d0 = blk * kChannelBlock, d1 = std::min(g.c, d0 + kChannelBlock);
      body(b, d0, d1);
    }
  }
}

Napi::Value MaxPoolGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Geometry g = geometryArg(info, 3);
  const size_t inSize = static_cast<size_t>(g.n * g.h * g.w * g.c);
  const F32Arg dy = f32Arg(info, 0, "dy", static_cast<size_t>(g.n * g.oh * g.ow * g.c));
  const F32Arg x = f32Arg(info, 1, "x", inSize);
  const F32Arg dx = f32Arg(info, 2, "dx", inSize);
  check(env, g.fh * g.fw <= (int64_t{1} << 30), "maxPoolGrad: window too large");
  const int64_t C = g.c;
  const float* xs = x.data;
  const float* dys = dy.data;
  float* dxs = dx.data;
  forImageChannelBlocks(g, static_cast<int64_t>(inSize) >= kParallelThreshold, [&](int64_t b, int64_t d0, int64_t d1) {
    const int64_t nd = d1 - d0;
    const int64_t image = b * g.h * g.w * C + d0;  // offset of (b, 0, 0, d0)
    for (int64_t r = 0; r < g.h; ++r) {
      for (int64_t cc = 0; cc < g.w; ++cc) std::fill_n(dxs + image + (r * g.w + cc) * C, nd, 0.f);
    }
    float best[kChannelBlock];
    int32_t where[kChannelBlock];            // index into `cells` of each channel's maximum, -1 for none
    std::vector<int64_t> cells(static_cast<size_t>(g.fh * g.fw));  // offsets of the window's cells in the image
    for (int64_t yr = 0; yr < g.oh; ++yr) {
      const auto [r0, r1] = g.rows(yr);
      for (int64_t yc = 0; yc < g.ow; ++yc) {
        const auto [c0, c1] = g.cols(yc);
        std::fill_n(best, nd, -std::numeric_limits<float>::infinity());
        std::fill_n(where, nd, -1);
        int32_t k = 0;
        for (int64_t r = r0; r < r1; ++r) {
          for (int64_t cc = c0; cc < c1; ++cc, ++k) {
            const int64_t cell = (r * g.w + cc) * C;
            cells[static_cast<size_t>(k)] = cell;
            const float* px = xs + image + cell;
            keepLarger(px, best, where, k, nd);
          }
        }
        const float* g0 = dys + ((b * g.oh + yr) * g.ow + yc) * C + d0;
        for (int64_t d = 0; d < nd; ++d) {
          if (where[d] >= 0) dxs[image + cells[static_cast<size_t>(where[d])] + d] += g0[d];
        }
      }
    }
  });
  return env.Undefined();
}

Napi::Value AvgPoolGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Geometry g = geometryArg(info, 2);
  const size_t inSize = static_cast<size_t>(g.n * g.h * g.w * g.c);
  const F32Arg dy = f32Arg(info, 0, "dy", static_cast<size_t>(g.n * g.oh * g.ow * g.c));
  const F32Arg dx = f32Arg(info, 1, "dx", inSize);
  const int64_t C = g.c;
  const float* dys = dy.data;
  float* dxs = dx.data;
  const float multiplier = static_cast<float>(1.0 / static_cast<double>(g.fh * g.fw));
  forImageChannelBlocks(g, static_cast<int64_t>(inSize) >= kParallelThreshold, [&](int64_t b, int64_t d0, int64_t d1) {
    const int64_t nd = d1 - d0;
    for (int64_t r = 0; r < g.h; ++r) {
      for (int64_t cc = 0; cc < g.w; ++cc) std::fill_n(dxs + ((b * g.h + r) * g.w + cc) * C + d0, nd, 0.f);
    }
    for (int64_t yr = 0; yr < g.oh; ++yr) {
      const auto [r0, r1] = g.rows(yr);
      for (int64_t yc = 0; yc < g.ow; ++yc) {
        const auto [c0, c1] = g.cols(yc);
        const float* g0 = dys + ((b * g.oh + yr) * g.ow + yc) * C + d0;
        for (int64_t r = r0; r < r1; ++r) {
          for (int64_t cc = c0; cc < c1; ++cc) {
            float* px = dxs + ((b * g.h + r) * g.w + cc) * C + d0;
#pragma omp simd
            for (int64_t d = 0; d < nd; ++d) px[d] += g0[d];
          }
        }
      }
    }
    for (int64_t r = 0; r < g.h; ++r) {
      for (int64_t cc = 0; cc < g.w; ++cc) {
        float* px = dxs + ((b * g.h + r) * g.w + cc) * C + d0;
#pragma omp simd
        for (int64_t d = 0; d < nd; ++d) px[d] *= multiplier;
      }
    }
  });
  return env.Undefined();
}

Napi::Value Pad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value shapeValue = info.Length() > 2 ? info[2] : env.Undefined();
  const size_t rank = shapeValue.IsArray() ? shapeValue.As<Napi::Array>().Length() : 0;
  check(env, rank >= 1 && rank <= 6, "pad: 'shape' must be an array of 1 to 6 integers");
  const std::vector<int64_t> shape = intsArg(info, 2, "shape", rank);
  const std::vector<int64_t> before = intsArg(info, 3, "before", rank);
  const std::vector<int64_t> after = intsArg(info, 4, "after", rank);
  const float value = static_cast<float>(numberArg(info, 5, "value"));
  std::vector<int64_t> outShape(rank), outStrides(rank);
  int64_t inSize = 1, outSize = 1;
  for (size_t d = 0; d < rank; ++d) {
    check(env, shape[d] >= 0 && before[d] >= 0 && after[d] >= 0, "pad: negative size or padding");
    outShape[d] = before[d] + shape[d] + after[d];
    inSize *= shape[d];
    outSize *= outShape[d];
  }
  int64_t stride = 1;
  for (size_t d = rank; d-- > 0;) {
    outStrides[d] = stride;
    stride *= outShape[d];
  }
  const F32Arg x = f32Arg(info, 0, "x", static_cast<size_t>(inSize));
  const F32Arg out = f32Arg(info, 1, "out", static_cast<size_t>(outSize));
  const bool big = outSize >= kParallelThreshold;
  float* o = out.data;
#pragma omp parallel for schedule(static) if (big)
  for (int64_t i = 0; i < outSize; ++i) o[i] = value;
  if (inSize == 0) return env.Undefined();
  const int64_t row = shape[rank - 1];
  const int64_t rows = inSize / row;
  int64_t base = 0;
  for (size_t d = 0; d < rank; ++d) base += before[d] * outStrides[d];
  const float* xs = x.data;
#pragma omp parallel for schedule(static) if (big)
  for (int64_t i = 0; i < rows; ++i) {
    int64_t rest = i, offset = base;
    for (size_t d = rank - 1; d-- > 0;) {
      offset += (rest % shape[d]) * outStrides[d];
      rest /= shape[d];
    }
    std::memcpy(o + offset, xs + i * row, static_cast<size_t>(row) * sizeof(float));
  }
  return env.Undefined();
}

}  // namespace

void RegisterPooling(Napi::Env env, Napi::Object exports) {
  exportFunction(env, exports, "pool", Pool);
  exportFunction(env, exports, "maxPoolGrad", MaxPoolGrad);
  exportFunction(env, exports, "avgPoolGrad", AvgPoolGrad);
  exportFunction(env, exports, "pad", Pad);
}

}  // namespace onednn_backend
