# SPDX-License-Identifier: GPL-2.0-or-later
"""ferry doctor against independent readings of the same host."""
import json
import os
import re
import subprocess

from conftest import ferry, run


def criu_has(feature):
    return run("criu", "check", "--feature", feature, check=False).returncode == 0


def test_doctor_json_matches_the_host():
    proc = ferry("doctor", "--json")
    d = json.loads(proc.stdout)
    # Versions and kernel, read independently.
    version = re.search(r"Version: ([0-9.]+)", run("criu", "--version").stdout).group(1)
    assert d["criu_version"] == version
    assert [int(x) for x in version.split(".")[:2]] >= [4, 2]
    assert d["kernel"] == os.uname().release
    # Features as CRIU itself reports them (here: no soft-dirty, uffd yes).
    for name, crit_name in [("mem_dirty_track", "mem_dirty_track"), ("uffd", "uffd"), ("uffd_noncoop", "uffd-noncoop"),
                            ("network_lock_nftables", "network_lock_nftables")]:
        assert d["features"][name] == criu_has(crit_name), name
    assert isinstance(d["features"]["tcp_established"], bool)
    assert d["runtime"]["name"] == "runc" and d["runtime"]["criu_support"] is True
    assert d["overlayfs"]["mountable"] is True
    # The fabric's kernel parts were really tried (the network tests use all three here).
    assert d["fabric"] == {"veth": True, "vxlan": True, "packet_hold": True}, d["fabric"]
    assert d["cgroup"]["version"] in ("v1", "v2", "hybrid")
    with open("/proc/cpuinfo") as f:
        flags = next(line for line in f if line.startswith("flags")).split(":", 1)[1].split()
    assert d["cpu"]["flags"] == flags
    # Modes follow from the features.
    assert "stop-copy" in d["modes"] and "stateless" in d["modes"]
    assert ("postcopy" in d["modes"]) == (d["features"]["uffd"] and d["features"]["uffd_noncoop"])
    precopy = next(m for m in d["mode_details"] if m["name"] == "precopy")
    assert precopy["method"] == "page-hash"
    assert proc.returncode == 0


def test_doctor_table_ends_with_modes():
    out = ferry("doctor").stdout
    assert "criu check" in out and "tcp_established" in out
    tail = out.split("Migration modes on this host:")[1]
    assert re.search(r"stop-copy\s+yes", tail)


def test_doctor_inside_a_cluster_node(make_cluster):
    c = make_cluster()
    c.up("--nodes", "1", "--subnet", c.subnet, "--no-daemons")
    d = json.loads(ferry("doctor", "--json", "--node", "n1", "--name", c.name).stdout)
    assert d["host"] == f"{c.name}/n1"
    assert "stop-copy" in d["modes"]


def test_doctor_fabric_probe_needs_iptables_for_the_hold(tmp_path):
    # A PATH without iptables: veth and VXLAN still work, holding packets does not.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("ip", "criu", "runc"):
        path = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        if path:
            (bindir / tool).symlink_to(path)
    env = dict(os.environ, PATH=str(bindir))
    d = json.loads(ferry("doctor", "--json", env=env, check=False).stdout)
    assert d["fabric"] == {"veth": True, "vxlan": True, "packet_hold": False}, d["fabric"]


def test_doctor_without_criu_says_why(tmp_path):
    # A PATH with runc but no criu: stop-copy must be unavailable, with the reason.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    runc = run("sh", "-c", "command -v runc").stdout.strip()
    (bindir / "runc").symlink_to(runc)
    env = dict(os.environ, PATH=str(bindir))
    from conftest import FERRY
    proc = subprocess.run([str(FERRY), "doctor", "--json"], capture_output=True, text=True, env=env, timeout=120)
    d = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert d["criu_version"] is None and d["modes"] == ["stateless"]
    stop_copy = next(m for m in d["mode_details"] if m["name"] == "stop-copy")
    assert stop_copy["why"] == "CRIU is not installed"
