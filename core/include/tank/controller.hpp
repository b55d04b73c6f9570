// The level controller (PHYSICS.md "Level controller"): an ideal-form PID with
// conditional-integration anti-windup, an integral clamp and bumpless transfer.
//
//     u = u_b + K_c (e + z / tau_I + tau_D d),    x_cmd = clamp(u, u_min, u_max)
//
// z is the integral of the error [m s]; tau_I = 0 disables it (z held at 0).
// The per-step functions are inline and free of branches (bitwise &, |, selects, min,
// max): the plant evaluates them for a block of tanks in one loop that vectorises.
#pragma once

#include <algorithm>

namespace tank {

struct PidTuning {
    double gain;            // K_c [1/m]
    double integral_time;   // tau_I [s], 0 = off
    double integral_rate;   // 1 / tau_I [1/s], 0 when off
    double derivative_time; // tau_D [s]
    double bias;            // u_b [1]
    double output_min;      // u_min [1]
    double output_max;      // u_max [1]
    double integral_limit;  // z_max [m s]
};

// 1 / v, or 0 for v = 0 (the reciprocals spare the step its divisions).
inline double reciprocal_or_zero(double v) { return v != 0.0 ? 1.0 / v : 0.0; }

inline double clamp_value(double v, double lo, double hi) { return std::min(std::max(v, lo), hi); }

// Input of the derivative term [m/s]: minus the rate of the measurement (no kick on a
// setpoint step) or the rate of the error; 0 until a previous value exists.
inline double pid_derivative(bool on_error, bool primed, double measured, double prev_measured,
                             double e, double prev_e, double inv_dt) {
    const double d = on_error ? (e - prev_e) * inv_dt : -(measured - prev_measured) * inv_dt;
    return primed ? d : 0.0;
}

// Unclamped controller output for error e [m], integral z [m s], derivative d [m/s].
inline double pid_output(const PidTuning& t, double e, double z, double d) {
    return t.bias + t.gain * (e + z * t.integral_rate + t.derivative_time * d);
}

// Integrate the error over one step unless the output is already saturated in the
// direction the error pushes it (conditional integration), then clamp |z| <= z_max.
inline double pid_integrate(const PidTuning& t, double e, double z, double d, double dt) {
    const double u = pid_output(t, e, z, d);
    const double push = t.gain * e;  // sign of the integral's effect on u
    const bool winding = ((u > t.output_max) & (push > 0.0)) | ((u < t.output_min) & (push < 0.0));
    const double next = clamp_value(winding ? z : z + e * dt, -t.integral_limit, t.integral_limit);
    return t.integral_time > 0.0 ? next : 0.0;
}

inline double pid_clamp_output(const PidTuning& t, double u) {
    return clamp_value(u, t.output_min, t.output_max);
}

// Bumpless transfer: the integral for which pid_output(e, z, d) equals the valve command
// already in force, clamped to +-z_max. Without integral action or with K_c = 0 there is
// nothing to adjust and z is returned unchanged.
double pid_back_calculate(const PidTuning& t, double valve_command, double e, double d,
                          double z);

// Integral after a tuning change, keeping the integral's share of the output,
// K_c z / tau_I, unchanged (bumpless retuning). Integral action switched off -> 0.
double pid_rescale_integral(const PidTuning& before, const PidTuning& after, double z);

}  // namespace tank
