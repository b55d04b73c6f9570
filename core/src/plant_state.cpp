// save_state()/load_state(): every dynamic value, runtime parameter and generator state.
//
// Layout (native byte order, this build's doubles): a header, then each saved column
// whole, in store order. A state is only accepted by a plant with the same tank count,
// dt and structural parameters, and only if every value in it is one the plant could
// have produced itself: load_state() can never smuggle in a NaN.
#include <cmath>
#include <cstring>
#include <string>

#include "tank/model.hpp"
#include "tank/plant.hpp"

namespace tank {
namespace {

constexpr char kMagic[8] = {'T', 'A', 'N', 'K', 'S', 'T', 'A', 'T'};
constexpr uint32_t kFormatVersion = 2;  // 2: fault parameters and state
constexpr uint32_t kByteOrderMark = 0x01020304;  // reads differently on another byte order

struct Header {
    char magic[8];
    uint32_t version;
    uint32_t byte_order;
    uint64_t tanks;
    double dt;
    uint64_t steps;
};

Status state_error(const std::string& what) { return Status::error("state: " + what); }

Status check_header(const Header& h, std::size_t tanks, double dt) {
    if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0 || h.byte_order != kByteOrderMark)
        return state_error("not a tank plant state from this build");
    if (h.version != kFormatVersion)
        return state_error("format version " + std::to_string(h.version) +
                           " not supported (expected " + std::to_string(kFormatVersion) + ")");
    if (h.tanks != tanks)
        return state_error("saved from a plant of " + std::to_string(h.tanks) +
                           " tanks (this plant has " + std::to_string(tanks) + ")");
    if (h.dt != dt)
        return state_error("saved with dt = " + format_repr(h.dt) + " (this plant has dt = " +
                           format_repr(dt) + ")");
    return {};
}

bool within(double v, double lo, double hi) { return std::isfinite(v) && v >= lo && v <= hi; }

}  // namespace

std::size_t Plant::element_size(int column) {
    if (column < kIntParamBase) return sizeof(double);
    if (column < kStateBase) return sizeof(int32_t);
    if (column < kFlagsColumn) return sizeof(double);
    if (column == kFlagsColumn) return sizeof(uint32_t);
    if (column == kCtlColumn) return sizeof(uint32_t);
    return sizeof(uint64_t);  // generator states
}

std::vector<uint8_t> Plant::save_state() const {
    Header h{};
    std::memcpy(h.magic, kMagic, sizeof kMagic);
    h.version = kFormatVersion;
    h.byte_order = kByteOrderMark;
    h.tanks = size();
    h.dt = dt_;
    h.steps = steps_;
    std::vector<uint8_t> out(sizeof h);
    std::memcpy(out.data(), &h, sizeof h);
    for (int j = 0; j < kSavedColumnCount; ++j) {
        const auto* bytes = store_.column<uint8_t>(j);
        out.insert(out.end(), bytes, bytes + size() * element_size(j));
    }
    return out;
}

// The loaded tank must be one this plant could be in: same structure, valid parameters,
// finite state within its physical bounds.
Status Plant::check_loaded_tank(std::size_t i) const {
    const TankParams p = gather(i);
    const TankParams& conf = configured_[i];
    for (int f : {kArea, kHeight, kInitialLevel, kInitialValve})
        if (!(get_float(p, f) == get_float(conf, f)))
            return Status::error(std::string(float_param_name(f)) +
                                 ": differs from this plant's configuration");
    Status s = tank::validate(p);
    if (!s) return s;
    for (int c = 0; c < kStateColumnCount; ++c)
        if (!std::isfinite(state(c)[i])) return state_error("non-finite value");
    const bool ok = within(state(kLevelTrue)[i], 0.0, p.height) &&
                    within(state(kValveCommand)[i], 0.0, 1.0) &&
                    within(state(kValvePosition)[i], 0.0, 1.0) &&
                    within(state(kIntegral)[i], -p.integral_limit, p.integral_limit) &&
                    within(state(kLevelDrift)[i], -kMaxLevelDrift, kMaxLevelDrift) &&
                    within(state(kInletRestore)[i], 0.0, 1e4) &&
                    (!p.inlet_trip || p.inlet_flow == 0.0) &&
                    flags()[i] <= (kFlagOverflowing | kFlagEmpty) &&
                    ctl()[i] <= (kCtlBumplessPending | kCtlPrimed);
    return ok ? Status() : state_error("value out of range");
}

Status Plant::load_state(const uint8_t* data, std::size_t size_bytes) {
    Header h{};
    if (size_bytes < sizeof h) return state_error("too short to be a tank plant state");
    std::memcpy(&h, data, sizeof h);
    Status s = check_header(h, size(), dt_);
    if (!s) return s;
    std::size_t expected = sizeof h;
    for (int j = 0; j < kSavedColumnCount; ++j) expected += size() * element_size(j);
    if (size_bytes != expected)
        return state_error("expected " + std::to_string(expected) + " bytes (got " +
                           std::to_string(size_bytes) + ")");
    Plant loaded = *this;  // decoded and checked apart, so a bad state changes nothing
    const uint8_t* cursor = data + sizeof h;
    for (int j = 0; j < kSavedColumnCount; ++j) {
        const std::size_t bytes = size() * element_size(j);
        std::memcpy(loaded.store_.column<uint8_t>(j), cursor, bytes);
        cursor += bytes;
    }
    for (std::size_t i = 0; i < size(); ++i) {
        s = loaded.check_loaded_tank(i);
        if (!s) return s.prefixed("tank " + std::to_string(i) + ": ");
    }
    // Copy into the existing columns: views into them must stay valid.
    for (std::size_t i = 0; i < size(); ++i) count_features(i, -1);
    for (int j = 0; j < kSavedColumnCount; ++j)
        std::memcpy(store_.column<uint8_t>(j), loaded.store_.column<uint8_t>(j),
                    size() * element_size(j));
    for (std::size_t i = 0; i < size(); ++i) {
        count_features(i, +1);
        refresh_derived(i);
    }
    steps_ = h.steps;
    return {};
}

}  // namespace tank
