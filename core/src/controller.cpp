// The controller's cold paths: bumpless transfer and bumpless retuning.
#include "tank/controller.hpp"

namespace tank {

double pid_back_calculate(const PidTuning& t, double valve_command, double e, double d,
                          double z) {
    if (!(t.integral_time > 0.0) || t.gain == 0.0) return z;
    // Solve valve_command = u_b + K_c (e + z / tau_I + tau_D d) for z.
    const double wanted = t.integral_time * ((valve_command - t.bias) / t.gain - e -
                                             t.derivative_time * d);
    return clamp_value(wanted, -t.integral_limit, t.integral_limit);
}

double pid_rescale_integral(const PidTuning& before, const PidTuning& after, double z) {
    if (!(after.integral_time > 0.0)) return 0.0;
    double scaled = z;
    if (before.integral_time > 0.0 && before.gain != 0.0 && after.gain != 0.0)
        scaled = z * (before.gain / after.gain) * (after.integral_time / before.integral_time);
    return clamp_value(scaled, -after.integral_limit, after.integral_limit);
}

}  // namespace tank
