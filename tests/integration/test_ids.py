# SPDX-License-Identifier: GPL-2.0-or-later
"""Intrusion-triggered evacuation end to end (docs/ARCHITECTURE.md, "IDS alerts").

Every host's ferryd follows its IDS's alert file; an alert line about a host makes the controller
move every container off it (Redis keeps its data), and the host stays in quarantine until an
admin releases it.  Floods, junk lines, rotation, alerts about other hosts' containers and nodes
that try more than reporting are all covered here, on real daemons, TLS, CRIU and runc.
"""
import json
import os
import struct
import time
from pathlib import Path

import pytest

import ferrywire as fw
from conftest import REPO, STATE_ROOT, ferry, run

MKIMAGE = REPO / "scripts" / "mkimage"
REDIS = ["/usr/bin/redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", ""]
SLEEPER = ["/bin/sh", "-c", "while true; do sleep 1; done"]
OP_ALERT, OP_NODE_LIST = 24, 6
TAG_SEVERITY, TAG_SIGNATURE = 78, 82


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("idsimages")
    run(MKIMAGE, "busybox", root / "busybox")
    run(MKIMAGE, "redis", root / "redis")
    return root


class Lab:
    def __init__(self, cluster, tmp_path, images):
        self.c = cluster
        self.tmp = tmp_path
        self.images = images
        self.alerts_dir = tmp_path / "ids"
        self.alerts_dir.mkdir()

    def f(self, *args, check=True, timeout=120):
        env = dict(os.environ, FERRY_ADMIN_DIR=str(STATE_ROOT / self.c.name / "admin"))
        return ferry(*args, check=check, timeout=timeout, env=env)

    def up(self, controller="", node=None, nodes=3, check=True):
        conf = self.tmp / "controller.conf"
        conf.write_text("ids_action = evacuate\nsecurity_mode = random\n" + controller)
        nconf = self.tmp / "node.conf"
        nconf.write_text(node if node is not None else f"alert_source = generic:{self.alerts_dir}/%n.alert\n")
        proc = self.c.up("--nodes", str(nodes), "--subnet", self.c.subnet, "--controller-config", conf,
                         "--node-config", nconf, check=check)
        if proc.returncode == 0:
            self.f("image", "import", self.images / "busybox", "--name", "busybox")
        return proc

    def sleeper(self, name, node="n1"):
        out = self.f("run", "--name", name, "--image", "busybox", "--node", node, "--memory", "16m", "--",
                     *SLEEPER).stdout
        return out.split("address ")[1].split("/")[0]

    def write(self, node, text):
        with open(self.alerts_dir / f"{node}.alert", "a") as f:
            f.write(text)

    def ps(self):
        return {c["name"]: c for c in json.loads(self.f("ps", "--json").stdout)["containers"]}

    def wait_off(self, node, names, seconds=30):
        deadline = time.time() + seconds
        while time.time() < deadline:
            cs = self.ps()
            if all(cs[n]["node"] != node and cs[n]["state"] == "running" for n in names):
                return cs
            time.sleep(0.2)
        raise AssertionError(f"not every container left {node} within {seconds} s: {self.ps()}")

    def alerts(self):
        return json.loads(self.f("alert", "list", "--json").stdout)["alerts"]

    def audit(self):
        return json.loads(self.f("audit", "--json").stdout)["entries"]

    def quarantine(self):
        return json.loads(self.f("node", "quarantine", "--json").stdout)["quarantine"]


@pytest.fixture
def lab(make_cluster, tmp_path, images):
    return Lab(make_cluster(), tmp_path, images)


def test_an_alert_line_evacuates_its_host_and_quarantines_it(lab):
    lab.up()
    lab.f("image", "import", lab.images / "redis", "--name", "redis")
    lab.f("run", "--name", "kv", "--image", "redis", "--node", "n1", "--memory", "64m", "--ready", "tcp:6379",
          "--", *REDIS)
    lab.f("exec", "kv", "/usr/bin/redis-cli", "set", "secret", "kept")
    lab.sleeper("a")
    lab.sleeper("b")
    other = lab.sleeper("elsewhere", node="n2")
    # Junk first: a malformed line, a 20 KiB line, and half a line the IDS has not finished.
    lab.write("n1", "this is not an alert\n" + "x" * 20000 + "\n" + "- 1 198.51.100.7 ")
    time.sleep(0.5)
    assert lab.ps()["kv"]["node"] == "n1"
    # The line completed: severity 1, from outside, to n1's Redis.
    lab.write("n1", f"{lab.ps()['kv']['address'].split('/')[0]} ET EXPLOIT Redis remote code execution\n")
    cs = lab.wait_off("n1", ["kv", "a", "b"])
    assert cs["elsewhere"]["node"] == "n2" and cs["elsewhere"]["address"].startswith(other)
    # Redis moved with its data.
    assert lab.f("exec", "kv", "/usr/bin/redis-cli", "get", "secret").stdout.strip() == "kept"
    alerts = lab.alerts()
    assert [(a["reporter"], a["host"], a["severity"], a["src"], a["verdict"]) for a in alerts] == [
        ("n1", "n1", 1, "198.51.100.7", "evacuate")], alerts
    assert alerts[0]["signature"] == "ET EXPLOIT Redis remote code execution"
    q = lab.quarantine()
    assert [x["node"] for x in q] == ["n1"] and "ET EXPLOIT Redis" in q[0]["reason"], q
    # The moves are the controller's, recorded as decisions and audited.
    ds = json.loads(lab.f("policy", "decisions", "--json").stdout)["decisions"]
    assert sorted((d["container"], d["source"], d["action"], d["policy"]) for d in ds) == [
        (n, "n1", "migrated", "ids:random") for n in ("a", "b", "kv")], ds
    audit = lab.audit()
    assert any(e["actor"] == "controller" and e["action"] == "quarantine" and e["subject"] == "n1" for e in audit)
    assert any(e["actor"] == "controller" and e["action"] == "evacuate" and e["subject"] == "n1" and
               "3 of 3 containers moved" in e["detail"] for e in audit), audit
    # In quarantine nothing is placed there: not by name, not by choice, not by migration.
    bad = lab.f("run", "--name", "c", "--image", "busybox", "--node", "n1", "--", *SLEEPER, check=False)
    assert bad.returncode == 1 and "node 'n1' is in quarantine" in bad.stderr, bad.stderr
    for i in range(3):
        lab.f("run", "--name", f"auto{i}", "--image", "busybox", "--memory", "16m", "--", *SLEEPER)
        assert lab.ps()[f"auto{i}"]["node"] != "n1"
    bad = lab.f("migrate", "a", "--to", "n1", check=False)
    assert bad.returncode == 1 and "in quarantine" in bad.stderr and "ferry node release n1" in bad.stderr
    # Released, it takes containers again; a second release says there is nothing to release.
    assert "released" in lab.f("node", "release", "n1").stdout
    assert lab.quarantine() == []
    bad = lab.f("node", "release", "n1", check=False)
    assert bad.returncode == 1 and "not in quarantine" in bad.stderr
    lab.f("migrate", "a", "--to", "n1")
    assert lab.ps()["a"]["node"] == "n1"


def test_an_alert_flood_is_one_evacuation(lab):
    lab.up("ids_alerts = 1\n")
    names = [f"c{i}" for i in range(3)]
    for n in names:
        lab.sleeper(n)
    # Three hundred alerts at once in the file, and more through the API while they are moving.
    lab.write("n1", "".join(f"- 1 203.0.113.{i % 250} 10.0.0.1 scan {i}\n" for i in range(300)))
    for i in range(5):
        lab.f("alert", "send", "--severity", "1", "--message", f"admin says {i}", "--node", "n1")
    lab.wait_off("n1", names)
    time.sleep(2)  # any second evacuation would have started by now
    evacuations = [e for e in lab.audit() if e["actor"] == "controller" and e["action"] == "evacuate"]
    assert len(evacuations) == 1, evacuations
    verdicts = [a["verdict"] for a in lab.alerts()]
    assert verdicts.count("evacuate") == 1, verdicts
    assert set(verdicts) <= {"evacuate", "suppressed"}, verdicts
    ds = json.loads(lab.f("policy", "decisions", "--json").stdout)["decisions"]
    assert sorted(d["container"] for d in ds) == names, ds
    # Still in quarantine, more alerts start nothing either.
    lab.write("n1", "- 1 203.0.113.9 10.0.0.1 more\n")
    time.sleep(1)
    assert len([e for e in lab.audit() if e["action"] == "evacuate"]) == 1


def test_rotated_file_is_followed_and_a_node_speaks_for_its_own_host_only(lab):
    lab.up("ids_alerts = 1\n")
    addr = lab.sleeper("web")
    # n2's IDS names the container on n1: a node's report implicates its own host or nothing.
    lab.write("n2", f"- 1 203.0.113.5 {addr} lateral movement\n")
    deadline = time.time() + 10
    while time.time() < deadline and not lab.alerts():
        time.sleep(0.2)
    assert [(a["reporter"], a["host"], a["verdict"]) for a in lab.alerts()] == [("n2", "", "unplaced")]
    time.sleep(1)
    assert lab.ps()["web"]["node"] == "n1" and lab.quarantine() == []
    # logrotate: a last line lands in the old file just before it is moved away and a new one
    # started; the follower finishes the old file, then reads the new one from its start.
    lab.write("n1", "- 5 203.0.113.5 10.0.0.1 informational only\n")
    time.sleep(0.5)
    lab.write("n1", "- 4 203.0.113.5 10.0.0.1 last line before rotation\n")
    os.rename(lab.alerts_dir / "n1.alert", lab.alerts_dir / "n1.alert.1")
    lab.write("n1", f"- 2 203.0.113.5 {addr} after rotation\n")
    lab.wait_off("n1", ["web"])
    assert [(a["reporter"], a["verdict"], a["signature"]) for a in lab.alerts()][1:] == [
        ("n1", "ignored", "informational only"), ("n1", "ignored", "last line before rotation"),
        ("n1", "evacuate", "after rotation")], lab.alerts()


def test_nodes_may_only_report_and_log_mode_moves_nothing(lab):
    lab.up("ids_action = log\n")
    lab.sleeper("web")
    st = {n["name"]: n for n in lab.c.status()["nodes"]}
    d = Path(st["n2"]["state_dir"])
    creds = dict(cert=str(d / "node.crt"), key=str(d / "node.key"), ca=str(d / "ca.crt"))
    ctl = st["controller"]["address"]
    # A node's certificate opens the API for alerts only.
    conn = fw.connect(ctl, fw.CONTROLLER_PORT, fw.ALPN_API, **creds)
    conn.send(fw.frame(fw.REQUEST, fw.tlv(fw.TAG_OP, struct.pack(">H", OP_NODE_LIST))))
    assert conn.error_text() == "a node may only report alerts here"
    conn.close()
    conn = fw.connect(ctl, fw.CONTROLLER_PORT, fw.ALPN_API, **creds)
    conn.send(fw.frame(fw.REQUEST, fw.tlv(fw.TAG_OP, struct.pack(">H", OP_ALERT)) +
                       fw.tlv(TAG_SEVERITY, struct.pack(">Q", 1)) + fw.tlv(TAG_SIGNATURE, "from n2 by hand")))
    assert conn.error_text() == "OK"
    conn.close()
    # ids_action = log: the rule fires, the alert is kept, nothing moves.
    out = json.loads(lab.f("alert", "send", "--severity", "1", "--message", "probe", "--node", "n1",
                           "--json").stdout)
    assert (out["verdict"], out["host"]) == ("logged", "n1"), out
    verdicts = [(a["reporter"], a["host"], a["verdict"]) for a in lab.alerts()]
    assert verdicts == [("n2", "n2", "logged"), ("admin:admin", "n1", "logged")], verdicts
    time.sleep(1)
    assert lab.ps()["web"]["node"] == "n1" and lab.quarantine() == []
    # Bad input is named.
    bad = lab.f("alert", "send", "--severity", "0", "--message", "x", check=False)
    assert bad.returncode == 2 and "--severity" in bad.stderr, bad.stderr
    bad = lab.f("alert", "send", "--severity", "1", "--message", "x", "--dst", "10.1.2", check=False)
    assert bad.returncode == 2 and "--dst" in bad.stderr, bad.stderr
    bad = lab.f("alert", "send", "--severity", "1", "--message", "x", "--node", "nosuch", check=False)
    assert bad.returncode == 1 and "nosuch" in bad.stderr, bad.stderr


@pytest.mark.parametrize("node,controller,needle", [
    ("alert_source = syslog:/tmp/x\n", "", "alert format 'syslog' is not known"),
    ("alert_source = generic:relative/path\n", "", "is not an absolute path"),
    (None, "ids_action = nuke\n", "ids_action 'nuke' is not known; expected log or evacuate"),
    (None, "security_mode = chaos\n", "security_mode 'chaos' is not known; expected none, random, shamir or fountain"),
])
def test_bad_defense_configuration_stops_up(lab, node, controller, needle):
    proc = lab.up(controller, node=node, check=False)
    assert proc.returncode == 1 and "exited at start" in proc.stderr and needle in proc.stderr, proc.stderr
