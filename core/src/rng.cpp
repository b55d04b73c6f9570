// Box-Muller transform (out of line: it is only called for noisy or Brownian tanks).
#include "tank/rng.hpp"

#include <cmath>

namespace tank {

double standard_normal(uint64_t& state) {
    constexpr double kTwoPi = 6.283185307179586;
    const double u1 = uniform01(state);
    const double u2 = uniform01(state);
    return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(kTwoPi * u2);
}

}  // namespace tank
