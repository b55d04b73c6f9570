// The controller's cold path: bumpless retuning.
#include "tank/controller.hpp"

namespace tank {

double pid_rescale_integral(const PidTuning& before, const PidTuning& after, double z) {
    if (!(after.integral_time > 0.0)) return 0.0;
    double scaled = z;
    if (before.integral_time > 0.0 && before.gain != 0.0 && after.gain != 0.0)
        scaled = z * (before.gain / after.gain) * (after.integral_time / before.integral_time);
    return clamp_value(scaled, -after.integral_limit, after.integral_limit);
}

}  // namespace tank
