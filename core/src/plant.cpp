// Plant construction, commands and parameter access. The step itself is in
// plant_step.cpp, save/load in plant_state.cpp.
#include "tank/plant.hpp"

#include <cmath>
#include <string>

#include "tank/controller.hpp"
#include "tank/model.hpp"
#include "tank/rng.hpp"

namespace tank {
namespace {

std::string tank_prefix(int64_t tank) { return "tank " + std::to_string(tank) + ": "; }

PidTuning tuning_of(const TankParams& p) {
    return {p.gain,           p.integral_time,  reciprocal_or_zero(p.integral_time),
            p.derivative_time, p.bias,          p.output_min,
            p.output_max,      p.integral_limit};
}

}  // namespace

Status Plant::validate(const std::vector<TankParams>& tanks, double dt) {
    if (!std::isfinite(dt) || dt < kMinDt || dt > kMaxDt)
        return Status::error("dt: must be within [" + format_bound(kMinDt) + ", " +
                             format_bound(kMaxDt) + "] s (got " + format_repr(dt) + ")");
    if (tanks.empty()) return Status::error("tanks: must contain at least one tank");
    for (std::size_t i = 0; i < tanks.size(); ++i) {
        Status s = tank::validate(tanks[i]);
        if (!s) return s.prefixed(tank_prefix(static_cast<int64_t>(i)));
    }
    return {};
}

Plant::Plant(std::vector<TankParams> tanks, double dt)
    : configured_(std::move(tanks)), dt_(dt), store_(configured_.size(), kColumnCount) {
    for (std::size_t i = 0; i < size(); ++i) initialise(i);
}

Status Plant::check_tank(int64_t tank) const {
    if (tank >= 0 && static_cast<uint64_t>(tank) < size()) return {};
    return Status::error(tank_prefix(tank) + "no such tank (plant has " +
                         std::to_string(size()) + ")");
}

TankParams Plant::gather(std::size_t i) const {
    TankParams p = configured_[i];  // the seed is only kept here
    for (int f = 0; f < kFloatParamCount; ++f) set_float(p, f, float_param(f)[i]);
    for (int f = 0; f < kIntParamCount; ++f) set_int(p, f, int_param(f)[i]);
    return p;
}

void Plant::scatter(std::size_t i, const TankParams& p) {
    count_features(i, -1);
    for (int f = 0; f < kFloatParamCount; ++f) fp(f)[i] = get_float(p, f);
    for (int f = 0; f < kIntParamCount; ++f) ip(f)[i] = get_int(p, f);
    count_features(i, +1);
}

// Add (sign +1) or remove (-1) tank i's share of the feature counts.
void Plant::count_features(std::size_t i, int sign) {
    const auto share = [sign](bool has) { return has ? static_cast<std::size_t>(sign) : 0; };
    noisy_tanks_ += share(fp(kNoiseStd)[i] > 0.0);
    brownian_tanks_ += share(ip(kDisturbanceParam)[i] == kBrownian);
    equal_percentage_tanks_ += share(ip(kValveCharacteristicParam)[i] == kEqualPercentage);
    failed_sensor_tanks_ +=
        share(ip(kLevelFreezeParam)[i] != 0 || ip(kLevelFailParam)[i] != kFailNone);
}

void Plant::refresh_derived(std::size_t i) {
    const double area = fp(kArea)[i];
    derived(kValveFlow)[i] = valve_flow_coefficient(fp(kValveCoefficient)[i],
                                                    st(kValvePosition)[i],
                                                    ip(kValveCharacteristicParam)[i],
                                                    fp(kRangeability)[i]);
    const double slow = fp(kValveSlowTimeConstant)[i];  // the valve-slow fault's lag
    derived(kValveAlpha)[i] = valve_lag_factor(dt_, slow > 0.0 ? slow : fp(kValveTimeConstant)[i]);
    derived(kValveMaxStep)[i] = valve_max_step(dt_, fp(kValveRateLimit)[i]);
    derived(kDtOverArea)[i] = dt_ / area;
    derived(kAreaOverDt)[i] = area / dt_;
    derived(kIntegralRate)[i] = reciprocal_or_zero(fp(kIntegralTime)[i]);
    for (int f = 0; f < kIntParamCount; ++f)
        store_.column<double>(kIntMirrorBase + f)[i] = static_cast<double>(ip(f)[i]);
}

// The configured initial state (PHYSICS.md defaults): measurement without noise, derivative
// not yet primed, and in AUTO a pending bumpless transfer so the first step starts from x0.
void Plant::initialise(std::size_t i) {
    const TankParams& p = configured_[i];
    scatter(i, p);
    const double fresh = p.initial_level + p.measurement_bias;
    const double measured = sensor_reading(fresh, fresh, false, p.level_fail, p.height);
    const double error = p.setpoint - measured;
    st(kLevelTrue)[i] = p.initial_level;
    st(kLevel)[i] = measured;
    st(kOutletFlow)[i] = st(kOverflowFlow)[i] = st(kEffectiveLeak)[i] = 0.0;
    st(kValveCommand)[i] = st(kValvePosition)[i] = st(kControllerOutput)[i] = p.initial_valve;
    st(kError)[i] = st(kPrevError)[i] = error;
    st(kPrevMeasurement)[i] = measured;
    st(kIntegral)[i] = 0.0;
    st(kLevelDrift)[i] = 0.0;
    st(kInletRestore)[i] = p.inlet_flow;
    if (p.inlet_trip) fp(kInletFlow)[i] = 0.0;
    flags_mut()[i] = p.initial_level > 0.0 ? 0 : kFlagEmpty;
    ctl()[i] = p.mode == kAuto ? kCtlBumplessPending : 0;
    noise_rng()[i] = p.seed;
    disturbance_rng()[i] = p.seed ^ kDisturbanceSeedXor;
    refresh_derived(i);
}

// Validate one changed parameter on a copy of the tank's parameters, then store it.
Status Plant::apply_param(std::size_t i, const ParamInfo& info, double value) {
    const TankParams before = gather(i);
    TankParams after = before;
    if (info.ref.kind == ParamKind::kInt) {
        Status s = validate_int_value(info.ref.index, value);
        if (!s) return s;
        set_int(after, info.ref.index, static_cast<int32_t>(value));
    } else {
        set_float(after, info.ref.index, value);
        Status s = validate_param(after, info);
        if (!s) return s;
    }
    scatter(i, after);
    after_change(i, before, after);
    return {};
}

// Consequences of a parameter change for the dynamic state.
void Plant::after_change(std::size_t i, const TankParams& before, const TankParams& after) {
    refresh_derived(i);
    double& z = st(kIntegral)[i];
    z = pid_rescale_integral(tuning_of(before), tuning_of(after), z);
    if (before.mode != kAuto && after.mode == kAuto) ctl()[i] |= kCtlBumplessPending;
    // Inlet pump trip: the inlet drops to 0 and comes back to what it was.
    if (!before.inlet_trip && after.inlet_trip) {
        st(kInletRestore)[i] = fp(kInletFlow)[i];
        fp(kInletFlow)[i] = 0.0;
    } else if (before.inlet_trip && !after.inlet_trip) {
        fp(kInletFlow)[i] = st(kInletRestore)[i];
    }
}

Status Plant::command(int64_t tank, const char* field, double value) {
    Status s = check_tank(tank);
    if (!s) return s;
    s = apply_param(static_cast<std::size_t>(tank), *find_param(field), value);
    return s.prefixed(tank_prefix(tank));
}

Status Plant::set_setpoint(int64_t tank, double value) {
    return command(tank, "setpoint", value);
}

// While the inlet pump is tripped the new flow is kept for when the trip ends.
Status Plant::set_inlet_flow(int64_t tank, double value) {
    Status s = check_tank(tank);
    if (!s) return s;
    const auto i = static_cast<std::size_t>(tank);
    if (!ip(kInletTripParam)[i]) return command(tank, "inlet_flow", value);
    TankParams p = gather(i);
    p.inlet_flow = value;
    s = validate_param(p, *find_param("inlet_flow"));
    if (!s) return s.prefixed(tank_prefix(tank));
    st(kInletRestore)[i] = value;
    return {};
}

Status Plant::set_mode(int64_t tank, int64_t mode) {
    Status s = check_tank(tank);
    if (!s) return s;
    s = validate_int_value(kModeParam, mode);
    if (!s) return s.prefixed(tank_prefix(tank));
    return command(tank, "mode", static_cast<double>(mode));
}

// Operator/PLC command; in AUTO the PID overwrites it at the next step (no effect).
Status Plant::set_valve_command(int64_t tank, double value) {
    Status s = check_tank(tank);
    if (!s) return s;
    if (!std::isfinite(value) || value < 0.0 || value > 1.0)
        return Status::error(tank_prefix(tank) + "valve_command: must be " +
                             (std::isfinite(value) ? "within [0, 1]" : "finite") + " (got " +
                             format_repr(value) + ")");
    const auto i = static_cast<std::size_t>(tank);
    st(kValveCommand)[i] = value;
    if (ip(kModeParam)[i] != kAuto) st(kControllerOutput)[i] = value;
    return {};
}

Status Plant::set_param(int64_t tank, std::string_view field, double value) {
    Status s = check_tank(tank);
    if (!s) return s;
    const std::string prefix = tank_prefix(tank) + std::string(field) + ": ";
    const auto info = find_param(field);
    if (!info) return Status::error(prefix + "no such parameter");
    if (info->access == ParamAccess::kStructural)
        return Status::error(prefix + "cannot be changed at runtime");
    if (info->access == ParamAccess::kCommand)
        return Status::error(prefix + "cannot be changed with set_param (use set_" +
                             std::string(field) + ")");
    s = apply_param(static_cast<std::size_t>(tank), *info, value);
    return s.prefixed(tank_prefix(tank));
}

Status Plant::reset(int64_t tank) {
    if (tank == -1) {
        for (std::size_t i = 0; i < size(); ++i) initialise(i);
        return {};
    }
    Status s = check_tank(tank);
    if (s) initialise(static_cast<std::size_t>(tank));
    return s;
}

Status Plant::params(int64_t tank, TankParams& out) const {
    Status s = check_tank(tank);
    if (s) out = gather(static_cast<std::size_t>(tank));
    return s;
}

}  // namespace tank
