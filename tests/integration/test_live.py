# SPDX-License-Identifier: GPL-2.0-or-later
"""Live migration modes on a real 3-host cluster: pre-copy by page hashes (no soft-dirty here).

Each test proves state (Redis's DEBUG DIGEST, or memdirty's own check of every page it wrote) and
service (a TCP client on a third host, no failed request), and each failure test the invariant: the
source still runs, exactly one instance, the destination keeps nothing.
"""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import BUILD, FERRY, REPO, STATE_ROOT, ferry, run

MKIMAGE = REPO / "scripts" / "mkimage"
NETPROBE = REPO / "tests" / "tools" / "netprobe"
MEMDIRTY = BUILD / "tests" / "tools" / "memdirty"
REDIS = ["/usr/bin/redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "",
         "--enable-debug-command", "yes"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("liveimages")
    run(MKIMAGE, "busybox", root / "busybox")
    run("cp", MEMDIRTY, root / "busybox" / "bin" / "memdirty")
    run(MKIMAGE, "redis", root / "redis")
    return root


class Live:
    def __init__(self, cluster, images):
        self.c = cluster
        self.images = images

    def f(self, *args, check=True, timeout=300):
        env = dict(os.environ, FERRY_ADMIN_DIR=str(STATE_ROOT / self.c.name / "admin"))
        return ferry(*args, check=check, timeout=timeout, env=env)

    def up(self, *extra):
        self.c.up("--nodes", "3", "--subnet", self.c.subnet, *extra)
        self.f("image", "import", self.images / "busybox", "--name", "busybox")
        self.f("image", "import", self.images / "redis", "--name", "redis")

    def ps(self):
        return {c["name"]: c for c in json.loads(self.f("ps", "--json").stdout)["containers"]}

    def node_dir(self, node):
        return STATE_ROOT / self.c.name / "nodes" / node

    def migrate(self, name, dest, *opts, check=True):
        proc = self.f("migrate", name, "--to", dest, "--json", *opts, check=check)
        return json.loads(proc.stdout) if proc.returncode == 0 else proc

    def instances(self, name):
        found = {}
        for node in ("n1", "n2", "n3"):
            proc = run("runc", "--root", self.node_dir(node) / "runc", "state", name, check=False)
            if proc.returncode == 0:
                found[node] = json.loads(proc.stdout)["status"]
        return found

    def leftovers(self, node, name):
        d = self.node_dir(node)
        left = list((d / "containers").glob(f"{name}*"))
        for sub in ("incoming", "received", "outgoing"):
            left += list((d / "tmp" / sub).iterdir()) if (d / "tmp" / sub).exists() else []
        return left

    def redis(self, *args):
        return self.f("exec", "kv", "/usr/bin/redis-cli", *args).stdout.strip()

    def redis_40000_keys(self):
        """Redis 'kv' on n1 holding 40 000 values of 1 KiB; returns the dataset's digest."""
        self.f("run", "--name", "kv", "--image", "redis", "--node", "n1", "--memory", "512m", "--ready",
               "tcp:6379", "--", *REDIS)
        self.redis("debug", "populate", "40000", "key", "1024")
        return self.redis("debug", "digest")

    def drop_probe_keys(self):
        """The client's own counter keys changed; without them the dataset is the one loaded."""
        for key in self.redis("--scan", "--pattern", "netprobe:*").split():
            self.redis("del", key)

    def probe(self, node, address):
        p = subprocess.Popen(["ip", "netns", "exec", f"ferry-{self.c.name}-{node}", "/usr/bin/python3",
                              str(NETPROBE), "redis", address, "6379"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = p.stderr.readline()
        assert "connected" in line, line + p.stderr.read()
        time.sleep(0.5)
        return p

    def probe_result(self, p):
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
        assert out, err
        return json.loads(out)

    def sweeps(self, name):
        """memdirty's progress, from its log; fails on a page that came back wrong."""
        log = self.f("logs", name).stdout
        assert "CORRUPT" not in log, log[-2000:]
        lines = [line for line in log.splitlines() if line.startswith("sweep ")]
        return int(lines[-1].split()[1]) if lines else 0

    def wait_sweeping(self, name, above, seconds=15):
        deadline = time.time() + seconds
        while time.time() < deadline:
            n = self.sweeps(name)
            if n > above:
                return n
            time.sleep(0.5)
        raise AssertionError(f"{name} stopped sweeping at {above}")

    def cpu_quota(self, node, name):
        """The container's CFS quota (-1: none) in whichever hierarchy holds it."""
        for path in ("/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup"):
            for f in ("cpu.cfs_quota_us", "cpu.max"):
                p = f"{path}/ferry/{self.c.name}/{node}-containers/{name}/{f}"
                if os.path.exists(p):
                    v = open(p).read().split()[0]
                    return -1 if v == "max" else int(v)
        return None


    def daemon_pid(self, node):
        return int((self.node_dir(node) / "daemon.pid").read_text().split()[0])

    def lazy_daemons(self, node):
        """criu lazy-pages processes working for this node (its state directory in their arguments)."""
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if len(cmd) > 1 and cmd[1] == b"lazy-pages" and str(self.node_dir(node)).encode() in b" ".join(cmd):
                found.append(int(pid))
        return found

    def migrate_in_background(self, name, dest, *opts):
        admin = str(STATE_ROOT / self.c.name / "admin")
        return subprocess.Popen([str(FERRY), "migrate", name, "--to", dest, "--admin-dir", admin, *opts],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_log(self, node, words, seconds=60):
        log = self.node_dir(node) / "daemon.log"
        deadline = time.time() + seconds
        while words not in log.read_text() and time.time() < deadline:
            time.sleep(0.1)
        assert words in log.read_text(), f"{node} never logged {words!r}"


@pytest.fixture
def live(make_cluster, images):
    lv = Live(make_cluster(), images)
    lv.up()
    return lv


@pytest.fixture
def live_postcopy(make_cluster, images):
    lv = Live(make_cluster(), images)
    lv.up("--allow-postcopy")
    return lv


def test_precopy_redis_keeps_data_and_client(live):
    lv = live
    digest = lv.redis_40000_keys()
    client = lv.probe("n3", lv.ps()["kv"]["address"].split("/")[0])
    # A budget a round of this Redis fits in, under the sanitizers too (a freeze reads all its memory again).
    report = lv.migrate("kv", "n2", "--mode", "precopy", "--max-downtime", "3000")
    result = lv.probe_result(client)
    assert report["result"] == "ok" and report["mode"] == "precopy", report
    assert result["failed_requests"] == 0 and result["reconnects"] == 0 and result["errors"] == [], result
    # Its memory went over while it ran: the first round carried it all, the last (paused) one little.
    rounds = [int(b) for b in report["round_bytes"].split(",")]
    assert report["rounds"] == len(rounds) >= 3, report
    assert rounds[0] > 40000 * 1024 and rounds[-1] < rounds[0] / 4, report
    assert report["note"].startswith("converged"), report
    # The client's own counter key changed; the dataset without it is the same.
    lv.drop_probe_keys()
    assert lv.redis("debug", "digest") == digest
    assert lv.instances("kv") == {"n2": "running"}
    assert lv.leftovers("n1", "kv") == [] and lv.leftovers("n2", "kv") != []
    assert not [p for p in (lv.node_dir("n2") / "tmp" / "incoming").iterdir()]
    # And back, capped at 200 mbit: the rounds take the time the cap says.
    report = lv.migrate("kv", "n1", "--mode", "precopy", "--bandwidth", "200mbit")
    assert report["result"] == "ok", report
    first = int(report["round_bytes"].split(",")[0])
    assert report["total_ms"] >= first * 8 / 200e6 * 1000, report
    assert lv.redis("debug", "digest") == digest
    history = json.loads(lv.f("history", "--json").stdout)["migrations"]
    assert [m["mode"] for m in history] == ["precopy", "precopy"]


def test_precopy_that_never_converges_stops_and_still_moves(live):
    lv = live
    # 16 MiB rewritten continuously; 50 mbit carries 16 MiB in about 2.7 s: every round is as large as the last.
    lv.f("run", "--name", "md", "--image", "busybox", "--node", "n1", "--", "/bin/memdirty", "16")
    before = lv.wait_sweeping("md", 1)
    report = lv.migrate("md", "n2", "--mode", "precopy", "--bandwidth", "50mbit", "--max-rounds", "6")
    assert report["result"] == "ok", report
    assert report["rounds"] == 3 and report["note"].startswith("not converging"), report
    before = lv.wait_sweeping("md", lv.sweeps("md"))
    # Auto-converge caps its CPU each round that does not shrink; it never will: the round limit ends it.
    admin = str(STATE_ROOT / lv.c.name / "admin")
    proc = subprocess.Popen([str(FERRY), "migrate", "md", "--to", "n3", "--mode", "precopy",
                             "--bandwidth", "50mbit", "--max-rounds", "4", "--auto-converge", "--json",
                             "--admin-dir", admin], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    capped = None
    deadline = time.time() + 60
    while proc.poll() is None and time.time() < deadline:
        q = lv.cpu_quota("n2", "md")
        if q is not None and q > 0:
            capped = q
        time.sleep(0.2)
    out, err = proc.communicate(timeout=60)
    report = json.loads(out)
    assert report["result"] == "ok" and report["rounds"] == 5, report
    assert report["note"] == "round limit (4) reached", report
    assert capped is not None and 0 < capped <= 50000, capped
    # Uncapped where it runs now, and every page it wrote came back as written.
    assert lv.cpu_quota("n3", "md") in (-1, None)
    lv.wait_sweeping("md", before)
    assert lv.instances("md") == {"n3": "running"}


def test_precopy_link_cut_leaves_the_source_running(live):
    lv = live
    lv.f("run", "--name", "md", "--image", "busybox", "--node", "n1", "--", "/bin/memdirty", "48", "100")
    before = lv.wait_sweeping("md", 1)
    # A slow link keeps the first round in flight; the page session is open on n2 when the link goes.
    ferry("cluster", "link", "n1", "--rate", "20mbit", "--name", lv.c.name)
    admin = str(STATE_ROOT / lv.c.name / "admin")
    proc = subprocess.Popen([str(FERRY), "migrate", "md", "--to", "n2", "--mode", "precopy",
                             "--admin-dir", admin], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = lv.node_dir("n2") / "daemon.log"
    deadline = time.time() + 30
    while "page session for md" not in log.read_text() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(1)
    run("ip", "-n", f"ferry-{lv.c.name}-n2", "link", "set", "eth0", "down")
    try:
        _, err = proc.communicate(timeout=90)
        assert proc.returncode == 1, err
    finally:
        run("ip", "-n", f"ferry-{lv.c.name}-n2", "link", "set", "eth0", "up")
        ferry("cluster", "link", "n1", "--rate", "off", "--name", lv.c.name)
    # Never paused: it kept running all along, and nothing stays on the destination.
    assert lv.instances("md") == {"n1": "running"}
    lv.wait_sweeping("md", before)
    assert lv.ps()["md"]["node"] == "n1" and lv.ps()["md"]["state"] == "running"
    deadline = time.time() + 40
    while lv.leftovers("n2", "md") and time.time() < deadline:
        time.sleep(0.5)
    assert lv.leftovers("n2", "md") == []
    assert json.loads(lv.f("history", "--json").stdout)["migrations"][-1]["result"] == "failed"
    # It migrates fine afterwards.
    assert lv.migrate("md", "n2", "--mode", "precopy")["result"] == "ok"
    lv.wait_sweeping("md", lv.sweeps("md"))


def test_precopy_options_are_checked(live):
    lv = live
    lv.f("run", "--name", "idle", "--image", "busybox", "--node", "n1", "--", "/bin/sleep", "1000")
    cases = [
        (["--mode", "precopy", "--max-rounds", "0"], "--max-rounds"),
        (["--mode", "precopy", "--max-rounds", "30"], "--max-rounds"),
        (["--mode", "precopy", "--bandwidth", "fast"], "--bandwidth"),
        (["--mode", "precopy", "--max-downtime", "0"], "--max-downtime"),
        (["--max-rounds", "3"], "need --mode precopy"),
        (["--mode", "warp"], "expected stop-copy, precopy, postcopy, hybrid, stateless or auto"),
    ]
    for opts, words in cases:
        bad = lv.f("migrate", "idle", "--to", "n2", *opts, check=False)
        assert bad.returncode == 2 and words in bad.stderr, (opts, bad.stderr)
    # Post-copy only where the controller's policy says so.
    for mode in ("postcopy", "hybrid"):
        bad = lv.f("migrate", "idle", "--to", "n2", "--mode", mode, check=False)
        assert bad.returncode == 1 and "allow_postcopy = yes" in bad.stderr, bad.stderr
    assert lv.instances("idle") == {"n1": "running"}
    # An idle container converges at once: two rounds, the second one empty or nearly.
    report = lv.migrate("idle", "n2", "--mode", "precopy", "--max-downtime", "50")
    assert report["result"] == "ok" and report["rounds"] == 3, report


def test_postcopy_redis_runs_before_its_memory_arrives(live_postcopy):
    lv = live_postcopy
    digest = lv.redis_40000_keys()
    client = lv.probe("n3", lv.ps()["kv"]["address"].split("/")[0])
    report = lv.migrate("kv", "n2", "--mode", "postcopy")
    result = lv.probe_result(client)
    assert report["result"] == "ok" and report["mode"] == "postcopy", report
    assert result["failed_requests"] == 0 and result["reconnects"] == 0 and result["errors"] == [], result
    # Only the state crossed while it was frozen; its memory came after, on demand and in the background.
    assert report["bytes_image"] < 40000 * 1024 / 4, report
    assert report["note"].startswith("all ") and "pages landed" in report["note"], report
    lv.drop_probe_keys()
    assert lv.redis("debug", "digest") == digest
    assert lv.instances("kv") == {"n2": "running"}
    assert lv.leftovers("n1", "kv") == []
    assert lv.lazy_daemons("n2") == [] and not list((lv.node_dir("n2") / "tmp" / "received").iterdir())


def test_hybrid_sends_only_what_the_rounds_did_not(live_postcopy):
    lv = live_postcopy
    digest = lv.redis_40000_keys()
    client = lv.probe("n3", lv.ps()["kv"]["address"].split("/")[0])
    report = lv.migrate("kv", "n2", "--mode", "hybrid", "--max-rounds", "2")
    result = lv.probe_result(client)
    assert report["result"] == "ok" and report["mode"] == "hybrid", report
    assert result["failed_requests"] == 0 and result["reconnects"] == 0 and result["errors"] == [], result
    rounds = [int(b) for b in report["round_bytes"].split(",")]
    assert len(rounds) >= 2 and rounds[0] > 40000 * 1024, report
    # Post-copy after the rounds: nearly every page it fetched was named by its place in the store.
    fetched, held = map(int, re.search(r"all (\d+) pages landed \((\d+) from the rounds\)", report["note"]).groups())
    assert fetched > 10000 and held > fetched * 0.9, report
    lv.drop_probe_keys()
    assert lv.redis("debug", "digest") == digest
    assert lv.instances("kv") == {"n2": "running"} and lv.lazy_daemons("n2") == []


def test_auto_picks_by_what_the_rounds_show(live_postcopy):
    lv = live_postcopy
    # Never converging at 50 mbit: hybrid, as post-copy is allowed here.
    lv.f("run", "--name", "md", "--image", "busybox", "--node", "n1", "--", "/bin/memdirty", "16")
    before = lv.wait_sweeping("md", 1)
    report = lv.migrate("md", "n2", "--mode", "auto", "--bandwidth", "50mbit", "--max-rounds", "3")
    assert report["result"] == "ok" and report["mode"] == "auto", report
    assert report["note"].startswith("auto: hybrid (the rounds did not converge and post-copy is allowed"), report
    assert "pages landed" in report["note"], report
    lv.wait_sweeping("md", before)
    # Idle: the rounds converge, pre-copy it is.
    lv.f("run", "--name", "idle", "--image", "busybox", "--node", "n1", "--", "/bin/sleep", "1000")
    report = lv.migrate("idle", "n3", "--mode", "auto")
    assert report["result"] == "ok" and report["note"].startswith("auto: precopy (the rounds converged"), report
    assert lv.instances("idle") == {"n3": "running"}


def test_auto_and_hybrid_survive_a_cut_link(live_postcopy):
    lv = live_postcopy
    lv.f("run", "--name", "md", "--image", "busybox", "--node", "n1", "--", "/bin/memdirty", "16")
    before = lv.wait_sweeping("md", 1)
    ferry("cluster", "link", "n1", "--rate", "20mbit", "--name", lv.c.name)
    cut = ["ip", "-n", f"ferry-{lv.c.name}-n2", "link", "set", "eth0"]
    try:
        # Auto, cut during its first round: nothing was paused yet, the source runs on.
        proc = lv.migrate_in_background("md", "n2", "--mode", "auto")
        lv.wait_log("n2", "page session for md")
        time.sleep(1)
        run(*cut, "down")
        try:
            _, err = proc.communicate(timeout=90)
            assert proc.returncode == 1, err
        finally:
            run(*cut, "up")
        assert lv.instances("md") == {"n1": "running"}
        before = lv.wait_sweeping("md", before)
        deadline = time.time() + 40
        while lv.leftovers("n2", "md") and time.time() < deadline:
            time.sleep(0.5)
        assert lv.leftovers("n2", "md") == []
        # Hybrid, cut after the commit while changed pages are still in flight: the source resumes from the freeze.
        proc = lv.migrate_in_background("md", "n2", "--mode", "hybrid", "--max-rounds", "1")
        lv.wait_log("n2", "restored md")
        run(*cut, "down")
        try:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 1 and "post-copy failed after the commit" in err, err
        finally:
            run(*cut, "up")
        assert lv.instances("md") == {"n1": "running"}
        lv.wait_sweeping("md", before)
        deadline = time.time() + 60
        while (lv.leftovers("n2", "md") or lv.lazy_daemons("n2")) and time.time() < deadline:
            time.sleep(0.5)
        assert lv.leftovers("n2", "md") == [] and lv.lazy_daemons("n2") == []
    finally:
        ferry("cluster", "link", "n1", "--rate", "off", "--name", lv.c.name)
    history = json.loads(lv.f("history", "--json").stdout)["migrations"]
    assert [m["result"] for m in history] == ["failed", "failed"], history


def test_postcopy_failures_after_the_commit(live_postcopy):
    lv = live_postcopy
    lv.f("run", "--name", "md", "--image", "busybox", "--node", "n1", "--", "/bin/memdirty", "48", "100")
    before = lv.wait_sweeping("md", 1)
    # A slow link keeps pages in flight after the commit.
    ferry("cluster", "link", "n1", "--rate", "20mbit", "--name", lv.c.name)
    try:
        # The link to the destination is cut: both sides give up; the source resumes from the freeze.
        proc = lv.migrate_in_background("md", "n2", "--mode", "postcopy")
        lv.wait_log("n2", "restored md")
        run("ip", "-n", f"ferry-{lv.c.name}-n2", "link", "set", "eth0", "down")
        try:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 1 and "post-copy failed after the commit" in err, err
        finally:
            run("ip", "-n", f"ferry-{lv.c.name}-n2", "link", "set", "eth0", "up")
        assert lv.instances("md") == {"n1": "running"}
        before = lv.wait_sweeping("md", before)
        deadline = time.time() + 60
        while (lv.leftovers("n2", "md") or lv.lazy_daemons("n2")) and time.time() < deadline:
            time.sleep(0.5)
        assert lv.leftovers("n2", "md") == [] and lv.lazy_daemons("n2") == []
        # The source daemon dies mid-way: the destination's copy cannot get its memory and goes; nothing hangs.
        proc = lv.migrate_in_background("md", "n2", "--mode", "postcopy")
        lv.wait_log("n2", "restored md (generation 3")
        os.kill(lv.daemon_pid("n1"), signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, err
        deadline = time.time() + 60
        while (lv.leftovers("n2", "md") or lv.lazy_daemons("n2")) and time.time() < deadline:
            time.sleep(0.5)
        assert lv.leftovers("n2", "md") == [] and lv.lazy_daemons("n2") == []
        assert "n2" not in lv.instances("md")
    finally:
        ferry("cluster", "link", "n1", "--rate", "off", "--name", lv.c.name)
    # Its frozen copy on the source is the container as it was at the freeze: back when its node is.
    ferry("cluster", "restart", "n1", "--name", lv.c.name)
    deadline = time.time() + 60
    while lv.ps()["md"]["state"] != "running" and time.time() < deadline:
        time.sleep(0.5)
    assert lv.instances("md") == {"n1": "running"}
    lv.wait_sweeping("md", before - 1)
    history = json.loads(lv.f("history", "--json").stdout)["migrations"]
    assert [m["result"] for m in history] == ["failed", "failed"], history
