# SPDX-License-Identifier: GPL-2.0-or-later
"""The migration engine end to end on a real 3-host cluster: real runc, CRIU, Redis, overlayfs.

Every migration test proves state (a counter resumes, Redis keeps every key), and every failure
test proves the invariant: the source still serves, exactly one instance runs, the destination
keeps nothing.
"""
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import FERRY, REPO, STATE_ROOT, ferry, run

MKIMAGE = REPO / "scripts" / "mkimage"
# The count lives in the shell's memory; the file only shows it (replaced whole, never seen half-written).
COUNTER = ("i=0; while true; do i=$((i+1)); echo $i > /data/count.new; mv /data/count.new /data/count; "
           "echo tick $i; sleep 0.1; done")
# 6 MB that do not compress, in the container's upper dir: keeps a stream in flight on a slow link.
BLOB = "head -c 6000000 /dev/urandom > /data/blob; "


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    run(MKIMAGE, "busybox", root / "busybox")
    run(MKIMAGE, "redis", root / "redis")
    return root


class Engine:
    def __init__(self, cluster, images):
        self.c = cluster
        self.images = images

    def f(self, *args, check=True, timeout=300):
        # The cluster's admin credentials through the environment: options after '--' belong to the command.
        env = dict(os.environ, FERRY_ADMIN_DIR=str(STATE_ROOT / self.c.name / "admin"))
        return ferry(*args, check=check, timeout=timeout, env=env)

    def up(self):
        self.c.up("--nodes", "3", "--subnet", self.c.subnet)
        self.f("image", "import", self.images / "busybox", "--name", "busybox")

    def run_counter(self, name, node, blob=False):
        self.f("run", "--name", name, "--image", "busybox", "--node", node, "--", "/bin/sh", "-c",
               (BLOB if blob else "") + COUNTER)

    def count(self, name):
        out = self.f("exec", name, "/bin/cat", "/data/count", check=False).stdout.strip()
        return int(out) if out.isdigit() else 0  # 0: not counting yet

    def ps(self):
        return {c["name"]: c for c in json.loads(self.f("ps", "--json").stdout)["containers"]}

    def node_dir(self, node):
        return STATE_ROOT / self.c.name / "nodes" / node

    def instances(self, name):
        """Nodes whose runtime has the container running or paused (the truth, from runc itself)."""
        found = {}
        for node in ("n1", "n2", "n3"):
            root = self.node_dir(node) / "runc"
            proc = run("runc", "--root", root, "state", name, check=False)
            if proc.returncode == 0:
                found[node] = json.loads(proc.stdout)["status"]
        return found

    def leftovers(self, node, name):
        d = self.node_dir(node)
        left = [p for p in (d / "containers").glob(f"{name}*")]
        for sub in ("incoming", "received", "outgoing"):
            left += list((d / "tmp" / sub).iterdir()) if (d / "tmp" / sub).exists() else []
        return left

    def restart(self, node, fault=None):
        env = dict(os.environ)
        env.pop("FERRY_FAULT", None)
        if fault:
            env["FERRY_FAULT"] = fault
        ferry("cluster", "restart", node, "--name", self.c.name, env=env)

    def daemon_pid(self, node):
        return int((self.node_dir(node) / "daemon.pid").read_text().split()[0])

    def migrate_in_background(self, name, dest):
        """`ferry migrate` as a child process, as an operator would run it."""
        admin = str(STATE_ROOT / self.c.name / "admin")
        return subprocess.Popen([str(FERRY), "migrate", name, "--to", dest, "--admin-dir", admin],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_transfer_started(self, name, dest, source="n1", seconds=30):
        """The migration stream is flowing: the source is paused and the destination stages data.

        Staging alone is not enough: pushing a missing image layer to the destination stages too.
        """
        incoming = self.node_dir(dest) / "tmp" / "incoming"

        def flowing():
            return self.instances(name).get(source) == "paused" and list(incoming.iterdir())
        deadline = time.time() + seconds
        while not flowing() and time.time() < deadline:
            time.sleep(0.05)
        assert flowing(), "the transfer never started"

    def wait_restored(self, name, dest, seconds=30):
        deadline = time.time() + seconds
        while dest not in self.instances(name) and time.time() < deadline:
            time.sleep(0.1)
        assert dest in self.instances(name), "the destination never restored"

    def wait_counting(self, name, above, seconds=10):
        deadline = time.time() + seconds
        while time.time() < deadline:
            n = self.count(name)
            if n > above:
                return n
            time.sleep(0.2)
        raise AssertionError(f"{name} stopped counting at {above}")


@pytest.fixture
def engine(make_cluster, images):
    e = Engine(make_cluster(), images)
    e.up()
    return e


def test_stop_copy_keeps_state_and_refuses_bad_requests(engine):
    e = engine
    e.run_counter("counter", "n1")
    before = e.wait_counting("counter", 15)
    report = json.loads(e.f("migrate", "counter", "--to", "n2", "--json").stdout)
    assert report["result"] == "ok" and report["source"] == "n1" and report["destination"] == "n2"
    for key in ("total_ms", "downtime_ms", "checkpoint_ms", "transfer_ms", "restore_ms", "bytes_image", "bytes_wire"):
        assert report[key] > 0, key
    assert report["downtime_ms"] <= report["total_ms"] and report["rounds"] == 1
    # Resumed, not restarted: the count goes on from where it was.
    after = e.count("counter")
    assert after >= before, f"counter restarted: {before} before, {after} after"
    e.wait_counting("counter", after)
    ps = e.ps()["counter"]
    assert ps["node"] == "n2" and ps["state"] == "running" and ps["generation"] == 2
    assert e.instances("counter") == {"n2": "running"}
    assert e.leftovers("n1", "counter") == []
    assert "tick" in e.f("logs", "counter").stdout  # the log moved with it
    # Bad input: one clear error each, nothing changes.
    for args, msg in ((("counter", "--to", "n2"), "already runs on node 'n2'"),
                      (("ghost", "--to", "n1"), "no container named 'ghost'"),
                      (("counter", "--to", "n9"), "no active node named 'n9'"),
                      (("counter", "--to", "n1", "--mode", "postcopy"), "set allow_postcopy = yes")):
        bad = e.f("migrate", *args, check=False)
        assert bad.returncode != 0 and msg in bad.stderr, bad.stderr
    e.f("stop", "counter")
    stopped = e.f("migrate", "counter", "--to", "n1", check=False)
    assert stopped.returncode == 1 and "only a running container can migrate" in stopped.stderr
    history = json.loads(e.f("history", "--json").stdout)["migrations"]
    assert [m["result"] for m in history] == ["ok"]
    e.f("rm", "counter")
    assert "counter" not in e.ps() and e.instances("counter") == {}
    # The name again: its generations go on above the old ones, which n2 remembers and refuses.
    e.run_counter("counter", "n1")
    assert e.ps()["counter"]["generation"] == 3
    report = json.loads(e.f("migrate", "counter", "--to", "n2", "--json").stdout)
    assert report["result"] == "ok" and e.ps()["counter"]["generation"] == 4, report


def test_redis_keeps_100000_keys(engine):
    e = engine
    e.f("image", "import", e.images / "redis", "--name", "redis")
    e.f("run", "--name", "kv", "--image", "redis", "--node", "n1", "--memory", "512m", "--ready",
        "exec:/usr/bin/redis-cli ping", "--", "/usr/bin/redis-server", "/etc/redis.conf", "--enable-debug-command",
        "yes")
    # A client writes 100 000 keys through the Redis protocol.
    e.f("exec", "kv", "/bin/sh", "-c",
        "seq 1 100000 | awk '{ printf \"SET key:%d value-%d-%s\\r\\n\", $1, $1 * 7, \"x\" }' | redis-cli --pipe")
    assert e.f("exec", "kv", "/usr/bin/redis-cli", "dbsize").stdout.strip() == "100000"
    digest = e.f("exec", "kv", "/usr/bin/redis-cli", "debug", "digest").stdout.strip()
    report = json.loads(e.f("migrate", "kv", "--to", "n3", "--json").stdout)
    assert report["result"] == "ok" and report["bytes_image"] > 1_000_000
    assert e.instances("kv") == {"n3": "running"}
    assert e.f("exec", "kv", "/usr/bin/redis-cli", "dbsize").stdout.strip() == "100000"
    # DEBUG DIGEST covers every key and value: identical data, not just the same count.
    assert e.f("exec", "kv", "/usr/bin/redis-cli", "debug", "digest").stdout.strip() == digest
    assert e.f("exec", "kv", "/usr/bin/redis-cli", "get", "key:99999").stdout.strip() == "value-699993-x"
    assert e.leftovers("n1", "kv") == []
    # On a terminal the CLI draws the phases live (here through a pseudo-terminal).
    admin = str(STATE_ROOT / e.c.name / "admin")
    tty = run("script", "-qec", f"{FERRY} migrate kv --to n2 --admin-dir {admin}", "/dev/null", timeout=300)
    assert "checkpoint" in tty.stdout and "restore" in tty.stdout and "kv: n3 -> n2 (stop-copy): ok" in tty.stdout
    assert e.f("exec", "kv", "/usr/bin/redis-cli", "debug", "digest").stdout.strip() == digest


def test_stateless_http_moves_by_restart(engine, tmp_path):
    e = engine
    # Images also come as tar archives; what is not one is refused with its name.
    run("tar", "-C", e.images / "busybox", "-cf", tmp_path / "bb.tar", ".")
    e.f("image", "import", tmp_path / "bb.tar", "--name", "bbtar")
    images = {i["name"]: i for i in json.loads(e.f("image", "ls", "--json").stdout)["images"]}
    assert set(images) == {"busybox", "bbtar"} and images["bbtar"]["size"] > 1_000_000
    (tmp_path / "junk").write_text("not an archive\n")
    junk = e.f("image", "import", tmp_path / "junk", "--name", "junk", check=False)
    assert junk.returncode == 1 and "is not a tar archive" in junk.stderr, junk.stderr
    missing = e.f("image", "import", tmp_path / "nope", "--name", "nope", check=False)
    assert missing.returncode == 1 and "nope" in missing.stderr
    unknown = e.f("run", "--name", "x", "--image", "nope", "--", "/bin/true", check=False)
    assert unknown.returncode == 1 and "no image named 'nope'" in unknown.stderr
    e.f("run", "--name", "web", "--image", "busybox", "--node", "n1", "--stateless", "--ready", "tcp:8080", "--",
        "/bin/sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www")
    assert e.f("exec", "web", "/bin/wget", "-qO-", "http://127.0.0.1:8080/").stdout.strip() == "web"
    report = json.loads(e.f("migrate", "web", "--to", "n2", "--mode", "stateless", "--json").stdout)
    # The new copy was ready before the old one went; the downtime is the address changing hands.
    assert report["result"] == "ok" and report["mode"] == "stateless"
    assert report["downtime_ms"] < report["total_ms"], report
    assert e.instances("web") == {"n2": "running"}
    assert e.f("exec", "web", "/bin/wget", "-qO-", "http://127.0.0.1:8080/").stdout.strip() == "web"
    assert e.leftovers("n1", "web") == []


def assert_source_survived(e, name, before, dest):
    assert e.instances(name) == {"n1": "running"}, e.instances(name)
    e.wait_counting(name, before)
    assert e.ps()[name]["node"] == "n1"
    # The destination cleans up after it answered (a cut stream may even finish from the dead
    # source's socket buffers first, then its copy waits 10 s for a commit that never comes).
    deadline = time.time() + 30
    while e.leftovers(dest, name) and time.time() < deadline:
        time.sleep(0.2)
    assert e.leftovers(dest, name) == [], e.leftovers(dest, name)


def test_failures_leave_the_source_serving(engine):
    e = engine
    e.run_counter("c1", "n1", blob=True)
    before = e.wait_counting("c1", 5)
    # A corrupted chunk: the destination refuses the stream; nothing is restored.
    e.restart("n1", fault="corrupt-chunk")
    bad = e.f("migrate", "c1", "--to", "n2", check=False)
    assert bad.returncode == 1 and "SHA-256" in bad.stderr, bad.stderr
    assert_source_survived(e, "c1", before, "n2")
    e.restart("n1")
    # A restore that fails on the destination.
    e.restart("n2", fault="restore-fail")
    bad = e.f("migrate", "c1", "--to", "n2", check=False)
    assert bad.returncode == 1 and "restore refused on purpose" in bad.stderr, bad.stderr
    assert_source_survived(e, "c1", before, "n2")
    # The destination daemon dies during the restore: its guard removes the restored copy.
    e.restart("n2", fault="restore-delay")
    pid = e.daemon_pid("n2")
    proc = e.migrate_in_background("c1", "n2")
    e.wait_restored("c1", "n2")
    os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    deadline = time.time() + 10
    while e.instances("c1") != {"n1": "running"} and time.time() < deadline:
        time.sleep(0.1)
    e.restart("n2")
    assert_source_survived(e, "c1", before, "n2")
    # The destination daemon dies during the transfer (a slow link keeps it in flight).
    ferry("cluster", "link", "n1", "--rate", "2mbit", "--name", e.c.name)
    pid = e.daemon_pid("n2")
    proc = e.migrate_in_background("c1", "n2")
    e.wait_transfer_started("c1", "n2")
    os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, err
    ferry("cluster", "link", "n1", "--rate", "off", "--name", e.c.name)
    e.restart("n2")
    assert_source_survived(e, "c1", before, "n2")
    results = [m["result"] for m in json.loads(e.f("history", "--json").stdout)["migrations"]]
    assert results == ["failed"] * 4


def test_evacuate_moves_every_container(engine):
    e = engine
    for name in ("a1", "a2", "a3"):
        e.run_counter(name, "n1")
    counts = {name: e.wait_counting(name, 3) for name in ("a1", "a2", "a3")}
    out = json.loads(e.f("evacuate", "n1", "--parallel", "2", "--json").stdout)["migrations"]
    assert sorted(m["container"] for m in out) == ["a1", "a2", "a3"]
    assert all(m["result"] == "ok" and m["destination"] in ("n2", "n3") for m in out), out
    ps = e.ps()
    for name in ("a1", "a2", "a3"):
        assert ps[name]["node"] != "n1" and ps[name]["state"] == "running"
        assert list(e.instances(name).values()) == ["running"]
        assert e.count(name) >= counts[name]
    assert not list((e.node_dir("n1") / "containers").iterdir())


def test_link_cut_mid_transfer_and_a_second_migration_at_once(engine):
    e = engine
    e.run_counter("c2", "n1", blob=True)
    before = e.wait_counting("c2", 5)
    # A slow link keeps the transfer in flight long enough to act during it.
    ferry("cluster", "link", "n1", "--rate", "2mbit", "--name", e.c.name)
    proc = e.migrate_in_background("c2", "n2")
    e.wait_transfer_started("c2", "n2")
    # The same container cannot start a second migration meanwhile.
    second = e.f("migrate", "c2", "--to", "n3", check=False)
    assert second.returncode == 1 and "is migrating" in second.stderr, second.stderr
    run("ip", "-n", f"ferry-{e.c.name}-n2", "link", "set", "eth0", "down")
    try:
        _, err = proc.communicate(timeout=90)
        assert proc.returncode == 1, err
    finally:
        run("ip", "-n", f"ferry-{e.c.name}-n2", "link", "set", "eth0", "up")
        ferry("cluster", "link", "n1", "--rate", "off", "--name", e.c.name)
    # The destination gives up on the silent stream by itself and keeps nothing.
    deadline = time.time() + 40
    while e.leftovers("n2", "c2") and time.time() < deadline:
        time.sleep(0.5)
    assert_source_survived(e, "c2", before, "n2")
    # A node without room is refused before anything starts.
    full = e.f("run", "--name", "huge", "--image", "busybox", "--node", "n3", "--memory", "1000g", "--",
               "/bin/sleep", "1000", check=False)
    assert full.returncode == 1 and "node 'n3' has no room" in full.stderr, full.stderr
    assert "huge" not in e.ps() and e.instances("huge") == {}


def test_source_daemon_dies_mid_migration(engine):
    e = engine
    e.run_counter("c3", "n1", blob=True)
    before = e.wait_counting("c3", 5)
    ferry("cluster", "link", "n1", "--rate", "2mbit", "--name", e.c.name)
    pid = e.daemon_pid("n1")
    proc = e.migrate_in_background("c3", "n2")
    e.wait_transfer_started("c3", "n2")
    os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=90)
    ferry("cluster", "link", "n1", "--rate", "off", "--name", e.c.name)
    assert proc.returncode == 1, err
    # Paused, never running twice: the destination dropped the cut stream.
    log = (e.node_dir("n1") / "daemon.log").read_text()[-3000:]
    assert e.instances("c3") == {"n1": "paused"}, f"{err}\n{log}"
    e.restart("n1")
    assert e.instances("c3") == {"n1": "paused"}  # a restart alone does not guess
    # The controller reconciles: nothing newer runs elsewhere, so the paused copy resumes.
    deadline = time.time() + 20
    while e.instances("c3") != {"n1": "running"} and time.time() < deadline:
        e.ps()
        time.sleep(0.5)
    assert_source_survived(e, "c3", before, "n2")
    # And it can migrate again afterwards.
    assert json.loads(e.f("migrate", "c3", "--to", "n2", "--json").stdout)["result"] == "ok"
    assert e.instances("c3") == {"n2": "running"}


def test_unconfirmed_commit_is_settled_by_the_controller(engine):
    e = engine
    e.run_counter("c4", "n1")
    before = e.wait_counting("c4", 5)
    # The destination commits but its confirmation never reaches the source: the source cannot know
    # which copy lives, stays paused, and the controller asks the destination and settles it.
    e.restart("n2", fault="commit-silent")
    report = json.loads(e.f("migrate", "c4", "--to", "n2", "--json").stdout)
    assert report["result"] == "ok", report
    assert e.instances("c4") == {"n2": "running"}
    assert e.ps()["c4"]["node"] == "n2"
    e.wait_counting("c4", before)
    assert e.leftovers("n1", "c4") == []


def test_audit_log_records_who_did_what_and_catches_tampering(engine):
    e = engine
    e.run_counter("counter", "n1")
    assert json.loads(e.f("migrate", "counter", "--to", "n2", "--json").stdout)["result"] == "ok"
    assert e.f("migrate", "counter", "--to", "n9", check=False).returncode == 1
    e.f("rm", "counter")
    entries = json.loads(e.f("audit", "--json").stdout)["entries"]
    seen = [(x["actor"].split(":")[0], x["action"], x["subject"], x["detail"]) for x in entries]
    assert ("node", "enroll", "n1", "ok") in seen and ("node", "enroll", "n2", "ok") in seen, seen
    assert ("admin", "run", "counter", "ok") in seen
    assert ("admin", "migrate", "counter", "to n2; ok") in seen
    assert any(s[1:3] == ("migrate", "counter") and s[3].startswith("to n9; refused or failed: ") for s in seen), seen
    assert seen[-1] == ("admin", "rm", "counter", "ok"), seen
    assert [x["seq"] for x in entries] == list(range(entries[0]["seq"], entries[0]["seq"] + len(entries)))
    # Listings are not actions.
    assert not [s for s in seen if s[1] in ("ps", "history", "audit")]
    ok = e.f("audit", "verify")
    assert ok.stdout.startswith(f"audit log intact: {entries[-1]['seq']} entries"), ok.stdout
    # The line to keep elsewhere, and what it checks; a malformed one is refused.
    keep = ok.stdout.splitlines()[-1].split("--expect ")[1]
    assert e.f("audit", "verify", "--expect", keep).returncode == 0
    wrong = keep.split(":")[0] + ":" + "0" * 64
    assert e.f("audit", "verify", "--expect", wrong, check=False).returncode == 1
    bad = e.f("audit", "verify", "--expect", "12", check=False)
    assert bad.returncode == 2 and "is not SEQ:HASH" in bad.stderr, bad.stderr
    # Someone with the database file changes what 'run' recorded: verify names that entry.
    run_seq = next(x["seq"] for x in entries if x["action"] == "run")
    db = sqlite3.connect(str(STATE_ROOT / e.c.name / "nodes" / "controller" / "registry.db"))
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("UPDATE audit SET detail = 'nothing' WHERE seq = ?", (run_seq,))
        db.execute("DROP TRIGGER audit_no_update")
        db.execute("UPDATE audit SET actor = 'admin:someone-else' WHERE seq = ?", (run_seq,))
        db.commit()
    finally:
        db.close()
    bad = e.f("audit", "verify", "--json", check=False)
    verdict = json.loads(bad.stdout)
    assert bad.returncode == 1 and verdict["result"] == "tampered" and verdict["bad_entry"] == run_seq, verdict
    assert "changed" in verdict["why"]
