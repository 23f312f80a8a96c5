#!/usr/bin/env python3
"""Scenario (k) of bench/run: a host label moved between two Swarm services, timed to traffic on N proxies
(stdlib only; the Engine API is spoken raw over its unix socket, no docker CLI in the timed path).

Subcommands:
  wait-log FILE TEXT [--timeout S] [--pid PID]
                        wait until a line of FILE contains TEXT and `address=HOST:PORT`; print PORT
  backends --sock S SERVICE…
                        wait until each service has a running task answering on its host-mode published port
                        at 127.0.0.1; print one JSON object {service: {"port": P, "bodies": [...]}}
  measure --sock S --a SERVICE --b SERVICE --proxies P1,P2,… --host H --changes N [--period-ms 2]
                        move the label com.docker.lb.hosts=H between A and B N times; print one JSON line
                        (kind "labelmove") with T1−T0 per change and per proxy
"""
import argparse
import http.client
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import percentile, pid_alive, request  # noqa: E402

API = "/v1.41"
HOSTS_LABEL = "com.docker.lb.hosts"


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 to the Engine over its unix socket; one kept-alive connection, as Pier's own client does."""

    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Engine:
    def __init__(self, sock):
        self.conn = UnixHTTPConnection(sock)

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        self.conn.request(method, API + path, body=data, headers=headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        if resp.status >= 300:
            raise RuntimeError(f"{method} {path}: {resp.status} {raw[:300]!r}")
        return json.loads(raw) if raw else None

    def service(self, name):
        return self.call("GET", f"/services/{name}")

    def tasks(self, name):
        filters = json.dumps({"service": [name], "desired-state": ["running"]})
        return self.call("GET", "/tasks?filters=" + urllib.parse.quote(filters))


def cmd_wait_log(args):
    deadline = time.monotonic() + args.timeout
    pattern = re.compile(r"address=[^\s:]+:(\d+)")
    while time.monotonic() < deadline:
        try:
            with open(args.file, errors="replace") as f:
                for line in f:
                    if args.text in line:
                        m = pattern.search(line)
                        if m:
                            print(m.group(1))
                            return 0
        except OSError:
            pass
        if args.pid and not pid_alive(args.pid):
            print(f"wait-log: process {args.pid} exited", file=sys.stderr)
            return 1
        time.sleep(0.05)
    print(f"wait-log: no line with {args.text!r} and an address in {args.file} within {args.timeout}s",
          file=sys.stderr)
    return 1


def published_port(task):
    """The first TCP host-mode entry for target 8080 (Docker 20.10 may list a second one that belongs to
    another task: docs/docker.md)."""
    for p in (task.get("Status", {}).get("PortStatus", {}).get("Ports") or []):
        if p.get("TargetPort") == 8080 and p.get("Protocol", "tcp") == "tcp" and p.get("PublishMode") == "host":
            return p.get("PublishedPort")
    return None


def backends(engine, names, timeout):
    """Each service's running task, its published port and the body it answers (its container's host name)."""
    deadline = time.monotonic() + timeout
    found, last = {}, ""
    while time.monotonic() < deadline and len(found) < len(names):
        for name in names:
            if name in found:
                continue
            for t in engine.tasks(name):
                port = published_port(t)
                if t.get("Status", {}).get("State") != "running" or not port:
                    last = f"{name}: task {t.get('Status', {}).get('State')}"
                    continue
                try:
                    status, _, body = request(port, "backend", "/", timeout=2)
                except OSError as e:
                    last = f"{name}: 127.0.0.1:{port}: {e}"
                    continue
                if status == 200:
                    found[name] = {"port": port, "bodies": [body.decode().strip()]}
        time.sleep(0.2)
    if len(found) < len(names):
        raise RuntimeError(f"backends not running within {timeout}s: {last}")
    return found


def cmd_backends(args):
    print(json.dumps(backends(Engine(args.sock), args.services, args.timeout)))
    return 0


class Poller(threading.Thread):
    """One proxy, one keep-alive connection, a request every period; remembers, for the change in progress,
    when this proxy first answered from the wanted backend and what it answered meanwhile."""

    def __init__(self, port, host, period, stop):
        super().__init__(daemon=True)
        self.port, self.host, self.period, self.stop = port, host, period, stop
        self.lock = threading.Lock()
        self.want, self.t0, self.first, self.other = None, None, None, {}
        self.requests = 0

    def expect(self, bodies, t0):
        with self.lock:
            self.want, self.t0, self.first, self.other = set(bodies), t0, None, {}

    def result(self):
        with self.lock:
            return self.first, dict(self.other)

    def observe(self, t, status, body):
        with self.lock:
            self.requests += 1
            if self.want is None or self.first is not None:
                return
            if status == 200 and body in self.want:
                self.first = t
            else:
                key = str(status) if status != 200 else "old backend"
                self.other[key] = self.other.get(key, 0) + 1

    def run(self):
        sock, due = None, time.perf_counter()
        while not self.stop.is_set():
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                status, headers, body = request(self.port, self.host, "/", timeout=2, sock=sock)
                if headers.get("connection", "").lower() == "close":
                    sock.close()
                    sock = None
                body = body.decode(errors="replace").strip()
            except OSError:
                if sock is not None:
                    sock.close()
                sock, status, body = None, 0, ""
            self.observe(time.perf_counter(), status, body)
            due += self.period
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            else:
                due = now  # behind (a slow answer): poll at once, do not burst to catch up
        if sock is not None:
            sock.close()


def parked(name):
    """The host a service carries while the measured host is on the other one: every service stays valid and
    routed (a service with a port but no host is an error the controller would log at every refresh)."""
    return f"{name}.parked"


def spec_with_host(service, host):
    """The service's spec with the host label set; everything else unchanged, so that the update restarts no
    task."""
    spec = json.loads(json.dumps(service["Spec"]))
    spec.setdefault("Labels", {})[HOSTS_LABEL] = host
    return spec


def move(engine, src, dst, host):
    """Parks src on its own host, then gives dst the measured host: two update calls, never a moment with both
    (a shared host would pool both, as a canary). Returns (T0, call durations in ms)."""
    s, d = engine.service(src), engine.service(dst)
    specs = [(s, spec_with_host(s, parked(src))), (d, spec_with_host(d, host))]
    t0 = time.perf_counter()
    calls = []
    for svc, spec in specs:
        c0 = time.perf_counter()
        engine.call("POST", f"/services/{svc['ID']}/update?version={svc['Version']['Index']}", spec)
        calls.append((time.perf_counter() - c0) * 1000)
    return t0, calls


def cmd_measure(args):
    engine = Engine(args.sock)
    found = backends(engine, [args.a, args.b], args.timeout)
    ports = [int(p) for p in args.proxies.split(",")]
    stop = threading.Event()
    pollers = [Poller(p, args.host, args.period_ms / 1000, stop) for p in ports]
    for p in pollers:
        p.start()
    changes, failures = [], 0
    started = time.perf_counter()
    try:
        # Every proxy routes the host to A before the first change (A carries the label from its creation).
        for p in pollers:
            p.expect(found[args.a]["bodies"], time.perf_counter())
        settle = time.monotonic() + args.timeout
        while any(p.result()[0] is None for p in pollers):
            if time.monotonic() > settle:
                raise RuntimeError(f"not every proxy routes {args.host} to {args.a} within {args.timeout}s")
            time.sleep(0.01)
        src, dst = args.a, args.b
        for i in range(args.changes):
            # The pollers look for the new backend from T0 on; expect() is armed first, so nothing is missed.
            armed = time.perf_counter()
            for p in pollers:
                p.expect(found[dst]["bodies"], armed)
            t0, calls = move(engine, src, dst, args.host)
            deadline = time.monotonic() + args.change_timeout
            while any(p.result()[0] is None for p in pollers) and time.monotonic() < deadline:
                time.sleep(0.002)
            results = [p.result() for p in pollers]
            firsts = [None if f is None else round((f - t0) * 1000, 2) for f, _ in results]
            if None in firsts:
                failures += 1
            others = {}
            for _, o in results:
                for k, v in o.items():
                    others[k] = others.get(k, 0) + v
            done = [x for x in firsts if x is not None]
            changes.append({
                "to": "b" if dst == args.b else "a", "api_ms": [round(c, 2) for c in calls],
                "per_proxy_ms": firsts, "t1_ms": max(done) if len(done) == len(firsts) else None,
                "spread_ms": round(max(done) - min(done), 2) if len(done) == len(firsts) else None,
                "other_answers": others,
            })
            print(f"label-move: change {i + 1}/{args.changes} → {dst}: T1−T0 "
                  f"{changes[-1]['t1_ms']} ms, per proxy {firsts}, API {changes[-1]['api_ms']} ms, meanwhile {others}",
                  file=sys.stderr)
            src, dst = dst, src
            time.sleep(args.pause)
    finally:
        stop.set()
        for p in pollers:
            p.join(3)
    elapsed_ms = (time.perf_counter() - started) * 1000
    t1s = sorted(c["t1_ms"] for c in changes if c["t1_ms"] is not None)
    spreads = sorted(c["spread_ms"] for c in changes if c["spread_ms"] is not None)
    apis = sorted(round(sum(c["api_ms"]), 2) for c in changes)
    print(json.dumps({
        "kind": "labelmove", "proxies": len(ports), "changes": len(changes), "failed_changes": failures,
        "period_ms": args.period_ms, "pause_s": args.pause, "host": args.host,
        "t1_median_ms": percentile(t1s, 50), "t1_p99_ms": percentile(t1s, 99), "t1_min_ms": t1s[0] if t1s else None,
        "spread_median_ms": percentile(spreads, 50), "spread_p99_ms": percentile(spreads, 99),
        "api_median_ms": percentile(apis, 50), "api_p99_ms": percentile(apis, 99),
        "requests": sum(p.requests for p in pollers), "records": changes,
        "poll_ms": round(elapsed_ms * len(pollers) / max(1, sum(p.requests for p in pollers)), 2),
    }))
    return 0 if t1s and not failures else 1


# -------------------------------------------------------------------------------------------- report

TARGET_MS = 250  # docs/design/controller-proxy.md: median < 250 ms on this machine


def report_section(records, w, problems):
    """Writes the (k) section; returns its summary row (None when the run had no (k) at all)."""
    if not records:
        return None
    r = records[-1]
    w("## (k) Label change → traffic on N proxies (Docker Engine in Swarm mode)\n")
    if r.get("skipped"):
        w(f"Skipped: {r['skipped']}.\n")
        return (f"| (k) label change → traffic on every proxy | skipped ({r['skipped']}) | | | | median < {TARGET_MS} ms | "
                "— | — |")
    w(f"`pier controller --docker` on the engine's socket and {r['proxies']} `pier proxy` processes (mutual TLS, "
      "credentials from `pier ca init`, `--threads 1`), all host processes on 127.0.0.1; two services A and B "
      "(`pier-test/httpd:1`, busybox httpd answering its container's host name, `--publish mode=host,target=8080`, "
      "`com.docker.lb.port=8080`, one replica each on an overlay network of the run's own), reached by the proxies "
      "at 127.0.0.1 and the published port. "
      f"`com.docker.lb.hosts={r['host']}` moves between A and B {r['changes']} times: per change two raw Engine API "
      "calls on the unix socket (`POST /v1.41/services/{id}/update?version=N` with the spec as read): the old "
      "service's label set to a parked host of its own (`<service>.parked`), then the new one's to the measured "
      "host; never both at once, which would pool them as a canary. T0 just before the first call; a 503 "
      "meanwhile is a table read between the two calls (the host briefly routed nowhere). "
      f"One poller per proxy sends `GET /` with Host {r['host']} every "
      f"{r['period_ms']:g} ms on a keep-alive connection; T1 = when the last proxy first answered from the new "
      f"backend (measured: one request per {r.get('poll_ms', 0):.1f} ms and proxy). {r['pause_s']:g} s pause "
      "between changes. Percentiles are nearest rank (below 100 changes, p99 is the maximum); spread = last proxy "
      "− first proxy, per change.\n")
    w("| | changes | T1−T0 median | T1−T0 p99 | min | per-proxy spread median | spread p99 | both API calls, "
      "median | answers from the old backend / errors meanwhile | target |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    others = {}
    for c in r["records"]:
        for k, v in c.get("other_answers", {}).items():
            others[k] = others.get(k, 0) + v
    old = others.pop("old backend", 0)
    errs = ", ".join(f"{v} × {k}" for k, v in sorted(others.items())) or "0"
    if others:
        hit = sum(1 for c in r["records"] if set(c.get("other_answers", {})) - {"old backend"})
        errs += f" (in {hit} of {r['changes']} changes)"
    met = r["t1_median_ms"] is not None and r["t1_median_ms"] < TARGET_MS and not r["failed_changes"]
    w(f"| Pier | {r['changes'] - r['failed_changes']} of {r['changes']} | {r['t1_median_ms']:.0f} ms | "
      f"{r['t1_p99_ms']:.0f} ms | {r['t1_min_ms']:.0f} ms | {r['spread_median_ms']:.1f} ms | "
      f"{r['spread_p99_ms']:.1f} ms | {r['api_median_ms']:.1f} ms | {old} / {errs} | median < {TARGET_MS} ms: "
      f"{'met' if met else 'not met'} |")
    w("| Interlock (documented, not measured) | | a 3 s poll of the engine, then its proxies restarted per "
      "change: seconds | | | | | | | |")
    w("")
    if r["failed_changes"]:
        problems.append(f"scenario k: {r['failed_changes']} changes never reached every proxy")
    return (f"| (k) label change → traffic on {r['proxies']} proxies | T1−T0 median {r['t1_median_ms']:.0f} ms, p99 "
            f"{r['t1_p99_ms']:.0f} ms, spread {r['spread_median_ms']:.1f} ms ({r['changes']} changes; Interlock: "
            f"3 s poll + proxy restart) | | | | median < {TARGET_MS} ms | {'yes' if met else 'no'} | — |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("wait-log")
    p.add_argument("file")
    p.add_argument("text")
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--pid", type=int, default=0)
    p.set_defaults(fn=cmd_wait_log)
    p = sub.add_parser("backends")
    p.add_argument("--sock", required=True)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("services", nargs="+")
    p.set_defaults(fn=cmd_backends)
    p = sub.add_parser("measure")
    p.add_argument("--sock", required=True)
    p.add_argument("--a", required=True, help="the service that carries the host label at the start")
    p.add_argument("--b", required=True)
    p.add_argument("--proxies", required=True, help="HTTP ports of the proxies on 127.0.0.1, comma-separated")
    p.add_argument("--host", required=True)
    p.add_argument("--changes", type=int, default=50)
    p.add_argument("--period-ms", type=float, default=2)
    p.add_argument("--pause", type=float, default=0.3, help="seconds between one change's T1 and the next change")
    p.add_argument("--timeout", type=float, default=60, help="seconds for the backends and the first table")
    p.add_argument("--change-timeout", type=float, default=10)
    p.set_defaults(fn=cmd_measure)
    args = ap.parse_args()
    return args.fn(args) or 0


if __name__ == "__main__":
    sys.exit(main())
