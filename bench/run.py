"""Runs every benchmark case against every echo server, side by side, and
writes the results: bench/results/<date>.json (every measurement),
<date>.md (medians and ratios) and <date>-*.png (plots).

Called by bench/run, which builds everything first. Each server is pinned
to CPU 0 and the load generator to CPU 1 (taskset); the servers take turns
within each repeat (A B C, A B C, ...), so slow drifts of a shared machine
hit them all alike.
"""
import argparse
import datetime
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build", "release")


def build_path(*parts):
    return os.path.join(BUILD, *parts)


# name -> (command, pinned to one core)
SERVERS = {
    "epoll (limit)": ([build_path("bench", "epoll_echo"), "{port}"], True),
    "tether": ([build_path("bench", "hello_tether"), "--port", "{port}"], True),
    "tether 2 threads": ([build_path("bench", "hello_tether"), "--port", "{port}", "--threads", "2"], False),
    "tether one by one": ([build_path("bench", "hello_tether"), "--port", "{port}", "--one-by-one"], True),
    "beast": ([build_path("bench", "beast_echo"), "{port}"], True),
    "websocketpp": ([build_path("bench", "websocketpp_echo"), "{port}"], True),
    "node ws": (["node", os.path.join(ROOT, "bench", "servers", "node_echo.mjs"), "{port}"], True),
    "python websockets": (["/usr/bin/python3", os.path.join(ROOT, "bench", "servers", "python_echo.py"), "{port}"], True),
}

# The broadcast case's servers: /publish to every /subscribe.
BROADCAST_SERVERS = {
    "tether": ([build_path("bench", "tether_broadcast"), "--port", "{port}"], True),
    "tether 2 threads": ([build_path("bench", "tether_broadcast"), "--port", "{port}", "--threads", "2"], False),
    "node ws": (["node", os.path.join(ROOT, "bench", "servers", "node_broadcast.mjs"), "{port}"], True),
    "python websockets": (["/usr/bin/python3", os.path.join(ROOT, "bench", "servers", "python_broadcast.py"), "{port}"],
                          True),
}

# The TLS cases' servers: wss:// with a certificate made for the run
# ({cert} and {key}, PEM files).
TLS_SERVERS = {
    "tether": ([build_path("bench", "hello_tether"), "--port", "{port}", "--tls", "{cert}", "{key}"], True),
}

# The Redis latency case: Redis pub/sub alone, then one Tether instance,
# then two instances linked through Redis.
REDIS_SETUPS = ["redis pub/sub (floor)", "tether, same instance", "tether, through redis"]

# (key, title, mode, connections, size, in flight, compress)
CASES = [
    ("16B_x100", "16 B x 100 connections, 1 in flight", "echo", 100, 16, 1, False),
    ("16B_x100_p32", "16 B x 100 connections, 32 in flight", "echo", 100, 16, 32, False),
    ("16B_x1000", "16 B x 1,000 connections", "echo", 1000, 16, 1, False),
    ("1KiB_x100", "1 KiB x 100 connections", "echo", 100, 1024, 1, False),
    ("1KiB_x100_deflate", "1 KiB text x 100, permessage-deflate", "echo", 100, 1024, 1, True),
    ("64KiB_x10", "64 KiB x 10 connections", "echo", 10, 65536, 1, False),
    ("1MiB_x4", "1 MiB x 4 connections", "echo", 4, 1 << 20, 1, False),
    ("latency_16B", "latency, 1 connection, 16 B", "latency", 1, 16, 1, False),
    ("latency_1KiB", "latency, 1 connection, 1 KiB", "latency", 1, 1024, 1, False),
    ("idle_10k", "10,000 idle connections: server memory per connection", "hold", 10000, 0, 0, False),
    ("idle_10k_tls", "10,000 idle TLS connections: server memory per connection", "hold", 10000, 0, 0, False),
    ("broadcast_1000", "broadcast, 1 publisher to 1,000 subscribers, 64 B, 64 publishes in flight", "broadcast",
     1000, 64, 64, False),
    ("redis_latency", "publish to delivery, 1 subscriber, 64 B, one at a time", "redis", 1, 64, 1, False),
]

# Cases over TLS: only the servers of TLS_SERVERS take part.
TLS_CASES = {"idle_10k_tls"}

# The peers each mode's ratios are taken against (a case's key first).
REFERENCES = {"broadcast": ("node ws", "python websockets"), "redis": ("redis pub/sub (floor)", None),
              "idle_10k_tls": (None, None)}


def references(case):
    return REFERENCES.get(case[0]) or REFERENCES.get(case[2], ("beast", "epoll (limit)"))


# Tether's echo takes and gives batches (read_batch, write_batch); the
# loop of one read() and one write() a message is measured where it
# differs, with many messages in flight, and at one in flight to show it
# does not.
ONE_BY_ONE_CASES = {"16B_x100", "16B_x100_p32"}


def servers_for(case, selected):
    mode = case[2]
    if case[0] not in ONE_BY_ONE_CASES:
        selected = [s for s in selected if s != "tether one by one"]
    if case[0] in TLS_CASES:
        return [s for s in TLS_SERVERS if s in selected]
    if mode == "broadcast":
        return [s for s in BROADCAST_SERVERS if s in selected]
    if mode == "redis":
        return REDIS_SETUPS if "tether" in selected else []
    return [s for s in selected if s in SERVERS]


def loadgen_path():
    for candidate in (build_path("test", "loadgen"), build_path("bench", "loadgen")):
        if os.path.exists(candidate):
            return candidate
    sys.exit("bench/run: no loadgen built")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, process, limit=10.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the server did not listen in time")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    # utime + stime of the whole process, in clock ticks (fields 14 and 15).
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(name, port, compress, table=None, tls_files=None):
    command, pinned = (table or SERVERS)[name]
    command = [part.format(port=port, **(tls_files or {})) for part in command]
    if compress and name.startswith("tether"):
        command.append("--compress")
    env = dict(os.environ, COMPRESS="1" if compress else "0")
    prefix = ["taskset", "-c", "0"] if pinned else ["taskset", "-c", "0,1"]
    process = subprocess.Popen(prefix + command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                               start_new_session=True)
    wait_for_port(port, process)
    return process


def stop_server(process):
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def parse(output):
    words = output.split()
    result = {"rate": float(words[0])}
    for word in words:
        if "=" in word:
            key, value = word.split("=", 1)
            result[key] = float(value)
    return result


def measure_redis(name, case, seconds):
    """Redis and, for the Tether setups, two broadcast servers linked by it;
    nothing pinned: four processes share the two cores."""
    import shutil
    import tempfile
    _, _, _, _, size, _, _ = case
    loadgen = loadgen_path()
    redis_port = free_port()
    workdir = tempfile.mkdtemp(prefix="tether-bench-redis-")
    processes = []
    try:
        redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--dir", workdir,
                                  "--save", "", "--appendonly", "no", "--loglevel", "warning"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        processes.append(redis)
        wait_for_port(redis_port, redis)
        if name == "redis pub/sub (floor)":
            command = [loadgen, "redis", str(redis_port), str(size), str(seconds)]
        else:
            ports = [free_port(), free_port()]
            for port in ports:
                server = subprocess.Popen([build_path("bench", "tether_broadcast"), "--port", str(port), "--redis",
                                           f"127.0.0.1:{redis_port}"], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True)
                processes.append(server)
                wait_for_port(port, server)
            subscriber_port = ports[1] if name == "tether, through redis" else ports[0]
            command = [loadgen, "broadcast", str(ports[0]), str(subscriber_port), "1", str(size), "1", str(seconds)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip() or "loadgen failed")
        return parse(done.stdout)
    finally:
        for process in reversed(processes):
            stop_server(process)
        shutil.rmtree(workdir, ignore_errors=True)


def make_certificate(directory):
    """An EC P-256 certificate for 127.0.0.1 and its key, made with the
    openssl command: EC rather than RSA, since 10,000 handshakes are
    signed on the server's one core."""
    files = {"cert": os.path.join(directory, "cert.pem"), "key": os.path.join(directory, "key.pem")}
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", files["key"], "-out", files["cert"], "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return files


def measure(name, case, seconds, tls_files=None):
    key, _, mode, connections, size, inflight, compress = case
    if mode == "redis":
        return measure_redis(name, case, seconds)
    tls = key in TLS_CASES
    table = TLS_SERVERS if tls else BROADCAST_SERVERS if mode == "broadcast" else SERVERS
    port = free_port()
    server = start_server(name, port, compress, table, tls_files if tls else None)
    loadgen = loadgen_path()
    pin = ["taskset", "-c", "1"] if table[name][1] else ["taskset", "-c", "0,1"]
    try:
        if mode == "hold":
            time.sleep(0.5)
            before = rss_kib(server.pid)
            command = [loadgen, "hold", str(port), "/echo", str(connections), str(int(seconds) + 30)]
            if tls:
                command.append("tls")
            holder = subprocess.Popen(pin + command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = holder.stdout.readline()
            if not line.startswith("holding"):
                holder.kill()
                raise RuntimeError("hold failed: " + holder.stderr.read().strip())
            time.sleep(max(1.0, seconds / 2))
            after = rss_kib(server.pid)
            holder.kill()
            holder.wait()
            return {"bytes_per_connection": (after - before) * 1024 / connections}
        if mode == "latency":
            command = [loadgen, "latency", str(port), "/echo", str(connections), str(size), str(seconds)]
        elif mode == "broadcast":
            command = [loadgen, "broadcast", str(port), str(port), str(connections), str(size), str(inflight),
                       str(seconds)]
        else:
            command = [loadgen, "echo", str(port), "/echo", str(connections), str(size), str(inflight), str(seconds)]
        if compress:
            command.append("compress")
        if tls:
            command.append("tls")
        cpu_before, wall_before = cpu_seconds(server.pid), time.monotonic()
        done = subprocess.run(pin + command, capture_output=True, text=True, timeout=seconds + 60)
        cpu = (cpu_seconds(server.pid) - cpu_before) / (time.monotonic() - wall_before)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip() or "loadgen failed")
        result = parse(done.stdout)
        result["server_cpu"] = cpu
        return result
    finally:
        stop_server(server)


def main_value(case, result):
    key, _, mode, _, size, _, _ = case
    if mode == "hold":
        return result.get("bytes_per_connection")
    if mode in ("latency", "redis"):
        return result.get("p50_us")
    return result.get("mb_per_s") if size >= 65536 else result.get("rate")


UNITS = {"hold": "bytes/connection (less is better)", "latency": "p50 us (less is better)",
         "redis": "p50 us (less is better)", "broadcast": "deliveries/s"}


def unit(case):
    _, _, mode, _, size, _, _ = case
    return UNITS.get(mode, "MB/s" if size >= 65536 else "messages/s")


def summarise(results, servers_of, cases):
    medians = {}
    for case in cases:
        for name in servers_of(case):
            runs = [r for r in results if r["case"] == case[0] and r["server"] == name and "error" not in r]
            if not runs:
                continue
            values = [main_value(case, r["result"]) for r in runs]
            entry = {"median": statistics.median(values), "runs": len(values)}
            if case[2] in ("latency", "redis", "broadcast"):
                for p in ("p50_us", "p99_us", "p999_us"):
                    entry[p] = statistics.median(r["result"][p] for r in runs)
            if "server_cpu" in runs[0]["result"]:
                entry["server_cpu"] = statistics.median(r["result"]["server_cpu"] for r in runs)
            if "compressed" in runs[0]["result"]:
                entry["compressed"] = runs[0]["result"]["compressed"]
            medians[(case[0], name)] = entry
    return medians


def ratio(medians, case, name, reference):
    a, b = medians.get((case[0], name)), medians.get((case[0], reference))
    if not a or not b or not b["median"]:
        return None
    value = a["median"] / b["median"]
    if case[2] in ("hold", "latency", "redis"):  # less is better: show how many times better
        value = b["median"] / a["median"] if a["median"] else None
    return value


def markdown(medians, servers_of, cases, meta):
    lines = [f"# Benchmark results, {meta['date']}", "",
             f"Machine: {meta['cpus']} CPUs ({meta['cpu_model']}), {meta['seconds']} s per measurement, "
             f"median of {meta['repeats']} runs. Servers pinned to CPU 0 and the load generator to CPU 1 "
             "(\"tether 2 threads\" and its load generator share both). Ratios: how many times better than "
             "the reference named in the column (higher is better, also for latency and memory).", ""]
    for case in cases:
        refs = [r for r in references(case) if r]
        heads = f"| server | {unit(case)} |" + "".join(f" vs {r} |" for r in refs)
        lines += [f"## {case[1]}", "", heads + " server CPU | note |", "|---|---|" + "---|" * len(refs) + "---|---|"]
        for name in servers_of(case):
            entry = medians.get((case[0], name))
            if not entry:
                lines.append(f"| {name} | failed |" + " |" * len(refs) + " | |")
                continue
            ratios = [ratio(medians, case, name, r) for r in refs]
            value = entry["median"]
            shown = f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
            if "p99_us" in entry:
                shown = f"{entry['p50_us']:.0f} / {entry['p99_us']:.0f} / {entry['p999_us']:.0f} (p50/p99/p99.9)"
                if case[2] == "broadcast":
                    shown = f"{value:,.0f} (latency {shown})"
            cpu = f"{entry['server_cpu'] * 100:.0f} %" if "server_cpu" in entry else ""
            note = ""
            if case[6]:
                note = "compressed" if entry.get("compressed") else "compression not negotiated"
            cells = "".join(" | " + ("" if r is None else f"{r:.2f}") for r in ratios)
            lines.append(f"| {name} | {shown}{cells} | {cpu} | {note} |")
        lines.append("")
        if case[0] in TLS_CASES:
            lines += tls_cost(medians, case)
    # Threads: the same Tether server with one event loop and with two.
    rows = []
    for case in cases:
        one, two = medians.get((case[0], "tether")), medians.get((case[0], "tether 2 threads"))
        if one and two and one["median"] and case[2] in ("echo", "broadcast"):
            rows.append(f"| {case[1]} | {one['median']:,.0f} | {two['median']:,.0f} | {two['median'] / one['median']:.2f} |")
    if rows:
        lines += ["## Threads: 2 event loops / 1", "",
                  "Both servers are Tether; the one with 2 loops and its load generator share the 2 CPUs.", "",
                  "| case | 1 loop | 2 loops | ratio |", "|---|---|---|---|"] + rows + [""]
    return "\n".join(lines) + "\n"


def tls_cost(medians, case):
    """What TLS adds per idle connection, where the plain case ran too."""
    lines = []
    for name in TLS_SERVERS:
        plain, tls = medians.get(("idle_10k", name)), medians.get((case[0], name))
        if plain and tls:
            lines += [f"{name}: TLS adds {tls['median'] - plain['median']:,.0f} bytes per idle connection "
                      f"({plain['median']:,.0f} plain).", ""]
    return lines


def plots(medians, servers, cases, prefix):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench/run: python3-matplotlib is missing; no plots", file=sys.stderr)
        return []
    written = []
    by_size = [c for c in cases if c[0] in ("16B_x100", "1KiB_x100", "64KiB_x10", "1MiB_x4")]
    if by_size:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        sizes = [c[4] for c in by_size]
        for name in servers:
            values = [medians.get((c[0], name), {}).get("median") for c in by_size]
            # MB/s for all sizes, so one axis fits.
            mbs = [None if v is None else (v if c[4] >= 65536 else v * c[4] / 1e6) for v, c in zip(values, by_size)]
            points = [(s, v) for s, v in zip(sizes, mbs) if v]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("message size (bytes)")
        ax.set_ylabel("echo throughput (MB/s)")
        ax.set_title("Throughput by message size (one server core)")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        path = prefix + "-throughput.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    latency = [c for c in cases if c[2] == "latency"]
    if latency:
        fig, axes = plt.subplots(1, len(latency), figsize=(5 * len(latency), 4.5), squeeze=False)
        for ax, case in zip(axes[0], latency):
            names = [n for n in servers if (case[0], n) in medians]
            for i, p in enumerate(("p50_us", "p99_us", "p999_us")):
                ax.bar([x + i * 0.27 for x in range(len(names))], [medians[(case[0], n)][p] for n in names], 0.27,
                       label=p.replace("_us", "").replace("p999", "p99.9"))
            ax.set_xticks([x + 0.27 for x in range(len(names))])
            ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
            ax.set_yscale("log")
            ax.set_ylabel("round trip (us)")
            ax.set_title(case[1], fontsize=9)
            ax.legend(fontsize=8)
        path = prefix + "-latency.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    memory = [c for c in cases if c[2] == "hold"]
    bars = [(c, n) for c in memory for n in servers if (c[0], n) in medians]
    if bars:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        # One bar per server and case, coloured by case: TLS next to plain.
        colours = {c[0]: f"C{i}" for i, c in enumerate(memory)}
        labels = [n + (" (TLS)" if c[0] in TLS_CASES else "") for c, n in bars]
        ax.bar(labels, [medians[(c[0], n)]["median"] / 1024 for c, n in bars], color=[colours[c[0]] for c, _ in bars])
        ax.set_ylabel("KiB per idle connection")
        ax.set_title(memory[0][1] if len(memory) == 1 else "10,000 idle connections: server memory per connection")
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right", fontsize=8)
        path = prefix + "-memory.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def measure_all(cases, servers_of, seconds, repeats):
    """Every case with each of its servers, `repeats` times, the servers
    taking turns within each repeat."""
    results = []
    total = sum(len(servers_of(c)) for c in cases) * repeats
    step = 0
    with tempfile.TemporaryDirectory(prefix="tether-bench-tls-") as directory:
        tls_files = make_certificate(directory) if any(c[0] in TLS_CASES and servers_of(c) for c in cases) else None
        for case in cases:
            for repeat in range(repeats):
                for name in servers_of(case):
                    step += 1
                    try:
                        result = measure(name, case, seconds, tls_files)
                        results.append({"case": case[0], "server": name, "repeat": repeat, "result": result})
                        shown = main_value(case, result)
                        extra = f", server CPU {result['server_cpu'] * 100:.0f} %" if "server_cpu" in result else ""
                        print(f"[{step}/{total}] {case[1]} | {name}: {shown:,.1f} {unit(case)}{extra}", flush=True)
                    except Exception as e:  # one failing server must not end the run
                        results.append({"case": case[0], "server": name, "repeat": repeat, "error": str(e)})
                        print(f"[{step}/{total}] {case[1]} | {name}: FAILED ({e})", flush=True)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", default=",".join(c[0] for c in CASES))
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    parser.add_argument("--name", default=datetime.date.today().isoformat())
    parser.add_argument("--merge", action="store_true",
                        help="keep the other cases' measurements from an earlier run of the same name")
    args = parser.parse_args()
    cases = [c for c in CASES if c[0] in args.cases.split(",")]
    selected = [s for s in args.servers.split(",") if s in SERVERS]
    missing = [s for s in selected if not (os.path.exists(SERVERS[s][0][0]) or SERVERS[s][0][0] in ("node",))]
    for name in missing:
        print(f"bench/run: {name} is not built; skipped", file=sys.stderr)
    selected = [s for s in selected if s not in missing]
    if not os.path.exists(build_path("bench", "tether_broadcast")):
        print("bench/run: tether_broadcast is not built (no hiredis); broadcast and Redis cases skipped",
              file=sys.stderr)
        cases = [c for c in cases if c[2] not in ("broadcast", "redis")]

    # Each connection is a descriptor in the server and in the load generator.
    import resource
    descriptors = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    too_many = [c for c in cases if c[3] + 100 > descriptors]
    for case in too_many:
        print(f"bench/run: {case[0]} needs {case[3] + 100} descriptors, the limit is {descriptors}; skipped",
              file=sys.stderr)
    cases = [c for c in cases if c not in too_many]

    def servers_of(case):
        return servers_for(case, selected)
    os.makedirs(args.out, exist_ok=True)
    results = measure_all(cases, servers_of, args.seconds, args.repeats)

    prefix = os.path.join(args.out, args.name)
    if args.merge and os.path.exists(prefix + ".json"):
        with open(prefix + ".json") as f:
            earlier = json.load(f)["measurements"]
        measured = {c[0] for c in cases}
        results = [r for r in earlier if r["case"] not in measured] + results
        cases = [c for c in CASES if any(r["case"] == c[0] for r in results)]
        present = {r["server"] for r in results}
        selected = [s for s in SERVERS if s in present]

    meta = {"date": args.name, "seconds": args.seconds, "repeats": args.repeats, "cpus": os.cpu_count(),
            "cpu_model": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
                              "unknown")}
    medians = summarise(results, servers_of, cases)
    with open(prefix + ".json", "w") as f:
        json.dump({"meta": meta, "measurements": results,
                   "medians": [{"case": k[0], "server": k[1], **v} for k, v in medians.items()]}, f, indent=1)
    table = markdown(medians, servers_of, cases, meta)
    with open(prefix + ".md", "w") as f:
        f.write(table)
    written = plots(medians, selected, cases, prefix)
    print(table)
    print("bench/run: wrote " + ", ".join([prefix + ".json", prefix + ".md"] + written))
    failed = [r for r in results if "error" in r]
    if failed:
        print(f"bench/run: {len(failed)} of {len(results)} measurements failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
