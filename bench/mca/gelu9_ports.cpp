// Zen 3 port pressure of AVX2 instructions beside FMAs (gelu9, issue 18 round 9): each row
// runs 8 independent 256-bit FMAs (2 per cycle: 4 cycles) plus N other independent
// instructions per iteration; TSC ticks per iteration, min of 3000 short runs. A row no slower
// than "8 fma" means those instructions issue beside the two FMA pipes.
//   g++ -O2 -mavx2 -mfma bench/mca/gelu9_ports.cpp -o ports && ./ports
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <x86intrin.h>
using clk = std::chrono::steady_clock;
static double secs(clk::time_point a, clk::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
static double ghz() {
  double best = 1e9;
  for (int r = 0; r < 5; ++r) {
    long v = 1;
    const long n = 2000000;
    auto t0 = clk::now();
    for (long i = 0; i < n; ++i) __asm volatile(".rept 100\n add $1, %0\n .endr" : "+r"(v));
    auto t1 = clk::now();
    best = std::min(best, secs(t0, t1) / (100.0 * n));
  }
  return 1e-9 / best;
}
#define F8                                                                                 \
  "vfmadd231ps %%ymm15,%%ymm14,%%ymm0\n vfmadd231ps %%ymm15,%%ymm14,%%ymm1\n vfmadd231ps " \
  "%%ymm15,%%ymm14,%%ymm2\n vfmadd231ps %%ymm15,%%ymm14,%%ymm3\n vfmadd231ps "             \
  "%%ymm15,%%ymm14,%%ymm4\n vfmadd231ps %%ymm15,%%ymm14,%%ymm5\n vfmadd231ps "             \
  "%%ymm15,%%ymm14,%%ymm6\n vfmadd231ps %%ymm15,%%ymm14,%%ymm7\n"
#define T(name, body)                                                                        \
  {                                                                                          \
    double best = 1e30;                                                                      \
    for (int r = 0; r < 3000; ++r) {                                                         \
      const long n = 1000;                                                                   \
      unsigned long t0 = __rdtsc();                                                          \
      for (long i = 0; i < n; ++i) {                                                         \
        __asm volatile(body::                                                                \
                           : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", \
                             "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "eax");     \
      }                                                                                      \
      unsigned long t1 = __rdtsc();                                                          \
      best = std::min(best, double(t1 - t0) / n);                                            \
    }                                                                                        \
    std::printf("%-28s %.2f ticks/iter\n", name, best);                                      \
  }
int main() {
  double g = ghz();
  std::printf("core clock by an add chain (unreliable under load) %.2f GHz; TSC ticks below\n", g);
  __asm volatile("vxorps %%ymm14,%%ymm14,%%ymm14\n vxorps %%ymm15,%%ymm15,%%ymm15" ::
                     : "xmm14", "xmm15");
  T("8 fma", F8)
  T("8 fma + 4 vpermps", F8
    "vpermps %%ymm15,%%ymm14,%%ymm8\n vpermps %%ymm15,%%ymm14,%%ymm9\n vpermps "
    "%%ymm15,%%ymm14,%%ymm10\n vpermps %%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 8 vpermps", F8
    "vpermps %%ymm15,%%ymm14,%%ymm8\n vpermps %%ymm15,%%ymm14,%%ymm9\n vpermps "
    "%%ymm15,%%ymm14,%%ymm10\n vpermps %%ymm15,%%ymm14,%%ymm11\n vpermps %%ymm15,%%ymm14,%%ymm8\n "
    "vpermps %%ymm15,%%ymm14,%%ymm9\n vpermps %%ymm15,%%ymm14,%%ymm10\n vpermps "
    "%%ymm15,%%ymm14,%%ymm11\n")
  T("8 vpermps",
    "vpermps %%ymm15,%%ymm14,%%ymm8\n vpermps %%ymm15,%%ymm14,%%ymm9\n vpermps "
    "%%ymm15,%%ymm14,%%ymm10\n vpermps %%ymm15,%%ymm14,%%ymm11\n vpermps %%ymm15,%%ymm14,%%ymm8\n "
    "vpermps %%ymm15,%%ymm14,%%ymm9\n vpermps %%ymm15,%%ymm14,%%ymm10\n vpermps "
    "%%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 1 div", F8 "vdivps %%ymm15,%%ymm14,%%ymm8\n")
  T("16 fma + 1 div", F8 F8 "vdivps %%ymm15,%%ymm14,%%ymm8\n")
  T("4 div",
    "vdivps %%ymm15,%%ymm14,%%ymm8\n vdivps %%ymm15,%%ymm14,%%ymm9\n vdivps "
    "%%ymm15,%%ymm14,%%ymm10\n vdivps %%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 4 vaddps", F8
    "vaddps %%ymm15,%%ymm14,%%ymm8\n vaddps %%ymm15,%%ymm14,%%ymm9\n vaddps "
    "%%ymm15,%%ymm14,%%ymm10\n vaddps %%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 8 vaddps", F8
    "vaddps %%ymm15,%%ymm14,%%ymm8\n vaddps %%ymm15,%%ymm14,%%ymm9\n vaddps "
    "%%ymm15,%%ymm14,%%ymm10\n vaddps %%ymm15,%%ymm14,%%ymm11\n vaddps %%ymm15,%%ymm14,%%ymm12\n "
    "vaddps %%ymm15,%%ymm14,%%ymm13\n vaddps %%ymm15,%%ymm14,%%ymm10\n vaddps "
    "%%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 4 vminps", F8
    "vminps %%ymm15,%%ymm14,%%ymm8\n vminps %%ymm15,%%ymm14,%%ymm9\n vminps "
    "%%ymm15,%%ymm14,%%ymm10\n vminps %%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 4 vcmpps", F8
    "vcmpltps %%ymm15,%%ymm14,%%ymm8\n vcmpltps %%ymm15,%%ymm14,%%ymm9\n vcmpltps "
    "%%ymm15,%%ymm14,%%ymm10\n vcmpltps %%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 4 vpminud", F8
    "vpminud %%ymm15,%%ymm14,%%ymm8\n vpminud %%ymm15,%%ymm14,%%ymm9\n vpminud "
    "%%ymm15,%%ymm14,%%ymm10\n vpminud %%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 4 vpcmpgtd", F8
    "vpcmpgtd %%ymm15,%%ymm14,%%ymm8\n vpcmpgtd %%ymm15,%%ymm14,%%ymm9\n vpcmpgtd "
    "%%ymm15,%%ymm14,%%ymm10\n vpcmpgtd %%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 4 vandps", F8
    "vandps %%ymm15,%%ymm14,%%ymm8\n vandps %%ymm15,%%ymm14,%%ymm9\n vandps "
    "%%ymm15,%%ymm14,%%ymm10\n vandps %%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 4 vpaddd", F8
    "vpaddd %%ymm15,%%ymm14,%%ymm8\n vpaddd %%ymm15,%%ymm14,%%ymm9\n vpaddd "
    "%%ymm15,%%ymm14,%%ymm10\n vpaddd %%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 4 vpslld", F8
    "vpslld $3,%%ymm14,%%ymm8\n vpslld $3,%%ymm14,%%ymm9\n vpslld $3,%%ymm14,%%ymm10\n vpslld "
    "$3,%%ymm14,%%ymm11\n")
  T("8 fma + 4 vblendvps", F8
    "vblendvps %%ymm13,%%ymm15,%%ymm14,%%ymm8\n vblendvps %%ymm13,%%ymm15,%%ymm14,%%ymm9\n "
    "vblendvps %%ymm13,%%ymm15,%%ymm14,%%ymm10\n vblendvps %%ymm13,%%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 4 vmovmskps", F8
    "vmovmskps %%ymm14,%%eax\n vmovmskps %%ymm14,%%eax\n vmovmskps %%ymm14,%%eax\n vmovmskps "
    "%%ymm14,%%eax\n")
  T("8 fma + 4 vcvtps2dq", F8
    "vcvtps2dq %%ymm14,%%ymm8\n vcvtps2dq %%ymm14,%%ymm9\n vcvtps2dq %%ymm14,%%ymm10\n vcvtps2dq "
    "%%ymm14,%%ymm11\n")
  T("8 fma + 4 vrcpps", F8
    "vrcpps %%ymm14,%%ymm8\n vrcpps %%ymm14,%%ymm9\n vrcpps %%ymm14,%%ymm10\n vrcpps "
    "%%ymm14,%%ymm11\n")
  T("8 fma + 4 vroundps", F8
    "vroundps $1,%%ymm14,%%ymm8\n vroundps $1,%%ymm14,%%ymm9\n vroundps $1,%%ymm14,%%ymm10\n "
    "vroundps $1,%%ymm14,%%ymm11\n")
  T("8 vmulps",
    "vmulps %%ymm15,%%ymm14,%%ymm0\n vmulps %%ymm15,%%ymm14,%%ymm1\n vmulps "
    "%%ymm15,%%ymm14,%%ymm2\n vmulps %%ymm15,%%ymm14,%%ymm3\n vmulps %%ymm15,%%ymm14,%%ymm4\n "
    "vmulps %%ymm15,%%ymm14,%%ymm5\n vmulps %%ymm15,%%ymm14,%%ymm6\n vmulps "
    "%%ymm15,%%ymm14,%%ymm7\n")
  T("8 fma + 4 vpermilps", F8
    "vpermilps %%ymm15,%%ymm14,%%ymm8\n vpermilps %%ymm15,%%ymm14,%%ymm9\n vpermilps "
    "%%ymm15,%%ymm14,%%ymm10\n vpermilps %%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 8 vpermilps", F8
    "vpermilps %%ymm15,%%ymm14,%%ymm8\n vpermilps %%ymm15,%%ymm14,%%ymm9\n vpermilps "
    "%%ymm15,%%ymm14,%%ymm10\n vpermilps %%ymm15,%%ymm14,%%ymm11\n vpermilps "
    "%%ymm15,%%ymm14,%%ymm8\n vpermilps %%ymm15,%%ymm14,%%ymm9\n vpermilps "
    "%%ymm15,%%ymm14,%%ymm10\n vpermilps %%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 4 vpshufb", F8
    "vpshufb %%ymm15,%%ymm14,%%ymm8\n vpshufb %%ymm15,%%ymm14,%%ymm9\n vpshufb "
    "%%ymm15,%%ymm14,%%ymm10\n vpshufb %%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 4 vpermd", F8
    "vpermd %%ymm15,%%ymm14,%%ymm8\n vpermd %%ymm15,%%ymm14,%%ymm9\n vpermd "
    "%%ymm15,%%ymm14,%%ymm10\n vpermd %%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 4 vpsrld", F8
    "vpsrld $3,%%ymm14,%%ymm8\n vpsrld $3,%%ymm14,%%ymm9\n vpsrld $3,%%ymm14,%%ymm10\n vpsrld "
    "$3,%%ymm14,%%ymm11\n")
  T("8 fma + 4 vpsllvd", F8
    "vpsllvd %%ymm15,%%ymm14,%%ymm8\n vpsllvd %%ymm15,%%ymm14,%%ymm9\n vpsllvd "
    "%%ymm15,%%ymm14,%%ymm10\n vpsllvd %%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 4 vdivps", F8
    "vdivps %%ymm15,%%ymm14,%%ymm8\n vdivps %%ymm15,%%ymm14,%%ymm9\n vdivps "
    "%%ymm15,%%ymm14,%%ymm10\n vdivps %%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 4 vbroadcastss m", F8
    "vbroadcastss (%%rsp),%%ymm8\n vbroadcastss 4(%%rsp),%%ymm9\n vbroadcastss 8(%%rsp),%%ymm10\n "
    "vbroadcastss 12(%%rsp),%%ymm11\n")
  T("8 fma + 4 vpand", F8
    "vpand %%ymm15,%%ymm14,%%ymm8\n vpand %%ymm15,%%ymm14,%%ymm9\n vpand %%ymm15,%%ymm14,%%ymm10\n "
    "vpand %%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 4 vxorps", F8
    "vxorps %%ymm15,%%ymm14,%%ymm8\n vxorps %%ymm15,%%ymm14,%%ymm9\n vxorps "
    "%%ymm15,%%ymm14,%%ymm10\n vxorps %%ymm15,%%ymm14,%%ymm11\n")
  T("8 fma + 4 vpcmpeqd", F8
    "vpcmpeqd %%ymm15,%%ymm14,%%ymm8\n vpcmpeqd %%ymm15,%%ymm14,%%ymm9\n vpcmpeqd "
    "%%ymm15,%%ymm14,%%ymm10\n vpcmpeqd %%ymm15,%%ymm14,%%ymm11\n")
}
