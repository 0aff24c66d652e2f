"""The deployment files of packaging/ and docs/examples/operations/, checked by the tools that
read them where this machine has those tools (systemd-analyze, rsyslogd, logrotate), by plughost
itself for what they ask of it (the Kubernetes ConfigMaps' configuration and plugins), and by
running plughost as PID 1 of a PID namespace, as the container image does. No Docker engine or
Kubernetes cluster runs here: the Dockerfile and the manifests are checked for what they must
hold (docs/deployment.md says so)."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

import yaml

SOURCE = Path(os.environ.get("PLUGHOST_SOURCE_DIR", Path(__file__).resolve().parents[3]))
BINARY = os.environ.get("PLUGHOST_BINARY", "")
UNIT = SOURCE / "packaging/systemd/plughost@.service"
KUBERNETES = SOURCE / "packaging/kubernetes"
DOCKERFILE = SOURCE / "packaging/docker/Dockerfile"
OPERATIONS = SOURCE / "docs/examples/operations"
# Bounds that only catch hangs.
SLOW = 60


def clean_env(**extra):
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}
    env.update(extra)
    return env


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=SLOW, env=kw.pop("env", clean_env()), **kw)


class Workdir(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="plughost-deploy-"))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)


class SystemdUnit(Workdir):
    def unit_settings(self):
        settings = {}
        for line in UNIT.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, _, value = line.partition("=")
                settings.setdefault(key, []).append(value)
        return settings

    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze is not installed")
    def test_systemd_analyze_verify_finds_nothing_to_say(self):
        # An instance of the template, its ExecStart on the plughost under test.
        unit = self.tmp / "plughost@worker-0.service"
        unit.write_text(UNIT.read_text().replace("/usr/bin/plughost", BINARY))
        result = run(["systemd-analyze", "verify", "--man=no", str(unit)])
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertEqual(result.stdout, "", "every line it prints is a problem")

    def test_it_matches_what_plughost_does(self):
        s = self.unit_settings()
        self.assertEqual(s["Type"], ["notify"], "plughost speaks sd_notify (READY=1, WATCHDOG=1)")
        self.assertEqual(s["KillMode"], ["mixed"], "SIGTERM to plughost alone: it stops its plugins")
        stop = int(s["TimeoutStopSec"][0].rstrip("s"))
        self.assertGreaterEqual(stop, 5 + 10, "the default stop_timeout plus draining")
        self.assertEqual(s["ExecReload"], ["/bin/kill -HUP $MAINPID"])
        self.assertEqual(s["RestartPreventExitStatus"], ["2"], "a configuration error")
        self.assertEqual(s["EnvironmentFile"], ["/etc/plughost/%i.env"],
                         "required: without it no role is set and every role's plugins run")
        for missing in ("PrivateTmp", "PrivateDevices", "ProtectClock", "MemoryDenyWriteExecute"):
            self.assertNotIn(missing, s, "it would break plugins (docs/deployment.md)")


class Kubernetes(Workdir):
    def documents(self, name):
        with open(KUBERNETES / name) as f:
            return [d for d in yaml.safe_load_all(f) if d]

    def check_workload(self, workload, config_maps):
        spec = workload["spec"]
        template = spec["template"]
        labels = template["metadata"]["labels"]
        for key, value in spec["selector"]["matchLabels"].items():
            self.assertEqual(labels.get(key), value, "the selector must match the pod's labels")
        pod = template["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        for volume in volumes.values():
            if "configMap" in volume:
                self.assertIn(volume["configMap"]["name"], config_maps)
        names = set()
        for c in pod["containers"]:
            self.assertTrue(c["name"] and c["image"], c)
            self.assertNotIn(c["name"], names)
            names.add(c["name"])
            for mount in c.get("volumeMounts", []):
                self.assertIn(mount["name"], volumes, f"{c['name']} mounts {mount['name']}")
        plughost = next(c for c in pod["containers"] if c["name"] == "plughost")
        ports = {p["name"]: p["containerPort"] for p in plughost["ports"]}
        probe = plughost["livenessProbe"]["httpGet"]
        self.assertEqual(probe["path"], "/healthz")
        self.assertIn(probe["port"], ports)
        # A startup or readiness probe on /readyz (docs/health.md), never both on a sidecar.
        readyz = [k for k in ("startupProbe", "readinessProbe") if k in plughost]
        self.assertEqual(len(readyz), 1, readyz)
        self.assertEqual(plughost[readyz[0]]["httpGet"]["path"], "/readyz")
        self.assertIn(plughost[readyz[0]]["httpGet"]["port"], ports)
        annotations = template["metadata"]["annotations"]
        self.assertEqual(annotations["prometheus.io/scrape"], "true")
        self.assertEqual(int(annotations["prometheus.io/port"]), ports["metrics"])
        self.assertEqual(annotations["prometheus.io/path"], "/metrics")
        self.assertGreaterEqual(pod["terminationGracePeriodSeconds"], 15)
        return pod, plughost

    def check_metrics_port_is_narrow(self, docs, workload, plughost):
        # /metrics and /healthz listen on the pod's IP (where the kubelet and Prometheus reach
        # them), not on every address, and a NetworkPolicy lets only chosen peers reach the port
        # while the pod's other ports stay open. The kubelet's probe comes from the node, which
        # a NetworkPolicy always allows.
        args = plughost["args"]
        address = args[args.index("--metrics-address") + 1]
        host, _, port = address.rpartition(":")
        self.assertEqual(host, "$(POD_IP)", "not 0.0.0.0: the pod's IP only")
        pod_ip = next(e for e in plughost["env"] if e["name"] == "POD_IP")
        self.assertEqual(pod_ip["valueFrom"]["fieldRef"]["fieldPath"], "status.podIP")
        metrics_port = {p["name"]: p["containerPort"] for p in plughost["ports"]}["metrics"]
        self.assertEqual(int(port), metrics_port)
        template = workload["spec"]["template"]
        labels = template["metadata"]["labels"]
        policies = [d for d in docs if d["kind"] == "NetworkPolicy"
                    and d["spec"]["podSelector"]["matchLabels"].items() <= labels.items()]
        self.assertEqual(len(policies), 1, "one NetworkPolicy selects the pod")
        spec = policies[0]["spec"]
        self.assertEqual(spec["policyTypes"], ["Ingress"])
        allowed_from_anywhere = set()
        for rule in spec["ingress"]:
            ports = {p["port"] for p in rule.get("ports", [])}
            self.assertTrue(ports, "a rule without ports would open every port")
            if not rule.get("from"):
                allowed_from_anywhere |= ports
        self.assertNotIn(metrics_port, allowed_from_anywhere)
        self.assertTrue(any(metrics_port in {p["port"] for p in r.get("ports", [])} and r.get("from")
                            for r in spec["ingress"]), "Prometheus must still reach it")
        for c in template["spec"]["containers"]:
            for p in c.get("ports", []):
                if c is not plughost:
                    self.assertIn(p["containerPort"], allowed_from_anywhere,
                                  f"the policy must not cut {c['name']} off")

    def plugins_folder(self, config_map):
        # As the kubelet lays out a ConfigMap volume: a folder writable by all, the files in a
        # timestamped folder reached through ..data, and a link per key.
        self.tmp.chmod(0o755)
        folder = self.tmp / config_map["metadata"]["name"]
        data = folder / "..2026_11_27_12_00_00.000000001"
        data.mkdir(parents=True)
        for name, text in config_map["data"].items():
            (data / name).write_text(text)
            (data / name).chmod(0o755)
        (folder / "..data").symlink_to(data.name)
        for name in config_map["data"]:
            (folder / name).symlink_to(f"..data/{name}")
        folder.chmod(0o1777)
        return folder

    def plughost_list(self, args, env, container):
        # As the container's user (when the test can be it).
        security = container.get("securityContext", {})
        self.assertTrue(security.get("runAsNonRoot"), "root refuses a ConfigMap's plugins")
        user, group = security["runAsUser"], security["runAsGroup"]
        as_user = None
        if os.geteuid() == 0:
            def as_user():
                os.setgid(group)
                os.setuid(user)
        result = subprocess.run([BINARY, "list", "--json", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, timeout=SLOW,
                                env=clean_env(**env), cwd=self.tmp, preexec_fn=as_user)
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout)

    def env_of(self, container):
        return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}

    def test_every_document_has_what_kubernetes_requires(self):
        for name in ("sidecar.yaml", "daemonset.yaml"):
            for doc in self.documents(name):
                with self.subTest(file=name, kind=doc.get("kind")):
                    self.assertIn(doc["apiVersion"], ("v1", "apps/v1", "networking.k8s.io/v1"))
                    self.assertIn(doc["kind"],
                                  ("ConfigMap", "Deployment", "DaemonSet", "NetworkPolicy"))
                    self.assertRegex(doc["metadata"]["name"], r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
                    if doc["kind"] == "ConfigMap":
                        for key in doc["data"]:
                            self.assertRegex(key, r"^[-._a-zA-Z0-9]+$")

    def test_the_sidecar_runs_its_plugins_with_its_configuration(self):
        docs = self.documents("sidecar.yaml")
        maps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        pod, plughost = self.check_workload(deployment, maps)
        self.check_metrics_port_is_narrow(docs, deployment, plughost)
        # The configuration as mounted, its plugin location pointed at the ConfigMap's files.
        plugins = self.plugins_folder(maps["lmcache-plugins"])
        config = yaml.safe_load(maps["lmcache-config"]["data"]["lmcache.yaml"])
        self.assertEqual(config["runtime_plugin_locations"], ["/opt/lmcache/plugins"])
        self.assertNotIn("metrics_address", config["plughost"], "the command line gives it")
        config["runtime_plugin_locations"] = [str(plugins)]
        (self.tmp / "lmcache.yaml").write_text(yaml.safe_dump(config))
        env = self.env_of(plughost)
        env["LMCACHE_CONFIG_FILE"] = str(self.tmp / "lmcache.yaml")
        plan = self.plughost_list([], env, plughost)
        self.assertEqual(plan["identity"], {"role": "WORKER", "worker_id": 0, "worker_count": 1})
        decisions = {p["name"]: p["decision"] for p in plan["plugins"]}
        self.assertEqual(decisions, {"all_heartbeat.sh": "run", "worker_0_cache_report.py": "run"})
        self.assertFalse(pod["shareProcessNamespace"])

    def test_the_daemonset_runs_its_plugins(self):
        docs = self.documents("daemonset.yaml")
        maps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
        daemonset = next(d for d in docs if d["kind"] == "DaemonSet")
        _, plughost = self.check_workload(daemonset, maps)
        self.check_metrics_port_is_narrow(docs, daemonset, plughost)
        plugins = self.plugins_folder(maps["lmcache-server-plugins"])
        args = plughost["args"]
        self.assertEqual(args[0], "run")
        location = args[args.index("--location") + 1]
        metrics = args[args.index("--metrics-address") + 1]
        self.assertEqual(int(metrics.rsplit(":", 1)[1]), 9464)
        self.assertEqual(location, "/opt/lmcache/plugins")
        plan = self.plughost_list(["--location", str(plugins)], self.env_of(plughost), plughost)
        self.assertEqual([(p["name"], p["decision"]) for p in plan["plugins"]],
                         [("all_disk_report.sh", "run")])


class Dockerfile(unittest.TestCase):
    def test_two_stages_on_debian_12_the_runtime_holds_the_package(self):
        text = DOCKERFILE.read_text()
        stages = re.findall(r"^FROM (\S+)(?: AS (\S+))?$", text, re.M)
        self.assertEqual(stages, [("debian:12", "build"), ("debian:12-slim", "")])
        build, runtime = re.split(r"^FROM debian:12-slim$", text, flags=re.M)
        self.assertIn("./scripts/install-deps.sh build", build, "build dependencies only")
        self.assertIn("make package", build)
        self.assertIn("COPY --from=build", runtime)
        self.assertRegex(runtime, r"apt-get install -y --no-install-recommends "
                                  r"/tmp/packages/plughost_\*\.deb python3")
        self.assertIn('ENTRYPOINT ["/usr/bin/plughost"]', runtime)
        self.assertIn("STOPSIGNAL SIGTERM", runtime)
        ignored = (SOURCE / ".dockerignore").read_text().split()
        for folder in ("build", "build-*", "dist", ".git"):
            self.assertIn(folder, ignored)


class LogSnippets(Workdir):
    @unittest.skipUnless(os.path.exists("/usr/sbin/rsyslogd"), "rsyslog is not installed")
    def test_rsyslog_accepts_the_forwarding_and_the_central_configuration(self):
        # The central one names its certificate files: files of the test's stand in for them.
        tls = self.tmp / "tls"
        tls.mkdir()
        for name in ("ca.pem", "server.pem", "server.key"):
            (tls / name).write_text("")
        central = self.tmp / "central.conf"
        central.write_text((OPERATIONS / "rsyslog-central.conf").read_text()
                           .replace("/etc/rsyslog/tls/", f"{tls}/"))
        for snippet in (OPERATIONS / "rsyslog-forward.conf", central):
            with self.subTest(snippet=snippet.name):
                main = self.tmp / "rsyslog.conf"
                main.write_text('module(load="imuxsock" SysSock.Use="off")\n'
                                f'include(file="{snippet}")\n')
                result = run(["/usr/sbin/rsyslogd", "-N1", "-f", str(main)])
                self.assertEqual(result.returncode, 0, result.stdout)
                self.assertNotIn("error", result.stdout.lower())

    @unittest.skipUnless(os.path.exists("/usr/sbin/logrotate"), "logrotate is not installed")
    def test_logrotate_reads_the_snippet(self):
        logs = self.tmp / "log"
        logs.mkdir()
        (logs / "plugins-WORKER-0.jsonl").write_text("{}\n")
        conf = self.tmp / "plughost"
        conf.write_text((OPERATIONS / "logrotate-plughost").read_text()
                        .replace("/var/log/lmcache", str(logs)))
        result = run(["/usr/sbin/logrotate", "-d", "-s", str(self.tmp / "state"), str(conf)])
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn("considering log " + str(logs / "plugins-WORKER-0.jsonl"), result.stdout)
        self.assertNotIn("error", result.stdout.lower())


    @unittest.skipUnless(os.path.exists("/usr/sbin/logrotate"), "logrotate is not installed")
    def test_the_snippet_has_each_plughost_reopen_its_files_by_its_socket(self):
        logs = self.tmp / "log"
        logs.mkdir()
        sockets = self.tmp / "run"
        sockets.mkdir(mode=0o700)
        plugins = self.tmp / "plugins"
        plugins.mkdir()
        (plugins / "all_ticks.sh").write_text("while :; do echo tick; sleep 0.05; done\n")
        log = logs / "plugins-WORKER-0.jsonl"
        host = subprocess.Popen(
            [BINARY, "run", "--location", str(plugins), "--sink", f"jsonl:{log}",
             "--socket", str(sockets / "w.sock")],
            env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(lambda: host.poll() is None and host.kill())
        deadline = time.time() + SLOW
        while time.time() < deadline and not (log.exists() and log.stat().st_size > 0):
            time.sleep(0.05)
        conf = self.tmp / "plughost"
        conf.write_text((OPERATIONS / "logrotate-plughost").read_text()
                        .replace("/var/log/lmcache", str(logs))
                        .replace("/run/plughost", str(sockets))
                        .replace("plughost reopen", f"{BINARY} reopen"))
        result = run(["/usr/sbin/logrotate", "-f", "-s", str(self.tmp / "state"), str(conf)])
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertTrue((logs / "plugins-WORKER-0.jsonl.1").exists(), list(logs.iterdir()))
        # Reopened under its name: new records go to a new file, and plughost runs on.
        while time.time() < deadline and not (log.exists() and log.stat().st_size > 0):
            time.sleep(0.05)
        self.assertTrue(log.exists() and log.stat().st_size > 0, "not reopened")
        self.assertIsNone(host.poll())
        host.send_signal(signal.SIGTERM)
        self.assertEqual(host.wait(timeout=SLOW), 0)


class PidOne(Workdir):
    """plughost as PID 1 of a PID namespace, as in its container image."""

    @unittest.skipUnless(shutil.which("unshare") and os.geteuid() == 0,
                         "needs unshare and root (a PID namespace)")
    def test_it_reaps_orphans_and_stops_its_plugins_on_sigterm(self):
        plugins = self.tmp / "plugins"
        plugins.mkdir()
        (plugins / "all_orphans.sh").write_text(
            "echo parent=$PPID\n"
            "trap 'echo stopping; exit 0' TERM\n"
            "while true; do (sleep 0.01 &); sleep 0.05; done\n")
        records = self.tmp / "records.jsonl"
        host = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", BINARY, "run",
             "--location", str(plugins), "--sink", f"jsonl:{records}", "--socket", "none"],
            env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(lambda: host.poll() is None and host.kill())
        lines = lambda: [json.loads(l) for l in records.read_text().splitlines()] \
            if records.exists() else []
        deadline = time.time() + SLOW
        while time.time() < deadline and not any(r.get("line") == "parent=1" for r in lines()):
            time.sleep(0.05)
        self.assertTrue(any(r.get("line") == "parent=1" for r in lines()),
                        "the plugin's parent is PID 1, plughost")
        # plughost, as the host sees it: the child of unshare.
        children = Path(f"/proc/{host.pid}/task/{host.pid}/children").read_text().split()
        self.assertEqual(len(children), 1)
        plughost = int(children[0])
        time.sleep(1)  # a few dozen orphans have come and gone
        zombies = []
        for task in Path(f"/proc/{plughost}/task").iterdir():
            for child in (task / "children").read_text().split():
                stat = Path(f"/proc/{child}/stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] == "Z":
                    zombies.append(child)
        self.assertLessEqual(len(zombies), 2, "orphans are reaped as they end")
        os.kill(plughost, signal.SIGTERM)
        self.assertEqual(host.wait(timeout=SLOW), 0, host.stderr.read().decode())
        said = [r.get("line") for r in lines()]
        self.assertIn("stopping", said, "SIGTERM reached plughost and it stopped its plugin")


if __name__ == "__main__":
    unittest.main()
