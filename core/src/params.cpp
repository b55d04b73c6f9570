// Parameter table, field access by index, and validation ranges.
//
// The upper bounds are sanity limits, far outside any real tank, chosen so that no
// combination of valid parameters can overflow a double inside one step (dt <= 10 s):
// that is what lets step() promise never to produce NaN or Inf.
#include "tank/params.hpp"

#include <cmath>
#include <string>

namespace tank {
namespace {

constexpr double kMaxFlow = 1e4;        // [m3/s] inlet, leak, disturbance bounds
constexpr double kMaxTime = 1e6;        // [s] controller and valve time constants
constexpr double kMaxLevelOffset = 1e3; // [m] measurement bias and noise
constexpr double kMinGain = 1e-9;       // [1/m] smallest non-zero |K_c|
constexpr double kMaxDriftRate = 1.0;   // [m/s] sensor drift rate

// Allowed interval of one float parameter.
struct Range {
    double lo;
    double hi;
    bool lo_open;        // lo itself is excluded ("must be > lo")
    double floor;        // smallest accepted value once above lo (e.g. area >= 1e-4)
    bool zero_allowed;   // 0 is accepted even though it is below floor (tau_I = 0: off)
    bool two_sided;      // report violations as "must be within [lo, hi]"
    const char* unit;
};

constexpr double kNone = -1e300;  // no floor

// Indexed by FloatParam.
const Range kRanges[kFloatParamCount] = {
    /* area */                {0.0, 1e6, true, 1e-4, false, false, "m2"},
    /* height */              {0.0, 1e3, true, 1e-3, false, false, "m"},
    /* valve_coefficient */   {0.0, 1e4, true, kNone, false, false, "m^2.5/s"},
    /* rangeability */        {1.0, 1e4, true, kNone, false, false, ""},
    /* valve_time_constant */ {0.0, kMaxTime, false, kNone, false, false, "s"},
    /* valve_rate_limit */    {0.0, 1e6, false, kNone, false, false, "1/s"},
    /* initial_level */       {0.0, 0.0, false, kNone, false, true, "m"},  // hi = height
    /* setpoint */            {0.0, 0.0, false, kNone, false, true, "m"},  // hi = height
    /* inlet_flow */          {0.0, kMaxFlow, false, kNone, false, false, "m3/s"},
    /* initial_valve */       {0.0, 1.0, false, kNone, false, true, ""},
    /* gain */                {-1e6, 1e6, false, kNone, false, true, "1/m"},
    /* integral_time */       {0.0, kMaxTime, false, 1e-3, true, false, "s"},
    /* derivative_time */     {0.0, kMaxTime, false, kNone, false, false, "s"},
    /* bias */                {-1e3, 1e3, false, kNone, false, true, ""},
    /* output_min */          {0.0, 1.0, false, kNone, false, true, ""},
    /* output_max */          {0.0, 1.0, false, kNone, false, true, ""},
    /* integral_limit */      {0.0, 1e6, true, kNone, false, false, "m s"},
    /* noise_std */           {0.0, kMaxLevelOffset, false, kNone, false, false, "m"},
    /* measurement_bias */    {-kMaxLevelOffset, kMaxLevelOffset, false, kNone, false, true, "m"},
    /* disturbance_sigma */   {0.0, kMaxFlow, false, kNone, false, false, "m3/s"},
    /* disturbance_min */     {0.0, kMaxFlow, false, kNone, false, false, "m3/s"},
    /* disturbance_max */     {0.0, kMaxFlow, false, kNone, false, false, "m3/s"},
    /* leak_flow */           {0.0, kMaxFlow, false, kNone, false, false, "m3/s"},
    /* level_drift_rate */    {-kMaxDriftRate, kMaxDriftRate, false, kNone, false, true, "m/s"},
    /* valve_slow_time_constant */ {0.0, kMaxTime, false, kNone, false, false, "s"},
};

double TankParams::* const kFloatMembers[kFloatParamCount] = {
    &TankParams::area, &TankParams::height, &TankParams::valve_coefficient,
    &TankParams::rangeability, &TankParams::valve_time_constant, &TankParams::valve_rate_limit,
    &TankParams::initial_level, &TankParams::setpoint, &TankParams::inlet_flow,
    &TankParams::initial_valve, &TankParams::gain, &TankParams::integral_time,
    &TankParams::derivative_time, &TankParams::bias, &TankParams::output_min,
    &TankParams::output_max, &TankParams::integral_limit, &TankParams::noise_std,
    &TankParams::measurement_bias, &TankParams::disturbance_sigma,
    &TankParams::disturbance_min, &TankParams::disturbance_max, &TankParams::leak_flow,
    &TankParams::level_drift_rate, &TankParams::valve_slow_time_constant,
};

int32_t TankParams::* const kIntMembers[kIntParamCount] = {
    &TankParams::valve_characteristic, &TankParams::derivative_on, &TankParams::mode,
    &TankParams::disturbance, &TankParams::level_freeze, &TankParams::level_fail,
    &TankParams::valve_stuck, &TankParams::inlet_trip,
};

// Allowed values of each integer parameter, as the message states them.
const char* const kIntChoices[kIntParamCount] = {
    "0 (LINEAR) or 1 (EQUAL_PERCENTAGE)",
    "0 (ON_MEASUREMENT) or 1 (ON_ERROR)",
    "0 (AUTO), 1 (MANUAL) or 2 (EXTERNAL)",
    "0 (CONSTANT) or 1 (BROWNIAN)",
    "0 (off) or 1 (on)",
    "0 (FAIL_NONE), 1 (FAIL_LOW), 2 (FAIL_HIGH) or 3 (FAIL_WIRE_BREAK)",
    "0 (off) or 1 (on)",
    "0 (off) or 1 (on)",
};
const int32_t kIntMax[kIntParamCount] = {1, 1, 2, 1, 1, 3, 1, 1};

using K = ParamKind;
using A = ParamAccess;
const ParamInfo kParams[kParamCount] = {
    {"area", {K::kFloat, kArea}, A::kStructural},
    {"height", {K::kFloat, kHeight}, A::kStructural},
    {"valve_coefficient", {K::kFloat, kValveCoefficient}, A::kRuntime},
    {"valve_characteristic", {K::kInt, kValveCharacteristicParam}, A::kRuntime},
    {"rangeability", {K::kFloat, kRangeability}, A::kRuntime},
    {"valve_time_constant", {K::kFloat, kValveTimeConstant}, A::kRuntime},
    {"valve_rate_limit", {K::kFloat, kValveRateLimit}, A::kRuntime},
    {"initial_level", {K::kFloat, kInitialLevel}, A::kStructural},
    {"setpoint", {K::kFloat, kSetpoint}, A::kCommand},
    {"inlet_flow", {K::kFloat, kInletFlow}, A::kCommand},
    {"initial_valve", {K::kFloat, kInitialValve}, A::kStructural},
    {"gain", {K::kFloat, kGain}, A::kRuntime},
    {"integral_time", {K::kFloat, kIntegralTime}, A::kRuntime},
    {"derivative_time", {K::kFloat, kDerivativeTime}, A::kRuntime},
    {"bias", {K::kFloat, kBias}, A::kRuntime},
    {"output_min", {K::kFloat, kOutputMin}, A::kRuntime},
    {"output_max", {K::kFloat, kOutputMax}, A::kRuntime},
    {"integral_limit", {K::kFloat, kIntegralLimit}, A::kRuntime},
    {"derivative_on", {K::kInt, kDerivativeOnParam}, A::kRuntime},
    {"mode", {K::kInt, kModeParam}, A::kCommand},
    {"noise_std", {K::kFloat, kNoiseStd}, A::kRuntime},
    {"measurement_bias", {K::kFloat, kMeasurementBias}, A::kRuntime},
    {"disturbance", {K::kInt, kDisturbanceParam}, A::kRuntime},
    {"disturbance_sigma", {K::kFloat, kDisturbanceSigma}, A::kRuntime},
    {"disturbance_min", {K::kFloat, kDisturbanceMin}, A::kRuntime},
    {"disturbance_max", {K::kFloat, kDisturbanceMax}, A::kRuntime},
    {"seed", {K::kSeed, 0}, A::kStructural},
    {"leak_flow", {K::kFloat, kLeakFlow}, A::kRuntime},
    {"level_drift_rate", {K::kFloat, kLevelDriftRate}, A::kRuntime},
    {"valve_slow_time_constant", {K::kFloat, kValveSlowTimeConstant}, A::kRuntime},
    {"level_freeze", {K::kInt, kLevelFreezeParam}, A::kRuntime},
    {"level_fail", {K::kInt, kLevelFailParam}, A::kRuntime},
    {"valve_stuck", {K::kInt, kValveStuckParam}, A::kRuntime},
    {"inlet_trip", {K::kInt, kInletTripParam}, A::kRuntime},
};

std::string with_unit(const char* unit) { return *unit ? std::string(" ") + unit : ""; }

Status fail(const char* name, const std::string& rule, double got) {
    return Status::error(std::string(name) + ": must be " + rule + " (got " + format_repr(got) +
                         ")");
}

std::string interval(double lo, double hi, const char* unit) {
    return "within [" + format_bound(lo) + ", " + format_bound(hi) + "]" + with_unit(unit);
}

// Range check of one float value; hi overrides the table for level-like fields.
Status check_range(const char* name, const Range& r, double v, double hi) {
    if (!std::isfinite(v)) return fail(name, "finite", v);
    if (r.zero_allowed && v == 0.0) return {};
    if (r.two_sided && (v < r.lo || v > hi)) return fail(name, interval(r.lo, hi, r.unit), v);
    if (r.lo_open ? v <= r.lo : v < r.lo)
        return fail(name, std::string(r.lo_open ? "> " : ">= ") + format_bound(r.lo), v);
    if (v < r.floor || v > hi) {
        const std::string rule = interval(r.floor > kNone ? r.floor : r.lo, hi, r.unit);
        return fail(name, r.zero_allowed ? "0 or " + rule : rule, v);
    }
    return {};
}

// Relations between parameters, reported on the field being checked.
Status check_relations(const TankParams& p, int index) {
    const char* name = float_param_name(index);
    const double v = get_float(p, index);
    switch (index) {
        case kGain:  // 1 / K_c must stay finite for the bumpless back-calculation
            if (v != 0.0 && std::fabs(v) < kMinGain)
                return fail(name, "0 or at least " + format_bound(kMinGain) + " in magnitude", v);
            break;
        case kOutputMin:
            if (!(v < p.output_max))
                return fail(name, "< output_max = " + format_bound(p.output_max), v);
            break;
        case kOutputMax:
            if (!(v > p.output_min))
                return fail(name, "> output_min = " + format_bound(p.output_min), v);
            break;
        case kDisturbanceMin:
            if (!(v <= p.disturbance_max))
                return fail(name, "<= disturbance_max = " + format_bound(p.disturbance_max), v);
            break;
        case kDisturbanceMax:
            if (!(v >= p.disturbance_min))
                return fail(name, ">= disturbance_min = " + format_bound(p.disturbance_min), v);
            break;
        default:
            break;
    }
    return {};
}

Status validate_float(const TankParams& p, int index) {
    const Range& r = kRanges[index];
    const bool level_like = index == kInitialLevel || index == kSetpoint;
    const double hi = level_like ? p.height : r.hi;
    Status s = check_range(float_param_name(index), r, get_float(p, index), hi);
    if (!s) return s;
    return check_relations(p, index);
}

}  // namespace

const ParamInfo& param_info(int i) { return kParams[i]; }

std::optional<ParamInfo> find_param(std::string_view name) {
    for (const ParamInfo& info : kParams)
        if (name == info.name) return info;
    return std::nullopt;
}

const char* float_param_name(int index) {
    for (const ParamInfo& info : kParams)
        if (info.ref.kind == ParamKind::kFloat && info.ref.index == index) return info.name;
    return "?";
}

const char* int_param_name(int index) {
    for (const ParamInfo& info : kParams)
        if (info.ref.kind == ParamKind::kInt && info.ref.index == index) return info.name;
    return "?";
}

double get_float(const TankParams& p, int index) { return p.*kFloatMembers[index]; }
void set_float(TankParams& p, int index, double value) { p.*kFloatMembers[index] = value; }
int32_t get_int(const TankParams& p, int index) { return p.*kIntMembers[index]; }
void set_int(TankParams& p, int index, int32_t value) { p.*kIntMembers[index] = value; }

Status validate_int_value(int index, double value) {
    const bool ok = std::isfinite(value) && value == std::floor(value) && value >= 0 &&
                    value <= kIntMax[index];
    if (ok) return {};
    return fail(int_param_name(index), kIntChoices[index], value);
}

Status validate_int_value(int index, int64_t value) {
    if (value >= 0 && value <= kIntMax[index]) return {};
    return Status::error(std::string(int_param_name(index)) + ": must be " + kIntChoices[index] +
                         " (got " + std::to_string(value) + ")");
}

Status validate_param(const TankParams& p, const ParamInfo& info) {
    switch (info.ref.kind) {
        case ParamKind::kFloat:
            return validate_float(p, info.ref.index);
        case ParamKind::kInt:
            return validate_int_value(info.ref.index, int64_t{get_int(p, info.ref.index)});
        case ParamKind::kSeed:
            return {};  // every 64-bit value is a valid seed
    }
    return {};
}

Status validate(const TankParams& p) {
    for (const ParamInfo& info : kParams) {
        Status s = validate_param(p, info);
        if (!s) return s;
    }
    return {};
}

bool operator==(const TankParams& a, const TankParams& b) {
    for (int i = 0; i < kFloatParamCount; ++i)
        if (!(get_float(a, i) == get_float(b, i))) return false;
    for (int i = 0; i < kIntParamCount; ++i)
        if (get_int(a, i) != get_int(b, i)) return false;
    return a.seed == b.seed;
}

}  // namespace tank
