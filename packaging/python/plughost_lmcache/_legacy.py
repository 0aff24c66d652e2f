"""The drop-in PluginLauncher: LMCache's launcher before RuntimePluginLauncher (0.3.10 and older).

vLLM still imports it when RuntimePluginLauncher is missing. Its contract differs from the
newer one: the locations are `plugin_locs` (later `plugin_locations`), the constructor was first
(config, role, worker_id) and later (config, role, worker_count, worker_id), the role was
vLLM's enum (matched by its name), and plugins got only LMCACHE_PLUGIN_* variables.
"""

from ._launcher import RuntimePluginLauncher

MODULE_NAME = "lmcache.v1.plugin.plugin_launcher"


class PluginLauncher(RuntimePluginLauncher):
    """LMCache's old PluginLauncher, both of its constructors; plughost runs the plugins."""

    _MODULE = MODULE_NAME
    _MESSAGES = {
        "missing": "Plugin location %s does not exist",
        "launched": "Launched plugin: %s with %s",
        "exited": "Plugin %s exited with code %d",
        "worker": "worker %d is skipping plugin %s, which is only for worker ID %d",
        "noun": "Plugin",
    }
    _VARIABLE_PREFIXES = ("LMCACHE_PLUGIN_",)

    def __init__(self, config, role, *numbers, worker_count=None, worker_id=None):
        if len(numbers) == 1 and worker_id is None:
            (worker_id,) = numbers  # (config, role, worker_id): the first form
        elif len(numbers) == 2 and worker_count is None and worker_id is None:
            worker_count, worker_id = numbers
        elif numbers or worker_id is None:
            raise TypeError("PluginLauncher() takes (config, role, worker_id) or "
                            "(config, role, worker_count, worker_id)")
        # The first form set no LMCACHE_PLUGIN_WORKER_COUNT and logged another skip line.
        self._with_count = worker_count is not None
        if not self._with_count:
            # No count to check the id against (plughost warns when the id is not below it);
            # plugins do not see it in this form.
            worker_count = worker_id + 1 if isinstance(worker_id, int) and worker_id > 0 else 1
        super().__init__(config, role, worker_count, worker_id)
        if self._with_count:
            self._locations_keys = ("plugin_locations", "plugin_locs")
        else:
            self._locations_keys = ("plugin_locs", "plugin_locations")
            self._MESSAGES = dict(self._MESSAGES, worker="Skipping %s: requires worker ID %d")
        self._LOCATIONS_KEY = self._locations_keys[0]

    def _configured_locations(self):
        for key in self._locations_keys:
            if hasattr(self.config, key):
                return getattr(self.config, key)
        return getattr(self.config, self._locations_keys[0])  # LMCache's AttributeError

    def _log_skip_worker(self, display, wanted, extra=None):
        if self._with_count:
            super()._log_skip_worker(display, wanted, extra)
        else:
            self._logger.info(self._MESSAGES["worker"], display, wanted, extra=extra)

    def _role_text(self):
        return str(self.role)  # str(role) whatever its type, as that launcher wrote it

    def _variable_arguments(self):
        args = super()._variable_arguments()
        if not self._with_count:
            args.append("--plugin-variable=LMCACHE_PLUGIN_WORKER_COUNT")
        return args
