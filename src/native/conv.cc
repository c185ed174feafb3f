// 2-D convolution: forward (with fused bias and activation), backward-data and backward-weights.
//
// Activations are taken and returned in NHWC directly; filters come in tfjs's HWIO layout and are reordered into
// the layout the primitive prefers (`format_tag::any`), which is what makes oneDNN pick its fastest kernels.
//
// JS API (all buffers Float32Array; outputs are written in place and must not alias inputs):
//   conv2dForward(x, filter, bias|null, y, geometry, activation, alpha, filterToken[, residual|null])
//       y = activation(conv(x, filter) + bias + residual); `residual` (optional) has y's shape (NHWC). It is added
//       by a binary post-op inside the convolution, so a residual network's "conv, add the shortcut, relu" is one
//       pass over the output instead of three. (A sum post-op would let oneDNN use its brgconv kernels, which the
//       binary post-op rules out, but needs the residual copied into y first: both measured the same on ResNet-50.)
//   conv2dBackwardData(dy, filter, dx, geometry, filterToken)
//   conv2dBackwardWeights(x, dy, dFilter, dBias|null, geometry) -> whether dBias was written
//       dBias (the per-channel sums of dy) is written only where it comes nearly free, from oneDNN's convolution
//       primitive; a convolution run as a matmul leaves it alone (a separate pass would cost what a Sum costs, and
//       models without biases would pay it for nothing).
// `geometry` is 17 integers:
//   [batch, inH, inW, inC, outH, outW, outC, filterH, filterW, strideH, strideW, dilationH, dilationW,
//    padTop, padBottom, padLeft, padRight]
// with dilations counted tfjs's way (1 = dense) and pads that satisfy
//   outH == (inH + padTop + padBottom - ((filterH - 1) * dilationH + 1)) / strideH + 1   (integer division),
// and the same for the width. `filterToken` identifies the filter's content (0 = unknown), see CachedReorder.
//
// Two kinds of convolution run as matrix products (oneDNN matmul) instead, with M = batch * outH * outW rows:
// - Pointwise ones (1x1 filter, stride 1, no padding: two thirds of ResNet-50's): x is an M x inC matrix, the HWIO
//   filter an inC x outC matrix and y is M x outC, all in the tfjs buffers as they are. Forward is x * W,
//   backward-data dy * W^T, backward-weights x^T * dy (the transposes are strides, not copies). oneDNN's
//   convolutions want the filter reordered into a blocked layout on every call in training (and the weight gradient
//   reordered back): on ResNet-50's pointwise shapes the matmuls take 17.7 / 18.4 / 19.7 ms per step against
//   21.0 / 18.2 / 25.2 for the convolutions with their reorders (2 threads, warm caches), and the reorders cost
//   more in a real step where weights are cold.
// - Convolutions whose filter outweighs their output (4 * M <= outC: ResNet-50's stage 5 at 64x64): the patches of
//   x are copied into an M x (kh * kw * inC) matrix (im2col), which the HWIO filter multiplies as it is; the
//   backward-data product gives the patches' gradients, added back into dx (col2im). There oneDNN's direct
//   convolutions are slow (few output pixels per filter) and their filter reorders dear: for the 3x3 512 -> 512
//   convolution at 2x2, 2.5 / 3.0 / 2.7 ms (forward / backward-data / backward-weights, caches flushed) against
//   1.5 / 1.5 / 1.3 ms this way. At 4x4 and above the direct convolutions win, so they keep them.
// - 1x1 convolutions with a stride (ResNet's projection shortcuts): their patch matrix is x subsampled, smaller than
//   x; about 4 ms less per training step and 1 ms per inference than the direct convolutions.
#include "common.h"


#include <algorithm>
#include <array>
#include <cstring>

namespace onednn_backend {
namespace {

using dnnl::algorithm;
using dnnl::prop_kind;

struct ConvGeometry {
  int64_t n, ih, iw, ic, oh, ow, oc, kh, kw, sh, sw, dh, dw, pt, pb, pl, pr;

  static ConvGeometry parse(const Napi::CallbackInfo& info, size_t index) {
    std::vector<int64_t> v = intsArg(info, index, "geometry", 17);
    ConvGeometry g{v[0], v[1], v[2],  v[3],  v[4],  v[5],  v[6],  v[7], v[8],
                   v[9], v[10], v[11], v[12], v[13], v[14], v[15], v[16]};
    Napi::Env env = info.Env();
    check(env, g.n > 0 && g.ih > 0 && g.iw > 0 && g.ic > 0 && g.oh > 0 && g.ow > 0 && g.oc > 0,
          "conv geometry: sizes must be positive");
    check(env, g.kh > 0 && g.kw > 0 && g.sh > 0 && g.sw > 0 && g.dh > 0 && g.dw > 0,
          "conv geometry: filter sizes, strides and dilations must be positive");
    check(env, g.pt >= 0 && g.pb >= 0 && g.pl >= 0 && g.pr >= 0, "conv geometry: pads must not be negative");
    const int64_t ekh = (g.kh - 1) * g.dh + 1, ekw = (g.kw - 1) * g.dw + 1;
    check(env, g.ih + g.pt + g.pb >= ekh && g.iw + g.pl + g.pr >= ekw,
          "conv geometry: the filter is larger than the padded input");
    check(env, (g.ih + g.pt + g.pb - ekh) / g.sh + 1 == g.oh && (g.iw + g.pl + g.pr - ekw) / g.sw + 1 == g.ow,
          "conv geometry: output size does not match input size, filter, strides and pads");
    return g;
  }

  /** A 1x1 convolution with stride 1 and no padding: a matrix product (dilation is then irrelevant). */
  bool pointwise() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pb == 0 && pl == 0 && pr == 0;
  }
  /**
   * Run as a matrix product: pointwise; 1x1 with a stride (its patch matrix is x subsampled); or with a filter that
   * outweighs the output (see the top comment).
   */
  bool asMatmul() const { return (kh == 1 && kw == 1) || rows() * 4 <= oc; }
  /** Rows of the convolution as a matrix product: batch * outH * outW. */
  int64_t rows() const { return n * oh * ow; }
  /** Columns of x's patch matrix: kh * kw * inC (the rows of an HWIO filter seen as a matrix). */
  int64_t patch() const { return kh * kw * ic; }

  size_t srcSize() const { return static_cast<size_t>(n * ih * iw * ic); }
  size_t dstSize() const { return static_cast<size_t>(n * oh * ow * oc); }
  size_t weightsSize() const { return static_cast<size_t>(kh * kw * ic * oc); }

  memory::desc src() const { return {{n, ic, ih, iw}, dt::f32, tag::nhwc}; }
  memory::desc dst() const { return {{n, oc, oh, ow}, dt::f32, tag::nhwc}; }
  memory::desc weightsAny() const { return {{oc, ic, kh, kw}, dt::f32, tag::any}; }
  memory::desc weightsHwio() const { return {{oc, ic, kh, kw}, dt::f32, tag::hwio}; }
  memory::desc bias() const { return {{oc}, dt::f32, tag::x}; }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims dilates() const { return {dh - 1, dw - 1}; }  // oneDNN counts dilation from 0
  memory::dims padL() const { return {pt, pl}; }
  memory::dims padR() const { return {pb, pr}; }

  CacheKey key() const {
    CacheKey k;
    k.add({n, ih, iw, ic, oh, ow, oc, kh, kw, sh, sw, dh, dw, pt, pb, pl, pr});
    return k;
  }

  /** The forward descriptor; also the hint that backward primitives need. */
  dnnl::convolution_forward::desc forwardDesc(prop_kind prop, bool withBias) const {
    if (withBias) {
      return {prop, algorithm::convolution_direct, src(), weightsAny(), bias(), dst(), strides(), dilates(), padL(),
              padR()};
    }
    return {prop, algorithm::convolution_direct, src(), weightsAny(), dst(), strides(), dilates(), padL(), padR()};
  }
};

// ---- convolutions as matrix products ----

/** Which product a matmul entry computes. */
enum class Pass : int64_t { Forward = 0, BackwardData = 1, BackwardWeights = 2 };

struct MatmulEntry {
  dnnl::matmul prim;
  memory::desc src, weights, dst, bias;

  // Forward only. The matmul repacks a plain filter into its own blocked layout on every call; a filter used again
  // (inference: constant weights) is reordered into that layout once, cached by token, and multiplied by `packedPrim`.
  // A filter's first use (every use in training, where filters change each step) stays plain, and the packed
  // primitive is only created on the first reuse.
  dnnl::primitive_attr attr;
  bool withBias = false;
  dnnl::matmul packedPrim;
  std::unique_ptr<CachedReorder> packed;

  /** The product's description with the filter described by `w` (the bias only where the entry takes one). */
  dnnl::matmul::desc descFor(const memory::desc& w) const {
    return withBias ? dnnl::matmul::desc(src, w, bias, dst) : dnnl::matmul::desc(src, w, dst);
  }

  /** Creates the packed primitive and its filter cache, once. */
  void preparePacked() {
    if (packed) return;
    dnnl::matmul::primitive_desc pd(descFor(memory::desc(weights.dims(), dt::f32, tag::any)), attr, cpuEngine());
    packedPrim = dnnl::matmul(pd);
    packed = std::make_unique<CachedReorder>(weights, pd.weights_desc());
  }
  std::array<double, 64> seen{};  // tokens of filters used once, most recent last (0: empty)
  size_t nextSeen = 0;

  /** Whether the filter with this token was used before; remembers it otherwise. */
  bool usedBefore(double token) {
    if (token == 0) return false;
    if (std::find(seen.begin(), seen.end(), token) != seen.end()) return true;
    seen[nextSeen] = token;
    nextSeen = (nextSeen + 1) % seen.size();
    return false;
  }
};

PrimitiveCache<MatmulEntry> matmulCache;

/**
 * The matmul for pass `pass` of the convolution `g` as a matrix product over its patch matrix (x itself when
 * pointwise). Forward takes optional bias, activation and residual post-ops; the backward passes take none.
 */
MatmulEntry& matmulEntry(const ConvGeometry& g, Pass pass, bool withBias, bool withResidual, Activation act,
                         float alpha) {
  CacheKey key;
  key.add({static_cast<int64_t>(pass), g.rows(), g.patch(), g.oc}).add(withBias).add(withResidual);
  key.add(static_cast<int64_t>(act)).addFloat(act == Activation::LeakyRelu ? alpha : 0.f);
  return matmulCache.get(key, [&] {
    auto e = std::make_unique<MatmulEntry>();
    const int64_t M = g.rows(), K = g.patch(), N = g.oc;
    dnnl::primitive_attr attr;
    switch (pass) {
      case Pass::Forward: {  // y[M,N] = cols[M,K] * W[K,N] (+ bias, + residual, activation)
        e->src = memory::desc({M, K}, dt::f32, tag::ab);
        e->weights = memory::desc({K, N}, dt::f32, tag::ab);
        e->dst = memory::desc({M, N}, dt::f32, tag::ab);
        e->bias = memory::desc({1, N}, dt::f32, tag::ab);
        dnnl::post_ops ops;
        if (withResidual) ops.append_binary(algorithm::binary_add, e->dst);
        appendActivation(ops, act, alpha);
        attr.set_post_ops(ops);
        break;
      }
      case Pass::BackwardData:  // dcols[M,K] = dy[M,N] * W^T, W^T[N,K] read from W[K,N] by strides
        e->src = memory::desc({M, N}, dt::f32, tag::ab);
        e->weights = memory::desc({N, K}, dt::f32, tag::ba);
        e->dst = memory::desc({M, K}, dt::f32, tag::ab);
        break;
      case Pass::BackwardWeights:  // dW[K,N] = cols^T * dy, cols^T[K,M] read from cols[M,K] by strides
        e->src = memory::desc({K, M}, dt::f32, tag::ba);
        e->weights = memory::desc({M, N}, dt::f32, tag::ab);
        e->dst = memory::desc({K, N}, dt::f32, tag::ab);
        break;
    }
    e->attr = attr;
    e->withBias = pass == Pass::Forward && withBias;
    e->prim = dnnl::matmul(dnnl::matmul::primitive_desc(e->descFor(e->weights), attr, cpuEngine()));
    return e;
  });
}

/** Scratch for patch matrices (the addon runs on the JS thread only, one call at a time). */
std::vector<float> patchScratch;

float* scratchFor(const ConvGeometry& g) {
  const size_t size = static_cast<size_t>(g.rows() * g.patch());
  if (patchScratch.size() < size) patchScratch.resize(size);
  return patchScratch.data();
}

/**
 * The patch matrix of x (im2col): row (b, oy, ox), column (ky, kx, c) holds x[b, oy * sh - pt + ky * dh,
 * ox * sw - pl + kx * dw, c], or 0 in the padding. Columns follow the rows of an HWIO filter.
 */
const float* im2col(const ConvGeometry& g, const float* x) {
  float* cols = scratchFor(g);
  const int64_t K = g.patch();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < g.n; ++b) {
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        float* row = cols + ((b * g.oh + oy) * g.ow + ox) * K;
        for (int64_t ky = 0; ky < g.kh; ++ky) {
          const int64_t iy = oy * g.sh - g.pt + ky * g.dh;
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const int64_t ix = ox * g.sw - g.pl + kx * g.dw;
            float* dst = row + (ky * g.kw + kx) * g.ic;
            if (iy < 0 || iy >= g.ih || ix < 0 || ix >= g.iw) {
              std::memset(dst, 0, sizeof(float) * g.ic);
            } else {
              std::memcpy(dst, x + ((b * g.ih + iy) * g.iw + ix) * g.ic, sizeof(float) * g.ic);
            }
          }
        }
      }
    }
  }
  return cols;
}

/** dx = the sum over patches of their gradients dcols (col2im, the adjoint of im2col); images in parallel. */
void col2im(const ConvGeometry& g, const float* dcols, float* dx) {
  const int64_t K = g.patch(), image = g.ih * g.iw * g.ic;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < g.n; ++b) {
    float* dxb = dx + b * image;
    std::memset(dxb, 0, sizeof(float) * image);
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        const float* row = dcols + ((b * g.oh + oy) * g.ow + ox) * K;
        for (int64_t ky = 0; ky < g.kh; ++ky) {
          const int64_t iy = oy * g.sh - g.pt + ky * g.dh;
          if (iy < 0 || iy >= g.ih) continue;
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const int64_t ix = ox * g.sw - g.pl + kx * g.dw;
            if (ix < 0 || ix >= g.iw) continue;
            float* __restrict d = dxb + (iy * g.iw + ix) * g.ic;
            const float* __restrict src = row + (ky * g.kw + kx) * g.ic;
#pragma omp simd
            for (int64_t c = 0; c < g.ic; ++c) d[c] += src[c];
          }
        }
      }
    }
  }
}

// ---- forward ----

struct ForwardEntry {
  dnnl::convolution_forward prim;
  memory::desc src, dst, bias;
  std::unique_ptr<CachedReorder> weights;
};

PrimitiveCache<ForwardEntry> forwardCache;

Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  const ConvGeometry g = ConvGeometry::parse(info, 4);
  const F32Arg x = f32Arg(info, 0, "x", g.srcSize());
  const F32Arg w = f32Arg(info, 1, "filter", g.weightsSize());
  const F32Arg b = optionalF32Arg(info, 2, "bias", static_cast<size_t>(g.oc));
  const F32Arg y = f32Arg(info, 3, "y", g.dstSize());
  const Activation act = activationArg(info, 5, "activation");
  const float alpha = static_cast<float>(numberArg(info, 6, "alpha"));
  const double token = numberArg(info, 7, "filterToken");
  const F32Arg residual = info.Length() > 8 ? optionalF32Arg(info, 8, "residual", g.dstSize()) : F32Arg{};
  const bool withBias = b.data != nullptr;
  const bool withResidual = residual.data != nullptr;

  if (g.asMatmul()) {
    MatmulEntry& p = matmulEntry(g, Pass::Forward, withBias, withResidual, act, alpha);
    const float* cols = g.pointwise() ? x.data : im2col(g, x.data);
    const bool packed = p.usedBefore(token);
    if (packed) p.preparePacked();
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, wrap(p.src, cols)},
        {DNNL_ARG_WEIGHTS, packed ? p.packed->get(w.data, token) : wrap(p.weights, w.data)},
        {DNNL_ARG_DST, wrap(p.dst, y.data)}};
    if (withBias) args.emplace(DNNL_ARG_BIAS, wrap(p.bias, b.data));
    if (withResidual) args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, wrap(p.dst, residual.data));
    execute(packed ? p.packedPrim : p.prim, args);
    return info.Env().Undefined();
  }

  CacheKey key = g.key();
  key.add(withBias).add(withResidual).add(static_cast<int64_t>(act)).addFloat(act == Activation::LeakyRelu ? alpha : 0.f);
  ForwardEntry& e = forwardCache.get(key, [&] {
    auto entry = std::make_unique<ForwardEntry>();
    dnnl::primitive_attr attr = activationAttr(act, alpha);
    if (withResidual) {
      // Post-ops run in order: first + residual (y's shape and layout), then the activation.
      dnnl::post_ops ops;
      ops.append_binary(algorithm::binary_add, g.dst());
      appendActivation(ops, act, alpha);
      attr.set_post_ops(ops);
    }
    dnnl::convolution_forward::primitive_desc pd(g.forwardDesc(prop_kind::forward_inference, withBias), attr,
                                                 cpuEngine());
    entry->prim = dnnl::convolution_forward(pd);
    entry->src = pd.src_desc();
    entry->dst = pd.dst_desc();
    entry->bias = g.bias();
    entry->weights = std::make_unique<CachedReorder>(g.weightsHwio(), pd.weights_desc());
    return entry;
  });

  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(e.src, x.data)},
                                       {DNNL_ARG_WEIGHTS, e.weights->get(w.data, token)},
                                       {DNNL_ARG_DST, wrap(e.dst, y.data)}};
  if (withBias) args.emplace(DNNL_ARG_BIAS, wrap(e.bias, b.data));
  if (withResidual) args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, wrap(e.dst, residual.data));
  execute(e.prim, args);
  return info.Env().Undefined();
}

// ---- backward data ----

struct BackwardDataEntry {
  dnnl::convolution_backward_data prim;
  memory::desc diffDst, diffSrc;
  std::unique_ptr<CachedReorder> weights;
};

PrimitiveCache<BackwardDataEntry> backwardDataCache;

Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info) {
  const ConvGeometry g = ConvGeometry::parse(info, 3);
  const F32Arg dy = f32Arg(info, 0, "dy", g.dstSize());
  const F32Arg w = f32Arg(info, 1, "filter", g.weightsSize());
  const F32Arg dx = f32Arg(info, 2, "dx", g.srcSize());
  const double token = numberArg(info, 4, "filterToken");

  if (g.asMatmul()) {
    MatmulEntry& p = matmulEntry(g, Pass::BackwardData, false, false, Activation::Linear, 0.f);
    float* dcols = g.pointwise() ? dx.data : scratchFor(g);
    execute(p.prim, {{DNNL_ARG_SRC, wrap(p.src, dy.data)},
                     {DNNL_ARG_WEIGHTS, wrap(p.weights, w.data)},
                     {DNNL_ARG_DST, wrap(p.dst, dcols)}});
    if (!g.pointwise()) col2im(g, dcols, dx.data);
    return info.Env().Undefined();
  }

  BackwardDataEntry& e = backwardDataCache.get(g.key(), [&] {
    auto entry = std::make_unique<BackwardDataEntry>();
    dnnl::convolution_forward::primitive_desc hint(g.forwardDesc(prop_kind::forward_training, false), cpuEngine());
    dnnl::convolution_backward_data::desc d(algorithm::convolution_direct, g.src(), g.weightsAny(), g.dst(),
                                            g.strides(), g.dilates(), g.padL(), g.padR());
    dnnl::convolution_backward_data::primitive_desc pd(d, cpuEngine(), hint);
    entry->prim = dnnl::convolution_backward_data(pd);
    entry->diffDst = pd.diff_dst_desc();
    entry->diffSrc = pd.diff_src_desc();
    entry->weights = std::make_unique<CachedReorder>(g.weightsHwio(), pd.weights_desc());
    return entry;
  });

  execute(e.prim, {{DNNL_ARG_DIFF_DST, wrap(e.diffDst, dy.data)},
                   {DNNL_ARG_WEIGHTS, e.weights->get(w.data, token)},
                   {DNNL_ARG_DIFF_SRC, wrap(e.diffSrc, dx.data)}});
  return info.Env().Undefined();
}

// ---- backward weights ----

struct BackwardWeightsEntry {
  dnnl::convolution_backward_weights prim;
  memory::desc src, diffDst, diffBias, diffWeightsHwio;
  // When the primitive's preferred diff-weights layout is not HWIO: scratch memory in that layout and the
  // reorder from it into the caller's HWIO buffer.
  bool direct = true;
  memory diffWeightsScratch;
  dnnl::reorder toHwio;
};

PrimitiveCache<BackwardWeightsEntry> backwardWeightsCache;

Napi::Value Conv2dBackwardWeights(const Napi::CallbackInfo& info) {
  const ConvGeometry g = ConvGeometry::parse(info, 4);
  const F32Arg x = f32Arg(info, 0, "x", g.srcSize());
  const F32Arg dy = f32Arg(info, 1, "dy", g.dstSize());
  const F32Arg dw = f32Arg(info, 2, "dFilter", g.weightsSize());
  const F32Arg db = optionalF32Arg(info, 3, "dBias", static_cast<size_t>(g.oc));
  const bool withBias = db.data != nullptr;

  if (g.asMatmul()) {
    MatmulEntry& p = matmulEntry(g, Pass::BackwardWeights, false, false, Activation::Linear, 0.f);
    const float* cols = g.pointwise() ? x.data : im2col(g, x.data);
    execute(p.prim, {{DNNL_ARG_SRC, wrap(p.src, cols)},
                     {DNNL_ARG_WEIGHTS, wrap(p.weights, dy.data)},
                     {DNNL_ARG_DST, wrap(p.dst, dw.data)}});
    return Napi::Boolean::New(info.Env(), false);
  }

  CacheKey key = g.key();
  key.add(withBias);
  BackwardWeightsEntry& e = backwardWeightsCache.get(key, [&] {
    auto entry = std::make_unique<BackwardWeightsEntry>();
    dnnl::convolution_forward::primitive_desc hint(g.forwardDesc(prop_kind::forward_training, withBias),
                                                   cpuEngine());
    auto desc = withBias ? dnnl::convolution_backward_weights::desc(
                               algorithm::convolution_direct, g.src(), g.weightsAny(), g.bias(), g.dst(),
                               g.strides(), g.dilates(), g.padL(), g.padR())
                         : dnnl::convolution_backward_weights::desc(algorithm::convolution_direct, g.src(),
                                                                    g.weightsAny(), g.dst(), g.strides(),
                                                                    g.dilates(), g.padL(), g.padR());
    dnnl::convolution_backward_weights::primitive_desc pd(desc, cpuEngine(), hint);
    entry->prim = dnnl::convolution_backward_weights(pd);
    entry->src = pd.src_desc();
    entry->diffDst = pd.diff_dst_desc();
    entry->diffBias = g.bias();
    entry->diffWeightsHwio = g.weightsHwio();
    entry->direct = pd.diff_weights_desc() == entry->diffWeightsHwio;
    if (!entry->direct) {
      entry->diffWeightsScratch = memory(pd.diff_weights_desc(), cpuEngine());
      entry->toHwio = dnnl::reorder(dnnl::reorder::primitive_desc(cpuEngine(), pd.diff_weights_desc(), cpuEngine(),
                                                                  entry->diffWeightsHwio));
    }
    return entry;
  });

  memory userDw = wrap(e.diffWeightsHwio, dw.data);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(e.src, x.data)},
                                       {DNNL_ARG_DIFF_DST, wrap(e.diffDst, dy.data)},
                                       {DNNL_ARG_DIFF_WEIGHTS, e.direct ? userDw : e.diffWeightsScratch}};
  if (withBias) args.emplace(DNNL_ARG_DIFF_BIAS, wrap(e.diffBias, db.data));
  e.prim.execute(cpuStream(), args);
  if (!e.direct) e.toHwio.execute(cpuStream(), {{DNNL_ARG_FROM, e.diffWeightsScratch}, {DNNL_ARG_TO, userDw}});
  cpuStream().wait();
  return Napi::Boolean::New(info.Env(), withBias);
}

}  // namespace

void RegisterConv(Napi::Env env, Napi::Object exports) {
  exportFunction(env, exports, "conv2dForward", Conv2dForward);
  exportFunction(env, exports, "conv2dBackwardData", Conv2dBackwardData);
  exportFunction(env, exports, "conv2dBackwardWeights", Conv2dBackwardWeights);
  registerCacheClearer([] {
    matmulCache.clear();
    std::vector<float>().swap(patchScratch);
    forwardCache.clear();
    backwardDataCache.clear();
    backwardWeightsCache.clear();
  });
}

}  // namespace onednn_backend
