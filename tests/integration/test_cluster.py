# SPDX-License-Identifier: GPL-2.0-or-later
"""The local cluster on real network namespaces, bridges, tc, tmpfs and cgroups."""
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import CONTROLLER, FERRY, FERRYD, STATE_ROOT, cgroup2_root, ferry, leftovers, pid_alive, run


def netns_inode(name):
    return os.stat(f"/run/netns/{name}").st_ino


def test_up_builds_hosts_with_own_namespace_address_state_and_daemon(make_cluster):
    c = make_cluster()
    out = c.up("--nodes", "3", "--subnet", c.subnet).stdout
    assert f"cluster {c.name} is up: 3 hosts and a controller" in out
    st = c.status()
    assert st["healthy"] is True
    assert [n["name"] for n in st["nodes"]] == ["controller", "n1", "n2", "n3"]
    prefix = c.subnet.rsplit(".", 1)[0]
    assert st["nodes"][0]["address"] == f"{prefix}.2"
    assert [n["address"] for n in st["nodes"][1:]] == [f"{prefix}.11", f"{prefix}.12", f"{prefix}.13"]
    cg = cgroup2_root()
    for node in st["nodes"]:
        ns = node["netns"]
        assert node["netns_present"] and node["link_present"] and node["running"]
        # The daemon really runs inside its node's network namespace, in its cgroup.
        assert os.stat(f"/proc/{node['pid']}/ns/net").st_ino == netns_inode(ns)
        exe = os.readlink(f"/proc/{node['pid']}/exe")
        assert exe == str(CONTROLLER if node["role"] == "controller" else FERRYD)
        if cg:
            assert f"0::/ferry/{c.name}/{node['name']}" in Path(f"/proc/{node['pid']}/cgroup").read_text()
        # Its address is on eth0 inside the namespace; on a host of the (default) bridge fabric, on
        # the bridge ferry0 that has eth0 as a port, where containers' veths join it.
        dev = "eth0" if node["role"] == "controller" else "ferry0"
        addrs = json.loads(c.exec(node["name"], "ip", "-j", "-4", "addr", "show", "dev", dev).stdout)
        assert addrs[0]["addr_info"][0]["local"] == node["address"]
        if dev == "ferry0":
            link = json.loads(c.exec(node["name"], "ip", "-j", "link", "show", "dev", "eth0").stdout)
            assert link[0]["master"] == "ferry0"
        # A private 0700 tmpfs for images at rest.
        tmp = Path(node["state_dir"]) / "tmp"
        assert oct(tmp.stat().st_mode & 0o777) == "0o700"
        assert any(
            line.split()[4] == str(tmp) and " - tmpfs " in line
            for line in Path("/proc/self/mountinfo").read_text().splitlines()
        )
    # Every host reaches every other and the controller over the fabric.
    for src in ("n1", "n2", "n3"):
        for dst in st["nodes"]:
            if dst["name"] != src:
                c.exec(src, "ping", "-c", "1", "-W", "2", dst["address"])


def test_down_removes_everything_and_is_idempotent(make_cluster):
    c = make_cluster()
    c.up("--nodes", "2", "--subnet", c.subnet)
    pids = c.pids
    assert len(pids) == 3 and all(pid_alive(p) for p in pids)
    assert leftovers(c.name)  # the cluster exists: the check sees it
    out = c.down()
    assert out.returncode == 0 and f"cluster {c.name} is down" in out.stdout
    assert leftovers(c.name, pids) == []
    assert c.down().returncode == 0  # again: nothing to do, still success
    assert leftovers(c.name, pids) == []


def test_down_cleans_up_after_a_crash(make_cluster):
    c = make_cluster()
    c.up("--nodes", "2", "--subnet", c.subnet)
    st = c.status()
    # Simulate a crash: one daemon dies, a namespace and a tmpfs vanish by hand.
    os.kill(st["nodes"][1]["pid"], signal.SIGKILL)
    run("ip", "netns", "delete", st["nodes"][2]["netns"])
    run("umount", str(Path(st["nodes"][0]["state_dir"]) / "tmp"))
    deadline = time.time() + 5
    while pid_alive(st["nodes"][1]["pid"]) and time.time() < deadline:
        time.sleep(0.05)
    degraded = ferry("cluster", "status", "--name", c.name, check=False)
    assert degraded.returncode == 1 and "DEGRADED" in degraded.stdout
    assert c.down().returncode == 0
    assert leftovers(c.name, c.pids) == []


def run_is_tmpfs():
    return any(line.split()[4] == "/run" and " - tmpfs " in line
               for line in Path("/proc/self/mountinfo").read_text().splitlines())


def test_nodes_make_criu_probe_cache_where_run_is_not_tmpfs(make_cluster, tmp_path):
    if run_is_tmpfs():
        pytest.skip("/run is a tmpfs here: CRIU keeps its own probe cache")
    kdat = Path("/run/criu.kdat")
    c = make_cluster()
    c.up("--nodes", "2", "--subnet", c.subnet)
    st = c.status()
    # One node made the cache in its tmpfs and linked it; CRIU runs load it instead of probing.
    owner = os.readlink(kdat)
    assert re.fullmatch(rf"{STATE_ROOT}/{c.name}/nodes/n[12]/tmp/criu\.kdat", owner), owner
    log = tmp_path / "check.log"
    run("criu", "check", "-v4", "--log-file", str(log), check=False)
    assert "Loaded kdat cache from /run/criu.kdat" in log.read_text()
    # Killed, that node cannot take it back: cluster down does.
    node = [n for n in st["nodes"] if f"/nodes/{n['name']}/" in owner][0]
    os.kill(node["pid"], signal.SIGKILL)
    assert c.down().returncode == 0
    assert not kdat.is_symlink() or not os.readlink(kdat).startswith(f"{STATE_ROOT}/{c.name}/")


def test_failed_up_leaves_nothing_behind(make_cluster, tmp_path):
    # Failing at enrollment (the host's ferryd cannot even join) ...
    c = make_cluster()
    env = dict(os.environ, FERRY_FERRYD="/bin/false")
    proc = run(FERRY, "cluster", "up", "--name", c.name, "--nodes", "2", "--subnet", c.subnet, check=False, env=env)
    assert proc.returncode == 1 and "enrolling n1" in proc.stderr
    assert leftovers(c.name) == []
    # ... and later: enrolled, controller running, but the host's daemon dies at start.
    wrapper = tmp_path / "ferryd"
    wrapper.write_text(f'#!/bin/sh\nif [ "$1" = join ]; then exec {FERRYD} "$@"; fi\nexit 1\n')
    wrapper.chmod(0o755)
    env = dict(os.environ, FERRY_FERRYD=str(wrapper))
    proc = run(FERRY, "cluster", "up", "--name", c.name, "--nodes", "2", "--subnet", c.subnet, check=False, env=env)
    # Said at once (its cgroup emptied), not after the start deadline.
    assert proc.returncode == 1 and "exited at start" in proc.stderr, proc.stderr
    assert leftovers(c.name) == []


def test_second_up_is_refused(make_cluster):
    c = make_cluster()
    c.up("--nodes", "1", "--subnet", c.subnet)
    again = c.up("--nodes", "1", "--subnet", c.subnet, check=False)
    assert again.returncode == 1
    assert f"cluster '{c.name}' already exists" in again.stderr
    assert c.status()["healthy"] is True  # the refusal touched nothing


def test_overlapping_subnet_is_refused(make_cluster):
    a, b = make_cluster(), make_cluster()
    a.up("--nodes", "1", "--subnet", a.subnet)
    proc = b.up("--nodes", "1", "--subnet", a.subnet, check=False)
    assert proc.returncode == 1
    assert f"subnet {a.subnet} overlaps the route" in proc.stderr
    assert leftovers(b.name) == []


def tbf_rate(c, node, dev="eth0"):
    out = c.exec(node, "tc", "qdisc", "show", "dev", dev, "root").stdout
    m = re.search(r"qdisc tbf .* rate (\S+)", out)
    return m.group(1) if m else None


def test_link_shaping_both_directions(make_cluster):
    c = make_cluster()
    c.up("--nodes", "2", "--subnet", c.subnet)
    out = ferry("cluster", "link", "n1", "--rate", "100mbit", "--name", c.name).stdout
    assert out.strip() == "n1: 100mbit"
    assert tbf_rate(c, "n1") == "100Mbit"  # node -> switch
    root_side = run("tc", "qdisc", "show", "dev", f"fy{c.name}-n1", "root").stdout
    assert "rate 100Mbit" in root_side  # switch -> node
    nodes = {n["name"]: n for n in c.status()["nodes"]}
    assert nodes["n1"]["rate_bps"] == 100_000_000 and nodes["n2"]["rate_bps"] == 0
    ferry("cluster", "link", "n1", "--rate", "off", "--name", c.name)
    assert tbf_rate(c, "n1") is None
    assert c.status()["nodes"][1]["rate_bps"] == 0


def test_link_rejects_bad_input(make_cluster):
    c = make_cluster()
    c.up("--nodes", "1", "--subnet", c.subnet)
    bad = ferry("cluster", "link", "n1", "--rate", "100", "--name", c.name, check=False)
    assert bad.returncode == 2
    assert "rate '100'" in bad.stderr and "mbit" in bad.stderr
    huge = ferry("cluster", "link", "n1", "--rate", "1tbit", "--name", c.name, check=False)
    assert huge.returncode == 2 and "out of range" in huge.stderr
    nobody = ferry("cluster", "link", "n9", "--rate", "1mbit", "--name", c.name, check=False)
    assert nobody.returncode == 1 and "has no node 'n9'" in nobody.stderr


def test_topology_file_with_switches_and_shaped_link(make_cluster, tmp_path):
    c = make_cluster()
    prefix = c.subnet.rsplit(".", 1)[0]
    topo = tmp_path / "racks.topo"
    topo.write_text(
        f"subnet {c.subnet}\n"
        "switch core\nswitch rack1\nswitch rack2\n"
        "link core rack1 rate 1gbit\nlink core rack2\n"
        "controller switch core\n"
        "host a switch rack1 rate 50mbit\n"
        f"host b switch rack2 address {prefix}.99\n"
    )
    out = c.up("--topology", topo).stdout
    assert "2 hosts and a controller, 3 switches" in out
    st = c.status()
    assert st["healthy"] and st["switches"] == ["core", "rack1", "rack2"]
    assert st["links"][0]["rate_bps"] == 1_000_000_000 and st["links"][1]["rate_bps"] == 0
    assert {n["name"]: n["rate_bps"] for n in st["nodes"]}["a"] == 50_000_000
    # Bridges are real: a sits on rack1, b on rack2, so traffic crosses core.
    master = json.loads(run("ip", "-j", "link", "show", f"fy{c.name}-n1").stdout)[0]["master"]
    assert master == f"fy{c.name}-s1"
    c.exec("a", "ping", "-c", "1", "-W", "2", f"{prefix}.99")
    ferry("cluster", "link", "core:rack2", "--rate", "10mbit", "--name", c.name)
    assert c.status()["links"][1]["rate_bps"] == 10_000_000
    assert ferry("cluster", "link", "rack1:rack2", "--rate", "1mbit", "--name", c.name, check=False).returncode == 1


def test_topology_errors_name_the_line(tmp_path, make_cluster):
    c = make_cluster()
    topo = tmp_path / "loop.topo"
    topo.write_text("switch s1\nswitch s2\nlink s1 s2\nlink s2 s1\nhost a switch s1\n")
    proc = c.up("--topology", topo, check=False)
    assert proc.returncode == 1 and "topology line 4: link s2-s1 is declared twice" in proc.stderr
    assert leftovers(c.name) == []


def test_cli_rejects_bad_arguments():
    cases = [
        (["cluster", "up", "--name", "Lab"], 1, "cluster name 'Lab' is not accepted"),
        (["cluster", "up", "--name", "toolong7"], 1, "longer than 6"),
        (["cluster", "up", "--name", "a-b"], 1, "may not contain '-'"),
        (["cluster", "up", "--nodes", "0"], 2, "--nodes '0' is out of range; expected 1 to 63"),
        (["cluster", "up", "--nodes", "three"], 2, "is not a whole number"),
        (["cluster", "up", "--subnet", "10.1.0.0/8", "--name", "tbad"], 2, "prefix length '8' is out of range"),
        (["cluster", "up", "--topology", "/nonexistent", "--name", "tbad"], 1, "cannot open /nonexistent"),
        (["cluster", "frobnicate"], 2, "unknown subcommand 'frobnicate'"),
        (["frobnicate"], 2, "unknown command 'frobnicate'"),
        (["cluster", "status", "--name", "tnone"], 1, "cluster 'tnone' is not up"),
        (["cluster", "link", "n1", "--name", "tnone"], 2, "--rate is required"),
        (["doctor", "--node", "n1", "--name", "tnone"], 1, "cluster 'tnone' is not up"),
    ]
    for args, code, needle in cases:
        proc = ferry(*args, check=False)
        assert proc.returncode == code, (args, proc.returncode, proc.stderr)
        assert needle in proc.stderr, (args, proc.stderr)


def test_help_lists_every_subcommand():
    out = ferry("cluster", "--help").stdout
    for sub in ("up", "down", "status", "link", "exec"):
        assert f"  {sub} " in out
    top = ferry("--help").stdout
    assert "doctor" in top and "cluster" in top


def test_non_root_gets_one_clear_sentence():
    proc = run("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", FERRY, "cluster", "up",
               "--name", "tnoro", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "ferry: building a local cluster needs root (namespaces, bridges, mounts)"
    setup = Path(__file__).resolve().parents[2] / "scripts" / "setup"
    proc = run("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash", setup, check=False)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and "must run as root" in proc.stderr


def test_daemon_refuses_a_second_instance_on_one_state_dir(tmp_path):
    state = tmp_path / "ctl"
    port = 20000 + os.getpid() % 20000
    run(CONTROLLER, "init", "--state-dir", state, "--listen", f"127.0.0.1:{port}")
    first = subprocess.Popen([str(CONTROLLER), "--name", "controller", "--state-dir", str(state)],
                             stderr=subprocess.PIPE, text=True)
    pid_file = state / "daemon.pid"

    def ready():  # the pid is published only once the daemon serves
        return pid_file.exists() and pid_file.read_text().strip() != ""

    try:
        deadline = time.time() + 5
        while not ready():
            assert time.time() < deadline, "the controller did not become ready"
            time.sleep(0.02)
        second = run(CONTROLLER, "--name", "controller", "--state-dir", state, check=False, timeout=10)
        assert second.returncode == 1 and "another daemon" in second.stderr
        bad = run(FERRYD, "--name", "Solo", "--state-dir", tmp_path, check=False)
        assert bad.returncode == 2 and "node name 'Solo'" in bad.stderr
        unjoined = run(FERRYD, "--name", "solo", "--state-dir", tmp_path / "new", check=False)
        assert unjoined.returncode == 1 and "has not joined a cluster" in unjoined.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=5) == 0
    assert not (state / "daemon.pid").exists()
