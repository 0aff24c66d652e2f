"""install(): makes a running LMCache use the drop-in launchers, without editing LMCache's files."""

import sys
import threading

# LMCache module → the classes in it that the drop-in replaces.
_TARGETS = {
    "lmcache.v1.plugin.runtime_plugin_launcher": ("RuntimePluginLauncher",),
    "lmcache.v1.multiprocess.mp_runtime_plugin_launcher": ("MPRuntimePluginLauncher",),
    # LMCache 0.3.10 and older, and vLLM's fallback when RuntimePluginLauncher is missing.
    "lmcache.v1.plugin.plugin_launcher": ("PluginLauncher",),
}

_lock = threading.RLock()
# id(original class) → (original, replacement); the original is kept so that the id stays its.
_originals = {}
# (module, attribute, original, replacement), for uninstall().
_replaced = []


def _replacement(attribute):
    # Imported only once an LMCache launcher module exists: install() at start-up stays cheap.
    if attribute == "RuntimePluginLauncher":
        from ._launcher import RuntimePluginLauncher

        return RuntimePluginLauncher
    if attribute == "PluginLauncher":
        from ._legacy import PluginLauncher

        return PluginLauncher
    from ._mp import MPRuntimePluginLauncher

    return MPRuntimePluginLauncher


def _replace_originals_in(module):
    try:
        namespace = vars(module)
    except TypeError:
        return
    if not isinstance(namespace, dict):
        return
    for attribute, value in list(namespace.items()):
        entry = _originals.get(id(value))
        if entry is None or entry[0] is not value:
            continue
        try:
            setattr(module, attribute, entry[1])
        except Exception:  # a module type that refuses attributes keeps the original
            continue
        _replaced.append((module, attribute, entry[0], entry[1]))


def _patch_target(module):
    for attribute in _TARGETS.get(getattr(module, "__name__", None), ()):
        current = vars(module).get(attribute)
        if current is None:
            continue
        replacement = _replacement(attribute)
        if current is not replacement:
            _originals[id(current)] = (current, replacement)
    _replace_originals_in(module)


class _PatchingLoader:
    """Runs the real loader, then puts the drop-in classes in the module it just executed."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module):
        self._loader.exec_module(module)
        try:
            with _lock:
                _patch_target(module)
        except Exception as e:  # LMCache keeps its own launcher rather than failing to import
            sys.stderr.write(f"plughost_lmcache: could not replace {module.__name__}'s "
                             f"launcher: {e}\n")

    def __getattr__(self, name):
        # get_source, get_filename, is_package, get_resource_reader...: the real loader's.
        return getattr(self._loader, name)


class _LMCacheFinder:
    """A sys.meta_path entry that wraps the loader of LMCache's three launcher modules."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _TARGETS:
            return None
        for finder in list(sys.meta_path):
            if isinstance(finder, _LMCacheFinder):
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is None:
                continue
            if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _PatchingLoader(spec.loader)
            return spec
        return None


_finder = _LMCacheFinder()


def install():
    """Make LMCache use plughost_lmcache's launchers, now and for modules imported later.

    Replaces the classes in LMCache's three launcher modules if they are loaded, every reference
    to the original classes held by a loaded module (`from ... import RuntimePluginLauncher`),
    and wraps the loading of those modules when they are imported later. Idempotent.
    """
    with _lock:
        for name in _TARGETS:
            module = sys.modules.get(name)
            if module is not None:
                _patch_target(module)
        if _originals:
            for module in list(sys.modules.values()):
                if module is not None:
                    _replace_originals_in(module)
        if not any(isinstance(f, _LMCacheFinder) for f in sys.meta_path):
            sys.meta_path.insert(0, _finder)


def uninstall():
    """Undo install(): what it replaced gets the original classes back; later imports stay."""
    with _lock:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _LMCacheFinder)]
        for module, attribute, original, replacement in reversed(_replaced):
            try:
                if getattr(module, attribute, None) is replacement:
                    setattr(module, attribute, original)
            except Exception:
                pass
        _replaced.clear()
        _originals.clear()
