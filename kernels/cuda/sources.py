"""CUDA C++ sources of the custom kernels, as strings (compiled by CuPy's RawModule at first use).

Every kernel is ``extern "C"`` so its name survives compilation, loops grid-stride so any launch
size is correct, and reports non-finite input through a counter instead of a separate pass.
Rounding is ``rintf`` (half to even, as ``numpy.rint``) and division is IEEE ``/`` (no fast-math),
so deterministic quantization codes are bit-identical to the NumPy path.
"""

from __future__ import annotations

# Block reductions shared by the kernels below: warp shuffles, then one warp over the warp results.
REDUCE_SRC = r"""
template <typename T> __device__ __forceinline__ T warp_sum(T v) {
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, off));
    return v;
}
// Sum over the block; the result is valid in thread 0. blockDim.x must be a multiple of 32.
template <typename T> __device__ T block_sum(T v, T* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = (threadIdx.x < warps) ? scratch[lane] : T(0);
    return warp == 0 ? warp_sum(v) : T(0);
}
__device__ float block_max(float v, float* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = (threadIdx.x < warps) ? scratch[lane] : 0.0f;
    return warp == 0 ? warp_max(v) : 0.0f;
}
"""

# Per-group |x| statistics (max and sum) in one read; a group may span several blocks ("chunks").
# absmax and abssum must be zeroed by the caller; |x| >= 0, so its bits order like ints.
QUANTIZE_SRC = (
    REDUCE_SRC
    + r"""
extern "C" __global__ void group_abs_stats_f32(
        const float* __restrict__ x, long long n_groups, long long group_len, long long chunk_len,
        float* __restrict__ absmax, double* __restrict__ abssum,
        unsigned long long* __restrict__ nonfinite) {
    __shared__ float smax[32];
    __shared__ double ssum[32];
    __shared__ unsigned long long sbad[32];
    const long long chunks = (group_len + chunk_len - 1) / chunk_len;
    for (long long block = blockIdx.x; block < n_groups * chunks; block += gridDim.x) {
        const long long group = block / chunks;
        const long long start = (block % chunks) * chunk_len;
        const long long stop = min(start + chunk_len, group_len);
        const float* base = x + group * group_len;
        float m = 0.0f;
        double s = 0.0;
        unsigned long long bad = 0;
        for (long long i = start + threadIdx.x; i < stop; i += blockDim.x) {
            const float v = base[i];
            const bool ok = isfinite(v);
            const float a = ok ? fabsf(v) : 0.0f;
            bad += ok ? 0ull : 1ull;
            m = fmaxf(m, a);
            s += (double)a;
        }
        m = block_max(m, smax);
        s = block_sum(s, ssum);
        bad = block_sum(bad, sbad);
        if (threadIdx.x == 0) {
            atomicMax(reinterpret_cast<int*>(absmax + group), __float_as_int(m));
            atomicAdd(abssum + group, s);
            if (bad) atomicAdd(nonfinite, bad);
        }
    }
}

// One output byte per thread: per_byte = 8 / bits consecutive elements of one row, element p in
// bits [p*bits, (p+1)*bits). Codes: bits 8 -> int8 two's complement, 4 -> int4 two's complement
// nibble, 2 -> ternary t + 1 in {0, 1, 2}. Rows are padded with zeros to whole bytes.
// stochastic == 0 rounds half to even (noise unread); otherwise floor(x/s + u), u = noise.
extern "C" __global__ void quantize_pack_f32(
        const float* __restrict__ x, const float* __restrict__ scale,
        const float* __restrict__ noise, unsigned char* __restrict__ out,
        long long rows, long long row_len, long long out_row_len, long long group_len,
        int qmax, int bits, int stochastic) {
    const int per_byte = 8 / bits;
    const unsigned int mask = (1u << bits) - 1u;
    const long long total = rows * out_row_len;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
        const long long r = t / out_row_len, j = t % out_row_len;
        unsigned int byte = 0;
        for (int p = 0; p < per_byte; ++p) {
            const long long k = j * per_byte + p;
            int q = 0;
            if (k < row_len) {
                const long long flat = r * row_len + k;
                const float s = scale[flat / group_len];
                const float v = s > 0.0f ? x[flat] / s : 0.0f;
                const float rounded = stochastic ? floorf(v + noise[flat]) : rintf(v);
                q = (int)fminf(fmaxf(rounded, (float)-qmax), (float)qmax);
            }
            const unsigned int code = bits == 2 ? (unsigned int)(q + 1) : ((unsigned int)q & mask);
            byte |= code << (p * bits);
        }
        out[t] = (unsigned char)byte;
    }
}

// Single-pass quantize+pack for groups that fit in shared memory (per group of 128, per channel):
// one block per group stages it in shared memory while reducing max|x| / Σ|x|, then packs from
// there, so the input is read from global memory once. A group must not straddle rows, and its
// bytes must not straddle groups (group_len % per_byte == 0, or the group is the whole row).
extern "C" __global__ void fused_quantize_pack_f32(
        const float* __restrict__ x, const float* __restrict__ noise, float* __restrict__ scale,
        unsigned char* __restrict__ out, long long n_groups, int group_len, long long row_len,
        long long out_row_len, int qmax, int bits, int stochastic, int use_mean,
        unsigned long long* __restrict__ nonfinite) {
    extern __shared__ float tile[];  // [group_len]
    __shared__ float smax[32];
    __shared__ double ssum[32];
    __shared__ unsigned long long sbad[32];
    __shared__ float s_scale;
    const int per_byte = 8 / bits;
    const unsigned int mask = (1u << bits) - 1u;
    const int group_bytes = (group_len + per_byte - 1) / per_byte;
    for (long long g = blockIdx.x; g < n_groups; g += gridDim.x) {
        const long long first = g * (long long)group_len;
        float m = 0.0f;
        double s = 0.0;
        unsigned long long bad = 0;
        for (int i = threadIdx.x; i < group_len; i += blockDim.x) {
            const float v = x[first + i];
            const bool ok = isfinite(v);
            const float a = ok ? fabsf(v) : 0.0f;
            bad += ok ? 0ull : 1ull;
            m = fmaxf(m, a);
            s += (double)a;
            tile[i] = v;
        }
        m = block_max(m, smax);
        s = block_sum(s, ssum);
        bad = block_sum(bad, sbad);
        if (threadIdx.x == 0) {
            const float sc = use_mean ? (float)(s / (double)group_len) : m / (float)qmax;
            scale[g] = sc;
            s_scale = sc;
            if (bad) atomicAdd(nonfinite, bad);
        }
        __syncthreads();
        const float sc = s_scale;
        unsigned char* dst = out + (first / row_len) * out_row_len + (first % row_len) / per_byte;
        for (int b = threadIdx.x; b < group_bytes; b += blockDim.x) {
            unsigned int byte = 0;
            for (int p = 0; p < per_byte; ++p) {
                const int k = b * per_byte + p;
                int q = 0;
                if (k < group_len) {
                    const float v = sc > 0.0f ? tile[k] / sc : 0.0f;
                    const float rounded = stochastic ? floorf(v + noise[first + k]) : rintf(v);
                    q = (int)fminf(fmaxf(rounded, (float)-qmax), (float)qmax);
                }
                const unsigned int code =
                    bits == 2 ? (unsigned int)(q + 1) : ((unsigned int)q & mask);
                byte |= code << (p * bits);
            }
            dst[b] = (unsigned char)byte;
        }
        __syncthreads();  // tile and s_scale are reused by the block's next group
    }
}

// Inverse of quantize_pack_f32 fused with the scaling: one packed byte per thread, per_byte floats
// out. A ternary field 0b11 is invalid: counted in invalid[0] (the output gets 0 there).
extern "C" __global__ void unpack_dequantize_f32(
        const unsigned char* __restrict__ packed, const float* __restrict__ scale,
        float* __restrict__ out, long long rows, long long row_len, long long packed_row_len,
        long long group_len, int bits, unsigned long long* __restrict__ invalid) {
    const int per_byte = 8 / bits;
    const long long total = rows * packed_row_len;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
        const long long r = t / packed_row_len, j = t % packed_row_len;
        const unsigned int byte = packed[t];
        for (int p = 0; p < per_byte; ++p) {
            const long long k = j * per_byte + p;
            if (k >= row_len) break;
            const unsigned int field = (byte >> (p * bits)) & ((1u << bits) - 1u);
            int q;
            if (bits == 8) q = (int)(signed char)field;
            else if (bits == 4) q = (int)field - (field >= 8u ? 16 : 0);
            else {
                q = (int)field - 1;
                if (field == 3u) { atomicAdd(invalid, 1ull); q = 0; }
            }
            const long long flat = r * row_len + k;
            out[flat] = (float)q * scale[flat / group_len];
        }
    }
}
"""
)

# Phase alignment and fidelity, one block per state: one read to reduce <r, psi>, |psi|^2 and
# |r|^2 (accumulated in double), then one write of psi * exp(-i arg<r, psi>). ref_stride is 0 when
# every state shares one reference. flags[0] counts non-finite values, flags[1] zero-norm states.
PHASE_SRC = (
    REDUCE_SRC
    + r"""
template <typename R, typename C>
__device__ void phase_align_row(const C* __restrict__ psi, const C* __restrict__ ref, long long n,
                                C* __restrict__ out, R* __restrict__ fidelity,
                                unsigned long long* __restrict__ flags, long long row) {
    __shared__ double scratch[32];
    __shared__ unsigned long long sbad[32];
    __shared__ double rot[2];
    double re = 0.0, im = 0.0, npsi = 0.0, nref = 0.0;
    unsigned long long bad = 0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        const C a = ref[i], b = psi[i];
        const bool ok = isfinite((double)a.x) && isfinite((double)a.y)
                     && isfinite((double)b.x) && isfinite((double)b.y);
        bad += ok ? 0ull : 1ull;
        re += (double)a.x * b.x + (double)a.y * b.y;   // conj(r) * psi
        im += (double)a.x * b.y - (double)a.y * b.x;
        npsi += (double)b.x * b.x + (double)b.y * b.y;
        nref += (double)a.x * a.x + (double)a.y * a.y;
    }
    re = block_sum(re, scratch);
    im = block_sum(im, scratch);
    npsi = block_sum(npsi, scratch);
    nref = block_sum(nref, scratch);
    bad = block_sum(bad, sbad);
    if (threadIdx.x == 0) {
        const double mag = hypot(re, im);
        rot[0] = mag > 0.0 ? re / mag : 1.0;   // exp(-i theta) = cos(theta) - i sin(theta)
        rot[1] = mag > 0.0 ? im / mag : 0.0;
        const double norms = npsi * nref;
        fidelity[row] = norms > 0.0 ? (R)(mag * mag / norms) : R(0);
        if (bad) atomicAdd(flags, bad);
        if (!(norms > 0.0)) atomicAdd(flags + 1, 1ull);
    }
    __syncthreads();
    const R c = (R)rot[0], s = (R)rot[1];
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        const C b = psi[i];
        C o;
        o.x = b.x * c + b.y * s;
        o.y = b.y * c - b.x * s;
        out[i] = o;
    }
}

#define PHASE_ALIGN_KERNEL(NAME, R, C)                                                          \
extern "C" __global__ void NAME(const C* __restrict__ psi, const C* __restrict__ ref,          \
                                long long rows, long long n, long long ref_stride,             \
                                C* __restrict__ out, R* __restrict__ fidelity,                 \
                                unsigned long long* __restrict__ flags) {                      \
    for (long long row = blockIdx.x; row < rows; row += gridDim.x) {                           \
        phase_align_row<R, C>(psi + row * n, ref + row * ref_stride, n, out + row * n,         \
                              fidelity, flags, row);                                           \
        __syncthreads();                                                                       \
    }                                                                                          \
}

PHASE_ALIGN_KERNEL(phase_align_c64, float, float2)
PHASE_ALIGN_KERNEL(phase_align_c128, double, double2)
"""
)

# Syndromes s = H e mod 2 of a batch of binary words. The block stages H and its tile of words in
# shared memory (coalesced loads), then each thread reduces one word: syndrome bits and their
# integer index (bit c = check c, for the lookup table). Words are 0/1 bytes; m <= 63.
SYNDROME_SRC = r"""
extern "C" __global__ void syndrome_u8(
        const unsigned char* __restrict__ checks, const unsigned char* __restrict__ words,
        long long batch, int m, int n, unsigned char* __restrict__ syndrome,
        long long* __restrict__ index) {
    extern __shared__ unsigned char smem[];
    unsigned char* h = smem;                 // [m, n]
    unsigned char* tile = smem + m * n;      // [blockDim.x, n]
    for (int i = threadIdx.x; i < m * n; i += blockDim.x) h[i] = checks[i] & 1u;
    for (long long first = (long long)blockIdx.x * blockDim.x; first < batch;
         first += (long long)gridDim.x * blockDim.x) {
        const long long rows = min((long long)blockDim.x, batch - first);
        __syncthreads();
        for (long long i = threadIdx.x; i < rows * n; i += blockDim.x)
            tile[i] = words[first * n + i] & 1u;
        __syncthreads();
        if (threadIdx.x < rows) {
            const unsigned char* e = tile + threadIdx.x * n;
            const long long b = first + threadIdx.x;
            long long idx = 0;
            for (int c = 0; c < m; ++c) {
                unsigned int parity = 0;
                for (int j = 0; j < n; ++j) parity ^= h[c * n + j] & e[j];
                syndrome[b * m + c] = (unsigned char)parity;
                idx |= (long long)parity << c;
            }
            index[b] = idx;
        }
    }
}
"""

ALL_SOURCES: dict[str, str] = {
    "quantize": QUANTIZE_SRC,
    "phase": PHASE_SRC,
    "syndrome": SYNDROME_SRC,
}

KERNEL_NAMES: dict[str, tuple[str, ...]] = {
    "quantize": (
        "group_abs_stats_f32",
        "quantize_pack_f32",
        "fused_quantize_pack_f32",
        "unpack_dequantize_f32",
    ),
    "phase": ("phase_align_c64", "phase_align_c128"),
    "syndrome": ("syndrome_u8",),
}
