// twin._core: the Python face of the tank core. The only binding file.
//
// Failed Status -> ValueError with the core's message. step() releases the GIL; a mutex
// serialises step() with the commands, so a command from another thread waits for the
// step in progress instead of racing it. Array properties are read-only numpy views into
// the plant's own vectors, with the Plant object as their base (keep-alive).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "tank/model.hpp"
#include "tank/params.hpp"
#include "tank/plant.hpp"

namespace py = pybind11;
using tank::ParamInfo;
using tank::ParamKind;
using tank::TankParams;

#ifndef TANK_TWIN_VERSION
#define TANK_TWIN_VERSION "0+unknown"
#endif

namespace {

struct PyPlant {
    PyPlant(std::vector<TankParams> tanks, double dt) : plant(std::move(tanks), dt) {}
    tank::Plant plant;
    std::mutex mutex;  // held by step() and by every command
};

using Lock = std::lock_guard<std::mutex>;

void check(const tank::Status& s) {
    if (!s) throw py::value_error(s.message());
}

template <class T>
py::array read_only_view(const T* data, std::size_t n, py::handle owner) {
    py::array_t<T> view({n}, {sizeof(T)}, data, owner);
    py::detail::array_proxy(view.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
    return std::move(view);
}

std::string repr(const TankParams& p) {
    std::string out = "TankParams(";
    for (int k = 0; k < tank::kParamCount; ++k) {
        const ParamInfo& info = tank::param_info(k);
        out += std::string(k ? ", " : "") + info.name + "=";
        switch (info.ref.kind) {
            case ParamKind::kFloat: out += tank::format_repr(tank::get_float(p, info.ref.index)); break;
            case ParamKind::kInt: out += std::to_string(tank::get_int(p, info.ref.index)); break;
            case ParamKind::kSeed: out += std::to_string(p.seed); break;
        }
    }
    return out + ")";
}

// TankParams(**kwargs): each value goes through the attribute's own setter (type checks).
TankParams params_from_kwargs(const py::dict& fields) {
    py::object obj = py::cast(TankParams{});
    for (auto item : fields) {
        const auto name = item.first.cast<std::string>();
        const auto info = tank::find_param(name);
        if (!info)
            throw py::type_error("TankParams() got an unexpected keyword argument '" + name + "'");
        try {
            obj.attr(name.c_str()) = item.second;
        } catch (py::error_already_set& e) {
            if (!e.matches(PyExc_TypeError)) throw;
            const bool is_float = info->ref.kind == ParamKind::kFloat;
            throw py::type_error(name + ": expected " + (is_float ? "a float" : "an int") +
                                 " (got " + std::string(py::str(py::type::of(item.second).attr(
                                                "__name__"))) + ")");
        }
    }
    return obj.cast<TankParams>();
}

py::dict params_to_dict(const TankParams& p) {
    py::dict d;
    py::object obj = py::cast(p);
    for (int k = 0; k < tank::kParamCount; ++k) {
        const char* name = tank::param_info(k).name;
        d[name] = obj.attr(name);
    }
    return d;
}

void bind_param_fields(py::class_<TankParams>& cls) {
    for (int k = 0; k < tank::kParamCount; ++k) {
        const ParamInfo& info = tank::param_info(k);
        const int index = info.ref.index;
        switch (info.ref.kind) {
            case ParamKind::kFloat:
                cls.def_property(
                    info.name, [index](const TankParams& p) { return tank::get_float(p, index); },
                    [index](TankParams& p, double v) { tank::set_float(p, index, v); });
                break;
            case ParamKind::kInt:
                cls.def_property(
                    info.name, [index](const TankParams& p) { return tank::get_int(p, index); },
                    [index](TankParams& p, int32_t v) { tank::set_int(p, index, v); });
                break;
            case ParamKind::kSeed:
                cls.def_readwrite(info.name, &TankParams::seed);
                break;
        }
    }
}

void bind_tank_params(py::module_& m) {
    py::class_<TankParams> cls(m, "TankParams",
                               "Configured parameters of one tank; the defaults are PHYSICS.md's.");
    cls.def(py::init([](const py::kwargs& kw) { return params_from_kwargs(kw); }))
        .def("validate", [](const TankParams& p) { check(tank::validate(p)); },
             "Raise ValueError naming the field if any value is invalid.")
        .def("__repr__", &repr)
        .def("__eq__", [](const TankParams& a, const TankParams& b) { return a == b; })
        .def(py::pickle(&params_to_dict,
                        [](const py::dict& d) { return params_from_kwargs(d); }));
    bind_param_fields(cls);
}

// Array properties of Plant: name, docstring, and where the values live.
struct DoubleView {
    const char* name;
    const char* doc;
    bool is_param;
    int column;
};

const DoubleView kDoubleViews[] = {
    {"level", "Measured level h_meas [m] (what clients read).", false, tank::kLevel},
    {"level_true", "True level h [m].", false, tank::kLevelTrue},
    {"setpoint", "Level setpoint [m].", true, tank::kSetpoint},
    {"inlet_flow", "Inlet flow for the next step [m3/s].", true, tank::kInletFlow},
    {"outlet_flow", "Mean outlet flow over the last step [m3/s].", false, tank::kOutletFlow},
    {"overflow_flow", "Overflow over the last step [m3/s].", false, tank::kOverflowFlow},
    {"leak_flow", "Leak that left over the last step [m3/s].", false, tank::kEffectiveLeak},
    {"valve_command", "Commanded valve opening [1].", false, tank::kValveCommand},
    {"valve_position", "Actual valve opening [1].", false, tank::kValvePosition},
    {"controller_output", "PID output clamped to [u_min, u_max] [1].", false,
     tank::kControllerOutput},
    {"error", "Control error h_sp - h_meas [m].", false, tank::kError},
    {"integral", "Integrator state z [m s].", false, tank::kIntegral},
    {"level_drift", "Offset the level drift fault has accumulated [m].", false,
     tank::kLevelDrift},
};

py::array double_view(py::handle self, const DoubleView& v) {
    const tank::Plant& p = self.cast<PyPlant&>().plant;
    const double* data = v.is_param ? p.float_param(v.column) : p.state(v.column);
    return read_only_view(data, p.size(), self);
}

py::array param_array(py::handle self, const std::string& field) {
    const auto info = tank::find_param(field);
    if (!info) throw py::value_error(field + ": no such parameter");
    if (info->ref.kind == ParamKind::kSeed)
        throw py::value_error(field + ": not available as an array (read it with params())");
    const tank::Plant& p = self.cast<PyPlant&>().plant;
    const double* data = info->ref.kind == ParamKind::kFloat
                             ? p.float_param(info->ref.index)
                             : p.int_param_as_float(info->ref.index);
    return read_only_view(data, p.size(), self);
}

void bind_commands(py::class_<PyPlant>& cls) {
    cls.def("set_setpoint", [](PyPlant& s, int64_t tank, double v) {
           Lock lock(s.mutex);
           check(s.plant.set_setpoint(tank, v));
       }, py::arg("tank"), py::arg("value"))
        .def("set_inlet_flow", [](PyPlant& s, int64_t tank, double v) {
            Lock lock(s.mutex);
            check(s.plant.set_inlet_flow(tank, v));
        }, py::arg("tank"), py::arg("value"))
        .def("set_valve_command", [](PyPlant& s, int64_t tank, double v) {
            Lock lock(s.mutex);
            check(s.plant.set_valve_command(tank, v));
        }, py::arg("tank"), py::arg("value"))
        .def("set_mode", [](PyPlant& s, int64_t tank, int64_t mode) {
            Lock lock(s.mutex);
            check(s.plant.set_mode(tank, mode));
        }, py::arg("tank"), py::arg("mode"))
        .def("set_param", [](PyPlant& s, int64_t tank, const std::string& field, double v) {
            Lock lock(s.mutex);
            check(s.plant.set_param(tank, field, v));
        }, py::arg("tank"), py::arg("field"), py::arg("value"))
        .def("reset", [](PyPlant& s, int64_t tank) {
            Lock lock(s.mutex);
            check(s.plant.reset(tank));
        }, py::arg("tank") = -1);
}

void bind_state(py::class_<PyPlant>& cls) {
    cls.def("save_state", [](PyPlant& s) {
           std::vector<uint8_t> bytes;
           {
               Lock lock(s.mutex);
               bytes = s.plant.save_state();
           }
           return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
       })
        .def("load_state", [](PyPlant& s, const py::bytes& state) {
            char* data = nullptr;
            Py_ssize_t size = 0;
            PyBytes_AsStringAndSize(state.ptr(), &data, &size);
            Lock lock(s.mutex);
            check(s.plant.load_state(reinterpret_cast<const uint8_t*>(data),
                                     static_cast<std::size_t>(size)));
        }, py::arg("state"));
}

void bind_views(py::class_<PyPlant>& cls) {
    for (const DoubleView& v : kDoubleViews)
        cls.def_property_readonly(v.name, [&v](py::object self) { return double_view(self, v); },
                                  v.doc);
    cls.def_property_readonly("mode", [](py::object self) {
        const tank::Plant& p = self.cast<PyPlant&>().plant;
        return read_only_view(p.int_param(tank::kModeParam), p.size(), self);
    }, "Controller mode of each tank (AUTO, MANUAL, EXTERNAL).")
        .def_property_readonly("flags", [](py::object self) {
            const tank::Plant& p = self.cast<PyPlant&>().plant;
            return read_only_view(p.flags(), p.size(), self);
        }, "Status bits FLAG_OVERFLOWING | FLAG_EMPTY of the last step.")
        .def("param_array", &param_array, py::arg("field"),
             "Read-only float64 view of one TankParams field across all tanks.");
}

void bind_plant(py::module_& m) {
    py::class_<PyPlant> cls(m, "Plant", "N tanks kept as structure-of-arrays, advanced together.");
    cls.def(py::init([](std::vector<TankParams> tanks, double dt) {
           check(tank::Plant::validate(tanks, dt));
           return std::make_unique<PyPlant>(std::move(tanks), dt);
       }), py::arg("tanks"), py::arg("dt") = 0.1)
        .def_property_readonly("n", [](const PyPlant& s) { return s.plant.size(); })
        .def_property_readonly("dt", [](const PyPlant& s) { return s.plant.dt(); })
        .def_property_readonly("time", [](const PyPlant& s) { return s.plant.time(); })
        .def_property_readonly("steps", [](const PyPlant& s) { return s.plant.steps(); })
        .def("step", [](PyPlant& s, int64_t n) {
            if (n < 0) throw py::value_error("n: must be >= 0 (got " + std::to_string(n) + ")");
            py::gil_scoped_release release;
            Lock lock(s.mutex);
            s.plant.step(n);
        }, py::arg("n") = 1, "Advance every tank n internal steps with the GIL released.")
        .def("params", [](PyPlant& s, int64_t tank) {
            TankParams p;
            Lock lock(s.mutex);
            check(s.plant.params(tank, p));
            return p;
        }, py::arg("tank"))
        .def("__repr__", [](const PyPlant& s) {
            return "<Plant n=" + std::to_string(s.plant.size()) + " dt=" +
                   tank::format_repr(s.plant.dt()) + " steps=" + std::to_string(s.plant.steps()) +
                   ">";
        });
    bind_commands(cls);
    bind_state(cls);
    bind_views(cls);
}

void bind_constants(py::module_& m) {
    m.attr("__version__") = TANK_TWIN_VERSION;
    m.attr("AUTO") = int{tank::kAuto};
    m.attr("MANUAL") = int{tank::kManual};
    m.attr("EXTERNAL") = int{tank::kExternal};
    m.attr("LINEAR") = int{tank::kLinear};
    m.attr("EQUAL_PERCENTAGE") = int{tank::kEqualPercentage};
    m.attr("ON_MEASUREMENT") = int{tank::kOnMeasurement};
    m.attr("ON_ERROR") = int{tank::kOnError};
    m.attr("CONSTANT") = int{tank::kConstant};
    m.attr("BROWNIAN") = int{tank::kBrownian};
    m.attr("FAIL_NONE") = int{tank::kFailNone};
    m.attr("FAIL_LOW") = int{tank::kFailLow};
    m.attr("FAIL_HIGH") = int{tank::kFailHigh};
    m.attr("FAIL_WIRE_BREAK") = int{tank::kFailWireBreak};
    m.attr("FAIL_LOW_LEVEL_FRACTION") = tank::kFailLowLevelFraction;
    m.attr("FAIL_HIGH_LEVEL_FRACTION") = tank::kFailHighLevelFraction;
    m.attr("WIRE_BREAK_LEVEL_FRACTION") = tank::kWireBreakLevelFraction;
    m.attr("FLAG_OVERFLOWING") = tank::kFlagOverflowing;
    m.attr("FLAG_EMPTY") = tank::kFlagEmpty;
    m.attr("DT_MIN") = tank::kMinDt;
    m.attr("DT_MAX") = tank::kMaxDt;
    py::list all, runtime;
    for (int k = 0; k < tank::kParamCount; ++k) {
        const ParamInfo& info = tank::param_info(k);
        all.append(info.name);
        if (info.access == tank::ParamAccess::kRuntime) runtime.append(info.name);
    }
    m.attr("PARAM_FIELDS") = py::tuple(all);
    m.attr("RUNTIME_FIELDS") = py::tuple(runtime);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "C++ core of tank-twin: N level-controlled tanks (see PHYSICS.md).";
    bind_constants(m);
    bind_tank_params(m);
    bind_plant(m);
}
