// The hot loop: one internal step of every tank (PHYSICS.md, order inside one step):
// 1-2 plant with the inputs held over the step and its limits, 3 time, 4 measurement,
// 5 controller, 6 actuator, 7 inlet disturbance.
//
// Tanks are independent, so the plant runs all n steps on one block of tanks before
// moving to the next (the block stays in cache), and each stage of a step is its own
// loop over the block: the arithmetic stages are branch-free and vectorise, the ones
// that call the random generator or pow() only do so for the tanks that need it. No
// allocation, no exception, no cross-tank arithmetic, so tank k's bits never depend on N.
#include <algorithm>
#include <cstddef>

#include "tank/controller.hpp"
#include "tank/model.hpp"
#include "tank/plant.hpp"
#include "tank/rng.hpp"

#if defined(__GNUC__) && !defined(__clang__)
#define TANK_INDEPENDENT_ITERATIONS _Pragma("GCC ivdep")
#elif defined(__clang__)
#define TANK_INDEPENDENT_ITERATIONS _Pragma("clang loop vectorize(assume_safety)")
#else
#define TANK_INDEPENDENT_ITERATIONS
#endif

// The step loops are built twice, for AVX2 and for baseline x86-64, and the loader picks
// one at run time: AVX2 doubles the sqrt throughput of the RK4 loop. Both use the same
// correctly rounded operations (no FMA: -ffp-contract=off, and avx2 does not imply fma),
// so they give identical bits.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define TANK_STEP_CLONES __attribute__((target_clones("avx2", "default")))
#define TANK_STAGE inline __attribute__((always_inline))
#else
#define TANK_STEP_CLONES
#define TANK_STAGE inline
#endif

namespace tank {
namespace {
// Tanks advanced together through all steps of one call: ~50 columns x 8 B x 128 tanks
// = 50 kB, about L1 size.
constexpr std::size_t kBlock = 128;
}  // namespace

// Raw pointers into a plant's columns, hoisted out of the loops.
struct StepKernel {
    explicit StepKernel(Plant& p);
    void step_block(std::size_t begin, std::size_t end) const;

private:
    void advance_levels(std::size_t begin, std::size_t end) const;
    void measure_levels(std::size_t begin, std::size_t end) const;
    void control(std::size_t begin, std::size_t end) const;
    void transfer_bumplessly(std::size_t begin, std::size_t end, const double* d_of,
                             const double* z_before, const double* command_before) const;
    void actuate_valves(std::size_t begin, std::size_t end) const;
    void disturb_inlets(std::size_t begin, std::size_t end) const;
    PidTuning tuning(std::size_t i) const;

    double dt;
    bool any_noise, any_failed_sensor, any_brownian,
        any_equal_percentage;  // else those loops are skipped
    // Parameters.
    const double *height, *kv, *rangeability, *tau_v, *setpoint, *gain,
        *integral_time, *derivative_time, *bias, *u_min, *u_max, *z_max, *noise_std,
        *meas_bias, *sigma, *q_min, *q_max, *leak, *drift_rate, *tau_slow;
    const int32_t *characteristic, *derivative_on, *mode, *disturbance, *freeze, *fail,
        *stuck, *tripped;
    double* inlet;  // moved by the Brownian disturbance
    // State.
    double *h, *meas, *q_out, *q_over, *q_leak, *x_cmd, *x, *u_out, *err, *z, *prev_meas,
        *prev_err, *drift;
    uint32_t* flags;
    uint32_t* ctl;
    uint64_t *noise_rng, *disturbance_rng;
    // Derived.
    double *c, *alpha, *max_step, *dt_over_area, *area_over_dt, *integral_rate;
};

StepKernel::StepKernel(Plant& p)
    : dt(p.dt_), any_noise(p.noisy_tanks_ > 0), any_failed_sensor(p.failed_sensor_tanks_ > 0),
      any_brownian(p.brownian_tanks_ > 0),
      any_equal_percentage(p.equal_percentage_tanks_ > 0) {
    height = p.fp(kHeight);
    kv = p.fp(kValveCoefficient);
    rangeability = p.fp(kRangeability);
    tau_v = p.fp(kValveTimeConstant);
    setpoint = p.fp(kSetpoint);
    gain = p.fp(kGain);
    integral_time = p.fp(kIntegralTime);
    derivative_time = p.fp(kDerivativeTime);
    bias = p.fp(kBias);
    u_min = p.fp(kOutputMin);
    u_max = p.fp(kOutputMax);
    z_max = p.fp(kIntegralLimit);
    noise_std = p.fp(kNoiseStd);
    meas_bias = p.fp(kMeasurementBias);
    sigma = p.fp(kDisturbanceSigma);
    q_min = p.fp(kDisturbanceMin);
    q_max = p.fp(kDisturbanceMax);
    leak = p.fp(kLeakFlow);
    drift_rate = p.fp(kLevelDriftRate);
    tau_slow = p.fp(kValveSlowTimeConstant);
    freeze = p.ip(kLevelFreezeParam);
    fail = p.ip(kLevelFailParam);
    stuck = p.ip(kValveStuckParam);
    tripped = p.ip(kInletTripParam);
    inlet = p.fp(kInletFlow);
    characteristic = p.ip(kValveCharacteristicParam);
    derivative_on = p.ip(kDerivativeOnParam);
    mode = p.ip(kModeParam);
    disturbance = p.ip(kDisturbanceParam);
    h = p.st(kLevelTrue);
    meas = p.st(kLevel);
    q_out = p.st(kOutletFlow);
    q_over = p.st(kOverflowFlow);
    q_leak = p.st(kEffectiveLeak);
    x_cmd = p.st(kValveCommand);
    x = p.st(kValvePosition);
    u_out = p.st(kControllerOutput);
    err = p.st(kError);
    z = p.st(kIntegral);
    prev_meas = p.st(kPrevMeasurement);
    prev_err = p.st(kPrevError);
    drift = p.st(kLevelDrift);
    flags = p.flags_mut();
    ctl = p.ctl();
    noise_rng = p.noise_rng();
    disturbance_rng = p.disturbance_rng();
    c = p.derived(kValveFlow);
    alpha = p.derived(kValveAlpha);
    max_step = p.derived(kValveMaxStep);
    dt_over_area = p.derived(kDtOverArea);
    area_over_dt = p.derived(kAreaOverDt);
    integral_rate = p.derived(kIntegralRate);
}

// 1-2: RK4 over the step with valve opening, inflow and leak held, then the limits.
TANK_STAGE void StepKernel::advance_levels(std::size_t begin, std::size_t end) const {
    TANK_INDEPENDENT_ITERATIONS
    for (std::size_t i = begin; i < end; ++i) {
        const LevelStep raw = integrate_level(h[i], c[i], inlet[i] - leak[i], dt_over_area[i]);
        const LimitedStep out = limit_level(raw.level, raw.outlet_flow, leak[i], height[i],
                                            area_over_dt[i]);
        h[i] = out.level;
        q_out[i] = out.outlet;
        q_over[i] = out.overflow;
        q_leak[i] = out.leak;
    }
    for (std::size_t i = begin; i < end; ++i) flags[i] = level_flags(h[i], q_over[i]);
}

// 4: h_meas = h + bias + drift + sigma N(0, 1); only noisy sensors draw (a frozen or
// failed sensor too, so the generator's position does not depend on those faults). Then
// the transmitter faults: frozen holds the previous reading, fail low/high report the
// level of the NE43 failure signal.
TANK_STAGE void StepKernel::measure_levels(std::size_t begin, std::size_t end) const {
    const double step = dt;
    double held[kBlock];
    if (any_failed_sensor) std::copy(meas + begin, meas + end, held);
    TANK_INDEPENDENT_ITERATIONS
    for (std::size_t i = begin; i < end; ++i) {
        drift[i] = drift_offset(drift[i], drift_rate[i], step);
        meas[i] = h[i] + meas_bias[i] + drift[i];
    }
    if (any_noise) {
        for (std::size_t i = begin; i < end; ++i)
            if (noise_std[i] > 0.0) meas[i] += noise_std[i] * standard_normal(noise_rng[i]);
    }
    if (!any_failed_sensor) return;  // sensor_reading() would return every reading as is
    TANK_INDEPENDENT_ITERATIONS
    for (std::size_t i = begin; i < end; ++i)
        meas[i] = sensor_reading(meas[i], held[i - begin], freeze[i] != 0, fail[i], height[i]);
}

inline PidTuning StepKernel::tuning(std::size_t i) const {
    return {gain[i], integral_time[i], integral_rate[i], derivative_time[i],
            bias[i], u_min[i],         u_max[i],         z_max[i]};
}

// 5: the PID. Computed for every tank and kept only in AUTO; outside AUTO the output
// tracks the valve command. The derivative memory is updated in every mode, so a switch
// to AUTO sees a valid derivative. The loop has no branches and vectorises; the rare
// first step after a switch to AUTO is redone by transfer_bumplessly().
TANK_STAGE void StepKernel::control(std::size_t begin, std::size_t end) const {
    const double step = dt;  // a local: stores into the double columns cannot alias it
    const double inv_dt = 1.0 / step;
    double d_of[kBlock], z_before[kBlock], command_before[kBlock];
    uint32_t any_bits = 0;
    TANK_INDEPENDENT_ITERATIONS
    for (std::size_t i = begin; i < end; ++i) {
        const std::size_t k = i - begin;
        const double measured = meas[i];
        const double e = setpoint[i] - measured;
        const uint32_t bits = ctl[i];
        const double d = pid_derivative(derivative_on[i] == kOnError, bits & kCtlPrimed,
                                        measured, prev_meas[i], e, prev_err[i], inv_dt);
        const double z_now = z[i];
        const double command_now = x_cmd[i];
        const PidTuning t = tuning(i);
        const double z_next = pid_integrate(t, e, z_now, d, step);
        const double command = pid_clamp_output(t, pid_output(t, e, z_next, d));
        const bool automatic = mode[i] == kAuto;
        z[i] = automatic ? z_next : z_now;
        x_cmd[i] = automatic ? command : command_now;
        u_out[i] = automatic ? command : command_now;
        err[i] = e;
        prev_meas[i] = measured;
        prev_err[i] = e;
        ctl[i] = bits | kCtlPrimed;
        d_of[k] = d;
        z_before[k] = z_now;
        command_before[k] = command_now;
        any_bits |= bits;
    }
    if (any_bits & kCtlBumplessPending)
        transfer_bumplessly(begin, end, d_of, z_before, command_before);
}

// Bumpless transfer: on its first AUTO step a tank back-calculates z from the valve
// command in force instead of integrating.
void StepKernel::transfer_bumplessly(std::size_t begin, std::size_t end, const double* d_of,
                                     const double* z_before,
                                     const double* command_before) const {
    for (std::size_t i = begin; i < end; ++i) {
        if (!(ctl[i] & kCtlBumplessPending) || mode[i] != kAuto) continue;
        const std::size_t k = i - begin;
        const PidTuning t = tuning(i);
        const double z_next = pid_back_calculate(t, command_before[k], err[i], d_of[k],
                                                 z_before[k]);
        const double command = pid_clamp_output(t, pid_output(t, err[i], z_next, d_of[k]));
        z[i] = z_next;
        x_cmd[i] = command;
        u_out[i] = command;
        ctl[i] = kCtlPrimed;
    }
}

// 6: the actual opening follows the command; then the flow coefficient for the next
// step (pow() only for equal-percentage valves).
TANK_STAGE void StepKernel::actuate_valves(std::size_t begin, std::size_t end) const {
    TANK_INDEPENDENT_ITERATIONS
    for (std::size_t i = begin; i < end; ++i)
        x[i] = stuck[i] ? x[i]
                        : move_valve(x[i], x_cmd[i], alpha[i],
                                     (tau_v[i] > 0.0) | (tau_slow[i] > 0.0), max_step[i]);
    TANK_INDEPENDENT_ITERATIONS
    for (std::size_t i = begin; i < end; ++i) c[i] = kv[i] * x[i];
    if (!any_equal_percentage) return;
    for (std::size_t i = begin; i < end; ++i)
        if (characteristic[i] == kEqualPercentage)
            c[i] = valve_flow_coefficient(kv[i], x[i], kEqualPercentage, rangeability[i]);
}

// 7: Brownian inflow for the next step, clipped to [q_min, q_max]; a tripped inlet pump
// stays at 0 and does not draw.
TANK_STAGE void StepKernel::disturb_inlets(std::size_t begin, std::size_t end) const {
    if (!any_brownian) return;
    for (std::size_t i = begin; i < end; ++i) {
        if (disturbance[i] != kBrownian || tripped[i]) continue;
        const double next = inlet[i] + sigma[i] * standard_normal(disturbance_rng[i]);
        inlet[i] = std::clamp(next, q_min[i], q_max[i]);
    }
}

TANK_STEP_CLONES void StepKernel::step_block(std::size_t begin, std::size_t end) const {
    advance_levels(begin, end);
    measure_levels(begin, end);
    control(begin, end);
    actuate_valves(begin, end);
    disturb_inlets(begin, end);
}

// Ask for the next block's data while this one computes: a block touches ~50 columns at
// once, more streams than the hardware prefetcher follows, so without this the first
// step of each block waits on memory (a third of the time at N = 10,000, n = 10).
void Plant::prefetch_block(std::size_t begin, std::size_t end) const {
#if defined(__GNUC__)
    constexpr std::size_t kLine = 64;
    for (int j = 0; j < kColumnCount; ++j) {
        const char* column = store_.column<char>(j);
        const std::size_t width = j < kSavedColumnCount ? element_size(j) : sizeof(double);
        for (std::size_t b = begin * width; b < end * width; b += kLine)
            __builtin_prefetch(column + b);
    }
#else
    (void)begin;
    (void)end;
#endif
}

void Plant::step(int64_t n) {
    if (n <= 0) return;
    const StepKernel kernel(*this);
    const bool prefetch = size() > kBlock;  // one block stays in cache between calls
    for (std::size_t begin = 0; begin < size(); begin += kBlock) {
        const std::size_t end = std::min(begin + kBlock, size());
        if (prefetch) prefetch_block(end, std::min(end + kBlock, size()));
        for (int64_t s = 0; s < n; ++s) kernel.step_block(begin, end);
    }
    steps_ += static_cast<uint64_t>(n);  // 3: time = steps dt
}

}  // namespace tank
