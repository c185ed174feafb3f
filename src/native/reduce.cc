// Reductions over one block of adjacent axes.
//
// JS API (Float32Arrays; the output is preallocated by JS and written in place):
//   reduce(op, x, out, outer, size, inner)
//       `x` is seen as [outer, size, inner] (the caller merged the axes before, inside and after the reduced block);
//       out[o * inner + i] = op over r of x[(o * size + r) * inner + i]. `op` is a ReduceOp code.
//
// Sum and Mean accumulate in double, as tfjs's CPU Sum does, so the result is the float32 rounding of an almost exact
// sum even over millions of values. Max and Min propagate NaN like tfjs. The work is split over `outer` when it has
// enough rows for every thread, otherwise over `size` with one set of partial results per thread.
#include "common.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace onednn_backend {
namespace {

constexpr int64_t kParallelThreshold = 32768;

/** Reduction op codes; they match REDUCE_OPS in src/backend/reduce_utils.ts. */
enum class ReduceOp : int { Sum = 0, Mean = 1, Max = 2, Min = 3 };

// An accumulator type per op: double sums, float extrema.
struct SumOp {
  using Acc = double;
  static Acc init() { return 0.0; }
  static Acc combine(Acc a, Acc b) { return a + b; }
  static Acc add(Acc a, float v) { return a + static_cast<double>(v); }
};
struct MaxOp {
  using Acc = float;
  static Acc init() { return -std::numeric_limits<float>::infinity(); }
  static Acc combine(Acc a, Acc b) { return (b > a || b != b) ? b : a; }
  static Acc add(Acc a, float v) { return (v > a || v != v) ? v : a; }
};
struct MinOp {
  using Acc = float;
  static Acc init() { return std::numeric_limits<float>::infinity(); }
  static Acc combine(Acc a, Acc b) { return (b < a || b != b) ? b : a; }
  static Acc add(Acc a, float v) { return (v < a || v != v) ? v : a; }
};

/** acc[i] = combine over r in [r0, r1) of x[r * inner + i]. */
template <typename Op>
void accumulateRows(const float* __restrict x, int64_t r0, int64_t r1, int64_t inner,
                    typename Op::Acc* __restrict acc) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* row = x + r * inner;
#pragma omp simd
    for (int64_t i = 0; i < inner; ++i) acc[i] = Op::add(acc[i], row[i]);
  }
}

/** The combination of x[r] for r in [r0, r1) (inner == 1). */
template <typename Op>
typename Op::Acc accumulateContiguous(const float* __restrict x, int64_t r0, int64_t r1) {
  typename Op::Acc acc = Op::init();
  if constexpr (std::is_same_v<Op, SumOp>) {
    // Several independent partial sums let the loop vectorise; double keeps it accurate.
    double parts[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t r = r0;
    for (; r + 8 <= r1; r += 8) {
      for (int k = 0; k < 8; ++k) parts[k] += static_cast<double>(x[r + k]);
    }
    for (; r < r1; ++r) acc += static_cast<double>(x[r]);
    for (int k = 0; k < 8; ++k) acc += parts[k];
  } else {
    for (int64_t r = r0; r < r1; ++r) acc = Op::add(acc, x[r]);
  }
  return acc;
}

template <typename Op>
void reduce(const float* x, float* out, int64_t outer, int64_t size, int64_t inner, double scale) {
  using Acc = typename Op::Acc;
  const int64_t total = outer * size * inner;
  const int threads = total >= kParallelThreshold ? omp_get_max_threads() : 1;
  auto finish = [scale](Acc a) {
    return static_cast<float>(std::is_same_v<Acc, double> ? static_cast<double>(a) * scale : a);
  };
  if (size == 0) {  // tfjs: the sum of nothing is 0; max of nothing is -Infinity.
    std::fill(out, out + outer * inner, finish(Op::init()));
    return;
  }
  if (outer >= threads || threads == 1) {
    // Enough independent rows: one thread per slice of `outer`.
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
      std::vector<Acc> acc(static_cast<size_t>(inner));
#pragma omp for schedule(static)
      for (int64_t o = 0; o < outer; ++o) {
        const float* xo = x + o * size * inner;
        if (inner == 1) {
          out[o] = finish(accumulateContiguous<Op>(xo, 0, size));
        } else {
          std::fill(acc.begin(), acc.end(), Op::init());
          accumulateRows<Op>(xo, 0, size, inner, acc.data());
          for (int64_t i = 0; i < inner; ++i) out[o * inner + i] = finish(acc[i]);
        }
      }
    }
    return;
  }
  // Few rows, long reductions: split `size` over the threads, then combine their partial results in order.
  std::vector<Acc> partial(static_cast<size_t>(threads * inner));
  for (int64_t o = 0; o < outer; ++o) {
    const float* xo = x + o * size * inner;
    std::fill(partial.begin(), partial.end(), Op::init());
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      const int64_t r0 = size * t / nt, r1 = size * (t + 1) / nt;
      Acc* acc = partial.data() + t * inner;
      if (inner == 1) {
        acc[0] = accumulateContiguous<Op>(xo, r0, r1);
      } else {
        accumulateRows<Op>(xo, r0, r1, inner, acc);
      }
    }
    for (int64_t i = 0; i < inner; ++i) {
      Acc a = partial[static_cast<size_t>(i)];
      for (int t = 1; t < threads; ++t) a = Op::combine(a, partial[static_cast<size_t>(t * inner + i)]);
      out[o * inner + i] = finish(a);
    }
  }
}

Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t code = intArg(info, 0, "op");
  const int64_t outer = intArg(info, 3, "outer"), size = intArg(info, 4, "size"), inner = intArg(info, 5, "inner");
  check(env, outer >= 0 && size >= 0 && inner >= 0, "reduce: sizes must not be negative");
  const F32Arg x = f32Arg(info, 1, "x", static_cast<size_t>(outer * size * inner));
  const F32Arg out = f32Arg(info, 2, "out", static_cast<size_t>(outer * inner));
  switch (static_cast<ReduceOp>(code)) {
    case ReduceOp::Sum: reduce<SumOp>(x.data, out.data, outer, size, inner, 1.0); break;
    case ReduceOp::Mean:
      reduce<SumOp>(x.data, out.data, outer, size, inner, 1.0 / static_cast<double>(size));
      break;
    case ReduceOp::Max: reduce<MaxOp>(x.data, out.data, outer, size, inner, 1.0); break;
    case ReduceOp::Min: reduce<MinOp>(x.data, out.data, outer, size, inner, 1.0); break;
    default: check(env, false, "reduce: unknown op code " + std::to_string(code));
  }
  return env.Undefined();
}

}  // namespace

void RegisterReduce(Napi::Env env, Napi::Object exports) { exportFunction(env, exports, "reduce", Reduce); }

}  // namespace onednn_backend
