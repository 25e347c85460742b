# SPDX-License-Identifier: GPL-2.0-or-later
"""Forensic snapshots end to end (docs/ARCHITECTURE.md, "Forensic snapshots").

A running Redis is snapshotted on its node without stopping (it keeps its process and its data),
the file is encrypted to an operator key the cluster never sees and signed by the node; inspect
checks it against the cluster's CA, extract opens it, restore runs it on a spare host cut off from
the fabric, and every tampering is caught.  An intrusion
alert with ids_snapshot_dir set snapshots the victim's containers before they move.
"""
import json
import os
import time
from pathlib import Path

import pytest

from conftest import REPO, STATE_ROOT, ferry, run

MKIMAGE = REPO / "scripts" / "mkimage"
REDIS = ["/usr/bin/redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", ""]
SLEEPER = ["/bin/sh", "-c", "while true; do sleep 1; done"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("snapimages")
    run(MKIMAGE, "busybox", root / "busybox")
    run(MKIMAGE, "redis", root / "redis")
    return root


class Lab:
    def __init__(self, cluster, tmp_path, images):
        self.c = cluster
        self.tmp = tmp_path
        self.images = images

    def f(self, *args, check=True, timeout=120):
        env = dict(os.environ, FERRY_ADMIN_DIR=str(STATE_ROOT / self.c.name / "admin"))
        return ferry(*args, check=check, timeout=timeout, env=env)

    def up(self, *args):
        self.c.up("--nodes", "2", "--subnet", self.c.subnet, *args)
        self.f("image", "import", self.images / "busybox", "--name", "busybox")

    def ps(self):
        return {c["name"]: c for c in json.loads(self.f("ps", "--json").stdout)["containers"]}


@pytest.fixture
def lab(make_cluster, tmp_path, images):
    return Lab(make_cluster(), tmp_path, images)


def test_a_running_redis_is_snapshotted_encrypted_signed_and_checked(lab):
    lab.up()
    lab.f("image", "import", lab.images / "redis", "--name", "redis")
    lab.f("run", "--name", "kv", "--image", "redis", "--node", "n1", "--memory", "64m", "--ready", "tcp:6379", "--",
          *REDIS)
    lab.f("exec", "kv", "/usr/bin/redis-cli", "set", "evidence", "in memory only")
    pid = lab.ps()["kv"]["pid"]
    keys = lab.tmp / "operator"
    lab.f("snapshot", "keygen", "--out", keys)
    assert oct((keys / "operator.key").stat().st_mode & 0o777) == "0o600"
    snap = lab.tmp / "kv.fsnp"
    out = lab.f("snapshot", "kv", "--out", snap, "--recipient", keys / "operator.pub").stdout
    assert "signed by n1 (certified by the cluster's CA)" in out, out
    # It kept running, the same process, with its data.
    assert lab.ps()["kv"]["pid"] == pid and lab.ps()["kv"]["state"] == "running"
    assert lab.f("exec", "kv", "/usr/bin/redis-cli", "get", "evidence").stdout.strip() == "in memory only"
    # Anyone with the CA can check it; only the operator's key opens it.
    info = json.loads(lab.f("snapshot", "inspect", snap, "--json").stdout)
    assert (info["container"], info["node"], info["image"], info["signer"], info["signature"], info["chain"]) == (
        "kv", "n1", "redis", "n1", "ok", "ok"), info
    assert info["opened"] is False
    info = json.loads(lab.f("snapshot", "inspect", snap, "--key", keys / "operator.key", "--json").stdout)
    assert info["opened"] is True and info["plain_bytes"] > 1_000_000, info
    # The file is ciphertext: Redis's value is not in it.
    assert b"in memory only" not in snap.read_bytes()
    into = lab.tmp / "opened"
    lab.f("snapshot", "extract", snap, "--key", keys / "operator.key", "--into", into)
    assert (into / "spec").exists() and (into / "upper.tar").exists()
    pages = b"".join(p.read_bytes() for p in (into / "checkpoint").glob("pages-*.img"))
    assert b"in memory only" in pages  # the evidence, from the process's memory
    # On a spare host: a new container with the snapshot's memory, isolated from the fabric.
    out = lab.f("snapshot", "restore", snap, "--key", keys / "operator.key", "--node", "n2", "--name",
                "kv-copy").stdout
    assert "restored as kv-copy on n2" in out and "isolated" in out, out
    copy = lab.ps()["kv-copy"]
    assert (copy["node"], copy["state"], copy["address"]) == ("n2", "isolated", lab.ps()["kv"]["address"]), copy
    assert lab.f("exec", "kv-copy", "/usr/bin/redis-cli", "get", "evidence").stdout.strip() == "in memory only"
    carrier = lab.f("exec", "kv-copy", "/bin/sh", "-c", "cat /sys/class/net/eth0/carrier 2>&1").stdout.strip()
    assert carrier != "1", carrier  # its link never came up: the original keeps the address
    bad = lab.f("migrate", "kv-copy", "--to", "n1", check=False)
    assert bad.returncode == 1 and "isolated" in bad.stderr, bad.stderr
    bad = lab.f("snapshot", "restore", snap, "--key", keys / "operator.key", "--node", "n2", "--name", "kv-copy",
                check=False)
    assert bad.returncode == 1 and "exists" in bad.stderr, bad.stderr
    assert lab.f("exec", "kv", "/usr/bin/redis-cli", "get", "evidence").stdout.strip() == "in memory only"
    lab.f("rm", "kv-copy")
    assert "kv-copy" not in lab.ps()
    # Another operator's key opens nothing and leaves nothing.
    other = lab.tmp / "other"
    lab.f("snapshot", "keygen", "--out", other)
    bad = lab.f("snapshot", "extract", snap, "--key", other / "operator.key", "--into", lab.tmp / "x", check=False)
    assert bad.returncode == 1 and "encrypted to another key" in bad.stderr, bad.stderr
    assert not (lab.tmp / "x").exists()
    # One changed byte in the middle: caught, with or without the key.
    data = bytearray(snap.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered = lab.tmp / "tampered.fsnp"
    tampered.write_bytes(bytes(data))
    bad = lab.f("snapshot", "inspect", tampered, check=False)
    assert bad.returncode == 1 and "signature does not match" in bad.stderr, bad.stderr
    bad = lab.f("snapshot", "extract", tampered, "--key", keys / "operator.key", "--into", lab.tmp / "y", check=False)
    assert bad.returncode == 1 and not (lab.tmp / "y").exists(), bad.stderr
    # Against another cluster's CA the signer is a stranger.
    from ferrywire import make_cert, make_key, write_cert
    ca = make_cert("ferry-ca", make_key(), ca=True)
    write_cert(ca, lab.tmp / "other-ca.crt")
    bad = lab.f("snapshot", "inspect", snap, "--ca", lab.tmp / "other-ca.crt", check=False)
    assert bad.returncode == 1 and "not certified by this cluster's CA" in bad.stderr, bad.stderr
    # Never over a file; clear errors for what cannot be.
    bad = lab.f("snapshot", "kv", "--out", snap, "--recipient", keys / "operator.pub", check=False)
    assert bad.returncode == 1 and "never replaces a file" in bad.stderr
    bad = lab.f("snapshot", "nosuch", "--out", lab.tmp / "n.fsnp", "--recipient", keys / "operator.pub", check=False)
    assert bad.returncode == 1 and "nosuch" in bad.stderr and not (lab.tmp / "n.fsnp").exists()
    bad = lab.f("snapshot", "kv", "--out", lab.tmp / "k.fsnp", check=False)
    assert bad.returncode == 1 and "operator.pub" in bad.stderr
    bad = lab.f("snapshot", "kv", "--out", lab.tmp / "k.fsnp", "--recipient", keys / "operator.key", check=False)
    assert bad.returncode == 1 and "is a private key; give the public one" in bad.stderr, bad.stderr
    audit = json.loads(lab.f("audit", "--json").stdout)["entries"]
    assert any(e["action"] == "snapshot" and e["subject"] == "kv" and e["detail"] == "ok" for e in audit)
    # Nothing of it stayed on the node.
    node_dir = STATE_ROOT / lab.c.name / "nodes" / "n1" / "tmp" / "outgoing"
    assert not any(p.name.startswith("snapshot-") for p in node_dir.iterdir()) if node_dir.exists() else True


def test_an_evacuation_snapshots_the_victims_containers_first(lab):
    keys = lab.tmp / "operator"
    evidence = lab.tmp / "evidence"
    evidence.mkdir()
    conf = lab.tmp / "controller.conf"
    lab.f("snapshot", "keygen", "--out", keys)
    conf.write_text(f"ids_action = evacuate\nsecurity_mode = random\nids_snapshot_dir = {evidence}\n"
                    f"ids_snapshot_recipient = {keys / 'operator.pub'}\n")
    lab.up("--controller-config", conf)
    for n in ("a", "b"):
        lab.f("run", "--name", n, "--image", "busybox", "--node", "n1", "--memory", "16m", "--", *SLEEPER)
    lab.f("alert", "send", "--severity", "1", "--message", "rootkit", "--node", "n1")
    deadline = time.time() + 30
    while time.time() < deadline and not all(c["node"] == "n2" and c["state"] == "running"
                                             for c in lab.ps().values()):
        time.sleep(0.2)
    assert all(c["node"] == "n2" for c in lab.ps().values()), lab.ps()
    files = sorted(p.name for p in evidence.iterdir())
    assert len(files) == 2 and files[0].startswith("a-alert1-") and files[1].startswith("b-alert1-"), files
    for p in evidence.iterdir():
        info = json.loads(lab.f("snapshot", "inspect", p, "--key", keys / "operator.key", "--json").stdout)
        assert info["node"] == "n1" and info["chain"] == "ok" and info["opened"], info
    audit = json.loads(lab.f("audit", "--json").stdout)["entries"]
    order = [e["action"] for e in audit if e["actor"] == "controller"]
    assert order == ["quarantine", "snapshot", "snapshot", "evacuate"], order
