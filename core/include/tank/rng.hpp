// Per-tank random numbers: splitmix64 (Steele, Lea, Flood 2014) and Box-Muller normals.
//
// The state is a single uint64 kept in the plant's arrays, so generators are saved,
// restored and reseeded like any other state. The algorithm is simple enough for the
// Python reference to reproduce it exactly.
#pragma once

#include <cstdint>

namespace tank {

constexpr uint64_t kSplitmixIncrement = 0x9E3779B97F4A7C15ULL;  // golden-ratio increment
// Offsets the disturbance generator from the noise generator of the same seed.
constexpr uint64_t kDisturbanceSeedXor = 0xD1B54A32D192ED03ULL;

inline uint64_t splitmix64_next(uint64_t& state) {
    state += kSplitmixIncrement;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// Uniform in [0, 1) with 53 random bits.
inline double uniform01(uint64_t& state) {
    constexpr double kTwoPowMinus53 = 1.0 / 9007199254740992.0;
    return static_cast<double>(splitmix64_next(state) >> 11) * kTwoPowMinus53;
}

// Standard normal from two uniforms (u1 then u2), one normal per call, no caching:
// sqrt(-2 ln(1 - u1)) cos(2 pi u2). 1 - u1 is in (0, 1], so the log is finite.
double standard_normal(uint64_t& state);

}  // namespace tank
