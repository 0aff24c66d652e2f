"""plughost_lmcache: drop-ins for LMCache's runtime-plugin launchers, run by plughost."""

__version__ = "0.1.0"

__all__ = [
    "MPRuntimePluginLauncher",
    "PluginLauncher",
    "PluginProcess",
    "RuntimePluginLauncher",
    "binary_path",
    "install",
    "uninstall",
    "__version__",
]

# The .pth file imports this package at every interpreter start-up: the names are imported on
# first use, so that start-up costs nothing when the drop-in is not wanted.
_EXPORTS = {
    "MPRuntimePluginLauncher": "_mp",
    "PluginLauncher": "_legacy",
    "PluginProcess": "_launcher",
    "RuntimePluginLauncher": "_launcher",
    "binary_path": "_launcher",
    "install": "_install",
    "uninstall": "_install",
}


def __getattr__(name):
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module_name}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
