// Per-tank constants of the plant model, computed when a parameter changes, not per step.
#include "tank/model.hpp"

#include <cmath>
#include <limits>

namespace tank {

double valve_lag_factor(double dt, double time_constant) {
    if (!(time_constant > 0.0)) return 1.0;
    return -std::expm1(-dt / time_constant);
}

double valve_max_step(double dt, double rate_limit) {
    if (!(rate_limit > 0.0)) return std::numeric_limits<double>::infinity();
    return rate_limit * dt;
}

}  // namespace tank
