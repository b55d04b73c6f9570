// Configured parameters of one tank (PHYSICS.md "Defaults"), their names, and validation.
//
// Every parameter has a name (the TankParams field and the Python attribute), a kind and
// a place in one of two columns tables: float parameters are indexed by FloatParam, integer
// ones by IntParam, so the plant can store each as its own array and look fields up by name.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "tank/status.hpp"

namespace tank {

// Controller modes.
enum Mode : int32_t { kAuto = 0, kManual = 1, kExternal = 2 };
// Valve trim: f(x) = x or R^(x - 1).
enum ValveCharacteristic : int32_t { kLinear = 0, kEqualPercentage = 1 };
// What the derivative term differentiates.
enum DerivativeOn : int32_t { kOnMeasurement = 0, kOnError = 1 };
// Inlet flow disturbance.
enum Disturbance : int32_t { kConstant = 0, kBrownian = 1 };
// Level transmitter failure signal (NAMUR NE43): none, fail low (< 3.6 mA), fail high
// (> 21 mA), wire break (0 mA).
enum LevelFail : int32_t { kFailNone = 0, kFailLow = 1, kFailHigh = 2, kFailWireBreak = 3 };

struct TankParams {
    double area = 120.0;                   // A [m2]
    double height = 5.0;                   // H [m]
    double valve_coefficient = 1.2649;     // k_v [m^2.5/s]
    int32_t valve_characteristic = kLinear;
    double rangeability = 50.0;            // R [1], equal-percentage trim only
    double valve_time_constant = 0.0;      // tau_v [s], 0 = instant
    double valve_rate_limit = 0.0;         // [1/s], 0 = unlimited
    double initial_level = 2.5;            // h0 [m]
    double setpoint = 2.5;                 // h_sp [m]
    double inlet_flow = 1.0;               // q_in [m3/s]
    double initial_valve = 0.5;            // x0 [1]
    double gain = -1.0;                    // K_c [1/m], negative = reverse acting
    double integral_time = 10.0;           // tau_I [s], 0 = no integral action
    double derivative_time = 1.0;          // tau_D [s], 0 = no derivative action
    double bias = 0.5;                     // u_b [1]
    double output_min = 0.0;               // u_min [1]
    double output_max = 1.0;               // u_max [1]
    double integral_limit = 10.0;          // z_max [m s]
    int32_t derivative_on = kOnMeasurement;
    int32_t mode = kAuto;                  // initial mode
    double noise_std = 0.0;                // [m]
    double measurement_bias = 0.0;         // [m]
    int32_t disturbance = kConstant;
    double disturbance_sigma = 0.05;       // [m3/s] per step
    double disturbance_min = 0.8;          // [m3/s]
    double disturbance_max = 1.2;          // [m3/s]
    uint64_t seed = 0;                     // seed of the tank's noise and disturbance generators
    double leak_flow = 0.0;                // q_leak [m3/s]
    // Faults (docs/faults.md); leak_flow, noise_std and measurement_bias above are faults too.
    double level_drift_rate = 0.0;         // [m/s] sensor drift while != 0
    double valve_slow_time_constant = 0.0; // [s] actuator lag replacing tau_v while > 0
    int32_t level_freeze = 0;              // 1: the measurement holds its last value
    int32_t level_fail = kFailNone;        // NE43 failure signal of the level transmitter
    int32_t valve_stuck = 0;               // 1: the valve position holds, commands are ignored
    int32_t inlet_trip = 0;                // 1: inlet pump tripped, inlet flow 0
};

// Float parameters, in storage order.
enum FloatParam : int {
    kArea, kHeight, kValveCoefficient, kRangeability, kValveTimeConstant, kValveRateLimit,
    kInitialLevel, kSetpoint, kInletFlow, kInitialValve, kGain, kIntegralTime,
    kDerivativeTime, kBias, kOutputMin, kOutputMax, kIntegralLimit, kNoiseStd,
    kMeasurementBias, kDisturbanceSigma, kDisturbanceMin, kDisturbanceMax, kLeakFlow,
    kLevelDriftRate, kValveSlowTimeConstant, kFloatParamCount
};

// Integer (enumerated) parameters, in storage order.
enum IntParam : int { kValveCharacteristicParam, kDerivativeOnParam, kModeParam,
                      kDisturbanceParam, kLevelFreezeParam, kLevelFailParam,
                      kValveStuckParam, kInletTripParam, kIntParamCount };

enum class ParamKind { kFloat, kInt, kSeed };

// How a parameter may change once the plant runs.
enum class ParamAccess {
    kRuntime,     // set_param
    kCommand,     // its own command (setpoint, inlet_flow, mode)
    kStructural,  // fixed at construction (area, height, initial state, seed)
};

struct ParamRef {
    ParamKind kind;
    int index;  // FloatParam or IntParam; 0 for the seed
};

struct ParamInfo {
    const char* name;
    ParamRef ref;
    ParamAccess access;
};

// Every parameter, in TankParams declaration order.
constexpr int kParamCount = kFloatParamCount + kIntParamCount + 1;
const ParamInfo& param_info(int i);  // 0 <= i < kParamCount
std::optional<ParamInfo> find_param(std::string_view name);
const char* float_param_name(int index);
const char* int_param_name(int index);

double get_float(const TankParams& p, int index);
void set_float(TankParams& p, int index, double value);
int32_t get_int(const TankParams& p, int index);
void set_int(TankParams& p, int index, int32_t value);

// Check one parameter against its range and the parameters it is tied to
// (e.g. output_min < output_max, setpoint <= height). The message names the field:
// "setpoint: must be within [0, 5] m (got 7.0)".
Status validate_param(const TankParams& p, const ParamInfo& info);
// Check all parameters; the first failure is returned.
Status validate(const TankParams& p);
// An integer parameter given as a float (set_param): integral and in range.
Status validate_int_value(int index, double value);
Status validate_int_value(int index, int64_t value);  // same, message shows an integer

bool operator==(const TankParams& a, const TankParams& b);

}  // namespace tank
