// Result of a command or a validation: ok, or a message naming what was wrong.
//
// The core never throws: every fallible function returns a Status, and the binding
// layer turns a failed one into a Python ValueError carrying the message unchanged.
#pragma once

#include <string>
#include <utility>

namespace tank {

class Status {
public:
    Status() = default;  // ok
    static Status error(std::string message) { return Status(std::move(message)); }

    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const std::string& message() const { return message_; }

    // Prefix the message, e.g. with "tank 3: " once the caller knows the tank.
    Status& prefixed(const std::string& prefix) {
        if (failed_) message_.insert(0, prefix);
        return *this;
    }

private:
    explicit Status(std::string message) : failed_(true), message_(std::move(message)) {}
    bool failed_ = false;
    std::string message_;
};

// A value as Python's repr() shows it ("-1.0", "7.0", "nan", "1e-05"), so that the
// messages read the same as the Python the operator typed.
std::string format_repr(double value);

// A bound in a message: shortest round-trip form without a forced ".0" ("0", "5", "1e+06").
std::string format_bound(double value);

}  // namespace tank
