#!/usr/bin/env python3
"""Helpers for bench/run (stdlib only).

Subcommands:
  freeports N                          print N distinct free TCP ports on 127.0.0.1
  gen DIR --services N --backend-port P --pier-port P --nginx-port P --haproxy-port P
      --pier-tls-port P --nginx-tls-port P --haproxy-tls-port P --cert PEM --key PEM
                                       write every configuration file (backend, the three proxies, both
                                       variants of each route table for the churn scenario, and the TLS
                                       variant of each proxy for scenarios (h) and (i))
  wait-http PORT HOST PATH [--timeout S] [--method POST --body-bytes N] [--tls]
                                       wait until a request answers 2xx (--tls: HTTP/1.1 over TLS, SNI = HOST)
  tls-info PORT HOST --proxy NAME      one TLS handshake (SNI = HOST, ALPN h2,http/1.1, OpenSSL's default
                                       TLS 1.3 suites as wrk and h2load offer them): a JSON line with the
                                       version, suite and ALPN protocol the proxy chose; exit 1 unless h2
  verify-upload PORT HOST              prove that the backend reads a whole 1 MiB upload before it answers
  backend-accepts PORT                 connections the backend has accepted so far (stub_status)
  haproxy-wait-pid SOCK PID [--timeout S]
                                       wait until the HAProxy stats socket answers with this pid
  idle --port P --host H --count N --pid PID [--hold S] --proxy NAME
                                       open N keep-alive connections (one request each, then idle) and print
                                       the RSS delta of PID and its descendants as a JSON line
  soak --dir D --log F --pid PID --duration S [--interval S] [--sample S] [--warmup S]
                                       rewrite Pier's configuration every interval (alternating pier-a/pier-b,
                                       each reload confirmed) while sampling its RSS: one JSON line with the
                                       samples and the RSS trend after the warm-up
  parse-wrk FILE --scenario S --round R --proxy P [--extra JSON]
                                       print one JSON line with the figures of a wrk run
  parse-h2load FILE --log LOG --scenario S --round R --proxy P [--extra JSON]
                                       the same for an h2load run (percentiles from its --log-file)
  parse-table FILE                     pier-table-bench output → JSON lines
  report RESULTS.jsonl [--meta META.json] --out FILE [--check]
                                       ((k) has its own helper, labelmove.py, which also writes its section)
                                       write the Markdown report; --check exits 1 when a figure is missing
                                       (bench/RESULTS.jsonl holds the raw records of bench/RESULTS.md, meta
                                       record first: `report bench/RESULTS.jsonl --out /tmp/R.md` redraws it)
"""
import argparse
import json
import os
import re
import resource
import select
import socket
import ssl
import statistics
import subprocess
import struct
import sys
import time

HOST_FMT = "host{}.bench.test"
EXTRA_HOST = "extra.bench.test"
PROXIES = ["pier", "nginx", "haproxy"]
PROXY_TITLE = {"pier": "Pier", "piermx": "Pier, metrics on", "floor": "NIO floor", "nginx": "nginx", "haproxy": "HAProxy"}
# bench/run's "piermx": scenario (a) only, Pier with its admin entrypoint on and /metrics scraped every second
# during its runs, against "pier" (no admin entrypoint: nothing counted): the cost of the metrics.
METRICS_TARGET = 0.97
# pier-nio-floor (bench/run's "floor"): every scenario but (f) and (g) (it has no table to reload), right after Pier.
FLOOR_SCENARIOS = "abcdehi"
HTTP1_PROXIES = ["pier", "floor", "nginx", "haproxy"]
# Scenarios (h) and (i): every proxy gets the same certificate, protocols and TLS 1.2 cipher list (Mozilla
# intermediate, Pier's default); TLS 1.3 suites are each TLS library's defaults (all AEAD).
TLS_PROTOCOLS = "TLSv1.2 TLSv1.3"
TLS_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
               "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")


# --------------------------------------------------------------------------------------------- ports

def cmd_freeports(args):
    socks = []
    ports = []
    for _ in range(args.n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    print(" ".join(str(p) for p in ports))


# ------------------------------------------------------------------------------------------- configs

NGINX_TEMP = """\
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
"""


def backend_conf(d, port):
    return f"""\
# Backend: one nginx worker serving /1k and /100k, reading whole uploads at /upload.
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid {d}/backend/nginx.pid;
error_log {d}/backend/error.log warn;
events {{ worker_connections 19000; }}
http {{
    access_log off;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000000;
    keepalive_timeout 600s;
{NGINX_TEMP.format(d=d + "/backend")}
    # /upload: the default proxy_request_buffering reads the whole request body (kept in memory by
    # client_body_buffer_size) before the upstream is contacted; only the head goes on to /sink. So the
    # backend answers an upload only after it has received all of it (bench/run verifies this).
    upstream sink {{
        server 127.0.0.1:{port};
        keepalive 256;  # above the 64 concurrent uploads, so the sink hop opens no connections
        keepalive_requests 1000000000;
    }}
    server {{
        listen 127.0.0.1:{port} default_server backlog=4096;
        server_name _;
        root {d}/www;
        location = /upload {{
            client_max_body_size 0;
            client_body_buffer_size 2m;
            proxy_pass http://sink/sink;
            proxy_pass_request_body off;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Content-Length "";
        }}
        location = /sink {{ return 200 "ok\\n"; }}
        # Connections accepted so far: bench/run counts the upstream connections each proxy opens.
        location = /status {{ stub_status; }}
    }}
}}
"""


def nginx_proxy_conf(d, port, workers=1):
    return f"""\
# nginx as the proxy: {workers} worker(s), upstream keep-alive, Interlock-style forwarding and info headers.
worker_processes {workers};
worker_rlimit_nofile 20000;
daemon off;
pid {d}/nginx/nginx.pid;
error_log {d}/nginx/error.log notice;
events {{ worker_connections 19000; }}
http {{
    access_log off;
    server_names_hash_max_size 8192;
    server_names_hash_bucket_size 64;
    keepalive_requests 1000000000;
    keepalive_timeout 75s;
    client_max_body_size 0;
    # Stream request bodies upstream as Pier and HAProxy do (nginx's default spools them to disk first).
    proxy_request_buffering off;
{NGINX_TEMP.format(d=d + "/nginx")}
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $host;
    proxy_set_header X-Request-Id $request_id;
    add_header x-request-id $request_id;
    add_header x-proxy-id nginx;
    add_header x-server-info nginx;
    add_header x-upstream-addr $upstream_addr;
    add_header x-upstream-response-time $upstream_response_time;

    server {{
        listen 127.0.0.1:{port} default_server backlog=4096;
        server_name _;
        return 503;
    }}
    include {d}/nginx/routes.conf;
}}
"""


def nginx_version():
    try:
        text = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr
    except OSError:
        return (0, 0, 0)
    m = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)


def nginx_routes(port, backend, n, extra, tls=None):
    """The route table; with tls (port, cert, key), every server also listens with TLS and HTTP/2 there."""
    out = []
    listen_tls = ""
    if tls:
        tls_port, cert, key = tls
        # HTTP/2: `listen … http2` before nginx 1.25.1 (Debian 12 has 1.22), the `http2` directive after.
        new_h2 = nginx_version() >= (1, 25, 1)
        h2 = "" if new_h2 else " http2"
        listen_tls = f" listen 127.0.0.1:{tls_port} ssl{h2};"
        out.append(f"""\
# TLS (scenarios h and i): the same certificate, protocols and cipher list as Pier and HAProxy.
ssl_certificate {cert};
ssl_certificate_key {key};
ssl_protocols {TLS_PROTOCOLS};
ssl_ciphers {TLS_CIPHERS};
{"http2 on;" if new_h2 else ""}
server {{ listen 127.0.0.1:{tls_port} ssl{h2} default_server backlog=4096; server_name _; return 503; }}
""")
    names = [(f"svc-{i}", HOST_FMT.format(i)) for i in range(n)]
    if extra:
        names.append(("svc-extra", EXTRA_HOST))
    for name, host in names:
        out.append(
            f"upstream {name} {{ server 127.0.0.1:{backend}; keepalive 128; keepalive_requests 1000000000; "
            f"keepalive_timeout 60s; }}\n"
            f"server {{ listen 127.0.0.1:{port};{listen_tls} server_name {host}; "
            f"location / {{ proxy_pass http://{name}; }} }}\n")
    return "".join(out)


def haproxy_conf(d, port, backend, n, extra, variant, tls=None):
    """With tls (port, pem): a second bind with TLS, ALPN h2 and http/1.1, on the same frontend."""
    tls_global = tls_bind = tls_proto = ""
    if tls:
        tls_global = (f"    ssl-default-bind-ciphers {TLS_CIPHERS}\n"
                      "    ssl-default-bind-options ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3\n")
        tls_bind = f"    bind 127.0.0.1:{tls[0]} ssl crt {tls[1]} alpn h2,http/1.1\n"
        tls_proto = "    http-request set-header X-Forwarded-Proto https if { ssl_fc }\n"
    names = [(f"svc-{i}", HOST_FMT.format(i)) for i in range(n)]
    if extra:
        names.append(("svc-extra", EXTRA_HOST))
    mapfile = f"{d}/haproxy/hosts-{variant}.map"
    with open(mapfile, "w") as f:
        for name, host in names:
            f.write(f"{host} {name}\n")
    backends = "".join(f"backend {name}\n    server s1 127.0.0.1:{backend}\n" for name, _ in names)
    return f"""\
# HAProxy as the proxy: one thread, http-reuse always, a host map of every service.
global
    nbthread 1
    maxconn 10100
    # maxconn 10100 would want 2 fds per connection (20225) and the hard limit here is 20000; idle client
    # connections hold no server-side fd, so run with the limit there is instead of refusing to start.
    no strict-limits
    stats socket {d}/haproxy/admin.sock mode 600 level admin expose-fd listeners
{tls_global}defaults
    mode http
    maxconn 10100
    timeout connect 5s
    timeout client 600s
    timeout server 600s
    timeout http-request 60s
    timeout http-keep-alive 75s
    http-reuse always
    option forwardfor
frontend fe
    bind 127.0.0.1:{port}
{tls_bind}    unique-id-format %[uuid]
    unique-id-header X-Request-Id
    http-request set-header X-Real-IP %[src]
    http-request set-header X-Forwarded-Proto http
{tls_proto}    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    http-response set-header x-request-id %[unique-id]
    http-response set-header x-proxy-id haproxy
    http-response set-header x-server-info haproxy
    http-response set-header x-upstream-addr %si:%sp
    http-response set-header x-upstream-response-time %Tr
    use_backend %[req.hdr(host),field(1,:),lower,map({mapfile})]
    default_backend no-route
backend no-route
    http-request return status 503
{backends}"""


def pier_conf(port, backend, n, extra, tls=None):
    """With tls (port, cert, key): the HTTPS entrypoint, and every service gets the certificate. Without: no
    HTTPS entrypoint (Pier's default would be 0.0.0.0:8443)."""
    https = f"127.0.0.1:{tls[0]}" if tls else ""
    tls_config = f'SSLProtocols = "{TLS_PROTOCOLS}"\nSSLCiphers = "{TLS_CIPHERS}"\n' if tls else ""
    out = [f"""\
# Pier as the proxy (bench/run): {n} services{" + svc-extra" if extra else ""}{", TLS" if tls else ""}.
[Entrypoints]
HTTP = "127.0.0.1:{port}"
HTTPS = "{https}"

[Config]
AccessLog = false
ClientMaxBodySize = "0"
{tls_config}"""]
    tls_labels = f'"com.docker.lb.ssl_cert" = "{tls[1]}"\n"com.docker.lb.ssl_key" = "{tls[2]}"\n' if tls else ""
    names = [(f"svc-{i}", HOST_FMT.format(i)) for i in range(n)]
    if extra:
        names.append(("svc-extra", EXTRA_HOST))
    for name, host in names:
        out.append(f"""
[[Services]]
Name = "{name}"
Endpoints = ["127.0.0.1:{backend}"]
[Services.Labels]
"com.docker.lb.hosts" = "{host}"
{tls_labels}""")
    return "".join(out)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def cmd_gen(args):
    d = os.path.abspath(args.dir)
    for sub in ["www", "backend/tmp", "nginx/tmp", "haproxy", "pier"]:
        os.makedirs(f"{d}/{sub}", exist_ok=True)
    with open(f"{d}/www/1k", "wb") as f:
        f.write(b"a" * 1024)
    with open(f"{d}/www/100k", "wb") as f:
        f.write(b"b" * 102400)
    with open(f"{d}/upload.bin", "wb") as f:
        f.write(b"u" * 1048576)
    write(f"{d}/backend/nginx.conf", backend_conf(d, args.backend_port))
    write(f"{d}/nginx/nginx.conf", nginx_proxy_conf(d, args.nginx_port))
    # Scenario (m): the same proxies on two cores each.
    write(f"{d}/nginx/nginx-mc.conf", nginx_proxy_conf(d, args.nginx_port, workers=2))
    write(f"{d}/haproxy/haproxy-mc.cfg", haproxy_conf(d, args.haproxy_port, args.backend_port, args.services, False, "a")
          .replace("    nbthread 1\n", "    nbthread 2\n"))
    for variant, extra in (("a", False), ("b", True)):
        write(f"{d}/nginx/routes-{variant}.conf", nginx_routes(args.nginx_port, args.backend_port, args.services, extra))
        write(f"{d}/haproxy/haproxy-{variant}.cfg",
              haproxy_conf(d, args.haproxy_port, args.backend_port, args.services, extra, variant))
        write(f"{d}/pier/pier-{variant}.toml", pier_conf(args.pier_port, args.backend_port, args.services, extra))
    write(f"{d}/nginx/routes.conf", nginx_routes(args.nginx_port, args.backend_port, args.services, False))
    write(f"{d}/pier/pier.toml", pier_conf(args.pier_port, args.backend_port, args.services, False))
    # TLS variant of each proxy (scenarios h and i): the table without the extra service, plus TLS listeners.
    cert, key = os.path.abspath(args.cert), os.path.abspath(args.key)
    pem = f"{d}/haproxy/cert-and-key.pem"  # HAProxy wants both in one file
    with open(pem, "w") as f:
        f.write(open(cert).read() + open(key).read())
    write(f"{d}/nginx/routes-tls.conf", nginx_routes(args.nginx_port, args.backend_port, args.services, False,
                                                     tls=(args.nginx_tls_port, cert, key)))
    write(f"{d}/haproxy/haproxy-tls.cfg", haproxy_conf(d, args.haproxy_port, args.backend_port, args.services,
                                                       False, "tls", tls=(args.haproxy_tls_port, pem)))
    write(f"{d}/pier/pier-tls.toml", pier_conf(args.pier_port, args.backend_port, args.services, False,
                                               tls=(args.pier_tls_port, cert, key)))


# ------------------------------------------------------------------------------------------ http bits

def read_response(sock, deadline):
    """Reads one HTTP/1.1 response (Content-Length or chunked framing); returns (status, headers, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before the response head")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        need = int(headers["content-length"])
        while len(rest) < need:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(max(65536, need - len(rest)))
            if not chunk:
                raise ConnectionError("connection closed in the response body")
            rest += chunk
        return status, headers, rest[:need]
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while not rest.endswith(b"0\r\n\r\n"):
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed in a chunked body")
            rest += chunk
        return status, headers, rest
    return status, headers, rest


def client_tls_context(alpn=None):
    """No verification (the certificate is self-signed); the library's default protocols and suites."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def tls_connect(port, host, timeout, alpn=None):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return client_tls_context(alpn).wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise


def request(port, host, path, method="GET", body=b"", timeout=5.0, sock=None, tls=False):
    deadline = time.monotonic() + timeout
    own = sock is None
    if own:
        sock = tls_connect(port, host, timeout) if tls else \
            socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"
        if body or method == "POST":
            head += f"Content-Length: {len(body)}\r\n"
        sock.sendall(head.encode() + b"\r\n" + body)
        return read_response(sock, deadline)
    finally:
        if own:
            sock.close()


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cmd_wait_http(args):
    deadline = time.monotonic() + args.timeout
    body = b"w" * args.body_bytes
    last = None
    while time.monotonic() < deadline:
        if args.pid and not pid_alive(args.pid):
            print(f"wait-http: process {args.pid} exited", file=sys.stderr)
            return 1
        try:
            status, _, _ = request(args.port, args.host, args.path, args.method, body, timeout=5, tls=args.tls)
            if 200 <= status < 300:
                return 0
            last = f"status {status}"
        except OSError as e:
            last = str(e)
        time.sleep(0.05)
    print(f"wait-http: no 2xx from {'https' if args.tls else 'http'}://127.0.0.1:{args.port} {args.method} "
          f"{args.path} (Host {args.host}) "
          f"within {args.timeout}s: {last}", file=sys.stderr)
    return 1


def cmd_tls_info(args):
    try:
        sock = tls_connect(args.port, args.host, 5, alpn=["h2", "http/1.1"])
    except (OSError, ssl.SSLError) as e:
        print(f"tls-info: no TLS handshake with 127.0.0.1:{args.port} (SNI {args.host}): {e}", file=sys.stderr)
        return 1
    with sock:
        cipher = sock.cipher()
        rec = {"kind": "tls", "proxy": args.proxy, "version": sock.version(), "cipher": cipher[0] if cipher else None,
               "alpn": sock.selected_alpn_protocol()}
    print(json.dumps(rec))
    if rec["alpn"] != "h2":
        print(f"tls-info: 127.0.0.1:{args.port} chose ALPN {rec['alpn']!r}, not h2", file=sys.stderr)
        return 1
    return 0


def cmd_verify_upload(args):
    """Half the body, then a pause: the backend must not answer; the rest: it must answer 200."""
    size = 1048576
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=5)
    head = (f"POST /upload HTTP/1.1\r\nHost: {args.host}\r\nContent-Length: {size}\r\n\r\n").encode()
    sock.sendall(head + b"u" * (size // 2))
    r, _, _ = select.select([sock], [], [], 0.5)
    if r:
        print("verify-upload: the backend answered before it had the whole body", file=sys.stderr)
        return 1
    sock.sendall(b"u" * (size - size // 2))
    status, _, body = read_response(sock, time.monotonic() + 5)
    if status != 200:
        print(f"verify-upload: status {status}", file=sys.stderr)
        return 1
    # Measured transfer: 20 uploads on the same connection.
    t0 = time.monotonic()
    n = 20
    for _ in range(n):
        status, _, _ = request(args.port, args.host, "/upload", "POST", b"u" * size, sock=sock)
        if status != 200:
            print(f"verify-upload: status {status}", file=sys.stderr)
            return 1
    dt = time.monotonic() - t0
    sock.close()
    print(f"backend upload check: waits for the whole 1 MiB body; {n} uploads at {n / dt:.0f} MiB/s "
          f"(one connection, python client)")
    return 0


def cmd_backend_accepts(args):
    status, _, body = request(args.port, "backend", "/status")
    m = re.search(rb"server accepts handled requests\s+(\d+)", body)
    if status != 200 or not m:
        return 1
    print(int(m.group(1)))
    return 0


def cmd_haproxy_wait_pid(args):
    deadline = time.monotonic() + args.timeout
    last = None
    while time.monotonic() < deadline:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(1)
            s.connect(args.sock)
            s.sendall(b"show info\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.close()
            m = re.search(rb"^Pid: (\d+)", data, re.M)
            last = m and int(m.group(1))
            if last == args.pid:
                return 0
        except OSError as e:
            last = str(e)
        time.sleep(0.01)
    print(f"haproxy-wait-pid: {args.sock} still answers as {last}, not {args.pid}", file=sys.stderr)
    return 1


# ---------------------------------------------------------------------------------------------- idle

def descendants(root):
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_kib(root):
    total = 0
    for pid in descendants(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def cmd_idle(args):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    count = min(args.count, hard - 200)
    # Settle, then take the baseline (several samples, the last one).
    for _ in range(20):
        request(args.port, args.host, "/1k")
    time.sleep(args.settle)
    before = rss_kib(args.pid)
    socks = []
    failed = 0
    t0 = time.monotonic()
    req = f"GET /1k HTTP/1.1\r\nHost: {args.host}\r\n\r\n".encode()
    for _ in range(count):
        try:
            s = socket.create_connection(("127.0.0.1", args.port), timeout=10)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.sendall(req)
            status, _, _ = read_response(s, time.monotonic() + 10)
            if status != 200:
                failed += 1
            socks.append(s)
        except OSError:
            failed += 1
    open_s = time.monotonic() - t0
    time.sleep(args.hold)
    after = rss_kib(args.pid)
    # How many did the proxy close while they idled (a readable idle socket means EOF or reset)?
    closed = 0
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLIN)
    closed = len(poller.poll(0))
    for s in socks:
        s.close()
    held = len(socks) - closed
    delta = (after - before) * 1024
    print(json.dumps({
        "kind": "idle", "proxy": args.proxy, "connections": len(socks), "requested": count,
        "failed": failed, "closed_by_proxy": closed, "rss_before_kib": before, "rss_after_kib": after,
        "bytes_per_conn": delta / held if held else None, "open_seconds": round(open_s, 2),
        "hold_seconds": args.hold,
    }))
    return 0 if socks and not failed else 1


# ---------------------------------------------------------------------------------------------- soak

def count_in(path, text):
    try:
        with open(path, errors="replace") as f:
            return sum(1 for line in f if text in line)
    except OSError:
        return 0


def slope(xs, ys):
    """Least-squares slope of ys over xs (None with fewer than 3 points or no spread)."""
    if len(xs) < 3:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return None if sxx == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def cmd_soak(args):
    """Rewrite Pier's configuration file every --interval s (alternating two variants, write + rename, each
    reload confirmed by its `routes updated` line) for --duration s, sampling the RSS of --pid every --sample s."""
    variants = [os.path.join(args.dir, f"pier-{v}.toml") for v in ("b", "a")]
    target = os.path.join(args.dir, "pier.toml")
    t0 = time.monotonic()
    samples, reloads, confirmed = [], 0, 0
    next_sample = t0
    while True:
        now = time.monotonic()
        if now >= next_sample:
            samples.append([round(now - t0, 1), confirmed, rss_kib(args.pid)])
            next_sample += args.sample
        if now - t0 >= args.duration:
            break
        n = count_in(args.log, "routes updated")
        with open(variants[reloads % 2], "rb") as src, open(target + ".tmp", "wb") as dst:
            dst.write(src.read())
        os.replace(target + ".tmp", target)
        reloads += 1
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if count_in(args.log, "routes updated") > n:
                confirmed += 1
                break
            time.sleep(0.01)
        time.sleep(args.interval)
    # Put the base table back (an odd number of reloads leaves the extra service in).
    if reloads % 2:
        with open(variants[1], "rb") as src, open(target + ".tmp", "wb") as dst:
            dst.write(src.read())
        os.replace(target + ".tmp", target)
    # The trend after the warm-up (malloc's arenas and caches grow at first): RSS over reloads and over time.
    warm = [s for s in samples if s[0] >= args.warmup] or samples
    per_reload = slope([s[1] for s in warm], [s[2] for s in warm])
    per_second = slope([s[0] for s in warm], [s[2] for s in warm])
    print(json.dumps({
        "kind": "soak", "proxy": "pier", "duration": args.duration, "interval": args.interval,
        "warmup": args.warmup, "reloads": reloads, "confirmed": confirmed, "samples": samples,
        "rss_start_kib": samples[0][2], "rss_warm_kib": warm[0][2], "rss_end_kib": samples[-1][2],
        "rss_max_kib": max(s[2] for s in samples),
        "kib_per_1000_reloads": None if per_reload is None else round(per_reload * 1000, 1),
        "mib_per_hour": None if per_second is None else round(per_second * 3600 / 1024, 2),
    }))
    return 0 if confirmed == reloads and reloads > 0 else 1


# ----------------------------------------------------------------------------------------------- wrk

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m|h)$", text)
    if not m:
        return None
    return float(m.group(1)) * UNITS[m.group(2)]


def parse_wrk(text):
    out = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+\w+) read", text)
    out["requests"] = int(m.group(1)) if m else None
    for pct, key in (("50", "p50_ms"), ("75", "p75_ms"), ("90", "p90_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
        out[key] = to_ms(m.group(1)) if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["errors"] = dict(zip(["connect", "read", "write", "timeout"], map(int, m.groups()))) if m else \
        {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Transfer/sec:\s+(\S+)", text)
    out["transfer"] = m.group(1) if m else None
    return out


def cmd_parse_wrk(args):
    with open(args.file) as f:
        text = f.read()
    rec = {"kind": "wrk", "scenario": args.scenario, "round": args.round, "proxy": args.proxy}
    rec.update(parse_wrk(text))
    if args.extra:
        rec.update(json.loads(args.extra))
    print(json.dumps(rec))
    return 0 if rec["rps"] is not None and rec["requests"] else 1


def percentile(sorted_xs, pct):
    """Nearest rank."""
    if not sorted_xs:
        return None
    k = max(0, min(len(sorted_xs) - 1, int(-(-pct * len(sorted_xs) // 100)) - 1))
    return sorted_xs[k]


def parse_h2load(text, log_lines):
    """h2load's summary, plus percentiles from its --log-file (start µs, status, µs to the response's end)."""
    out = {}
    m = re.search(r"^finished in ([\d.]+)(\w+), ([\d.]+) req/s", text, re.M)
    out["rps"] = float(m.group(3)) if m else None
    m = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored, (\d+) timeout", text, re.M)
    if m:
        total, started, done, ok, bad, errored, timeout = map(int, m.groups())
    else:
        done = ok = bad = errored = timeout = None
    out["requests"] = done
    out["succeeded"] = ok
    # h2load's "failed" counts both non-successful statuses and errored requests (resets, network errors).
    out["failed"] = bad
    out["errored"] = errored
    out["errors"] = {"connect": 0, "read": 0, "write": 0, "timeout": timeout or 0}
    m = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.M)
    out["non2xx"] = int(m.group(3)) + int(m.group(4)) if m else 0
    m = re.search(r"^time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M)
    out["min_ms"], out["max_ms"], out["mean_ms"], out["sd_ms"] = (to_ms(x) for x in m.groups()) if m else (None,) * 4
    m = re.search(r"^Application protocol: (\S+)", text, re.M)
    out["protocol"] = m.group(1) if m else None
    lat = []
    for line in log_lines:
        f = line.split("\t")
        if len(f) >= 3 and f[1].strip().isdigit():
            lat.append(int(f[2]) / 1000.0)
    lat.sort()
    for pct, key in (("50", "p50_ms"), ("75", "p75_ms"), ("90", "p90_ms"), ("99", "p99_ms")):
        out[key] = percentile(lat, int(pct))
    out["logged"] = len(lat)
    return out


def cmd_parse_h2load(args):
    with open(args.file) as f:
        text = f.read()
    try:
        with open(args.log) as f:
            log_lines = f.readlines()
    except OSError:
        log_lines = []
    rec = {"kind": "wrk", "client": "h2load", "scenario": args.scenario, "round": args.round, "proxy": args.proxy}
    rec.update(parse_h2load(text, log_lines))
    if args.extra:
        rec.update(json.loads(args.extra))
    print(json.dumps(rec))
    return 0 if rec["rps"] is not None and rec["requests"] and rec["protocol"] == "h2" else 1


def cmd_parse_table(args):
    """`table-bench services=N compile_ms=… lookup_ns=…` lines → JSON lines."""
    found = 0
    with open(args.file) as f:
        for line in f:
            if not line.startswith("table-bench "):
                continue
            rec = {"kind": "table"}
            for field in line.split()[1:]:
                k, _, v = field.partition("=")
                rec[k] = float(v) if "." in v else int(v)
            print(json.dumps(rec))
            found += 1
    return 0 if found else 1


# -------------------------------------------------------------------------------------------- report

SCENARIOS = [
    ("a", "(a) 1 KiB GET, keep-alive", "GET /1k, 64 keep-alive connections"),
    ("b", "(b) 100 KiB GET, keep-alive", "GET /100k, 64 keep-alive connections"),
    ("c", "(c) 1 KiB GET, new connection per request", "GET /1k with `Connection: close`, 64 connections"),
    ("d", "(d) 1 MiB POST upload", "POST /upload with a 1 MiB body, 64 keep-alive connections; "
                                   "1 request/s = 1 MiB/s of upload"),
    ("h", "(h) HTTPS/1.1: 1 KiB GET, keep-alive over TLS", "GET /1k over TLS, HTTP/1.1, 64 keep-alive connections "
                                                          "(wrk), through each proxy's TLS listener"),
    ("i", "(i) HTTP/2 over TLS: 1 KiB GET", "GET /1k over TLS with HTTP/2 (h2load): {h2_clients} connections × "
                                           "{h2_streams} concurrent streams"),
    ("m", "(m) 1 KiB GET, keep-alive, two cores per proxy", "(a) with Pier `--threads 2`, nginx `worker_processes 2`, "
                                                            "HAProxy `nbthread 2`; `wrk -t2`, twice the connections; "
                                                            "wrk, the backend and the proxy share the machine's 2 cores"),
]
# Scenarios whose issue sets no ratio target: the summary reports them without a verdict.
# Issue 5: HTTPS/1.1 and HTTP/2 throughput of Pier vs nginx with the same certificate and ciphers, ≥ 1.0× nginx.
TLS_TARGET = {"h": "≥ 1.0× nginx (issue 5)", "i": "≥ 1.0× nginx (issue 5)"}


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=0, suffix=""):
    if x is None:
        return "—"
    if digits == 0:
        return f"{x:,.0f}{suffix}"
    return f"{x:,.{digits}f}{suffix}"


def fmt_ms(x):
    if x is None:
        return "—"
    return f"{x:.2f} ms" if x < 100 else f"{x:.0f} ms"


def kib(x):
    return "—" if x is None else f"{x / 1024:.2f} KiB"


def failed(rec):
    if rec.get("client") == "h2load":
        return rec["failed"] or 0  # its own count covers errors and non-successful statuses
    e = rec["errors"]
    return e["connect"] + e["read"] + e["write"] + e["timeout"] + rec["non2xx"]


def cmd_report(args):
    records = []
    with open(args.results) as f:
        for line in f:
            line = line.strip()
            if line:
                records.append(json.loads(line))
    if args.meta:
        with open(args.meta) as f:
            meta = json.load(f)
    else:
        meta = next((r for r in records if r["kind"] == "meta"), None)
        if meta is None:
            print("report: no --meta and no meta record", file=sys.stderr)
            return 1
    problems = []
    # The NIO floor is expected in (a)–(e), (h), (i) when the run had it at all (older records and --only g do not).
    floor_run = any(r["kind"] in ("wrk", "idle") and r.get("proxy") == "floor" for r in records)
    mx_run = any(r["kind"] == "wrk" and r.get("proxy") == "piermx" for r in records)

    def proxies_of(key, recs=()):
        if (key in FLOOR_SCENARIOS and floor_run) or any(r.get("proxy") == "floor" for r in recs):
            return HTTP1_PROXIES
        return PROXIES

    L = []
    w = L.append
    w(f"# Pier benchmark results\n")
    w(f"Generated by `bench/run{' ' + meta['args'] if meta.get('args') else ''}` on {meta['date']} "
      f"({meta['mode']} mode, {meta['elapsed']}).\n")
    w("Absolute figures vary by ±25 % from run to run on this machine; the ratios, computed round by round "
      "inside one run (proxies interleaved A B C A B C …) and reported as their median, are the figures "
      "that count.\n")
    w("## Machine and versions\n")
    w("| | |\n|---|---|")
    for k in ["cores", "cpu", "memory", "kernel", "load average before the run", "pier", "pier source",
              "pier-nio-floor", "nginx", "haproxy", "wrk", "h2load", "openssl", "swift"]:
        if k in meta:
            w(f"| {k} | {meta[k]} |")
    w("")
    w("## Method\n")
    w(f"- Backend: nginx, 1 worker, static `/1k` and `/100k`, `keepalive_requests` unlimited; `/upload` reads the "
      f"whole 1 MiB body before it answers (verified at start: {meta.get('upload_check', 'n/a')}).")
    w("- Proxies, one worker/thread each, all on 127.0.0.1: Pier (`serve --threads 1 --no-access-log`), nginx "
      "(`worker_processes 1`, upstream `keepalive 128`, `proxy_http_version 1.1`, `Connection \"\"`, "
      "`proxy_request_buffering off`), HAProxy (`nbthread 1`, `http-reuse always`). Each routes a table of "
      f"{meta['services']} host names (`host0..host{meta['services'] - 1}.bench.test`, one service/upstream/backend "
      f"each, all pointing at the backend); requests carry `Host: {meta['host']}`.")
    w("- nginx and HAProxy are configured as Interlock's nginx was: they add the forwarding headers Pier adds "
      "upstream (`X-Forwarded-For`, `X-Real-IP`, `X-Forwarded-Proto`, `X-Forwarded-Host`, `X-Request-Id`) and the "
      "same response info headers (`x-request-id`, `x-proxy-id`, `x-server-info`, `x-upstream-addr`, "
      "`x-upstream-response-time`). Pier runs with its defaults apart from `AccessLog = false` and "
      "`ClientMaxBodySize = \"0\"`. No access logs anywhere.")
    if floor_run:
        w("- NIO floor (`pier-nio-floor`, built from `Sources/pier-nio-floor`; every scenario but (f) and (g), as it "
          "has no table to compile or reload): the thinnest HTTP/1.1 reverse proxy SwiftNIO's typed HTTP handlers "
          "allow. NIO's server pipeline (`configureHTTPServerPipeline`) downstream, NIO's client handlers "
          "(`addHTTPClientHandlers`) upstream, keep-alive connections to the one backend pooled, every request and "
          "response part passed on unchanged (headers included, Host as sent: the backend's default server "
          "answers it) except `Connection`, the one edit every proxy must make (a client's `close` closes the "
          "client connection after the response, not the upstream one); no routing, no other header edits, no "
          "timers, no logs. The same NIO settings as Pier: no "
          "outbound header validation, encoders told not to add framing headers "
          "(`automaticallySetFramingHeaders = false`), `tcp_nodelay` on the listening socket (accepted sockets "
          "inherit it), `maxMessagesPerRead` 16 and a 256-byte first "
          "read (set in place by the child channel's initializer, as Pier does, not as `childChannelOption`s), "
          "1 event loop, and the same release build flags. "
          "It shows what any proxy built on these libraries costs before doing work of its own, so Pier's gap "
          "to nginx splits round by round as Pier/nginx = Pier/NIO floor (Pier's own work) × NIO floor/nginx "
          "(the libraries' floor). In (h) and (i) it also listens with TLS: NIOSSL with the same certificate, TLS "
          "1.2 and 1.3, ALPN h2 and http/1.1, then NIO's HTTP/2 handler (its default settings) with NIO's HTTP/2 → "
          "HTTP/1 codec per stream, or NIO's HTTP/1.1 pipeline — the handlers Pier uses; on HTTP/2 it drops "
          "`Connection` and `Keep-Alive` from responses (HTTP/2 forbids them).")
    order = "Pier, NIO floor, nginx, HAProxy; Pier, nginx, HAProxy in (g)" if floor_run else \
        "Pier, nginx, HAProxy"
    w(f"- Load: `wrk -t1 -c{meta['connections']} -d{meta['duration']}s --latency`, {meta['rounds']} rounds, "
      f"proxies in turn ({order}) inside each round; a {meta['warmup']} s warm-up per proxy and "
      "scenario is not counted. wrk, the proxy and the backend share the machine's cores.")
    tls = {r["proxy"]: r for r in records if r["kind"] == "tls"}
    if any(r["kind"] == "wrk" and r["scenario"] in ("h", "i") for r in records):
        w(f"- TLS, scenarios (h) and (i): each proxy is restarted with a TLS listener beside its HTTP one and the same "
          f"{meta['services']}-host table. One self-signed {meta.get('tls_cert', 'EC P-256')} certificate made at run "
          f"time for all three (SAN `{meta['host']}`, `*.bench.test`); `{TLS_PROTOCOLS}`; the same TLS 1.2 cipher "
          "list, Mozilla intermediate (Pier's default): Pier `SSLProtocols`/`SSLCiphers`, nginx "
          "`ssl_protocols`/`ssl_ciphers`, HAProxy `ssl-default-bind-options`/`ssl-default-bind-ciphers`; TLS 1.3 "
          "suites are each TLS library's defaults. Pier: HTTPS entrypoint, `ssl_cert`/`ssl_key` labels on every "
          "service; nginx: every `server` also `listen … ssl http2`; HAProxy: a second `bind … ssl crt … alpn "
          "h2,http/1.1` on the same frontend. Clients send SNI and Host (HTTP/2: `:authority` with the port) = "
          f"`{meta['host']}` and connect to 127.0.0.1 (wrk: `lib/resolve-local.lua`; h2load: `--connect-to`). "
          "Each connection makes one full handshake, then stays open.")
        if tls:
            w("- Negotiated with each proxy (one handshake by a Python/OpenSSL client offering OpenSSL's default "
              "suites, as wrk and h2load do, and ALPN `h2,http/1.1`): " +
              "; ".join(f"{PROXY_TITLE[p]} {tls[p]['version']} {tls[p]['cipher']} ALPN {tls[p]['alpn']}"
                        for p in PROXIES if p in tls) + ".")
        w(f"- (h): `wrk -t1 -c{meta['connections']} --latency -s lib/resolve-local.lua https://{meta['host']}:PORT/1k` "
          f"(HTTP/1.1; wrk offers no ALPN). (i): `h2load -t1 -c{meta.get('h2_clients', '?')} "
          f"-m{meta.get('h2_streams', '?')} -D {meta['duration']} --log-file … --connect-to 127.0.0.1:PORT "
          f"https://{meta['host']}:PORT/1k`; its p50 and p99 are computed from the `--log-file` (per request: "
          "time from the request's start to the end of its response), its req/s is the `finished in …, N req/s` "
          "line; h2load's own mean and max (`time for request`) are given below the table; failed requests = "
          "h2load's `failed` (errors and non-successful statuses).")
    w("")

    # ----- summary (filled below)
    summary = []

    for key, title, desc in SCENARIOS:
        recs = [r for r in records if r["kind"] == "wrk" and r["scenario"] == key]
        rounds = sorted({r["round"] for r in recs})
        by = {(r["proxy"], r["round"]): r for r in recs}
        w(f"## {title}\n")
        w(f"{desc.format(h2_clients=meta.get('h2_clients', '?'), h2_streams=meta.get('h2_streams', '?'))}.\n")
        w("| proxy | median req/s | p50 | p99 | failed requests | upstream connections opened | req/s by round |")
        w("|---|---|---|---|---|---|---|")
        stats = {}
        ps = proxies_of(key, recs)
        if key == "a" and (mx_run or any(r.get("proxy") == "piermx" for r in recs)):
            ps = [ps[0], "piermx"] + ps[1:]
        for p in ps:
            rs = [by.get((p, rd)) for rd in rounds]
            rs = [r for r in rs if r]
            if not rs or any(r["rps"] is None for r in rs):
                problems.append(f"scenario {key}: no figures for {p}")
            stats[p] = {
                "rps": med([r["rps"] for r in rs]), "p50": med([r["p50_ms"] for r in rs]),
                "p99": med([r["p99_ms"] for r in rs]), "failed": sum(failed(r) for r in rs),
                "requests": sum(r["requests"] or 0 for r in rs),
            }
            ups = [r.get("upstream_conns") for r in rs]
            w(f"| {PROXY_TITLE[p]} | {fmt(stats[p]['rps'])} | {fmt_ms(stats[p]['p50'])} | {fmt_ms(stats[p]['p99'])} | "
              f"{stats[p]['failed']} of {stats[p]['requests']:,} | "
              f"{'—' if None in ups else f'{sum(ups):,}'} | "
              f"{', '.join(fmt(r['rps']) for r in rs)} |")
        w("")
        w("| ratio (median of per-round ratios) | req/s | p99 latency | per round (req/s) |")
        w("|---|---|---|---|")
        pairs = [("pier", "nginx"), ("pier", "haproxy")]
        if "floor" in ps:
            pairs += [("pier", "floor"), ("floor", "nginx")]
        if "piermx" in ps:
            pairs += [("piermx", "pier"), ("piermx", "nginx")]
        for num, other in pairs:
            rr, lr = [], []
            for rd in rounds:
                a, b = by.get((num, rd)), by.get((other, rd))
                if a and b and a["rps"] and b["rps"]:
                    rr.append(a["rps"] / b["rps"])
                if a and b and a["p99_ms"] and b["p99_ms"]:
                    lr.append(a["p99_ms"] / b["p99_ms"])
            if not rr:
                problems.append(f"scenario {key}: no {PROXY_TITLE[num]}/{PROXY_TITLE[other]} ratio")
            sk = other if num == "pier" else f"{num}_{other}"  # ratio_nginx …, ratio_floor, ratio_floor_nginx, ratio_piermx_pier
            stats[f"ratio_{sk}"] = med(rr)
            stats[f"p99ratio_{sk}"] = med(lr)
            w(f"| {PROXY_TITLE[num]}/{PROXY_TITLE[other]} | {fmt(med(rr), 2, '×')} | {fmt(med(lr), 2, '×')} | "
              f"{', '.join(f'{x:.2f}' for x in rr)} |")
        w("")
        if "piermx" in ps:
            cost = stats.get("ratio_piermx_pier")
            w(f"Metrics cost: Pier with its admin entrypoint on (every request, connection and handshake counted per "
              f"event loop; `/metrics` scraped every second during its runs) against Pier without one (nothing "
              f"counted): {fmt(cost, 3, '×')} req/s, p99 {fmt(stats.get('p99ratio_piermx_pier'), 2, '×')}; target ≥ "
              f"{METRICS_TARGET}× ({'met' if cost is not None and cost >= METRICS_TARGET else 'not met'}). The Pier "
              "rows of every other table run without an admin entrypoint.\n")
        allocs = {r["proxy"]: r for r in records if r["kind"] == "allocs" and r.get("scenario") == key
                  and r.get("mallocs") and r.get("requests")}
        if allocs:
            per = {p: allocs[p]["mallocs"] / allocs[p]["requests"] for p in allocs}
            w("Allocations per request (`malloc` calls counted by a perf uprobe while wrk ran; Pier and the NIO "
              "floor count every allocation, Swift's included; nginx's worker and HAProxy their libc's): "
              + ", ".join(f"{PROXY_TITLE[p]} {per[p]:.1f}" for p in ("pier", "floor", "nginx", "haproxy") if p in per)
              + ". Target for Pier: 0 in the steady state (issue 16).\n")
        if key == "d":
            w("Upload throughput in MiB/s equals requests/s (each request carries 1 MiB). The upstream connection "
              "count here also includes connections of the backend's own `/upload` → `/sink` hop.\n")
        if any(r.get("client") == "h2load" for r in recs):
            parts = []
            for p in PROXIES:
                rs = [r for r in recs if r["proxy"] == p]
                if rs:
                    parts.append(f"{PROXY_TITLE[p]} mean {fmt_ms(med([r.get('mean_ms') for r in rs]))}, max "
                                 f"{fmt_ms(med([r.get('max_ms') for r in rs]))}")
            w("h2load's own `time for request` (median over the rounds): " + "; ".join(parts) + ".\n")
        summary.append((key, title, stats))

    # ----- (e)
    idle = {r["proxy"]: r for r in records if r["kind"] == "idle"}
    w("## (e) Idle keep-alive connections: resident memory per connection\n")
    if idle:
        any_rec = next(iter(idle.values()))
        w(f"Each proxy freshly started; {any_rec['requested']:,} client connections opened one after another, each "
          f"sends one `GET /1k` and reads the answer, then stays open and idle. RSS = VmRSS of the proxy's "
          f"processes (nginx: master + worker), measured before the connections open and {any_rec['hold_seconds']} s "
          "after the last one; bytes per connection = delta / connections still open.\n")
    w("| proxy | connections held | closed by the proxy | RSS before | RSS after | per idle connection |")
    w("|---|---|---|---|---|---|")
    for p in proxies_of("e", idle.values()):
        r = idle.get(p)
        if not r or r.get("bytes_per_conn") is None:
            problems.append(f"scenario e: no figure for {p}")
            w(f"| {PROXY_TITLE[p]} | — | — | — | — | — |")
            continue
        w(f"| {PROXY_TITLE[p]} | {r['connections'] - r['closed_by_proxy']:,} | {r['closed_by_proxy']} | "
          f"{r['rss_before_kib'] / 1024:.1f} MiB | {r['rss_after_kib'] / 1024:.1f} MiB | "
          f"{r['bytes_per_conn']:,.0f} B ({kib(r['bytes_per_conn'])}) |")
    w("")

    # ----- (f)
    tables = [r for r in records if r["kind"] == "table"]
    w("## (f) Route table scale (`pier-table-bench`, release build)\n")
    w("`RouteTableBuilder.build` of N services (one host each; labels parsed and validated, table and index "
      "built), median of several runs; then `RouteTable.decide(host:target:)` for 4,096 host names spread over "
      "the whole table, and for 64 hot names (their entries stay in cache: the lookup's own cost), median ns per "
      "lookup over several passes.\n")
    w("| services | compile | lookup, 4,096 names spread | lookup, 64 hot names |")
    w("|---|---|---|---|")
    for r in sorted(tables, key=lambda r: r["services"]):
        hot = r.get("lookup_hot_ns")
        w(f"| {r['services']:,} | {r['compile_ms']:.1f} ms | {r['lookup_ns']:.0f} ns | "
          f"{'—' if hot is None else f'{hot:.0f} ns'} |")
    if not tables:
        problems.append("scenario f: no figures")
    w("")

    # ----- (g)
    churn = [r for r in records if r["kind"] == "wrk" and r["scenario"] == "g"]
    w("## (g) Config churn during load (a)\n")
    if churn:
        c0 = churn[0]
        w(f"{c0.get('reloads', '?')} reloads, each confirmed, then a {c0.get('interval', '?')} s pause, during a "
          f"`wrk -c{meta['connections']}` run of scenario (a), alternating between the {meta['services']}-service "
          "table and the same table plus one service. Pier: the configuration file rewritten (write + rename); "
          "nginx: `routes.conf` replaced, then `nginx -s reload`; HAProxy: a new process started with "
          "`-sf <old pid>` (and `-x` on the stats socket, so listening sockets are handed over). Each reload "
          "waits for the proxy to confirm it (Pier's `routes updated` log line, nginx's SIGHUP notice, the new "
          "HAProxy pid answering on its stats socket) before the pause to the next, so no two changes "
          "coalesce. “confirm” is the median time from the change to that confirmation, under load.\n")
    w("| proxy | reloads confirmed | confirm | requests | failed (socket errors + non-2xx) | connect / read / write / "
      "timeout errors | non-2xx | req/s |")
    w("|---|---|---|---|---|---|---|---|")
    gstats = {}
    for p in PROXIES:
        rs = [r for r in churn if r["proxy"] == p]
        if not rs or any(r["rps"] is None for r in rs):
            problems.append(f"scenario g: no figures for {p}")
            w(f"| {PROXY_TITLE[p]} | — | — | — | — | — | — | — |")
            continue
        e = {k: sum(r["errors"][k] for r in rs) for k in ["connect", "read", "write", "timeout"]}
        fails = sum(failed(r) for r in rs)
        gstats[p] = fails
        cms = med([x for r in rs for x in r.get("confirm_ms", [])])
        w(f"| {PROXY_TITLE[p]} | {sum(r.get('confirmed', 0) for r in rs)} of {sum(r.get('reloads', 0) for r in rs)} | "
          f"{fmt(cms, 0, ' ms')} | {sum(r['requests'] or 0 for r in rs):,} | {fails} "
          f"({', '.join(str(failed(r)) for r in rs)} by round) | "
          f"{e['connect']} / {e['read']} / {e['write']} / {e['timeout']} | {sum(r['non2xx'] for r in rs)} | "
          f"{fmt(med([r['rps'] for r in rs]))} |")
    w("")

    # ----- (j)
    soaks = [r for r in records if r["kind"] == "soak"]
    soak_load = [r for r in records if r["kind"] == "wrk" and r["scenario"] == "j"]
    w("## (j) Soak: reloads under mixed load, resident memory\n")
    if soaks:
        s0 = soaks[0]
        w(f"Pier alone, freshly started with the {meta['services']}-service table, for {s0['duration']:.0f} s: its "
          f"configuration file rewritten every {s0['interval']} s (write + rename, alternating the table with and "
          "without one extra service, each reload confirmed by its `routes updated` line) while two wrk runs load "
          "it: keep-alive connections and a new connection per request (`Connection: close`), both on `/1k`. "
          "VmRSS of the process sampled throughout; the trend is the least-squares slope over the samples after "
          f"the first {s0['warmup']:.0f} s (malloc's arenas and Pier's caches fill up first).\n")
        w("| reloads confirmed | RSS at start | RSS after warm-up | RSS at end | max | trend per 1,000 reloads | "
          "trend per hour | load: keep-alive req/s | load: new connections req/s | failed requests |")
        w("|---|---|---|---|---|---|---|---|---|---|")
        loads = {r.get("load"): r for r in soak_load}
        ka, nc = loads.get("keep-alive", {}), loads.get("new connections", {})
        fails = sum(failed(r) for r in soak_load)
        w(f"| {s0['confirmed']} of {s0['reloads']} | {s0['rss_start_kib'] / 1024:.1f} MiB | "
          f"{s0['rss_warm_kib'] / 1024:.1f} MiB | {s0['rss_end_kib'] / 1024:.1f} MiB | {s0['rss_max_kib'] / 1024:.1f} MiB | "
          f"{fmt(s0['kib_per_1000_reloads'], 0, ' KiB')} | {fmt(s0['mib_per_hour'], 2, ' MiB')} | "
          f"{fmt(ka.get('rps'))} | {fmt(nc.get('rps'))} | {fails} |")
        w("")
        w("RSS samples (s → reloads, MiB): " + ", ".join(
            f"{t:.0f} → {n}, {kb / 1024:.1f}" for t, n, kb in s0["samples"][:: max(1, len(s0["samples"]) // 12)]) + "\n")
    else:
        problems.append("scenario j: no figures")
        w("No figures.\n")

    # ----- (k): its section and summary row live beside its measurement
    from labelmove import report_section
    k_row = report_section([r for r in records if r["kind"] == "labelmove"], w, problems)

    # ----- summary against the targets
    S = ["## Summary against the targets of issue 3 (and the TLS comparison of issue 5)\n",
         "| scenario | Pier/nginx req/s | Pier/HAProxy req/s | p99 Pier/nginx | p99 Pier/HAProxy | target | met | "
         "Pier/NIO floor req/s |",
         "|---|---|---|---|---|---|---|---|"]
    for key, title, st in summary:
        rn, rh = st.get("ratio_nginx"), st.get("ratio_haproxy")
        ln, lh = st.get("p99ratio_nginx"), st.get("p99ratio_haproxy")
        if key == "d":
            target = "upload throughput ≥ nginx"
            met = rn is not None and rn >= 1.0
        elif key in TLS_TARGET:
            target, met = TLS_TARGET[key], rn is not None and rn >= 1.0
        else:
            target = "≥ 1.0× both, p99 no worse"
            met = None not in (rn, rh, ln, lh) and rn >= 1.0 and rh >= 1.0 and ln <= 1.0 and lh <= 1.0
        S.append(f"| {title} | {fmt(rn, 2, '×')} | {fmt(rh, 2, '×')} | {fmt(ln, 2, '×')} | {fmt(lh, 2, '×')} | "
                 f"{target} | {'yes' if met else 'no'} | "
                 f"{fmt(st.get('ratio_floor'), 2, '×')} |")
    for key, title, st in summary:
        if key == "a" and st.get("ratio_piermx_pier") is not None:
            cost = st["ratio_piermx_pier"]
            S.append(f"| (a) with metrics on / off (issue 15) | {fmt(st.get('ratio_piermx_nginx'), 2, '×')} with metrics | | "
                     f"| | metrics cost ≥ {METRICS_TARGET}× | {'yes' if cost >= METRICS_TARGET else 'no'} ({cost:.3f}×) | — |")
    pe = idle.get("pier", {}).get("bytes_per_conn")
    others = ", ".join(f"{PROXY_TITLE[p]} {kib(idle.get(p, {}).get('bytes_per_conn'))}"
                       for p in proxies_of("e", idle.values()) if p != "pier")
    S.append(f"| (e) idle connection memory | {kib(pe)} per connection ({others}) | | | | ≤ 2 KiB | "
             f"{'yes' if pe is not None and pe <= 2048 else 'no'} | — |")
    t = {r["services"]: r for r in tables}
    c10 = t.get(10000, {}).get("compile_ms")
    looks = [t[n]["lookup_ns"] for n in sorted(t)]
    hot_looks = [t[n].get("lookup_hot_ns") for n in sorted(t)]
    hots = "" if None in hot_looks or not hot_looks else f" (64 hot names: {' / '.join(f'{x:.0f}' for x in hot_looks)} ns)"
    flat = len(looks) >= 2 and max(looks) <= 1.5 * min(looks)
    S.append(f"| (f) route table | 10k compile {fmt(c10, 1, ' ms')}; 100k compile "
             f"{fmt(t.get(100000, {}).get('compile_ms'), 1, ' ms')}; lookup "
             f"{' / '.join(f'{x:.0f}' for x in looks)} ns at {' / '.join(f'{n // 1000}k' for n in sorted(t))}"
             f"{hots} | | | | "
             f"10k < 100 ms; lookup flat | {'yes' if c10 is not None and c10 < 100 and flat else 'no'}"
             f"{'' if 10000 in t else ' (10k not measured)'} | — |")
    S.append(f"| (g) config churn | Pier {gstats.get('pier', '—')} failed requests (nginx {gstats.get('nginx', '—')}, "
             f"HAProxy {gstats.get('haproxy', '—')}) | | | | 0 failed for Pier | "
             f"{'yes' if gstats.get('pier') == 0 else 'no'} | — |")
    sk = soaks[0] if soaks else {}
    trend = sk.get("kib_per_1000_reloads")
    S.append(f"| (j) soak: reloads under load | RSS {fmt(trend, 0, ' KiB')} per 1,000 reloads "
             f"({sk.get('confirmed', '—')} reloads, {fmt(sk.get('mib_per_hour'), 2, ' MiB')} per hour) | | | | "
             f"< 1 MiB per 1,000 reloads | {'yes' if trend is not None and trend < 1024 else 'no'} | — |")
    if k_row:
        S.append(k_row)
    S.append("")
    S.append("“Lookup flat” is read here as: the slowest size costs at most 1.5× the fastest. "
             "p99 ratios below 1.0× mean Pier's p99 is lower (better).\n")
    # Insert the summary after the method section.
    idx = L.index("## (a) 1 KiB GET, keep-alive\n") if "## (a) 1 KiB GET, keep-alive\n" in L else len(L)
    L[idx:idx] = S
    if meta.get("notes"):
        L.append("## Notes\n")
        for n in meta["notes"]:
            L.append(f"- {n}")
        L.append("")
    with open(args.out, "w") as f:
        f.write("\n".join(L).rstrip() + "\n")
    if problems and args.check:
        for p in problems:
            print(f"report: missing figure: {p}", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("freeports")
    p.add_argument("n", type=int)
    p.set_defaults(fn=cmd_freeports)

    p = sub.add_parser("gen")
    p.add_argument("dir")
    p.add_argument("--services", type=int, required=True)
    for k in ["backend", "pier", "nginx", "haproxy", "pier-tls", "nginx-tls", "haproxy-tls"]:
        p.add_argument(f"--{k}-port", type=int, required=True)
    p.add_argument("--cert", required=True, help="PEM certificate for every proxy's TLS listener")
    p.add_argument("--key", required=True, help="its PEM private key")
    p.set_defaults(fn=cmd_gen)

    p = sub.add_parser("wait-http")
    p.add_argument("port", type=int)
    p.add_argument("host")
    p.add_argument("path")
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--method", default="GET")
    p.add_argument("--body-bytes", type=int, default=0)
    p.add_argument("--pid", type=int, default=0, help="fail at once when this process has exited")
    p.add_argument("--tls", action="store_true", help="HTTP/1.1 over TLS, SNI = HOST, no verification")
    p.set_defaults(fn=cmd_wait_http)

    p = sub.add_parser("tls-info")
    p.add_argument("port", type=int)
    p.add_argument("host")
    p.add_argument("--proxy", required=True)
    p.set_defaults(fn=cmd_tls_info)

    p = sub.add_parser("verify-upload")
    p.add_argument("port", type=int)
    p.add_argument("host")
    p.set_defaults(fn=cmd_verify_upload)

    p = sub.add_parser("backend-accepts")
    p.add_argument("port", type=int)
    p.set_defaults(fn=cmd_backend_accepts)

    p = sub.add_parser("haproxy-wait-pid")
    p.add_argument("sock")
    p.add_argument("pid", type=int)
    p.add_argument("--timeout", type=float, default=10)
    p.set_defaults(fn=cmd_haproxy_wait_pid)

    p = sub.add_parser("idle")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--proxy", required=True)
    p.add_argument("--hold", type=float, default=3)
    p.add_argument("--settle", type=float, default=1)
    p.set_defaults(fn=cmd_idle)

    p = sub.add_parser("soak")
    p.add_argument("--dir", required=True, help="Pier's configuration folder (pier-a.toml, pier-b.toml)")
    p.add_argument("--log", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--sample", type=float, default=5)
    p.add_argument("--warmup", type=float, default=30)
    p.set_defaults(fn=cmd_soak)

    p = sub.add_parser("parse-wrk")
    p.add_argument("file")
    p.add_argument("--scenario", required=True)
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--proxy", required=True)
    p.add_argument("--extra")
    p.set_defaults(fn=cmd_parse_wrk)

    p = sub.add_parser("parse-h2load")
    p.add_argument("file")
    p.add_argument("--log", required=True, help="h2load's --log-file")
    p.add_argument("--scenario", required=True)
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--proxy", required=True)
    p.add_argument("--extra")
    p.set_defaults(fn=cmd_parse_h2load)

    p = sub.add_parser("parse-table")
    p.add_argument("file")
    p.set_defaults(fn=cmd_parse_table)

    p = sub.add_parser("report")
    p.add_argument("results")
    p.add_argument("--meta", help="run metadata (JSON); default: the results' meta record")
    p.add_argument("--out", required=True)
    p.add_argument("--check", action="store_true")
    p.set_defaults(fn=cmd_report)

    args = ap.parse_args()
    return args.fn(args) or 0


if __name__ == "__main__":
    sys.exit(main())
