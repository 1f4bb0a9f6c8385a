#!/usr/bin/env python3
"""Side-by-side timings of toucan-token against curl, curl loops and Python, on loopback HTTPS.

Starts nginx (HTTP/1.1 + HTTP/2, TLS with the repository's private test CA) answering the token
endpoint with a fixed JSON reply, then runs every contender interleaved, N rounds, and prints
medians. Run it through bench/run.sh, which installs what is missing and builds the release binary.
"""
import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CERTS = os.path.join(ROOT, "tests", "certs")
CA = os.path.join(CERTS, "ca.pem")
KEY = "bench-key-0123456789"
REPLY = '{"token":"eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..c2FsdA.Y2lwaGVydGV4dA.dGFn","expiresIn":3600}'
BODY = '{"user":{"distinctId":"u1","role":"explorer","attributes":{"region":"EU"}}}'

NGINX_CONF = """
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {work}/body;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port} ssl http2;
    ssl_certificate {certs}/server.pem;
    ssl_certificate_key {certs}/server.key;
    location = /embed/generate-token {{
      default_type application/json;
      return 200 '{reply}';
    }}
  }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(work):
    port = free_port()
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(work=work, port=port, certs=CERTS, reply=REPLY))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen([nginx, "-p", work, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 20
    while time.time() < deadline:  # readiness: the port accepts connections
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                sys.exit("nginx did not start: " + proc.stderr.read().decode())
            time.sleep(0.05)
    sys.exit("nginx did not start listening")


@contextlib.contextmanager
def serving():
    """nginx on a loopback port, for as long as the block runs: yields a scratch folder, the base
    URL and the environment every contender runs in (no proxies, the key, the URL and the CA)."""
    work = tempfile.mkdtemp(prefix="toucan-bench-")
    nginx, port = start_nginx(work)
    try:
        base = f"https://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env.update(TOUCAN_API_KEY=KEY, TOUCAN_BASE_URL=base, TOUCAN_CA_BUNDLE=CA, SSL_CERT_FILE=CA)
        yield work, base, env
    finally:
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def batch_file(work, lines):
    """A JSON Lines batch of `lines` users, each with one attribute."""
    path = os.path.join(work, f"users-{lines}.jsonl")
    with open(path, "w") as f:
        f.writelines(f'{{"distinctId":"user-{i}","attributes":{{"n":{i}}}}}\n' for i in range(lines))
    return path


def run(cmd, env, stdin_path=None):
    """Wall seconds of one run; fails loudly on a non-zero exit."""
    with open(stdin_path or os.devnull, "rb") as stdin:
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd[:3])}...\n{proc.stderr.decode()[-2000:]}")
    return wall


def peak_rss(cmd, env, stdin_path=None):
    """Peak RSS in KiB, measured by GNU time. Not from this process's wait4: Linux carries the
    high-water mark of the forked copy of this Python interpreter over the exec."""
    with open(stdin_path or os.devnull, "rb") as stdin:
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env, stdin=stdin,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd[:3])}...\n{proc.stderr.decode()[-2000:]}")
    return int(proc.stderr.decode().strip().splitlines()[-1])


def measure(contenders, rounds, env, rss_rounds=3):
    """Runs each contender once per round, in turn, so that machine noise hits all alike."""
    walls = {name: [] for name, _ in contenders}
    rss = {name: [] for name, _ in contenders}
    for name, (cmd, stdin_path) in contenders:  # warm-up: page cache, TLS libraries
        run(cmd, env, stdin_path)
    for round_number in range(rounds):
        # The order turns each round, so that no contender always runs right after the same one
        # (a 50 ms Python run leaves the caches cold for whatever follows it).
        shift = round_number % len(contenders)
        for name, (cmd, stdin_path) in contenders[shift:] + contenders[:shift]:
            walls[name].append(run(cmd, env, stdin_path))
    for _ in range(rss_rounds):
        for name, (cmd, stdin_path) in contenders:
            rss[name].append(peak_rss(cmd, env, stdin_path))
    return {name: (statistics.median(walls[name]), statistics.median(rss[name])) for name, _ in contenders}


def table(title, results, baseline, show_rss=True):
    print(f"\n### {title}\n")
    base_wall, base_rss = results[baseline]
    if show_rss:
        print("| command | median wall | × " + baseline + " | median peak RSS | × " + baseline + " |")
        print("|---|---:|---:|---:|---:|")
    else:
        print("| command | median wall | × " + baseline + " |")
        print("|---|---:|---:|")
    for name, (wall, rss) in results.items():
        row = f"| {name} | {wall * 1000:.1f} ms | {wall / base_wall:.2f} |"
        if show_rss:
            row += f" {rss / 1024:.1f} MiB | {rss / base_rss:.2f} |"
        print(row)
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", default=os.path.join(ROOT, "build", "release", "toucan-token"))
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--batch-rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--memory-lines", type=int, default=100_000)
    args = parser.parse_args()

    with serving() as (work, base, env):
        url = base + "/embed/generate-token"
        ca = CA
        headers = ["-H", f"x-api-key: {KEY}", "-H", "Content-Type: application/json",
                   "-H", "Accept: application/json"]
        curl_one = ["curl", "-sS", "--fail", "--cacert", ca, *headers, "-d", BODY, url]
        python_one = [sys.executable, "-S", "-c", (
            "import json,ssl,urllib.request as u;"
            f"c=ssl.create_default_context(cafile={ca!r});"
            f"r=u.Request({url!r},data={BODY!r}.encode(),headers={{'x-api-key':{KEY!r},"
            "'Content-Type':'application/json','Accept':'application/json'});"
            "print(json.load(u.urlopen(r,context=c))['token'])")]
        tool_one = [args.tool, "-u", "u1", "-a", "region=EU"]

        print(f"Machine: {os.cpu_count()} CPUs, {os.uname().sysname} {os.uname().release}; "
              f"{subprocess.run(['curl', '--version'], capture_output=True, text=True).stdout.splitlines()[0]}")
        print(f"Server: nginx on {base} (TLS, HTTP/2 offered), fixed reply. Medians of "
              f"{args.rounds} interleaved rounds after one warm-up.")

        table("One token", measure([("toucan-token", (tool_one, None)), ("curl", (curl_one, None)),
                                     ("python3 urllib", (python_one, None))], args.rounds, env), "curl")
        table("Start-up", measure([("toucan-token --version", ([args.tool, "--version"], None)),
                                    ("curl --version", (["curl", "--version"], None))], args.rounds, env),
              "curl --version")

        n = args.tokens
        users = os.path.join(work, "users.txt")
        with open(users, "w") as f:
            f.writelines(f"u{i}\n" for i in range(n))
        curl_config = os.path.join(work, "curl.cfg")
        with open(curl_config, "w") as f:
            for i in range(n):
                if i:
                    f.write("next\n")
                body = BODY.replace('"u1"', f'"u{i}"').replace('"', '\\"')
                # Options reset at each `next`, so every transfer repeats them.
                f.write(f'url = "{url}"\ndata = "{body}"\noutput = "/dev/null"\ncacert = "{ca}"\n'
                        'fail\nsilent\nshow-error\n')
                for h in headers[1::2]:
                    f.write(f'header = "{h}"\n')
        loop = ["bash", "-c", f'while read -r id; do curl -sS --fail --cacert {ca} -H "x-api-key: {KEY}" '
                f'-H "Content-Type: application/json" -H "Accept: application/json" '
                f'-d "{{\\"user\\":{{\\"distinctId\\":\\"$id\\",\\"role\\":\\"explorer\\",\\"attributes\\":{{}}}}}}" '
                f'-o /dev/null {url} || exit 1; done < {users}']
        xargs = ["bash", "-c", f'xargs -P8 -I{{}} curl -sS --fail --cacert {ca} -H "x-api-key: {KEY}" '
                 f'-H "Content-Type: application/json" -H "Accept: application/json" '
                 f'-d \'{{"user":{{"distinctId":"{{}}","role":"explorer","attributes":{{}}}}}}\' '
                 f'-o /dev/null {url} < {users}']
        parallel = ["curl", "--parallel", "--parallel-max", "8", "-K", curl_config]
        batch = [args.tool, "batch", users]
        table(f"{n} tokens", measure([("toucan-token batch", (batch, None)),
                                       ("curl --parallel --parallel-max 8", (parallel, None)),
                                       ("xargs -P8 curl", (xargs, None)),
                                       ("shell loop of curl", (loop, None))], args.batch_rounds, env),
              "curl --parallel --parallel-max 8", show_rss=False)

        big = batch_file(work, args.memory_lines)
        big_cmd = [args.tool, "batch", "--concurrency", "16", big]
        wall = run(big_cmd, env)
        rss = peak_rss(big_cmd, env)
        print(f"\n### Batch of {args.memory_lines:,} lines\n")
        print(f"toucan-token batch --concurrency 16: {wall:.2f} s, "
              f"{args.memory_lines / wall:,.0f} tokens/s, peak RSS {rss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
