// The tank plant (PHYSICS.md "One tank"): valve flow, RK4 level integration, limits and
// the valve actuator, as pure functions of one tank's values.
//
// Inline because the plant calls them once per tank per step in its hot loop; they use
// only correctly rounded operations (+ - * / sqrt, min/max) so vectorised and scalar
// code give identical bits.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "tank/params.hpp"

namespace tank {

// Status flag bits (Plant::flags).
constexpr uint32_t kFlagOverflowing = 1;  // level held at H, inflow spilling
constexpr uint32_t kFlagEmpty = 2;        // level at 0

// Flow coefficient c = k_v f(x) [m^2.5/s]; f(x) = x or R^(x - 1).
// An equal-percentage trim passes k_v / R at x = 0: real eq% valves leak when closed.
inline double valve_flow_coefficient(double kv, double x, int32_t characteristic,
                                     double rangeability) {
    if (characteristic == kEqualPercentage) return kv * std::pow(rangeability, x - 1.0);
    return kv * x;
}

struct LevelStep {
    double level;        // h after the step, not yet limited [m]
    double outlet_flow;  // RK4-weighted mean outlet flow over the step [m3/s]
};

// One classical RK4 step of dh/dt = (q_net - c sqrt(max(h, 0))) / A with the inputs held,
// given dt_over_area = dt / A [s/m2]. Written in flux form: the stage levels are RK4's
// (h + dt/2 k1, h + dt/2 k2, h + dt k3), and the update uses the same weighted mean
// outflow that is reported, so A (h_new - h) = dt (q_net - q_out) to rounding.
inline LevelStep integrate_level(double h, double c, double q_net, double dt_over_area) {
    const double half = 0.5 * dt_over_area;
    const double s1 = std::sqrt(std::max(h, 0.0));
    const double s2 = std::sqrt(std::max(h + half * (q_net - c * s1), 0.0));
    const double s3 = std::sqrt(std::max(h + half * (q_net - c * s2), 0.0));
    const double s4 = std::sqrt(std::max(h + dt_over_area * (q_net - c * s3), 0.0));
    const double q_out = c * (s1 + 2.0 * s2 + 2.0 * s3 + s4) * (1.0 / 6.0);
    return {h + dt_over_area * (q_net - q_out), q_out};
}

struct LimitedStep {
    double level;      // [m], in [0, H]
    double outlet;     // [m3/s]
    double overflow;   // [m3/s]
    double leak;       // effective leak [m3/s]
};

// Hold the level in [0, H] and account for the volume that the clamp removes or adds,
// so that A (h_new - h) = dt (q_in - outlet - overflow - leak) still holds:
// above H the excess leaves as overflow; below 0 the missing volume is taken off the
// outflows, outlet first, then the leak (neither below 0). area_over_dt = A / dt [m2/s].
// Branch-free (selects, min, max) so the compiler can vectorise the loop around it.
inline LimitedStep limit_level(double h_new, double q_out, double q_leak, double height,
                               double area_over_dt) {
    const double excess = std::max(h_new - height, 0.0);           // [m] above H
    const double deficit = std::max(-h_new, 0.0) * area_over_dt;   // [m3/s] below 0
    const double from_outlet = std::min(q_out, deficit);
    const double from_leak = std::min(q_leak, deficit - from_outlet);
    const double level = h_new > 0.0 ? std::min(h_new, height) : 0.0;
    return {level, q_out - from_outlet, excess * area_over_dt, q_leak - from_leak};
}

// Status flags of a limited step: overflowing iff the unlimited level was above H (then
// the overflow is > 0), empty iff it was at or below 0 (then the level is 0).
inline uint32_t level_flags(double level, double overflow) {
    return (overflow > 0.0 ? kFlagOverflowing : 0u) | (level > 0.0 ? 0u : kFlagEmpty);
}

// Valve actuator: first-order lag (alpha = 1 - exp(-dt/tau_v), 1 when tau_v = 0) then
// stroke-rate limit (max_step = rate dt, +inf when unlimited), then the travel [0, 1].
inline double move_valve(double x, double x_cmd, double alpha, bool lagged, double max_step) {
    const double target = lagged ? x + (x_cmd - x) * alpha : x_cmd;
    const double limited = std::clamp(target, x - max_step, x + max_step);
    return std::clamp(limited, 0.0, 1.0);
}

// Level transmitter (docs/faults.md): a 4-20 mA signal spanning 0..H. NE43 failure
// signals 3.5 mA (fail low) and 21.5 mA (fail high) and a wire break (0 mA) read as the
// level they map to: (3.5 - 4) / 16 H = -0.03125 H, (21.5 - 4) / 16 H = 1.09375 H and
// -4 / 16 H = -0.25 H (all exact in binary).
constexpr double kFailLowLevelFraction = -0.03125;
constexpr double kFailHighLevelFraction = 1.09375;
constexpr double kWireBreakLevelFraction = -0.25;
constexpr double kMaxLevelDrift = 1e3;  // [m] the drift offset is held within +-this

// Drift offset after one step: accumulates rate dt while the rate is non-zero, returns to
// 0 when the drift fault is switched off (rate 0).
inline double drift_offset(double offset, double rate, double dt) {
    const double moved = std::clamp(offset + rate * dt, -kMaxLevelDrift, kMaxLevelDrift);
    return rate != 0.0 ? moved : 0.0;
}

// What the transmitter reports: a failure signal's level, else the held value while
// frozen, else the fresh measurement.
inline double sensor_reading(double fresh, double held, bool frozen, int32_t fail, double height) {
    const double live = frozen ? held : fresh;
    const double fraction = fail == kFailLow    ? kFailLowLevelFraction
                            : fail == kFailHigh ? kFailHighLevelFraction
                                                : kWireBreakLevelFraction;
    const double failed = height * fraction;
    return fail == kFailNone ? live : failed;
}

// Lag factor of the actuator over one step; -expm1 keeps it exact when tau_v >> dt.
double valve_lag_factor(double dt, double time_constant);
// Largest move of the valve in one step [1]; +inf when the rate is unlimited (0).
double valve_max_step(double dt, double rate_limit);

}  // namespace tank
