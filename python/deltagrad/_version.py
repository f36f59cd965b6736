"""The package version, in one place: pyproject.toml reads it from here (scikit-build-core's regex
metadata provider), so does CMake (SKBUILD_PROJECT_VERSION -> _cpu.__version__), and
deltagrad/__init__.py imports it."""

__version__ = "0.3.0"
