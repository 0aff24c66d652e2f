#!/usr/bin/env python3
"""plughost's benchmark suite (`make bench`).

Every figure is compared with a baseline measured in the same run, on the same machine, as a
ratio; each is the median of several runs, with the min-max spread. Writes a Markdown table to
stdout and bench/results/latest.md, the scaling table and plot (bench/results/scaling.png), and
the results section of docs/performance.md. Nothing here is a test: no figure fails the build.

Usage: bench/run_bench.py [--build build] [--runs 5] [--quick]
"""
import argparse
import datetime
import json
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


def median_spread(values):
    return statistics.median(values), min(values), max(values)


def fmt_spread(values, unit="s", scale=1.0, digits=3):
    m, lo, hi = median_spread([v * scale for v in values])
    return f"{m:.{digits}f} {unit} ({lo:.{digits}f}–{hi:.{digits}f})"


def timed(cmd, **kw):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, **kw)
    return time.perf_counter() - start


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def cpu_seconds(pid):
    # /proc/<pid>/schedstat: nanoseconds on a CPU (finer than utime/stime's clock ticks).
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


class records_reader:
    """Reads a growing jsonl file incrementally."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.buffer = b""

    def new_records(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        return [json.loads(l) for l in lines if l]


def count_lines(path, marker=b'"stream":"stdout"'):
    n = 0
    with open(path, "rb") as f:
        for line in f:
            if marker in line:
                n += 1
    return n


class bench:
    def __init__(self, build, runs, quick):
        self.plughost = str((ROOT / build / "plughost").resolve())
        self.spawn_baseline = str((ROOT / build / "bench" / "spawn_baseline").resolve())
        self.micro = ROOT / build / "bench" / "hot_path_bench"
        self.runs = runs
        self.quick = quick
        self.tmp = Path(tempfile.mkdtemp(prefix="plughost-bench-"))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("LMCACHE_", "PLUGHOST_"))}
        self.rows = []  # (measure, plughost, baseline, ratio, target, met)
        self.scaling = []  # (n, start, start_baseline, stop, rss_kib, threads, cpu)

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def add(self, measure, plughost, baseline, ratio, target, met):
        self.rows.append((measure, plughost, baseline, ratio, target, "yes" if met else "**no**"))

    # ---- 1 and 2: line throughput -------------------------------------------------------------

    def throughput(self):
        lines = 1_000_000
        folder = self.tmp / "throughput"
        folder.mkdir()
        script = folder / "seq.sh"
        script.write_text(f"seq 1 {lines}\n")
        base, results = [], {"jsonl": [], "file": []}
        for _ in range(self.runs):
            out = folder / "direct.txt"
            base.append(timed(["bash", "-c", f"bash {script} > {out}"], env=self.env))
            out.unlink()
            for sink in ("jsonl", "file"):
                dest = folder / f"out.{sink}"
                # The file sink without rotation: all lines stay in one file to count.
                config = folder / f"{sink}.yaml"
                config.write_text(f"runtime_plugin_locations: [{script}]\nplughost:\n  sinks:\n"
                                  f"    - {{type: {sink}, path: {dest}"
                                  + (", max_size: 0" if sink == "file" else "") + "}\n")
                results[sink].append(timed([self.plughost, "run", "--config", str(config)],
                                           env=self.env))
                got = count_lines(dest, b'"stream":"stdout"' if sink == "jsonl" else b" stdout: ")
                if got != lines:
                    raise SystemExit(f"throughput ({sink}): {got} of {lines} lines arrived")
                dest.unlink()
        for sink in ("jsonl", "file"):
            ratio = statistics.median(results[sink]) / statistics.median(base)
            rate = lines / statistics.median(results[sink])
            self.add(f"1M lines, one plugin → {sink} sink ({rate / 1e6:.1f} M lines/s)",
                     fmt_spread(results[sink]), fmt_spread(base), f"{ratio:.2f}", "≤ 4",
                     ratio <= 4)

    def fan_in(self):
        plugins, lines = 16, 250_000
        folder = self.tmp / "fanin"
        (folder / "plugins").mkdir(parents=True)
        for i in range(plugins):
            (folder / "plugins" / f"seq_{i:02}.sh").write_text(f"seq 1 {lines}\n")
        scripts = sorted((folder / "plugins").iterdir())
        direct = " ".join(f"bash {s} > {folder}/direct_{i}.txt &" for i, s in enumerate(scripts))
        base, ours = [], []
        for _ in range(self.runs):
            base.append(timed(["bash", "-c", direct + " wait"], env=self.env))
            for f in folder.glob("direct_*.txt"):
                f.unlink()
            out = folder / "out.jsonl"
            ours.append(timed([self.plughost, "run", "--location", str(folder / "plugins"), "--sink",
                               f"jsonl:{out}"], env=self.env))
            got = count_lines(out)
            if got != plugins * lines:
                raise SystemExit(f"fan-in: {got} of {plugins * lines} lines arrived")
            out.unlink()
        ratio = statistics.median(ours) / statistics.median(base)
        self.add(f"fan-in: {plugins} plugins × {lines:,} lines → jsonl (all {plugins * lines:,} "
                 "accounted for)", fmt_spread(ours), fmt_spread(base), f"{ratio:.2f}", "≤ 4",
                 ratio <= 4)

    # ---- 2b: one sink shared fairly --------------------------------------------------------------

    def shared_sink(self, flood, heartbeat, seconds):
        """plughost with a flooding plugin and/or a heartbeat (a line every 10 ms carrying the
        time it was printed) writing one jsonl sink into a FIFO that this process reads as fast
        as it can. Returns the heartbeat's latencies (print → arrival, ms) and the flood's rate
        (lines/s), both after a 2 s warm-up."""
        folder = Path(tempfile.mkdtemp(dir=self.tmp, prefix="shared-"))
        (folder / "p").mkdir()
        if flood:
            (folder / "p" / "flood.sh").write_text(
                "exec yes 'a line of the flooding plugin, as long as an ordinary log line'\n")
        if heartbeat:
            (folder / "p" / "heartbeat.py").write_text(
                "import time\nwhile True:\n    print(time.time_ns(), flush=True)\n"
                "    time.sleep(0.01)\n")
        fifo = folder / "out.fifo"
        os.mkfifo(fifo)
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        host = subprocess.Popen([self.plughost, "run", "--location", str(folder / "p"), "--sink",
                                 f"jsonl:{fifo}"], env=self.env, stderr=subprocess.DEVNULL)
        beat, flood_mark = b'"plugin":"heartbeat.py"', b'"plugin":"flood.sh"'
        latencies, flood_lines = [], 0
        warm = time.time() + 2
        end = warm + seconds
        counting_since = None
        try:
            while time.time() < end:
                ready, _, _ = select.select([fd], [], [], 0.1)
                if not ready:
                    continue
                try:
                    data = os.read(fd, 1 << 20)
                except BlockingIOError:
                    continue
                now = time.time_ns()
                if counting_since is None:
                    if time.time() < warm:
                        continue
                    counting_since = time.time()
                flood_lines += data.count(flood_mark)
                at = data.find(beat)
                while at >= 0:
                    start = data.find(b'"line":"', at)
                    stop = data.find(b'"', start + 8) if start >= 0 else -1
                    if stop < 0:
                        break  # cut by the read: one sample fewer
                    try:
                        latencies.append((now - int(data[start + 8:stop])) / 1e6)
                    except ValueError:
                        pass
                    at = data.find(beat, stop)
            elapsed = time.time() - counting_since
        finally:
            host.send_signal(signal.SIGTERM)
            while host.poll() is None:  # keep reading: plughost drains into the FIFO at stop
                try:
                    os.read(fd, 1 << 20)
                except BlockingIOError:
                    time.sleep(0.01)
            os.close(fd)
        return sorted(latencies), flood_lines / elapsed

    def fairness(self):
        seconds = 5 if self.quick else 10
        alone_rate, alone_p99, p50s, p99s, rates = [], [], [], [], []
        for _ in range(self.runs):
            _, rate = self.shared_sink(flood=True, heartbeat=False, seconds=seconds)
            alone_rate.append(rate)
            beats, _ = self.shared_sink(flood=False, heartbeat=True, seconds=seconds)
            alone_p99.append(percentile(beats, 0.99))
            beats, rate = self.shared_sink(flood=True, heartbeat=True, seconds=seconds)
            p50s.append(percentile(beats, 0.5))
            p99s.append(percentile(beats, 0.99))
            rates.append(rate)
        p99 = statistics.median(p99s)
        self.add("one jsonl sink shared by a flood and a heartbeat (a line every 10 ms): the "
                 f"heartbeat's print → arrival, p50 {statistics.median(p50s):.2f} ms, p99",
                 fmt_spread(p99s, "ms", digits=2), fmt_spread(alone_p99, "ms", digits=2) +
                 " p99 without the flood", f"{p99 / statistics.median(alone_p99):.2f}", "p99 < 2 ms",
                 p99 < 2)
        share = statistics.median(rates) / statistics.median(alone_rate)
        self.add("… the flood's lines/s beside the heartbeat",
                 fmt_spread([r / 1e6 for r in rates], "M/s", digits=2),
                 fmt_spread([r / 1e6 for r in alone_rate], "M/s", digits=2) + " alone",
                 f"{share:.2f}", "≥ 0.9", share >= 0.9)

    # ---- 3 to 6: start, stop, idle, footprint -------------------------------------------------

    def make_sleepers(self, n):
        folder = self.tmp / f"sleepers_{n}"
        if not folder.exists():
            folder.mkdir()
            for i in range(n):
                p = folder / f"sleeper_{i:04}.sh"
                p.write_text("#!/bin/sh\nexec sleep 1000\n")
                p.chmod(0o755)
        return folder

    def one_fleet(self, n, idle_seconds=0):
        folder = self.make_sleepers(n)
        out = self.tmp / f"fleet_{n}.jsonl"
        if out.exists():
            out.unlink()
        reader = records_reader(out)
        t0 = time.time()
        host = subprocess.Popen([self.plughost, "run", "--location", str(folder), "--sink",
                                 f"jsonl:{out}", "--stop-timeout", "30"], env=self.env,
                                stderr=subprocess.DEVNULL)
        started, last_ts = 0, None
        deadline = time.time() + 120
        while started < n:
            for r in reader.new_records():
                if r.get("event") == "started":
                    started += 1
                    last_ts = r["ts"]
            if time.time() > deadline:
                host.kill()
                raise SystemExit(f"start-up of {n}: only {started} started")
            time.sleep(0.002)
        # The last started record's own time (UTC, microseconds) against the launch time.
        t_last = datetime.datetime.strptime(last_ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        start_seconds = t_last - t0
        cpu_start = cpu_seconds(host.pid)
        status = proc_status(host.pid)
        idle = None
        if idle_seconds:
            time.sleep(1)  # let every plugin settle (exec of sleep)
            cpu_a, sw_a = cpu_seconds(host.pid), int(proc_status(host.pid)["voluntary_ctxt_switches"])
            time.sleep(idle_seconds)
            cpu_b, sw_b = cpu_seconds(host.pid), int(proc_status(host.pid)["voluntary_ctxt_switches"])
            idle = (cpu_b - cpu_a, sw_b - sw_a)
        t_stop = time.perf_counter()
        host.send_signal(signal.SIGTERM)
        host.wait(timeout=120)
        stop_seconds = time.perf_counter() - t_stop
        exited = sum(1 for r in records_reader(out).new_records() if r.get("event") == "exited")
        if exited != n:
            raise SystemExit(f"stop of {n}: {exited} exited records")
        return {"start": start_seconds, "cpu": cpu_start, "stop": stop_seconds,
                "rss_kib": int(status["VmHWM"].split()[0]), "threads": int(status["Threads"]),
                "idle": idle}

    def baseline_fleet(self, n):
        folder = self.make_sleepers(n)
        scripts = [str(p) for p in sorted(folder.iterdir())]
        out = subprocess.run([self.spawn_baseline, *scripts], check=True, capture_output=True,
                             env=self.env, text=True)
        return json.loads(out.stdout)

    def fleets(self):
        sizes = [10, 100, 1000]
        for n in sizes:
            ours, base = [], []
            for _ in range(self.runs):
                base.append(self.baseline_fleet(n))
                ours.append(self.one_fleet(n, idle_seconds=10 if (n == 100 and not self.quick) else 0))
            start = [r["start"] for r in ours]
            base_start = [b["seconds"] for b in base]
            ratio = statistics.median(start) / statistics.median(base_start)
            self.add(f"start-up of {n} plugins (until every `started`)", fmt_spread(start),
                     fmt_spread(base_start) + " posix_spawn", f"{ratio:.2f}",
                     "≤ 1.5" if n >= 100 else "—", ratio <= 1.5 or n < 100)
            cpu = [r["cpu"] for r in ours]
            base_cpu = [b["cpu_seconds"] for b in base]
            self.add(f"host CPU to start {n} plugins", fmt_spread(cpu),
                     fmt_spread(base_cpu) + " posix_spawn",
                     f"{statistics.median(cpu) / max(statistics.median(base_cpu), 1e-9):.2f}", "—", True)
            stop = [r["stop"] for r in ours]
            stop_ratio = statistics.median(stop) / statistics.median(start)
            self.add(f"stop of {n} plugins (SIGTERM to exit, all reaped)", fmt_spread(stop),
                     fmt_spread(start) + " its start-up", f"{stop_ratio:.2f}",
                     "< 2" if n == 1000 else "—", stop_ratio < 2 or n != 1000)
            rss = [r["rss_kib"] / 1024 for r in ours]
            threads = [r["threads"] for r in ours]
            self.add(f"footprint with {n} plugins: RSS (VmHWM), threads",
                     f"{statistics.median(rss):.1f} MiB, {max(threads)} thread(s)", "—",
                     "—", "≤ 4 threads" + ("; ≤ 16 MiB" if n == 1000 else ""),
                     max(threads) <= 4 and (n != 1000 or statistics.median(rss) <= 16))
            if n == 100 and not self.quick:
                cpu_idle = [r["idle"][0] * 1000 for r in ours]
                switches = [r["idle"][1] for r in ours]
                self.add("idle: 100 quiet plugins for 10 s: host CPU, voluntary context switches",
                         f"{statistics.median(cpu_idle):.2f} ms, {statistics.median(switches):.0f} "
                         f"switches (max {max(switches)})", "—", "—", "0 ms, 0 wake-ups",
                         max(switches) == 0 and statistics.median(cpu_idle) < 1)
            self.scaling.append((n, statistics.median(start), statistics.median(base_start),
                                 statistics.median(stop), statistics.median(rss), max(threads),
                                 statistics.median(cpu)))

    # ---- 7 and the micro-benchmark ------------------------------------------------------------

    # ---- 7: a CPU limit holds (docs/isolation.md) ------------------------------------------------

    def cpu_limit(self, seconds=10):
        """A busy loop under cpu_max: 10 %: the share of a core it took over `seconds`, read from
        its cgroup. Needs a cgroup per plugin (root, or a delegated cgroup)."""
        folder = self.tmp / "cpu_limit"
        folder.mkdir(exist_ok=True)
        busy = folder / "busy.sh"
        busy.write_text("#!/bin/bash\nwhile :; do :; done\n")
        busy.chmod(0o755)
        settings = self.tmp / "cpu_limit.yaml"
        settings.write_text("plughost:\n  plugins:\n    busy.sh:\n      cpu_max: 10%\n")
        sock = self.tmp / "cpu_limit.sock"
        host = subprocess.Popen([self.plughost, "run", "--location", str(folder), "--settings",
                                 str(settings), "--socket", str(sock), "--sink", "jsonl:/dev/null"],
                                env=self.env, stderr=subprocess.DEVNULL)
        try:
            def used():
                out = subprocess.run([self.plughost, "status", "--json", "--socket", str(sock)],
                                     capture_output=True, text=True, env=self.env)
                if out.returncode != 0:
                    return None
                p = [p for p in json.loads(out.stdout)["plugins"] if p["name"] == "busy.sh"]
                return p[0].get("cpu_seconds") if p else None
            deadline = time.time() + 10
            while used() is None and time.time() < deadline:
                time.sleep(0.05)
            first = used()
            if first is None:
                self.add("cpu_max: 10 %: a busy loop's share of a core over 10 s",
                         "no cgroup per plugin here", "—", "—", "≤ 12 %", True)
                return
            t0 = time.time()
            time.sleep(seconds)
            share = (used() - first) / (time.time() - t0)
            self.add("cpu_max: 10 %: a busy loop's share of a core over 10 s", f"{share:.1%}",
                     "100 % unlimited", "—", "≤ 12 %", share <= 0.12)
        finally:
            host.send_signal(signal.SIGTERM)
            host.wait(timeout=60)

    def probes(self, n=1000, seconds=10):
        """docs/health.md: n sleeping plugins, each with an exec liveness probe every second
        (`true`): plughost's own CPU (its children's not counted) over `seconds` once all run,
        and its resident memory."""
        folder = self.tmp / "probes"
        folder.mkdir(exist_ok=True)
        for i in range(n):
            (folder / f"p{i:04}.sh").write_text("exec sleep 1000\n")
        settings = self.tmp / "probes.yaml"
        settings.write_text("plughost:\n  liveness: {exec: [\"true\"], period: 1s}\n")
        records = self.tmp / "probes.jsonl"
        host = subprocess.Popen([self.plughost, "run", "--location", str(folder), "--settings",
                                 str(settings), "--sink", f"jsonl:{records}"],
                                env=self.env, stderr=subprocess.DEVNULL)
        try:
            def started():
                return records.exists() and count_lines(records, b'"event":"started"') >= n

            def all_threads_cpu():  # every thread of plughost's, not its children
                total = 0
                for task in Path(f"/proc/{host.pid}/task").iterdir():
                    total += int((task / "schedstat").read_text().split()[0])
                return total / 1e9
            deadline = time.time() + 60
            while time.time() < deadline and not started():
                time.sleep(0.1)
            time.sleep(2)  # the first round of probes
            first = all_threads_cpu()
            t0 = time.time()
            time.sleep(seconds)
            share = (all_threads_cpu() - first) / (time.time() - t0)
            rss = int(proc_status(host.pid)["VmRSS"].split()[0]) / 1024
            failed = count_lines(records, b'"result":"failed"')
            self.add(f"{n} plugins, an exec probe each every 1 s: plughost's CPU, RSS",
                     f"{share:.1%} of a core, {rss:.1f} MiB ({failed} failed)", "—", "—",
                     "< 5 %, < 32 MiB", share < 0.05 and rss < 32 and failed == 0)
        finally:
            host.send_signal(signal.SIGTERM)
            host.wait(timeout=120)

    def readiness(self):
        """docs/health.md: from a plugin's READY=1 datagram to /readyz answering 200 (polled every
        2 ms), and from the last WATCHDOG=1 of a plugin that falls silent (watchdog: 1s) to its
        stop signal. The plugin writes the time right after each datagram it sends."""
        import urllib.error
        import urllib.request
        folder = self.tmp / "readiness"
        folder.mkdir(exist_ok=True)
        go, sent, last = folder / "go", folder / "sent", folder / "last"
        notify = ("import os, socket, time\n"
                  "def notify(text):\n"
                  "    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                  "    s.sendto(text.encode(), '\\0' + os.environ['NOTIFY_SOCKET'][1:])\n")
        (folder / "ready.py").write_text(
            notify + f"while not os.path.exists('{go}'): time.sleep(0.01)\n"
            f"notify('READY=1')\nopen('{sent}', 'w').write(repr(time.time()))\n"
            "for i in range(3):\n    notify('WATCHDOG=1')\n"
            f"    open('{last}', 'w').write(repr(time.time()))\n    time.sleep(0.2)\n"
            "time.sleep(300)\n")
        settings = folder / "settings.yaml"
        settings.write_text("plughost:\n  plugins:\n    ready.py: {notify: true, required: true, "
                            "watchdog: 1s}\n")
        records = folder / "records.jsonl"
        latencies, watchdog = [], []
        for _ in range(self.runs):
            for f in (go, sent, last, records):
                f.unlink(missing_ok=True)
            err = folder / "err.txt"
            with open(err, "w") as err_file:
                host = subprocess.Popen(
                    [self.plughost, "run", "--location", str(folder / "ready.py"), "--settings",
                     str(settings), "--sink", f"jsonl:{records}", "--metrics-address",
                     "127.0.0.1:0"], env=self.env, stderr=err_file)
            try:
                port = None
                while port is None and host.poll() is None:
                    text = err.read_text()
                    if "metrics: http://127.0.0.1:" in text:
                        port = int(text.split("metrics: http://127.0.0.1:")[1].split("/")[0])
                    time.sleep(0.01)

                def ready():
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5):
                            return True
                    except urllib.error.HTTPError:
                        return False
                time.sleep(0.2)
                go.write_text("")
                while not ready():
                    time.sleep(0.002)
                answered = time.time()
                while not sent.exists() or not sent.read_text():
                    time.sleep(0.001)
                latencies.append(answered - float(sent.read_text()))
                deadline = time.time() + 10
                stop = None
                while stop is None and time.time() < deadline:
                    time.sleep(0.05)
                    for line in records.read_text().splitlines():
                        r = json.loads(line)
                        if r.get("event") == "stopping":
                            stop = datetime.datetime.fromisoformat(r["ts"].replace("Z", "+00:00"))
                if stop is not None:
                    watchdog.append(stop.timestamp() - float(last.read_text()))
            finally:
                host.send_signal(signal.SIGTERM)
                host.wait(timeout=60)
        worst = max(latencies)
        self.add("READY=1 → /readyz 200 (polled every 2 ms)", fmt_spread(latencies, "ms", 1000, 1),
                 "—", "—", "≤ 100 ms", worst <= 0.1)
        if watchdog:
            off = max(abs(w - 1.0) for w in watchdog)
            self.add("watchdog: 1s: last WATCHDOG=1 → stop signal", fmt_spread(watchdog), "1 s",
                     "—", "1 s ± 0.2 s", off <= 0.2 and len(watchdog) == self.runs)

    def plot(self, results):
        data = results / "scaling.dat"
        with open(data, "w") as f:
            f.write("# plugins start_s posix_spawn_s stop_s rss_mib threads cpu_s\n")
            for row in self.scaling:
                f.write(" ".join(str(x) for x in row) + "\n")
        if not shutil.which("gnuplot"):
            print("gnuplot not found: no scaling.png (make bench installs gnuplot-nox)", file=sys.stderr)
            return False
        script = f"""
set terminal pngcairo size 1000,420 font ",10" noenhanced
set output "{results / 'scaling.png'}"
set multiplot layout 1,2 title "plughost scaling (median of {self.runs} runs; {platform.node()})"
set logscale xy
set xlabel "plugins"
set ylabel "seconds"
set key top left
set grid
plot "{data}" using 1:2 with linespoints title "start-up", \\
     "{data}" using 1:3 with linespoints title "posix_spawn baseline", \\
     "{data}" using 1:4 with linespoints title "stop"
unset logscale y
set ylabel "MiB"
set yrange [0:*]
set y2label "threads"
set y2range [0:4]
set y2tics 1
set ytics nomirror
plot "{data}" using 1:5 with linespoints title "RSS (VmHWM)", \\
     "{data}" using 1:6 axes x1y2 with linespoints title "threads"
unset multiplot
"""
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
        return True

    def micro_bench(self):
        if not self.micro.exists():
            return None
        out = subprocess.run([str(self.micro), "--benchmark_format=json", "--benchmark_min_time=0.5"],
                             check=True, capture_output=True, text=True)
        return json.loads(out.stdout)["benchmarks"]


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} × {cpu}, {mem:.0f} GiB, Linux {platform.release()}"


def render(b, micro, plotted):
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out = [f"Measured {when} on {machine()}; median of {b.runs} runs, (min–max).", "",
           "| measure | plughost | baseline (same run) | ratio | target | met |",
           "|---|---|---|---|---|---|"]
    for row in b.rows:
        out.append("| " + " | ".join(row) + " |")
    out += ["", "Scaling (medians):", "",
            "| plugins | start-up | posix_spawn | stop | host CPU to start | RSS (VmHWM) | threads |",
            "|---|---|---|---|---|---|---|"]
    for n, start, base, stop, rss, threads, cpu in b.scaling:
        out.append(f"| {n} | {start:.3f} s | {base:.3f} s | {stop:.3f} s | {cpu * 1000:.0f} ms | "
                   f"{rss:.1f} MiB | {threads} |")
    if plotted:
        out += ["", "![scaling](../bench/results/scaling.png)"]
    if micro:
        out += ["", "Hot path (Google Benchmark, `bench/micro/`): time per item", "",
                "| benchmark | time | items/s |", "|---|---|---|"]
        for m in micro:
            out.append(f"| {m['name']} | {m['real_time']:.1f} {m['time_unit']} | "
                       f"{m.get('items_per_second', 0) / 1e6:.1f} M |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="skip the 10 s idle measurement")
    args = ap.parse_args()
    b = bench(args.build, max(args.runs, 1), args.quick)
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    try:
        print("line throughput…", file=sys.stderr)
        b.throughput()
        print("fan-in…", file=sys.stderr)
        b.fan_in()
        print("one sink shared by a flood and a quiet plugin…", file=sys.stderr)
        b.fairness()
        print("start-up, stop, idle, footprint…", file=sys.stderr)
        b.fleets()
        print("a CPU limit…", file=sys.stderr)
        b.cpu_limit()
        print("readiness and the watchdog…", file=sys.stderr)
        b.readiness()
        print("probes…", file=sys.stderr)
        b.probes()
        print("hot path…", file=sys.stderr)
        micro = b.micro_bench()
        plotted = b.plot(results)
    finally:
        b.cleanup()
    table = render(b, micro, plotted)
    (results / "latest.md").write_text("# Latest `make bench` results\n\n" +
                                       table.replace("../bench/results/", ""))
    doc = ROOT / "docs" / "performance.md"
    if doc.exists():
        text = doc.read_text()
        begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
        if begin in text and end in text:
            head, rest = text.split(begin, 1)
            _, tail = rest.split(end, 1)
            doc.write_text(head + begin + "\n" + table + end + tail)
    print(table)


if __name__ == "__main__":
    main()
