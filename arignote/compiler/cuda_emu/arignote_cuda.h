// The emulated half of arignote_cuda.h: generated CUDA C compiled as C++ for the CPU
// (arignote/compiler/cuda_emulate.py). The threads of a block are fibers of runtime.cpp,
// run one at a time until each blocks: __syncthreads() and the warp operations are
// barriers over them, so a kernel runs as on a GPU whose threads interleave only there.
// __shared__ variables are static (one copy per OS thread: blocks run one after another).
#pragma once
#include <stdint.h>
#include <string.h>

// ---- the C math functions kernels call, declared here: <math.h> in C++ (libstdc++'s <cmath>)
// would be most of the compile time of every kernel. A function missing here is a g++ error.
#define AG_MATH1(name) extern "C" float name##f(float) noexcept; \
  extern "C" double name(double) noexcept;
#define AG_MATH2(name) extern "C" float name##f(float, float) noexcept; \
  extern "C" double name(double, double) noexcept;
AG_MATH1(fabs) AG_MATH1(sqrt) AG_MATH1(rint) AG_MATH1(floor) AG_MATH1(ceil) AG_MATH1(trunc)
AG_MATH1(sin) AG_MATH1(cos) AG_MATH1(tan) AG_MATH1(exp) AG_MATH1(log) AG_MATH1(tanh)
AG_MATH2(copysign) AG_MATH2(fmod) AG_MATH2(pow) AG_MATH2(atan2)
extern "C" float fmaf(float, float, float) noexcept;
extern "C" double fma(double, double, double) noexcept;
extern "C" float ldexpf(float, int) noexcept;
extern "C" double ldexp(double, int) noexcept;
extern "C" double frexp(double, int*) noexcept;
#undef AG_MATH1
#undef AG_MATH2
#define INFINITY __builtin_inff()
#define NAN __builtin_nanf("")
#define signbit(x) __builtin_signbit(x)

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static thread_local

struct ag_dim3 { unsigned x, y, z; };

extern "C" {
const ag_dim3* ag_emu_thread_idx(void);
const ag_dim3* ag_emu_block_idx(void);
const ag_dim3* ag_emu_block_dim(void);
const ag_dim3* ag_emu_grid_dim(void);
void ag_emu_syncthreads(int line);
// every live lane of the caller's warp posts ``mine``; ``all[lane]`` gets each one's;
// returns the mask of live lanes (a warp-wide barrier)
unsigned ag_emu_warp(uint64_t mine, uint64_t* all);
}

#define threadIdx (*ag_emu_thread_idx())
#define blockIdx (*ag_emu_block_idx())
#define blockDim (*ag_emu_block_dim())
#define gridDim (*ag_emu_grid_dim())
#define __syncthreads() ag_emu_syncthreads(__LINE__)
#define __threadfence() ((void)0)

// ---- bit casts and float16, as the device header's intrinsics
inline int32_t ag_f32_bits(float x) { int32_t i; memcpy(&i, &x, 4); return i; }
inline float ag_bits_f32(int32_t i) { float x; memcpy(&x, &i, 4); return x; }
inline int64_t ag_f64_bits(double x) { int64_t i; memcpy(&i, &x, 8); return i; }
inline double ag_bits_f64(int64_t i) { double x; memcpy(&x, &i, 8); return x; }

inline float ag_h2f(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  float v;
  if (e == 0) v = ldexpf((float)m, -24);
  else if (e == 31) v = m ? NAN : INFINITY;
  else v = ldexpf((float)(m | 0x400u), (int)e - 25);
  return ag_bits_f32((int32_t)(ag_f32_bits(v) | sign));
}

// round to nearest even, once, from double (so from float too: float -> double is exact)
inline uint16_t ag_d2h(double d) {
  const uint16_t sign = signbit(d) ? 0x8000u : 0;
  const double a = fabs(d);
  if (a != a) return sign | 0x7e00u;
  if (a >= 65520.0) return sign | 0x7c00u;
  if (a < 0x1p-14) return sign | (uint16_t)rint(a * 0x1p24);  // (1024: the smallest normal)
  int e;
  frexp(a, &e);  // a = f * 2^e, f in [0.5, 1)
  double m = rint(ldexp(a, 11 - e));  // in [1024, 2048]
  if (m == 2048.0) { m = 1024.0; e += 1; }
  return sign | (uint16_t)((e + 14) << 10) | (uint16_t)((int)m - 1024);
}
inline uint16_t ag_f2h(float f) { return ag_d2h((double)f); }

// ---- warp shuffles and votes (mask: every live lane must take part, as on sm_70+)
template <typename T> inline T ag_emu_shfl(T v, int src, bool keep_if_out) {
  uint64_t mine = 0, all[32];
  memcpy(&mine, &v, sizeof v);
  const unsigned live = ag_emu_warp(mine, all);
  if (src < 0 || src > 31 || !((live >> src) & 1u)) {
    if (keep_if_out) return v;
    src = 0;
  }
  T r;
  memcpy(&r, &all[src], sizeof r);
  return r;
}
template <typename T> inline T __shfl_sync(unsigned, T v, int src, int = 32) {
  return ag_emu_shfl(v, src & 31, false); }
template <typename T> inline T __shfl_down_sync(unsigned, T v, unsigned d, int = 32) {
  return ag_emu_shfl(v, (int)(threadIdx.x & 31u) + (int)d, true); }
template <typename T> inline T __shfl_up_sync(unsigned, T v, unsigned d, int = 32) {
  return ag_emu_shfl(v, (int)(threadIdx.x & 31u) - (int)d, true); }
template <typename T> inline T __shfl_xor_sync(unsigned, T v, int m, int = 32) {
  return ag_emu_shfl(v, (int)(threadIdx.x & 31u) ^ m, true); }
inline unsigned __ballot_sync(unsigned, int p) {
  uint64_t all[32];
  const unsigned live = ag_emu_warp(p != 0, all);
  unsigned bits = 0;
  for (int i = 0; i < 32; i++) if (((live >> i) & 1u) && all[i]) bits |= 1u << i;
  return bits;
}
inline int __all_sync(unsigned, int p) {
  uint64_t all[32];
  const unsigned live = ag_emu_warp(p != 0, all);
  for (int i = 0; i < 32; i++) if (((live >> i) & 1u) && !all[i]) return 0;
  return 1;
}
inline int __any_sync(unsigned m, int p) { return __ballot_sync(m, p) != 0; }
inline void __syncwarp(unsigned = 0xffffffffu) { uint64_t all[32]; ag_emu_warp(0, all); }

template <typename T> inline T ag_shfl_down(T v, int d) { return __shfl_down_sync(0xffffffffu, v, d); }

// ---- atomics: fibers switch only at barriers, so a plain read-modify-write is atomic
template <typename T> inline T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
template <typename T> inline T atomicSub(T* p, T v) { T old = *p; *p = old - v; return old; }
template <typename T> inline T atomicMax(T* p, T v) { T old = *p; if (v > old) *p = v; return old; }
template <typename T> inline T atomicMin(T* p, T v) { T old = *p; if (v < old) *p = v; return old; }
template <typename T> inline T atomicExch(T* p, T v) { T old = *p; *p = v; return old; }
template <typename T> inline T atomicCAS(T* p, T cmp, T v) { T old = *p; if (old == cmp) *p = v; return old; }
template <typename T> inline T atomicAnd(T* p, T v) { T old = *p; *p = old & v; return old; }
template <typename T> inline T atomicOr(T* p, T v) { T old = *p; *p = old | v; return old; }
