"""LMCache's MPRuntimePluginLauncher test cases, restated for the drop-in; what plugins get."""

# LMCache's versions (tests/v1/multiprocess/test_mp_runtime_plugin_launcher.py) replace the inner
# RuntimePluginLauncher with a mock; here the inner launcher is the drop-in's, and runs plugins.

import json
import os
import sys
import textwrap
import unittest
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import plughost_testlib as lib  # noqa: E402
from plughost_lmcache import MPRuntimePluginLauncher, RuntimePluginLauncher  # noqa: E402


@dataclass
class _FakeRuntimePluginConfig:
    locations: list = field(default_factory=list)
    extra_config: dict = field(default_factory=dict)


@dataclass
class _FakeServerConfig:
    host: str = "localhost"
    port: int = 8080
    chunk_size: int = 256


@dataclass
class _FakeStorageConfig:
    backend: str = "local"
    capacity: int = 1024


@dataclass
class _FakeConfigWithPath:
    name: str = "test"
    path: Path = Path("/tmp/test")


class MPCasesTest(lib.PluginTestCase):
    def make(self, rpc, **configs):
        launcher = MPRuntimePluginLauncher(runtime_plugin_config=rpc, **configs)
        self.launcher(launcher)
        return launcher

    def test_init_aggregates_configs(self):
        srv = _FakeServerConfig(host="0.0.0.0", port=9090)
        stg = _FakeStorageConfig(backend="redis", capacity=2048)
        rpc = _FakeRuntimePluginConfig(locations=["/plugins"])
        with lib.captured_logs(lib.MP_LOGGER_NAME) as capture:
            launcher = self.make(rpc, server=srv, storage=stg)
        wrapper = launcher._inner.config
        self.assertEqual(wrapper.runtime_plugin_locations, ["/plugins"])
        parsed = json.loads(wrapper.to_json())
        self.assertEqual(parsed["server"]["host"], "0.0.0.0")
        self.assertEqual(parsed["server"]["port"], 9090)
        self.assertEqual(parsed["storage"]["backend"], "redis")
        self.assertEqual(parsed["storage"]["capacity"], 2048)
        self.assertEqual(capture.messages(),
                         [f"MPRuntimePluginLauncher initialized with {wrapper}"])

    def test_init_with_non_serializable_fields(self):
        cfg = _FakeConfigWithPath(name="test", path=Path("/data"))
        launcher = self.make(_FakeRuntimePluginConfig(locations=["/p"]), my_config=cfg)
        parsed = json.loads(launcher._inner.config.to_json())
        self.assertEqual(parsed["my_config"]["path"], "/data")

    def test_init_rejects_non_dataclass(self):
        with self.assertRaisesRegex(TypeError, "Expected a dataclass"):
            self.make(_FakeRuntimePluginConfig(locations=["/p"]),
                      bad_config={"not": "a dataclass"})

    def test_init_no_configs(self):
        launcher = self.make(_FakeRuntimePluginConfig(locations=["/p"]))
        self.assertEqual(json.loads(launcher._inner.config.to_json()), {})

    def test_init_passes_no_role(self):
        launcher = self.make(_FakeRuntimePluginConfig(locations=["/p"]))
        self.assertIsInstance(launcher._inner, RuntimePluginLauncher)
        self.assertIsNone(launcher._inner.role)
        self.assertEqual((launcher._inner.worker_count, launcher._inner.worker_id), (1, 0))

    def test_extra_config_is_merged(self):
        rpc = _FakeRuntimePluginConfig(locations=["/p"], extra_config={"k": (1, Path("/x"))})
        launcher = self.make(rpc)
        self.assertEqual(json.loads(launcher._inner.config.to_json()),
                         {"runtime_plugin_extra_config": {"k": [1, "/x"]}})

    def test_launch_and_stop_delegate(self):
        folder = self.folder()
        pid_file = self.track_pid_file(self.tmp / "sleeper.pid")
        lib.sleeper_plugin(folder / "scheduler_sleeper.py", pid_file)
        launcher = self.make(_FakeRuntimePluginConfig(locations=[str(folder)]))
        with lib.captured_logs():
            launcher.launch_plugins()
            pid = int(self.wait_for_file(pid_file))
            self.assertEqual([p.pid for p in launcher._inner.plugin_processes], [pid])
            self.assertFalse(lib.pid_gone(pid))
            launcher.stop_plugins()
            self.assertTrue(lib.wait_gone([pid]))

    def test_plugin_receives_to_json_byte_for_byte(self):
        folder = self.folder()
        out = self.tmp / "env.json"
        lib.write_file(folder / "worker_0_env.py", textwrap.dedent(f"""\
            #!/usr/bin/env python3
            import json, os
            names = ["LMCACHE_RUNTIME_PLUGIN_CONFIG", "LMCACHE_PLUGIN_CONFIG",
                     "LMCACHE_RUNTIME_PLUGIN_ROLE", "LMCACHE_PLUGIN_ROLE",
                     "LMCACHE_RUNTIME_PLUGIN_WORKER_ID", "LMCACHE_RUNTIME_PLUGIN_WORKER_COUNT",
                     "LMCACHE_PLUGIN_WORKER_ID", "LMCACHE_PLUGIN_WORKER_COUNT"]
            seen = {{n: os.environb[os.fsencode(n)].hex() for n in names
                     if os.fsencode(n) in os.environb}}
            with open({str(out) + '.tmp'!r}, "w") as f:
                json.dump(seen, f)
            os.rename({str(out) + '.tmp'!r}, {str(out)!r})
            """))
        rpc = _FakeRuntimePluginConfig(
            locations=[str(folder)],
            extra_config={"quote\"s": "back\\slash $HOME `x` 'y'", "nested": ({"a": None},)})
        launcher = self.make(
            rpc, server=_FakeServerConfig(host="h\u00e9te", port=1),
            paths=_FakeConfigWithPath(name="with\nnewline", path=Path("/d i r")))
        expected = os.fsencode(launcher._inner.config.to_json())
        with lib.captured_logs():
            launcher.launch_plugins()
            seen = {k: bytes.fromhex(v) for k, v in json.loads(self.wait_for_file(out)).items()}
        self.assertEqual(seen["LMCACHE_RUNTIME_PLUGIN_CONFIG"], expected)
        self.assertEqual(seen["LMCACHE_PLUGIN_CONFIG"], expected)
        self.assertEqual(seen["LMCACHE_RUNTIME_PLUGIN_ROLE"], b"")
        self.assertEqual(seen["LMCACHE_PLUGIN_ROLE"], b"")
        self.assertEqual(seen["LMCACHE_RUNTIME_PLUGIN_WORKER_ID"], b"0")
        self.assertEqual(seen["LMCACHE_PLUGIN_WORKER_ID"], b"0")
        self.assertEqual(seen["LMCACHE_RUNTIME_PLUGIN_WORKER_COUNT"], b"1")
        self.assertEqual(seen["LMCACHE_PLUGIN_WORKER_COUNT"], b"1")


if __name__ == "__main__":
    unittest.main()
