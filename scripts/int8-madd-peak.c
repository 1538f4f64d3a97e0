/* The int8 multiply-add ceilings of this x86 CPU, for the AVX2 int8 kernels' choices
 * (docs/design.md decision 24, docs/benchmarks.md): vpmaddwd on int16 (what the AVX2 kernels
 * use) against vpmaddubsw + vpmaddwd(ones) on u8 x s8 (what oneDNN and XNNPACK use without
 * VNNI), with fp32 FMA as the clock reference. Eight independent accumulators per loop.
 * Built for AVX-512 VNNI, it also measures vpdpbusd (u8 x s8 quads into int32, what the VNNI
 * kernels, oneDNN and XNNPACK use there) on 256- and 512-bit vectors, twelve accumulators, and
 * 512-bit fp32 FMAs (the AVX-512 float kernels' ceiling).
 * Build and run: cc -O2 -mavx2 -mfma scripts/int8-madd-peak.c -o /tmp/madd && /tmp/madd
 * (VNNI: clang -O2 -march=x86-64-v4 -mavx512vnni ...; gcc 12 moves the accumulators through
 * the stack in the 512-bit loop and measures half the rate). */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    __m256i a[8], w[8];
    __m256 f[8];
    for (int i = 0; i < 8; i++) {
        a[i] = _mm256_set1_epi32(i);
        w[i] = _mm256_set1_epi16((short)(i + 1));
        f[i] = _mm256_set1_ps((float)i);
    }
    __m256i v = _mm256_set1_epi16(5), ones = _mm256_set1_epi16(1);
    __m256 fv = _mm256_set1_ps(0.999f), fw = _mm256_set1_ps(1.0001f);
    const long n = 100000000;
    double t = now();
    for (long i = 0; i < n; i++) {
        __asm__ volatile("" : "+x"(fv));
#define FMA(k) f[k] = _mm256_fmadd_ps(fv, fw, f[k]);
        FMA(0) FMA(1) FMA(2) FMA(3) FMA(4) FMA(5) FMA(6) FMA(7)
    }
    double fma = n * 8 / (now() - t);
    t = now();
    for (long i = 0; i < n; i++) {
        __asm__ volatile("" : "+x"(v));
#define MADD(k) a[k] = _mm256_add_epi32(a[k], _mm256_madd_epi16(v, w[k]));
        MADD(0) MADD(1) MADD(2) MADD(3) MADD(4) MADD(5) MADD(6) MADD(7)
    }
    double madd = n * 8 / (now() - t);
    t = now();
    for (long i = 0; i < n; i++) {
        __asm__ volatile("" : "+x"(v));
#define UBS(k) a[k] = _mm256_add_epi32(a[k], _mm256_madd_epi16(_mm256_maddubs_epi16(v, w[k]), ones));
        UBS(0) UBS(1) UBS(2) UBS(3) UBS(4) UBS(5) UBS(6) UBS(7)
    }
    double ubs = n * 8 / (now() - t);
    __m256i s = a[0];
    __m256 fs = f[0];
    for (int k = 1; k < 8; k++) { s = _mm256_add_epi32(s, a[k]); fs = _mm256_add_ps(fs, f[k]); }
    printf("fp32 FMA (8 lanes):               %.2f G/s = %.1f GMAC/s (2 per cycle: clock ~%.2f GHz)\n",
           fma / 1e9, fma * 8 / 1e9, fma / 2e9);
    printf("vpmaddwd int16 (16 MACs):         %.2f G/s = %.1f GMAC/s (%.2f per cycle)\n",
           madd / 1e9, madd * 16 / 1e9, madd / (fma / 2));
    printf("vpmaddubsw + vpmaddwd (32 MACs):  %.2f G/s = %.1f GMAC/s (%.2f per cycle)\n",
           ubs / 1e9, ubs * 32 / 1e9, ubs / (fma / 2));
#ifdef __AVX512VNNI__
    __m256i d[12];
    __m512i e[12];
    for (int k = 0; k < 12; k++) {
        d[k] = _mm256_set1_epi32(k);
        e[k] = _mm512_set1_epi32(k);
    }
    __m256i u8 = _mm256_set1_epi8(3), s8 = _mm256_set1_epi8(5);
    __m512i u16 = _mm512_set1_epi8(3), s16 = _mm512_set1_epi8(5);
    t = now();
    for (long i = 0; i < n / 2; i++) {
        __asm__ volatile("" : "+x"(u8));
        for (int k = 0; k < 12; k++) d[k] = _mm256_dpbusd_epi32(d[k], u8, s8);
    }
    double dp256 = n / 2 * 12 / (now() - t);
    t = now();
    for (long i = 0; i < n / 2; i++) {
        __asm__ volatile("" : "+v"(u16));
        for (int k = 0; k < 12; k++) e[k] = _mm512_dpbusd_epi32(e[k], u16, s16);
    }
    double dp512 = n / 2 * 12 / (now() - t);
    for (int k = 1; k < 12; k++) {
        d[0] = _mm256_add_epi32(d[0], d[k]);
        e[0] = _mm512_add_epi32(e[0], e[k]);
    }
    printf("vpdpbusd 256-bit (32 MACs):       %.2f G/s = %.1f GMAC/s (%.2f per cycle)\n",
           dp256 / 1e9, dp256 * 32 / 1e9, dp256 / (fma / 2));
    printf("vpdpbusd 512-bit (64 MACs):       %.2f G/s = %.1f GMAC/s (%.2f per cycle)\n",
           dp512 / 1e9, dp512 * 64 / 1e9, dp512 / (fma / 2));
    s = _mm256_add_epi32(s, _mm256_add_epi32(d[0], _mm512_castsi512_si256(e[0])));
    /* The fp32 ceiling of the AVX-512 float kernels: 512-bit FMAs on twelve accumulators, as
     * many as the 6-pixel x 32-channel tile of Float/Conv2D.swift holds. */
    __m512 g[12];
    for (int k = 0; k < 12; k++) g[k] = _mm512_set1_ps((float)k);
    __m512 gv = _mm512_set1_ps(0.999f), gw = _mm512_set1_ps(1.0001f);
    t = now();
    for (long i = 0; i < n / 2; i++) {
        __asm__ volatile("" : "+v"(gv));
        for (int k = 0; k < 12; k++) g[k] = _mm512_fmadd_ps(gv, gw, g[k]);
    }
    double fma512 = n / 2 * 12 / (now() - t);
    for (int k = 1; k < 12; k++) g[0] = _mm512_add_ps(g[0], g[k]);
    printf("fp32 FMA 512-bit (16 MACs):       %.2f G/s = %.1f GMAC/s = %.1f GFLOP/s\n",
           fma512 / 1e9, fma512 * 16 / 1e9, fma512 * 32 / 1e9);
    fs = _mm256_add_ps(fs, _mm512_castps512_ps256(g[0]));
#endif
    printf("(checksums %d %f)\n", _mm256_extract_epi32(s, 0), (double)fs[0]);
    return 0;
}
