// Number formatting for Status messages.
#include "tank/status.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace tank {
namespace {

// Python's repr switches to scientific notation outside 1e-4 <= |v| < 1e16.
constexpr int kReprMinFixedExponent = -4;
constexpr int kReprMaxFixedExponent = 16;

std::string non_finite(double value) {
    if (std::isnan(value)) return "nan";
    return value > 0 ? "inf" : "-inf";
}

}  // namespace

std::string format_repr(double value) {
    if (!std::isfinite(value)) return non_finite(value);
    char buf[64];
    // Shortest round-trip digits as d.ddde±XX.
    auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
    std::string sci(buf, res.ptr);
    const bool negative = sci[0] == '-';
    const std::string body = negative ? sci.substr(1) : sci;
    const auto e_pos = body.find('e');
    const int exponent = std::atoi(body.c_str() + e_pos + 1);
    std::string digits;
    for (char c : body.substr(0, e_pos))
        if (c != '.') digits += c;

    std::string out = negative ? "-" : "";
    if (exponent < kReprMinFixedExponent || exponent >= kReprMaxFixedExponent) {
        out += digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        char exp_buf[8];
        std::snprintf(exp_buf, sizeof exp_buf, "e%c%02d", exponent < 0 ? '-' : '+',
                      std::abs(exponent));
        return out + exp_buf;
    }
    if (exponent < 0) return out + "0." + std::string(-exponent - 1, '0') + digits;
    const auto int_len = static_cast<std::size_t>(exponent) + 1;
    if (digits.size() <= int_len) return out + digits + std::string(int_len - digits.size(), '0') + ".0";
    return out + digits.substr(0, int_len) + "." + digits.substr(int_len);
}

std::string format_bound(double value) {
    if (!std::isfinite(value)) return non_finite(value);
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, value);
    return std::string(buf, res.ptr);
}

}  // namespace tank
