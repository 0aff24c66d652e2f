"""The drop-in MPRuntimePluginLauncher: LMCache's multiprocess-mode wrapper, over the drop-in."""

import dataclasses
import json
import sys
from dataclasses import dataclass
from typing import Any, Dict, List

from ._launcher import RuntimePluginLauncher, lmcache_logger

LOGGER_NAME = "lmcache.v1.multiprocess.mp_runtime_plugin_launcher"
_LMCACHE_RUNTIME_MODULE = "lmcache.v1.plugin.runtime_plugin_launcher"


def _inner_class():
    """The RuntimePluginLauncher LMCache's MP module holds now, as LMCache's code would use it.

    Read at each construction, so that a patch of the module's name (LMCache's own tests
    replace it with a mock) applies. LMCache's original class, should the module still hold
    it, is not taken: the drop-in MP launcher always runs plugins through plughost.
    """
    module = sys.modules.get(LOGGER_NAME)
    found = getattr(module, "RuntimePluginLauncher", None) if module is not None else None
    if found is None or getattr(found, "__module__", None) == _LMCACHE_RUNTIME_MODULE:
        return RuntimePluginLauncher
    return found


def _safe_asdict(obj: Any) -> Dict[str, Any]:
    # The same check and the same message as LMCache, so callers' error handling still matches.
    if not hasattr(obj, "__dataclass_fields__"):
        raise TypeError("Expected a dataclass instance, got %s" % type(obj).__name__)
    return _make_json_safe(dataclasses.asdict(obj))


def _make_json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _make_json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_make_json_safe(v) for v in obj]
    if isinstance(obj, (str, int, float, bool, type(None))):
        return obj
    return str(obj)


@dataclass
class _MPPluginConfig:
    """The duck-typed config RuntimePluginLauncher needs (runtime_plugin_locations + to_json)."""

    runtime_plugin_locations: List[str]
    extra_config: Dict[str, Any]
    configs_dict: Dict[str, Any]

    def to_json(self) -> str:
        merged = dict(self.configs_dict)
        if self.extra_config:
            merged["runtime_plugin_extra_config"] = _make_json_safe(self.extra_config)
        return json.dumps(merged)


class MPRuntimePluginLauncher:
    """LMCache's MPRuntimePluginLauncher: every config dataclass aggregated into one JSON blob."""

    def __init__(self, runtime_plugin_config: Any, **configs: object) -> None:
        aggregated: Dict[str, Any] = {}
        for name, cfg in configs.items():
            aggregated[name] = _safe_asdict(cfg)

        wrapper = _MPPluginConfig(
            runtime_plugin_locations=runtime_plugin_config.locations,
            extra_config=getattr(runtime_plugin_config, "extra_config", {}),
            configs_dict=aggregated,
        )
        self._inner = _inner_class()(
            config=wrapper,
            role=None,
            worker_count=1,
            worker_id=0,
        )
        lmcache_logger(LOGGER_NAME).info("MPRuntimePluginLauncher initialized with %s", wrapper)

    def launch_plugins(self) -> None:
        self._inner.launch_plugins()

    def stop_plugins(self) -> None:
        self._inner.stop_plugins()
