"""tank-twin: a digital twin of level-controlled tanks (C++ core in ``twin._core``)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tank-twin")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
