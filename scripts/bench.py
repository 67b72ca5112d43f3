#!/usr/bin/env python3
"""make bench: poolstorm, wrk and oha, one after another, against the same trivial endpoint.

Each tool runs ROUNDS times for DURATION seconds with CONNECTIONS connections against
`poolstorm stub` (GET /ok) on 127.0.0.1. With two CPUs or more the stub is pinned to CPU 0
and the tools to the others (taskset), so they do not fight the server for its core and runs
repeat; the table shows the median req/s, its p50/p99 and
the peak RSS (VmHWM, sampled every 20 ms) of that median run, with ratios to poolstorm. A last row measures
poolstorm's peak RSS with 1,000 users. Installs wrk (apt-get) and oha (cargo install) when
they are missing.

With --baseline BIN an earlier poolstorm build runs in the same rounds, for before/after
figures from one run. Rounds are interleaved: each round runs every tool once.

The TLS part runs the same way against the stub serving TLS (rustls): poolstorm, wrk and oha
over HTTPS/1.1, then poolstorm, oha and h2load (nghttp2) over HTTP/2 with CONNECTIONS / STREAMS
connections of STREAMS streams each, with each tool's client CPU time (user + sys from wait4)
per completed request beside its req/s.

Two more parts measure what watching a service costs: reading its pool from a `[pool]`
source at 4 Hz (the stub as a command target), and poolstorm's own database probe (a healthy
mode-2 cell on MySQL/MariaDB: POOLSTORM_MYSQL_URL, else a throwaway server from
scripts/with-mariadb.sh; and on PostgreSQL: POOLSTORM_POSTGRES_URL, else
scripts/with-postgres.sh), each with and without, in interleaved rounds.

The shards part runs the tools' load as one process and as 4 `--shard` processes started
together and merged, and times `poolstorm merge` on shard reports stretched to an hour each.

usage: scripts/bench.py [--rounds N] [--duration S] [--connections C] [--users-rss U]
                        [--baseline BIN] [--streams S]
                        [--only tools|tls|sampling|probe|probe-postgres|shards]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POOLSTORM = os.path.join(ROOT, "target", "release", "poolstorm")


def ensure_tools():
    debian = [pkg for tool, pkg in [("wrk", "wrk"), ("h2load", "nghttp2-client"), ("openssl", "openssl")]
              if not shutil.which(tool)]
    if debian:
        print(f"bench: installing {' '.join(debian)} from Debian", file=sys.stderr)
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq"] + debian, check=True)
    if not shutil.which("oha"):
        print("bench: installing oha from crates.io (a few minutes)", file=sys.stderr)
        subprocess.run(["cargo", "install", "oha", "--locked"], check=True)


def peak_rss_kb(pid, stop, peak):
    """Samples VmHWM (the kernel's high-water mark of resident memory) until told to stop.

    wait4's ru_maxrss is no use here: for a child of a fork it includes the forking
    process's own memory from before exec."""
    while not stop.is_set():
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak[0] = max(peak[0], int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            return
        stop.wait(0.02)


def pinned(cmd, cpus):
    """cmd restricted to `cpus` ("0", "1-3") when taskset exists and the machine has 2+ CPUs."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", cpus] + cmd
    return cmd


CLIENT_CPUS = f"1-{(os.cpu_count() or 2) - 1}"


LAST_CPU = [0.0]


def run(cmd):
    """Runs cmd on the client CPUs; returns (stdout, peak RSS in MB, seconds). Its CPU time
    (user + sys, all threads, from wait4) is left in LAST_CPU[0]."""
    cmd = pinned(cmd, CLIENT_CPUS)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    stop, peak = threading.Event(), [0]
    sampler = threading.Thread(target=peak_rss_kb, args=(proc.pid, stop, peak))
    sampler.start()
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    LAST_CPU[0] = usage.ru_utime + usage.ru_stime
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {proc.returncode}")
    return out, peak[0] / 1024.0, time.monotonic() - started


def wrk_unit(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def bench_wrk(url, args):
    out, rss, _ = run(["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration}s", "--latency", url])
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = wrk_unit(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = wrk_unit(re.search(r"\s99%\s+(\S+)", out).group(1))
    return rps, p50, p99, rss


def bench_oha(url, args):
    cmd = ["oha", "-c", str(args.connections), "-z", f"{args.duration}s", "--no-tui", "--output-format", "json", url]
    out, rss, _ = run(cmd)
    data = json.loads(out)
    pct = data["latencyPercentiles"]
    return data["summary"]["requestsPerSec"], pct["p50"] * 1e3, pct["p99"] * 1e3, rss


def bench_poolstorm(url, args, users=None, binary=POOLSTORM):
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "r.json")
        cmd = [binary, "load", url, "--users", str(users or args.connections),
               "--duration", f"{args.duration}s", "--progress", "none", "--json", report]
        _, rss, _ = run(cmd)
        with open(report) as f:
            data = json.load(f)
    lat = data["latency_us"]
    return data["throughput_rps"], lat["p50"] / 1e3, lat["p99"] / 1e3, rss


def tls_files(tmp):
    """A CA and a server certificate for 127.0.0.1 it signs (openssl): (ca, cert, key)."""
    ca, ca_key = os.path.join(tmp, "ca.pem"), os.path.join(tmp, "ca.key")
    cert, key, csr = (os.path.join(tmp, n) for n in ("server.pem", "server.key", "server.csr"))
    ext = os.path.join(tmp, "ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    subprocess.run(["openssl", "req", "-x509"] + ec + ["-keyout", ca_key, "-out", ca, "-days", "2",
                    "-subj", "/CN=bench CA"], **quiet)
    subprocess.run(["openssl", "req"] + ec + ["-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"], **quiet)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                    "-out", cert, "-days", "2", "-extfile", ext], **quiet)
    return ca, cert, key


# Each TLS tool: (name, argv builder(url, args, ca, h2) -> argv, parser(stdout, report) -> (requests, rps, p50 ms, p99 ms)).
def tls_wrk(url, args, ca, h2):
    return ["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration}s", "--latency", url]


def parse_wrk(out, _):
    done = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return done, rps, wrk_unit(re.search(r"\s50%\s+(\S+)", out).group(1)), \
        wrk_unit(re.search(r"\s99%\s+(\S+)", out).group(1))


def tls_oha(url, args, ca, h2):
    conns = ["-c", str(args.connections // args.streams), "-p", str(args.streams), "--http2"] if h2 \
        else ["-c", str(args.connections)]
    return ["oha"] + conns + ["-z", f"{args.duration}s", "--no-tui", "--insecure",
                              "--output-format", "json", url]


def parse_oha(out, _):
    data = json.loads(out)
    done = sum(data.get("statusCodeDistribution", {}).values())
    pct = data["latencyPercentiles"]
    return done, data["summary"]["requestsPerSec"], pct["p50"] * 1e3, pct["p99"] * 1e3


def tls_h2load(url, args, ca, h2):
    return ["h2load", "-c", str(args.connections // args.streams), "-m", str(args.streams),
            "-D", str(args.duration), url]


def parse_h2load(out, _):
    done = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", out).group(1))
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    # h2load gives the mean and spread of request times, not percentiles.
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", out).group(1)
    return done, rps, wrk_unit(mean), float("nan")


def tls_poolstorm(url, args, ca, h2, report=None):
    extra = ["--http2", "--streams", str(args.streams)] if h2 else []
    return [POOLSTORM, "load", url, "--users", str(args.connections), "--duration", f"{args.duration}s",
            "--cacert", ca, "--progress", "none", "--json", report] + extra


def parse_poolstorm(_, report):
    with open(report) as f:
        data = json.load(f)
    lat = data["latency_us"]
    return data["requests"]["completed"], data["throughput_rps"], lat["p50"] / 1e3, lat["p99"] / 1e3


def bench_tls(args):
    """poolstorm, wrk and oha over HTTPS/1.1, then poolstorm, oha and h2load over HTTP/2, all
    against the same TLS stub (rustls, HTTP/2 or HTTP/1.1 by ALPN) with the same connections,
    interleaved; per tool the median round by req/s, with its client CPU time per request."""
    with tempfile.TemporaryDirectory() as tmp:
        ca, cert, key = tls_files(tmp)
        stub = subprocess.Popen(pinned([POOLSTORM, "stub", "--threads", "1", "--tls-cert", cert,
                                        "--tls-key", key], "0"), stdout=subprocess.PIPE, text=True)
        try:
            url = stub.stdout.readline().strip().removeprefix("listening on ") + "/ok"
            tables = {}
            for h2, tools in [(False, [("poolstorm", tls_poolstorm, parse_poolstorm), ("wrk", tls_wrk, parse_wrk),
                                       ("oha", tls_oha, parse_oha)]),
                              (True, [("poolstorm", tls_poolstorm, parse_poolstorm), ("oha", tls_oha, parse_oha),
                                      ("h2load", tls_h2load, parse_h2load)])]:
                runs = {name: [] for name, _, _ in tools}
                for _ in range(args.rounds):
                    for name, argv, parse in tools:
                        report = os.path.join(tmp, "r.json")
                        cmd = argv(url, args, ca, h2, report) if name == "poolstorm" else argv(url, args, ca, h2)
                        out, _, _ = run(cmd)
                        done, rps, p50, p99 = parse(out, report)
                        runs[name].append((rps, p50, p99, LAST_CPU[0] * 1e6 / max(done, 1)))
                for name, rs in runs.items():
                    print(f"bench: {'h2' if h2 else 'https'} {name}: req/s per round "
                          f"{[round(r[0]) for r in sorted(rs)]}", file=sys.stderr)
                tables[h2] = {name: sorted(rs)[len(rs) // 2] for name, rs in runs.items()}
        finally:
            stub.terminate()
            stub.wait()
    return tables


def tls_table(args):
    tables = bench_tls(args)
    pin = " (stub on CPU 0, tools on CPUs " + CLIENT_CPUS + ")" if pinned([], "0") else ""
    for h2, title in [(False, f"HTTPS (HTTP/1.1 over TLS), {args.connections} connections"),
                      (True, f"HTTP/2 over TLS, {args.connections // args.streams} connections x "
                             f"{args.streams} streams")]:
        rows = tables[h2]
        ours = rows["poolstorm"]
        print(f"\n{title}, {args.duration} s per run, median of {args.rounds} interleaved runs, against "
              f"`poolstorm stub --threads 1 --tls-cert ...` GET /ok on 127.0.0.1{pin}\n")
        print("| tool | req/s | poolstorm / tool | p50 ms | p99 ms | client CPU µs per request |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, (rps, p50, p99, cpu) in rows.items():
            p99_text = "-" if p99 != p99 else f"{p99:.3f}"
            print(f"| {name} | {rps:,.0f} | {ours[0] / rps:.2f}x | {p50:.3f} | {p99_text} | {cpu:.1f} |")


SAMPLING_SCENARIO = """
name = "bench-sampling"
[target]
kind = "command"
command = {command}
ready = "/ok"
[load]
users = {users}
duration = "{duration}s"
[[tasks]]
path = "/ok"
[[expect]]
verdict = ["healthy", "degraded", "starved", "deadlocked"]
{pool}
"""

POOL = """
[pool]
url = "/metrics"
in_use = "stub_in_flight"
waiting = "stub_requests_total"
"""


def bench_sampling(args):
    """`poolstorm run` against the stub as a command target, with and without a [pool] source
    read at 4 Hz, in interleaved rounds; returns the req/s of each round, per variant."""
    stub = pinned([POOLSTORM, "stub", "--threads", "1", "--listen", "127.0.0.1:{port}"], "0")
    runs = {"without [pool]": [], "with [pool] at 4 Hz": []}
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, pool in [("without [pool]", ""), ("with [pool] at 4 Hz", POOL)]:
            path = os.path.join(tmp, f"{len(files)}.toml")
            with open(path, "w") as f:
                f.write(SAMPLING_SCENARIO.format(command=json.dumps(stub), users=args.connections,
                                                 duration=args.duration, pool=pool))
            files[name] = path
        for _ in range(args.rounds):
            for name, path in files.items():
                out = os.path.join(tmp, "results")
                subprocess.run(pinned([POOLSTORM, "run", path, "--progress", "none", "--out", out],
                                      CLIENT_CPUS), check=True, stdout=subprocess.DEVNULL)
                report = max((os.path.join(root, "report.json") for root, _, names in
                              os.walk(out) if "report.json" in names), key=os.path.getmtime)
                with open(report) as f:
                    cell = json.load(f)["cells"][0]
                samples = len(cell["pool_samples"])
                runs[name].append((cell["load"]["throughput_rps"], samples))
                shutil.rmtree(out)
    return runs


PROBE_SCENARIO = """
name = "bench-probe-{probe}"
[database]
probe = {probe}
[app]
threads = 16
id_strategy = "same-conn"
pool_max = 10
[load]
users = 16
duration = "{duration}s"
[[tasks]]
method = "POST"
path = "/mode2/messages"
json = {{ title = "hello", contents = "probe cost" }}
"""


def bench_probe(args, server):
    """`poolstorm run` of a healthy mode-2 cell (16 threads, pool 10, an insert per request) on
    the database server `server`, with and without the database probe, in interleaved rounds;
    returns the req/s and database samples of each round, per variant."""
    runs = {"probe off": [], "probe on": []}
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, probe in [("probe off", "false"), ("probe on", "true")]:
            path = os.path.join(tmp, f"{probe}.toml")
            with open(path, "w") as f:
                f.write(PROBE_SCENARIO.format(probe=probe, duration=args.duration))
            files[name] = path
        for _ in range(args.rounds):
            for name, path in files.items():
                out = os.path.join(tmp, "results")
                subprocess.run([POOLSTORM, "run", path, "--db", server, "--progress", "none",
                                "--out", out], check=True, stdout=subprocess.DEVNULL)
                report = max((os.path.join(root, "report.json") for root, _, names in
                              os.walk(out) if "report.json" in names), key=os.path.getmtime)
                with open(report) as f:
                    cell = json.load(f)["cells"][0]
                samples = len((cell.get("database") or {}).get("samples", []))
                runs[name].append((cell["load"]["throughput_rps"], samples))
                shutil.rmtree(out)
    return runs


SHARDS = 4


def bench_shards(url, args):
    """The same load as one process and as SHARDS `--shard` processes started together and
    merged, in interleaved rounds; returns (req/s, p50 ms, p99 ms) per round, per variant, and
    the last round's shard reports."""
    runs = {"one process": [], f"{SHARDS} shards, merged": []}
    keep = tempfile.mkdtemp()
    for _ in range(args.rounds):
        rps, p50, p99, _ = bench_poolstorm(url, args)
        runs["one process"].append((rps, p50, p99))
        for f in os.listdir(keep):
            os.remove(os.path.join(keep, f))
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))
        procs = [subprocess.Popen(pinned([POOLSTORM, "load", url, "--users", str(args.connections),
                                          "--duration", f"{args.duration}s", "--progress", "none",
                                          "--shard", f"{i}/{SHARDS}", "--start-at", at,
                                          "--json", os.path.join(keep, f"shard-{i}.json")],
                                         CLIENT_CPUS),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for i in range(SHARDS)]
        if any(p.wait() != 0 for p in procs):
            raise RuntimeError("a shard failed")
        merged = os.path.join(keep, "merged.out")
        subprocess.run([POOLSTORM, "merge", keep, "--json", merged], check=True,
                       stdout=subprocess.DEVNULL)
        with open(merged) as f:
            data = json.load(f)
        os.remove(merged)
        lat = data["latency_us"]
        runs[f"{SHARDS} shards, merged"].append((data["throughput_rps"], lat["p50"] / 1e3,
                                                 lat["p99"] / 1e3))
    return runs, keep


def stretch(shard_dir, seconds):
    """Each shard report in `shard_dir` made `seconds` long by repeating its seconds, ticks and
    timeline (its histograms as they are): merge input the size of a long run's."""
    for name in os.listdir(shard_dir):
        path = os.path.join(shard_dir, name)
        with open(path) as f:
            data = json.load(f)
        shard, timeline = data["shard"], data["timeline"]
        shard["seconds"] = [shard["seconds"][i % len(shard["seconds"])] for i in range(seconds)]
        shard["ticks"] = [shard["ticks"][i % len(shard["ticks"])] for i in range(seconds * 10)]
        data["timeline"] = [dict(timeline[i % len(timeline)], t=i) for i in range(seconds)]
        data["elapsed_s"] = float(seconds)
        with open(path, "w") as f:
            json.dump(data, f)


def shards_table(url, args):
    runs, shard_dir = bench_shards(url, args)
    print(f"\nSharding on one machine: {args.connections} users for {args.duration} s as one process "
          f"and as {SHARDS} `--shard` processes started together (`--start-at`) and merged, "
          f"median of {args.rounds} interleaved rounds\n")
    variants_table(runs, "one process", "one process", ["p50 ms", "p99 ms"],
                   lambda m: [f"{m[1]:.3f}", f"{m[2]:.3f}"])
    hour = 3600
    stretch(shard_dir, hour)
    size = sum(os.path.getsize(os.path.join(shard_dir, n)) for n in os.listdir(shard_dir))
    times = []
    for _ in range(args.rounds):
        _, rss, took = run([POOLSTORM, "merge", shard_dir])
        times.append((took, rss))
    took, rss = sorted(times)[len(times) // 2]
    print(f"\nMerging {SHARDS} shards of an hour each ({hour:,} seconds of histograms and "
          f"{hour * 10:,} ticks per shard, {size / 1e6:.1f} MB of JSON in all): {took:.2f} s, "
          f"peak RSS {rss:.1f} MB (median of {args.rounds})")
    shutil.rmtree(shard_dir)


def interleaved(tools, url, args):
    """Every tool once per round, round after round (so drift in the machine's speed hits
    every tool alike); per tool the median run by req/s and every round's req/s, sorted."""
    runs = {name: [] for name, _ in tools}
    for _ in range(args.rounds):
        for name, fn in tools:
            runs[name].append(fn(url, args))
    out = {}
    for name, rs in runs.items():
        rs.sort(key=lambda r: r[0])
        out[name] = (rs[len(rs) // 2], [r[0] for r in rs])
        print(f"bench: {name}: req/s per round {[round(x) for x in out[name][1]]}", file=sys.stderr)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=int, default=8)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--users-rss", type=int, default=1000)
    p.add_argument("--streams", type=int, default=4, help="HTTP/2 streams per connection")
    p.add_argument("--only", choices=["tools", "tls", "sampling", "probe", "probe-postgres", "shards"],
                   help="run one part: the tools' table, the cost of reading a service's pool, or "
                        "the cost of the database probe on MySQL/MariaDB or on PostgreSQL")
    p.add_argument("--baseline", metavar="BIN",
                   help="another poolstorm binary (an earlier build) measured in the same rounds")
    args = p.parse_args()
    ensure_tools()
    subprocess.run(["cargo", "build", "--release", "--workspace", "--quiet"], cwd=ROOT, check=True)

    if args.only in (None, "tools"):
        tools_table(args)
    if args.only in (None, "tls"):
        tls_table(args)
    if args.only in (None, "shards"):
        stub = subprocess.Popen(pinned([POOLSTORM, "stub", "--threads", "1"], "0"),
                                stdout=subprocess.PIPE, text=True)
        try:
            shards_table(stub.stdout.readline().strip().removeprefix("listening on ") + "/ok", args)
        finally:
            stub.terminate()
            stub.wait()
    if args.only in (None, "sampling"):
        sampling_table(args)
    for part, variable, script, engine in [
            ("probe", "POOLSTORM_MYSQL_URL", "with-mariadb.sh", "MySQL/MariaDB"),
            ("probe-postgres", "POOLSTORM_POSTGRES_URL", "with-postgres.sh", "PostgreSQL")]:
        if args.only not in (None, part):
            continue
        server = os.environ.get(variable)
        if server:
            probe_table(args, server, engine)
        else:
            # A throwaway server for this part; says what to install when there is none.
            again = [os.path.join(ROOT, "scripts", script), sys.executable,
                     os.path.abspath(__file__), "--only", part, "--rounds", str(args.rounds),
                     "--duration", str(args.duration)]
            if subprocess.run(again).returncode != 0:
                print(f"bench: the probe's cost was not measured (no {engine} server)",
                      file=sys.stderr)


def tools_table(args):
    stub = subprocess.Popen(pinned([POOLSTORM, "stub", "--threads", "1"], "0"), stdout=subprocess.PIPE, text=True)
    try:
        base = stub.stdout.readline().strip().removeprefix("listening on ")
        url = f"{base}/ok"
        tools = [("poolstorm", bench_poolstorm), ("wrk", bench_wrk), ("oha", bench_oha)]
        if args.baseline:
            tools.append(("poolstorm (baseline)",
                          lambda u, a: bench_poolstorm(u, a, binary=os.path.abspath(args.baseline))))
        results = interleaved(tools, url, args)
        big = bench_poolstorm(url, args, users=args.users_rss)
    finally:
        stub.terminate()
        stub.wait()

    ours = results["poolstorm"][0]
    pin = " (stub on CPU 0, tools on CPUs " + CLIENT_CPUS + ")" if pinned([], "0") else ""
    print(f"\n{args.connections} connections, {args.duration} s per run, median of {args.rounds} runs, "
          f"against `poolstorm stub --threads 1` GET /ok on 127.0.0.1, {os.cpu_count()} CPUs{pin}\n")
    print("| tool | req/s | poolstorm / tool | p50 ms | p99 ms | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, _ in tools:
        rps, p50, p99, rss = results[name][0]
        print(f"| {name} | {rps:,.0f} | {ours[0] / rps:.2f}x | {p50:.3f} | {p99:.3f} | {rss:.1f} |")
    rps, p50, p99, rss = big
    print(f"| poolstorm, {args.users_rss} users | {rps:,.0f} | | {p50:.3f} | {p99:.3f} | {rss:.1f} |")


def variants_table(runs, base, ratio, columns, cells):
    """The median round of each variant (rounds sorted by req/s, their first field), its ratio
    to the median of `base`, and `cells(median round)` under `columns`; every round's req/s on
    stderr."""
    median = {name: sorted(rs)[len(rs) // 2] for name, rs in runs.items()}
    print(f"| variant | req/s | / {ratio} | " + " | ".join(columns) + " |")
    print("|---|---:|---:|" + "---:|" * len(columns))
    for name, rs in runs.items():
        m = median[name]
        print(f"| {name} | {m[0]:,.0f} | {m[0] / median[base][0]:.2f}x | "
              + " | ".join(cells(m)) + " |")
        print(f"bench: {name}: req/s per round {sorted(round(r[0]) for r in rs)}", file=sys.stderr)


def sampling_table(args):
    runs = bench_sampling(args)
    print(f"\nThe cost of reading a service's pool: `poolstorm run` against the stub as a command "
          f"target, {args.connections} users, {args.duration} s, median of {args.rounds} interleaved runs\n")
    variants_table(runs, "without [pool]", "without", ["pool samples"], lambda m: [str(m[1])])


def probe_table(args, server, engine):
    runs = bench_probe(args, server)
    print(f"\nThe cost of the database probe: a healthy mode-2 cell (16 threads, pool 10, an insert "
          f"per request) on {engine}, 16 users, {args.duration} s, median of {args.rounds} "
          f"interleaved runs\n")
    variants_table(runs, "probe off", "probe off", ["database samples"], lambda m: [str(m[1])])


if __name__ == "__main__":
    main()
