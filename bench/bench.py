#!/usr/bin/env python3
"""certdrop's download benchmark (issue 6). bench/run installs the tools, builds the release
programs and calls this; see README.md, section "Benchmark".

One run measures, side by side and alternating: certdrop's packed receiver, aria2c -x N -s N
and curl | tee | sha256sum, fetching the same random file from nginx over HTTPS, on plain
loopback and on a simulated long-distance link (a network namespace whose veth is limited to
200 Mbit/s with tc tbf, plus a proxy that delays each connection by 40 ms before its first
byte and limits each connection to 4 MB/s). Also: the signed path against s3s-fs, peak RSS
for two file sizes, CPU seconds per GB, the time the SHA-256 needs once every byte is on
disk, packing into the signed Windows stub, and unlocking with the default KDF.

`bench.py proxy ...` is the delaying, rate-limiting TCP proxy (run inside the namespace).
"""

import argparse
import asyncio
import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

MIB = 1024 * 1024
PASSWORD = "bench-transfer-password"
CONNECTIONS = 8  # certdrop::download::DEFAULT_CONNECTIONS; checked against the source below
NETNS = "certdrop-bench"
VETH_HOST, VETH_NS = "cdbench0", "cdbench1"
HOST_ADDR, NS_ADDR = "10.213.77.1", "10.213.77.2"
LINK_RATE_MBIT = 200
LINK_DELAY_S = 0.040
LINK_PER_CONNECTION = 4_000_000  # bytes per second
KDF_BENCH_MIB = 8


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "proxy":
        return proxy_main(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin", required=True, help="release binaries (certdrop, receiver)")
    parser.add_argument("--windows-stub", help="release certdrop-receiver.exe to pack into")
    parser.add_argument("--results", required=True)
    parser.add_argument("--repo", required=True)
    parser.add_argument("--quick", action="store_true", help="fewer, smaller runs")
    parser.add_argument("--only", choices=["loopback", "long_link"],
                        help="development: compare the tools on one network, nothing else")
    parser.add_argument("--runs", type=int, help="development: runs per tool")
    parser.add_argument("--link-mib", type=int, help="development: long-link file size")
    args = parser.parse_args()
    Bench(args).run()


# ---------------------------------------------------------------------------------------
# The proxy: 40 ms before the first byte of each connection, at most 4 MB/s per connection
# (server to client). Plain asyncio; it forwards TLS bytes without looking at them.


def proxy_main(argv):
    parser = argparse.ArgumentParser(prog="bench.py proxy")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--delay", type=float, default=LINK_DELAY_S)
    parser.add_argument("--rate", type=float, default=LINK_PER_CONNECTION)
    args = parser.parse_args(argv)
    asyncio.run(serve_proxy(args))


async def serve_proxy(args):
    listen_host, listen_port = args.listen.rsplit(":", 1)
    up_host, up_port = args.upstream.rsplit(":", 1)

    async def handle(client_reader, client_writer):
        try:
            await asyncio.sleep(args.delay)
            up_reader, up_writer = await asyncio.open_connection(up_host, int(up_port))
        except OSError:
            client_writer.close()
            return
        down = pump(up_reader, client_writer, args.rate)
        up = pump(client_reader, up_writer, None)
        await asyncio.gather(down, up, return_exceptions=True)
        for writer in (client_writer, up_writer):
            writer.close()

    server = await asyncio.start_server(handle, listen_host, int(listen_port), backlog=128)
    print("proxy ready", flush=True)
    async with server:
        await server.serve_forever()


async def pump(reader, writer, rate):
    """Copies until end of stream; with `rate`, a token bucket that keeps little idle credit."""
    loop = asyncio.get_running_loop()
    due = loop.time()
    try:
        while True:
            data = await reader.read(64 * 1024)
            if not data:
                break
            if rate:
                # At most 50 ms of credit: covers the sleeps' overshoot, not idle time.
                due = max(due, loop.time() - 0.05) + len(data) / rate
                writer.write(data)
                await writer.drain()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            else:
                writer.write(data)
                await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


# ---------------------------------------------------------------------------------------
# The benchmark.


class Bench:
    def __init__(self, args):
        self.args = args
        self.bin = Path(args.bin)
        self.repo = Path(args.repo)
        self.results = Path(args.results)
        self.work = self.results / "work"
        self.quick = args.quick
        self.runs = args.runs or (1 if self.quick else 3)
        # Loopback and signed runs use 1 GiB; the long link uses less so that curl's single
        # stream (4 MB/s) fits three runs in the time budget.
        self.size_loop = (256 if self.quick else 1024) * MIB
        self.size_link = (args.link_mib or (64 if self.quick else 512)) * MIB
        self.size_big = None if self.quick or args.only else 4096 * MIB
        self.processes = []
        self.report = {}
        self.env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}

    def run(self):
        started = time.monotonic()
        check_connections(self.repo)
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        try:
            self.prepare()
            self.measure()
        finally:
            self.teardown()
        self.report["benchmark_seconds"] = round(time.monotonic() - started, 1)
        self.write_results()

    # -- set-up ---------------------------------------------------------------------

    def prepare(self):
        say("making the random files")
        self.files = {}
        sizes = {self.size_loop, self.size_link}
        if self.size_big:
            sizes.add(self.size_big)
        for size in sorted(sizes):
            path = self.work / "data" / f"random-{size // MIB}m.bin"
            path.parent.mkdir(exist_ok=True)
            with open("/dev/urandom", "rb") as src, open(path, "wb") as dst:
                for _ in range(size // MIB):
                    dst.write(src.read(MIB))
            started = time.monotonic()
            digest = sha256_file(path)
            self.files[size] = {"path": path, "sha256": digest,
                                "hash_seconds": time.monotonic() - started}

        say("starting the stand-ins (credentials emulator, s3s-fs) and nginx")
        setup_namespace()
        self.netns_up = True
        stack_dir = self.work / "stack"
        stack_dir.mkdir()
        self.stack_proc = self.spawn(
            [self.bin / "examples" / "bench_stack", stack_dir, "127.0.0.1", "localhost",
             HOST_ADDR, NS_ADDR, "--object", self.files[self.size_loop]["path"]],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.stack_proc.stdout.readline().decode().strip()
        if line != "ready":
            raise SystemExit(f"bench: the stand-ins did not start (said {line!r})")
        self.stack = json.loads((stack_dir / "stack.json").read_text())
        self.stack_dir = stack_dir
        self.ca = stack_dir / "ca.pem"
        self.nginx_port = free_port()
        self.start_nginx()
        self.proxy_port = free_port()
        self.proxy = self.spawn(
            ["ip", "netns", "exec", NETNS, sys.executable, __file__, "proxy",
             "--listen", f"{NS_ADDR}:{self.proxy_port}",
             "--upstream", f"{HOST_ADDR}:{self.nginx_port}"], stdout=subprocess.PIPE)
        if self.proxy.stdout.readline().decode().strip() != "proxy ready":
            raise SystemExit("bench: the proxy did not start")

    def start_nginx(self):
        www = self.work / "www"
        self.urls = {}
        for size, f in self.files.items():
            key = f"transfers/{self.stack['transfer_id']}/{f['path'].name}"
            target = www / self.stack["bucket"] / key
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(f["path"], target)
            f["key"] = key
        conf = self.work / "nginx.conf"
        temp = self.work / "nginx-temp"
        temp.mkdir()
        conf.write_text(NGINX_CONF.format(
            work=self.work, temp=temp, www=www, port=self.nginx_port,
            cert=self.stack_dir / "server-cert.pem", key=self.stack_dir / "server-key.pem",
            host_addr=HOST_ADDR))
        self.nginx = self.spawn(["nginx", "-c", conf, "-p", self.work])
        wait_for_port("127.0.0.1", self.nginx_port)

    def url(self, size, network):
        host = "127.0.0.1" if network == "loopback" else NS_ADDR
        port = self.nginx_port if network == "loopback" else self.proxy_port
        return f"https://{host}:{port}/{self.stack['bucket']}/{self.files[size]['key']}"

    def pack(self, name, size, endpoint, key, kdf_mib=KDF_BENCH_MIB, stub=None):
        """A receiver program for one file; returns (path, seconds `certdrop pack` took)."""
        f = self.files[size]
        manifest = {
            "transfer_id": self.stack["transfer_id"],
            "credentials_endpoint": self.stack["credentials_endpoint"],
            "role_alias": self.stack["role_alias"],
            "region": self.stack["region"],
            "bucket": self.stack["bucket"],
            "key": key,
            "s3_endpoint": endpoint,
            "size": size,
            "sha256": f["sha256"],
            "file_name": f["path"].name,
            "expires_at": (datetime.datetime.now(datetime.timezone.utc)
                           + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sender": "certdrop benchmark",
            "trust_anchor_pem": self.ca.read_text(),
        }
        manifest_path = self.work / f"{name}.json"
        manifest_path.write_text(json.dumps(manifest))
        out = self.work / "programs" / name
        out.parent.mkdir(exist_ok=True)
        command = [self.bin / "certdrop", "pack", "--password-stdin", "--force",
                   "--stub", stub or self.bin / "certdrop-receiver",
                   "--manifest", manifest_path,
                   "--cert", self.stack_dir / "client-cert.pem",
                   "--key", self.stack_dir / "client-key.pem", "--out", out]
        if kdf_mib:
            command += ["--kdf-memory-mib", str(kdf_mib)]
        started = time.monotonic()
        subprocess.run(command, input=f"{PASSWORD}\n".encode(), check=True,
                       stderr=subprocess.DEVNULL, env=self.env)
        return out, time.monotonic() - started

    # -- measurements ---------------------------------------------------------------

    def measure(self):
        r = self.report
        r["settings"] = {
            "connections": CONNECTIONS, "runs": self.runs,
            "file_mib": {"loopback": self.size_loop // MIB, "long_link": self.size_link // MIB,
                         "rss_large": (self.size_big or 0) // MIB},
            "long_link": f"{LINK_RATE_MBIT} Mbit/s total (tc tbf on a veth in a network "
                         f"namespace), {LINK_DELAY_S * 1000:.0f} ms before each connection's "
                         f"first byte, {LINK_PER_CONNECTION / 1e6:.0f} MB/s per connection",
            "kdf_for_download_runs": f"Argon2id {KDF_BENCH_MIB} MiB (--kdf-memory-mib), so "
                                     "peak RSS shows the download engine",
            "server": "nginx (Debian) over HTTPS on loopback, byte ranges; signatures not "
                      "checked",
            "cpus": os.cpu_count(),
        }
        r["networks"] = {}
        for network, size in (("loopback", self.size_loop), ("long_link", self.size_link)):
            if self.args.only and network != self.args.only:
                continue
            say(f"{network}: {size // MIB} MiB, {self.runs} run(s) per tool, alternating")
            endpoint = self.url(size, network).split("/" + self.stack["bucket"])[0]
            program, _ = self.pack(f"receive-{network}", size, endpoint,
                                   self.files[size]["key"])
            r["networks"][network] = self.compare(network, size, program)
        if self.args.only:
            print(json.dumps(r["networks"], indent=1))
            raise SystemExit(0)

        say("signed path: certdrop against s3s-fs (checks every SHA-256 signature)")
        program, _ = self.pack("receive-s3s", self.size_loop, self.stack["s3s_endpoint"],
                               self.stack["s3s_key"])
        runs = [self.certdrop(program, self.size_loop) for _ in range(self.runs)]
        r["signed_s3s_fs"] = summarize(runs, self.size_loop)

        say("peak RSS by file size (certdrop, loopback nginx)")
        r["rss"] = {str(self.size_loop // MIB): r["networks"]["loopback"]["certdrop"]["peak_rss_mib"]}
        if self.size_big:
            key = self.files[self.size_big]["key"]
            endpoint = f"https://127.0.0.1:{self.nginx_port}"
            program, _ = self.pack("receive-large", self.size_big, endpoint, key)
            run = self.certdrop(program, self.size_big)
            r["rss"][str(self.size_big // MIB)] = run["peak_rss_mib"]
            r["large_file_run"] = summarize([run], self.size_big)

        say("unlocking with the default KDF; packing into the Windows stub")
        r["unlock_default_kdf"] = self.unlock()
        r["pack_windows_stub"] = self.pack_windows()
        r["seal_seconds"] = {"kdf_8mib": self.stack["seal_seconds_kdf_8mib"],
                             "kdf_default": self.stack["seal_seconds_kdf_default"]}
        f = self.files[self.size_loop]
        r["sha256_whole_file_seconds"] = {"size_mib": self.size_loop // MIB,
                                          "python_hashlib": round(f["hash_seconds"], 3)}
        say("sender upload: certdrop's uploader and aws s3 cp into s3s-fs")
        r["sender_upload"] = sender_upload(self.bin, self.size_loop // MIB, self.runs)

    def compare(self, network, size, program):
        tools = {
            "certdrop": lambda: self.certdrop(program, size),
            "aria2c": lambda: self.aria2c(self.url(size, network), size),
            "curl": lambda: self.curl(self.url(size, network), size),
        }
        names = list(tools)
        runs = {name: [] for name in names}
        for i in range(self.runs):
            order = names[i % 3:] + names[:i % 3]
            for name in order:
                result = tools[name]()
                runs[name].append(result)
                print(f"  {name:9} {result['mb_per_s']:8.1f} MB/s  {result['seconds']:6.2f} s",
                      flush=True)
        out = {name: summarize(runs[name], size) for name in names}
        c = out["certdrop"]["mb_per_s"]
        out["ratio_certdrop_aria2c"] = round(c / out["aria2c"]["mb_per_s"], 3)
        out["ratio_certdrop_curl"] = round(c / out["curl"]["mb_per_s"], 3)
        if network == "long_link":
            out["certdrop_share_of_link"] = round(c * 8 / LINK_RATE_MBIT, 3)
        return out

    def fresh_out(self):
        out = self.work / "out"
        if out.exists():
            shutil.rmtree(out)
        out.mkdir()
        return out

    def certdrop(self, program, size):
        out = self.fresh_out()
        log = self.work / "receiver.log"
        with open(log, "wb") as err:
            result = timed([program, "--password-stdin", "--no-pause", "-v", "--out", out],
                           stdin=f"{PASSWORD}\n", stdout=subprocess.DEVNULL, stderr=err,
                           env=self.env)
        text = log.read_text(errors="replace")
        if result["exit"] != 0:
            raise SystemExit(f"bench: the receiver failed ({result['exit']}):\n{text[-3000:]}")
        received = out / self.files[size]["path"].name
        if received.stat().st_size != size:
            raise SystemExit("bench: the receiver's file has the wrong size")
        tail = re.search(r"hash_tail_seconds=([0-9.e-]+)", text)
        result["hash_tail_seconds"] = float(tail.group(1)) if tail else None
        result["receipt_failed_nonfatal"] = "could not write the receipt" in text
        return finish_run(result, size)

    def aria2c(self, url, size):
        out = self.fresh_out()
        f = self.files[size]
        result = timed(["aria2c", f"-x{CONNECTIONS}", f"-s{CONNECTIONS}",
                        f"--ca-certificate={self.ca}", f"--checksum=sha-256={f['sha256']}",
                        "--min-split-size=1M", "--file-allocation=falloc", "--allow-overwrite=true",
                        "--console-log-level=error", "--summary-interval=0",
                        "--download-result=hide", "-d", out, "-o", "file", url],
                       stdout=subprocess.DEVNULL, env=self.env)
        if result["exit"] != 0:
            raise SystemExit(f"bench: aria2c failed ({result['exit']})")
        return finish_run(result, size)

    def curl(self, url, size):
        out = self.fresh_out()
        f = self.files[size]
        digest = out / "sha256"
        script = (f"curl -sS --fail --cacert '{self.ca}' '{url}' | tee '{out}/file' "
                  f"| sha256sum > '{digest}'; exit $((PIPESTATUS[0] + PIPESTATUS[2]))")
        result = timed(["bash", "-c", script], env=self.env)
        if result["exit"] != 0 or digest.read_text().split()[0] != f["sha256"]:
            raise SystemExit("bench: curl failed or its SHA-256 differs")
        return finish_run(result, size)

    def unlock(self):
        program, _ = self.pack("receive-default-kdf", self.size_loop,
                               f"https://127.0.0.1:{self.nginx_port}",
                               self.files[self.size_loop]["key"], kdf_mib=None)
        runs = []
        for _ in range(self.runs):
            run = timed([program, "--password-stdin", "--no-pause", "--show"],
                        stdin=f"{PASSWORD}\n", stdout=subprocess.DEVNULL, env=self.env)
            if run["exit"] != 0:
                raise SystemExit("bench: unlocking with the default KDF failed")
            runs.append(run)
        return {"seconds": median([r["seconds"] for r in runs]),
                "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
                "note": "whole process: start, find the envelope, Argon2id 256 MiB, open"}

    def pack_windows(self):
        stub = self.args.windows_stub
        if not stub:
            raise SystemExit("bench: --windows-stub is required")
        signed = self.work / "receiver-signed.exe"
        key, cert = self.work / "sign-key.pem", self.work / "sign-cert.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", cert, "-subj", "/CN=certdrop bench signing",
                        "-days", "2", "-addext", "extendedKeyUsage=codeSigning"],
                       check=True, capture_output=True)
        subprocess.run(["osslsigncode", "sign", "-certs", cert, "-key", key, "-h", "sha256",
                        "-in", stub, "-out", signed], check=True, capture_output=True)
        times = []
        for i in range(5):
            _, seconds = self.pack(f"receive-windows-{i}.exe", self.size_loop,
                                   f"https://127.0.0.1:{self.nginx_port}",
                                   self.files[self.size_loop]["key"], stub=signed)
            times.append(seconds)
        total = median(times)
        kdf = self.stack["seal_seconds_kdf_8mib"]
        verify = subprocess.run(["osslsigncode", "verify", "-CAfile", cert, "-in",
                                 self.work / "programs" / "receive-windows-0.exe"],
                                capture_output=True)
        return {"stub": "release certdrop-receiver.exe, Authenticode-signed",
                "stub_bytes": Path(signed).stat().st_size,
                "certdrop_pack_seconds": round(total, 4),
                "seal_with_8mib_kdf_seconds": round(kdf, 4),
                "excluding_kdf_seconds": round(total - kdf, 4),
                "signature_still_verifies": verify.returncode == 0}

    # -- tear-down and output ---------------------------------------------------------

    def spawn(self, command, **kwargs):
        proc = subprocess.Popen([str(c) for c in command], env=self.env, **kwargs)
        self.processes.append(proc)
        return proc

    def teardown(self):
        for proc in reversed(self.processes):
            if proc.poll() is None:
                if proc.stdin:
                    proc.stdin.close()
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        teardown_namespace()
        shutil.rmtree(self.work, ignore_errors=True)

    def write_results(self):
        self.results.mkdir(parents=True, exist_ok=True)
        (self.results / "results.json").write_text(json.dumps(self.report, indent=2) + "\n")
        table = render_table(self.report)
        (self.results / "results.md").write_text(table)
        chart(self.report, self.results)
        print()
        print(table)
        print(f"results: {self.results}/results.{{md,json}}, {self.results}/throughput.png")


NGINX_CONF = """\
user root;
worker_processes auto;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 100000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port} ssl;
        listen {host_addr}:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        root {www};
    }}
}}
"""


def timed(command, stdin=None, stdout=None, stderr=None, env=None):
    """Runs a command under GNU time: wall time, and the CPU time and peak RSS of it and its
    waited-for children. (Python's own wait4 would report at least Python's RSS: a child
    keeps the high-water mark of the process it was forked from.)"""
    usage_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-usage-{os.getpid()}"
    started = time.monotonic()
    proc = subprocess.run(["/usr/bin/time", "-o", str(usage_file), "-f", "%U %S %M"]
                          + [str(c) for c in command], env=env,
                          input=stdin.encode() if stdin else None,
                          stdin=None if stdin else subprocess.DEVNULL,
                          stdout=stdout, stderr=stderr)
    seconds = time.monotonic() - started
    # GNU time writes "Command exited with non-zero status N" before the figures.
    user, system, rss_kib = usage_file.read_text().split("\n")[-2].split()
    usage_file.unlink()
    return {"seconds": seconds, "exit": proc.returncode,
            "cpu_seconds": float(user) + float(system),
            "peak_rss_mib": round(int(rss_kib) / 1024, 1)}


def finish_run(result, size):
    result["mb_per_s"] = size / 1e6 / result["seconds"]
    return result


def summarize(runs, size):
    out = {
        "mb_per_s": round(median([r["mb_per_s"] for r in runs]), 1),
        "runs_mb_per_s": [round(r["mb_per_s"], 1) for r in runs],
        "cpu_seconds_per_gb": round(median([r["cpu_seconds"] for r in runs]) / (size / 1e9), 2),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
    }
    tails = [r["hash_tail_seconds"] for r in runs if r.get("hash_tail_seconds") is not None]
    if tails:
        out["hash_tail_seconds"] = round(median(tails), 3)
        out["hash_tail_share_of_wall"] = round(
            median([r["hash_tail_seconds"] / r["seconds"] for r in runs]), 4)
    if any("receipt_failed_nonfatal" in r for r in runs):
        out["receipt_put_failed_but_exit_0"] = any(r["receipt_failed_nonfatal"] for r in runs)
    return out


def median(values):
    return statistics.median(values)


def render_table(r):
    lines = ["# certdrop download benchmark", "",
             f"{r['settings']['connections']} connections for certdrop and aria2c; "
             f"median of {r['settings']['runs']} run(s); MB = 10^6 bytes; "
             f"{r['settings']['cpus']} CPUs.", "",
             "| network | file | tool | MB/s | CPU s/GB | peak RSS MiB | runs MB/s |",
             "|---|---|---|---|---|---|---|"]
    for network, data in r["networks"].items():
        size = r["settings"]["file_mib"][network]
        for tool in ("certdrop", "aria2c", "curl"):
            t = data[tool]
            lines.append(f"| {network} | {size} MiB | {tool} | {t['mb_per_s']} | "
                         f"{t['cpu_seconds_per_gb']} | {t['peak_rss_mib']} | "
                         f"{t['runs_mb_per_s']} |")
    s = r["signed_s3s_fs"]
    lines.append(f"| loopback, s3s-fs (signed) | {r['settings']['file_mib']['loopback']} MiB "
                 f"| certdrop | {s['mb_per_s']} | {s['cpu_seconds_per_gb']} | "
                 f"{s['peak_rss_mib']} | {s['runs_mb_per_s']} |")
    lo, link = r["networks"]["loopback"], r["networks"]["long_link"]
    rss = r["rss"]
    unlock, pack = r["unlock_default_kdf"], r["pack_windows_stub"]
    up = r["sender_upload"]
    cd = lo["certdrop"]
    lines += [
        "", "| figure | value | target | met |", "|---|---|---|---|",
        row("long link: certdrop share of 200 Mbit/s", link["certdrop_share_of_link"],
            ">= 0.80", link["certdrop_share_of_link"] >= 0.8),
        row("long link: certdrop / aria2c", link["ratio_certdrop_aria2c"], ">= 1.0",
            link["ratio_certdrop_aria2c"] >= 1.0),
        row("long link: certdrop / curl", link["ratio_certdrop_curl"], ">= 4.0",
            link["ratio_certdrop_curl"] >= 4.0),
        row("loopback: certdrop / aria2c", lo["ratio_certdrop_aria2c"], ">= 1.0",
            lo["ratio_certdrop_aria2c"] >= 1.0),
        row("loopback: certdrop / curl", lo["ratio_certdrop_curl"], ">= 0.9",
            lo["ratio_certdrop_curl"] >= 0.9),
    ]
    for size, mib in rss.items():
        lines.append(row(f"certdrop peak RSS, {size} MiB file (KDF {KDF_BENCH_MIB} MiB)",
                         f"{mib} MiB", "<= 64 MiB", mib <= 64))
    tail_share = cd.get("hash_tail_share_of_wall", 1)
    lines += [
        row("SHA-256 left after the last byte (loopback)",
            f"{cd.get('hash_tail_seconds')} s = {tail_share * 100:.1f}% of wall time "
            f"(whole file alone: {r['sha256_whole_file_seconds']['python_hashlib']} s)",
            "overlapped, or <= 10%", tail_share <= 0.10),
        row("pack into signed Windows stub, KDF excluded",
            f"{pack['excluding_kdf_seconds'] * 1000:.0f} ms (whole `certdrop pack`: "
            f"{pack['certdrop_pack_seconds'] * 1000:.0f} ms; signature verifies: "
            f"{pack['signature_still_verifies']})",
            "< 100 ms", pack["excluding_kdf_seconds"] < 0.1),
        row("unlock with the default KDF (whole --show run)", f"{unlock['seconds']:.2f} s",
            "0.3-1.5 s", 0.3 <= unlock["seconds"] <= 1.5),
        row("peak RSS of that unlock (Argon2id 256 MiB)", f"{unlock['peak_rss_mib']} MiB",
            "(reported, not a target)", None),
        row(f"sender upload vs aws s3 cp ({up['size_mib']} MiB into s3s-fs)",
            f"{up['ratio']:.3f} ({up['certdrop_mb_per_s']} MB/s vs {up['aws_cli_mb_per_s']} MB/s)",
            ">= 1.0", up["ratio"] >= 1.0),
        "", f"benchmark run time: {r.get('benchmark_seconds', '?')} s", "",
    ]
    return "\n".join(lines)


def row(name, value, target, met):
    mark = "" if met is None else ("yes" if met else "**NO**")
    return f"| {name} | {value} | {target} | {mark} |"


def chart(r, results):
    data = results / "throughput.dat"
    with open(data, "w") as out:
        out.write("network certdrop aria2c curl\n")
        for network, d in r["networks"].items():
            out.write(f"{network} {d['certdrop']['mb_per_s']} {d['aria2c']['mb_per_s']} "
                      f"{d['curl']['mb_per_s']}\n")
    script = f"""
set terminal pngcairo size 900,500 font ',11' noenhanced
set output '{results}/throughput.png'
set title 'Download throughput (median MB/s, higher is better)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel 'MB/s'
set yrange [0:*]
set key top right
set grid ytics
plot '{data}' using 2:xtic(1) title columnheader(2), '' using 3 title columnheader(3), \\
     '' using 4 title columnheader(4)
"""
    subprocess.run(["gnuplot"], input=script.encode(), check=True)


def sender_upload(bin_dir, size_mib, runs):
    """`certdrop send`'s uploader next to `aws s3 cp`, both into s3s-fs on loopback, by
    examples/upload_throughput.rs (which alternates them and prints medians)."""
    program = bin_dir / "examples" / "upload_throughput"
    done = subprocess.run([program, str(size_mib), str(runs)], capture_output=True,
                          text=True, check=True)
    print(done.stdout, end="")
    found = re.search(r"^result: certdrop_mb_s=([\d.]+) aws_mb_s=([\d.]+) ratio=([\d.]+)$",
                      done.stdout, re.M)
    if not found:
        raise SystemExit(f"bench: upload_throughput printed no result:\n{done.stdout}")
    ours, theirs, ratio = (float(g) for g in found.groups())
    return {"size_mib": size_mib, "certdrop_mb_per_s": ours, "aws_cli_mb_per_s": theirs,
            "ratio": ratio}


# -- helpers ----------------------------------------------------------------------------


def check_connections(repo):
    source = (repo / "src" / "download.rs").read_text()
    found = re.search(r"DEFAULT_CONNECTIONS: usize = (\d+);", source)
    if not found or int(found.group(1)) != CONNECTIONS:
        raise SystemExit("bench: certdrop's DEFAULT_CONNECTIONS changed; update CONNECTIONS")


def setup_namespace():
    teardown_namespace()
    commands = [
        ["ip", "netns", "add", NETNS],
        ["ip", "link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS],
        ["ip", "link", "set", VETH_NS, "netns", NETNS],
        ["ip", "addr", "add", f"{HOST_ADDR}/30", "dev", VETH_HOST],
        ["ip", "link", "set", VETH_HOST, "up"],
        ["ip", "netns", "exec", NETNS, "ip", "addr", "add", f"{NS_ADDR}/30", "dev", VETH_NS],
        ["ip", "netns", "exec", NETNS, "ip", "link", "set", VETH_NS, "up"],
        ["ip", "netns", "exec", NETNS, "ip", "link", "set", "lo", "up"],
        # The total: everything the namespace sends back to the clients.
        ["ip", "netns", "exec", NETNS, "tc", "qdisc", "add", "dev", VETH_NS, "root", "tbf",
         "rate", f"{LINK_RATE_MBIT}mbit", "burst", "256kb", "latency", "50ms"],
    ]
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"bench: {' '.join(command)} failed: {done.stderr.strip()} "
                             "(the benchmark needs root for network namespaces and tc)")


def teardown_namespace():
    subprocess.run(["ip", "netns", "del", NETNS], capture_output=True)
    subprocess.run(["ip", "link", "del", VETH_HOST], capture_output=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(host, port):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"bench: nothing listens on {host}:{port}")


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def say(text):
    print(f"bench: {text}", flush=True)


if __name__ == "__main__":
    main()
