// N tanks kept as structure-of-arrays and advanced together.
//
// Every parameter and every state value is its own column of N values in one
// ColumnStore, sized at construction and never moved, so the Python views into it stay
// valid for the plant's lifetime. Tanks never interact: tank k follows bit for bit the
// trajectory it would follow alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tank/columns.hpp"
#include "tank/params.hpp"
#include "tank/status.hpp"

namespace tank {

// Dynamic float values of each tank.
enum StateColumn : int {
    kLevel,             // measured level h_meas [m]
    kLevelTrue,         // h [m]
    kOutletFlow,        // mean outlet flow over the last step [m3/s]
    kOverflowFlow,      // [m3/s]
    kEffectiveLeak,     // leak that actually left over the last step [m3/s]
    kValveCommand,      // x_cmd [1]
    kValvePosition,     // x [1]
    kControllerOutput,  // [1]
    kError,             // e = h_sp - h_meas [m]
    kIntegral,          // z [m s]
    kPrevMeasurement,   // h_meas of the previous step [m], for d on measurement
    kPrevError,         // e of the previous step [m], for d on error
    kLevelDrift,        // offset the drift fault has accumulated [m]
    kInletRestore,      // inlet flow restored when an inlet trip ends [m3/s]
    kStateColumnCount
};

// Values derived from the parameters (and the valve position), recomputed when those
// change, never saved: they spare the step its divisions and pow() calls.
enum DerivedColumn : int {
    kValveFlow,        // c = k_v f(x) [m^2.5/s]
    kValveAlpha,       // actuator lag factor over one step [1]
    kValveMaxStep,     // largest valve move in one step [1], +inf = unlimited
    kDtOverArea,       // dt / A [s/m2]
    kAreaOverDt,       // A / dt [m2/s]
    kIntegralRate,     // 1 / tau_I [1/s], 0 without integral action
    kDerivedColumnCount
};

// Bits of the controller's bookkeeping (not visible to clients).
constexpr uint32_t kCtlBumplessPending = 1;  // next AUTO step back-calculates z
constexpr uint32_t kCtlPrimed = 2;           // previous measurement/error are valid

constexpr double kMinDt = 0.001;  // [s]
constexpr double kMaxDt = 10.0;   // [s]

struct StepKernel;  // plant_step.cpp: raw pointers into a plant's columns

class Plant {
public:
    // Check every tank ("tank 3: area: must be > 0 (got -1.0)") and dt.
    static Status validate(const std::vector<TankParams>& tanks, double dt);
    // Precondition: validate(tanks, dt) is ok.
    Plant(std::vector<TankParams> tanks, double dt);

    std::size_t size() const { return configured_.size(); }
    double dt() const { return dt_; }
    uint64_t steps() const { return steps_; }
    double time() const { return static_cast<double>(steps_) * dt_; }

    // Advance all tanks n internal steps. Never fails; n <= 0 does nothing.
    void step(int64_t n);

    // Commands: validate, then apply; a failed command changes nothing.
    Status set_setpoint(int64_t tank, double value);
    Status set_inlet_flow(int64_t tank, double value);
    Status set_valve_command(int64_t tank, double value);
    Status set_mode(int64_t tank, int64_t mode);
    Status set_param(int64_t tank, std::string_view field, double value);
    Status reset(int64_t tank);  // -1: every tank

    // Current parameters of one tank (runtime changes, current setpoint/inlet/mode).
    Status params(int64_t tank, TankParams& out) const;

    std::vector<uint8_t> save_state() const;
    Status load_state(const uint8_t* data, std::size_t size);

    // Columns of length size(), for the views.
    const double* float_param(int index) const { return store_.column<double>(index); }
    const int32_t* int_param(int index) const {
        return store_.column<int32_t>(kIntParamBase + index);
    }
    const double* state(int column) const { return store_.column<double>(kStateBase + column); }
    const uint32_t* flags() const { return store_.column<uint32_t>(kFlagsColumn); }
    // An integer parameter as float64, kept equal to int_param(index) (for param_array).
    const double* int_param_as_float(int index) const {
        return store_.column<double>(kIntMirrorBase + index);
    }

private:
    friend struct StepKernel;

    // Column layout of store_.
    static constexpr int kIntParamBase = kFloatParamCount;
    static constexpr int kStateBase = kIntParamBase + kIntParamCount;
    static constexpr int kFlagsColumn = kStateBase + kStateColumnCount;
    static constexpr int kCtlColumn = kFlagsColumn + 1;
    static constexpr int kNoiseRngColumn = kCtlColumn + 1;
    static constexpr int kDisturbanceRngColumn = kNoiseRngColumn + 1;
    static constexpr int kSavedColumnCount = kDisturbanceRngColumn + 1;
    static constexpr int kDerivedBase = kSavedColumnCount;
    static constexpr int kIntMirrorBase = kDerivedBase + kDerivedColumnCount;
    static constexpr int kColumnCount = kIntMirrorBase + kIntParamCount;

    double* fp(int index) { return store_.column<double>(index); }
    int32_t* ip(int index) { return store_.column<int32_t>(kIntParamBase + index); }
    double* st(int column) { return store_.column<double>(kStateBase + column); }
    double* derived(int column) { return store_.column<double>(kDerivedBase + column); }
    uint32_t* flags_mut() { return store_.column<uint32_t>(kFlagsColumn); }
    uint32_t* ctl() { return store_.column<uint32_t>(kCtlColumn); }
    const uint32_t* ctl() const { return store_.column<uint32_t>(kCtlColumn); }
    uint64_t* noise_rng() { return store_.column<uint64_t>(kNoiseRngColumn); }
    uint64_t* disturbance_rng() { return store_.column<uint64_t>(kDisturbanceRngColumn); }

    void prefetch_block(std::size_t begin, std::size_t end) const;
    void count_features(std::size_t i, int sign);
    Status check_tank(int64_t tank) const;
    TankParams gather(std::size_t i) const;
    void scatter(std::size_t i, const TankParams& p);
    void refresh_derived(std::size_t i);
    void initialise(std::size_t i);
    Status apply_param(std::size_t i, const ParamInfo& info, double value);
    Status command(int64_t tank, const char* field, double value);
    void after_change(std::size_t i, const TankParams& before, const TankParams& after);
    Status check_loaded_tank(std::size_t i) const;
    // Bytes per tank of saved column j (plant_state.cpp).
    static std::size_t element_size(int column);

    std::vector<TankParams> configured_;  // as constructed, for reset()
    double dt_;
    uint64_t steps_ = 0;
    ColumnStore store_;
    // How many tanks draw measurement noise, have a Brownian inlet, an equal-percentage
    // valve, a frozen or failed level transmitter: the step skips those stages' loops
    // when none does.
    std::size_t noisy_tanks_ = 0;
    std::size_t failed_sensor_tanks_ = 0;
    std::size_t brownian_tanks_ = 0;
    std::size_t equal_percentage_tanks_ = 0;
};

}  // namespace tank
