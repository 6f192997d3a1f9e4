#!/usr/bin/env python3
"""Scheduler CPU overhead: `hivesched serve` with 1000 fake agents, 10 s ticks and the ensemble
forecaster; 14 days of per-minute demand (daily cycle) are posted first, then one new sample per
minute, live. Prints the serve process's CPU time over the measured window (after 15 s warm-up,
which includes the first ensemble fit).

Usage: python3 scripts/scheduler_cpu.py [SECONDS] (default 300; needs target/release/hivesched)
"""
import json, math, os, subprocess, sys, tempfile, time, urllib.request, datetime
BIN = os.environ.get("HIVESCHED_BIN", "target/release/hivesched")
work = tempfile.mkdtemp(prefix="hivesched-cpu-")
cfg = os.path.join(work, "hivesched.toml")
with open(cfg, "w") as f:
    f.write(f"""listen = "127.0.0.1:8090"
database_url = "sqlite://{work}/hivesched.db?mode=rwc"
jwt_secret = "cpu-measurement-secret-0123456789abcdef0123"
tick_interval = 10

[actuator]
kind = "fake"
agents = 1000
""")
tok = subprocess.check_output([BIN, "auth", "token", "--role", "operator", "--ttl", "2h", "--config", cfg]).decode().strip()
srv = subprocess.Popen([BIN, "serve", "--config", cfg], stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "serve.log"), "w"))
time.sleep(2)
def post(path, body):
    req = urllib.request.Request("http://127.0.0.1:8090/api/v1" + path, data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + tok, "Content-Type": "application/json"}, method="POST")
    return urllib.request.urlopen(req).read()
def value(t):
    ph = (t % 86400) / 86400 * 2 * math.pi
    return 500 * (1 + 0.6 * math.sin(ph))
now = int(time.time()) // 60 * 60
samples = [{"at": datetime.datetime.fromtimestamp(t, datetime.UTC).isoformat().replace("+00:00", "Z"), "value": value(t)}
           for t in range(now - 14 * 86400, now + 1, 60)]
for i in range(0, len(samples), 5000):
    post("/demand", {"samples": samples[i:i + 5000]})
def cpu():
    with open(f"/proc/{srv.pid}/stat") as f:
        parts = f.read().split(")")[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
time.sleep(15)  # first ticks, first ensemble fit
c0, t0 = cpu(), time.time()
dur = float(sys.argv[1]) if len(sys.argv) > 1 else 300
last = now
while time.time() - t0 < dur:
    m = int(time.time()) // 60 * 60
    if m > last:
        last = m
        post("/demand", {"samples": [{"at": datetime.datetime.fromtimestamp(m, datetime.UTC).isoformat().replace("+00:00", "Z"), "value": value(m)}]})
    time.sleep(1)
c1, t1 = cpu(), time.time()
m = urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:8090/metrics")).read().decode()
ticks = [l for l in m.splitlines() if l.startswith("hivesched_ticks_total") or l.startswith("hivesched_fail_safe") or l.startswith("hivesched_tick_errors")]
srv.terminate(); srv.wait()
print(f"serve CPU {c1 - c0:.2f} s over {t1 - t0:.0f} s wall = {100 * (c1 - c0) / (t1 - t0):.3f} % of one core; " + "; ".join(ticks))
