# SPDX-License-Identifier: GPL-2.0-or-later
"""Moving-target defense end to end (docs/ARCHITECTURE.md, "Moving-target defense").

Real nodes collect real Shamir shares from each other over ferry-mtd (TLS between enrolled
nodes), open their sealed lookup tables and name destinations the controller checks; and the
share service refuses what it must: strangers, replays, old epochs, tokens for someone else or
signed by another key.
"""
import json
import os
import struct
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import ferrywire as fw
from conftest import REPO, STATE_ROOT, ferry, run

MKIMAGE = REPO / "scripts" / "mkimage"
SLEEPER = ["/bin/sh", "-c", "while true; do sleep 1; done"]
OP_MTD_SHARE = 49
TAG_TICKET, TAG_SHARE, TAG_NONCE, TAG_EPOCH = 15, 85, 86, 87
SHAMIR, FOUNTAIN = 1, 2


@pytest.fixture(scope="module")
def busybox(tmp_path_factory):
    root = tmp_path_factory.mktemp("mtdimages") / "busybox"
    run(MKIMAGE, "busybox", root)
    return root


class Lab:
    def __init__(self, cluster, tmp_path, busybox):
        self.c = cluster
        self.tmp = tmp_path
        self.busybox = busybox

    def f(self, *args, check=True, timeout=120):
        env = dict(os.environ, FERRY_ADMIN_DIR=str(STATE_ROOT / self.c.name / "admin"))
        return ferry(*args, check=check, timeout=timeout, env=env)

    def up(self, conf, nodes=4):
        path = self.tmp / "controller.conf"
        path.write_text(conf)
        self.c.up("--nodes", str(nodes), "--subnet", self.c.subnet, "--controller-config", path)
        self.f("image", "import", self.busybox, "--name", "busybox")
        self.nodes = {n["name"]: n for n in self.c.status()["nodes"]}

    def sleeper(self, name, node="n1"):
        self.f("run", "--name", name, "--image", "busybox", "--node", node, "--memory", "16m", "--", *SLEEPER)

    def move(self, name, policy=None):
        args = ["mtd", "move", name, "--json"] + (["--policy", policy] if policy else [])
        return json.loads(self.f(*args).stdout)

    def node_of(self, name):
        return {c["name"]: c for c in json.loads(self.f("ps", "--json").stdout)["containers"]}[name]["node"]

    def state_of(self, name):
        return {c["name"]: c for c in json.loads(self.f("ps", "--json").stdout)["containers"]}[name]["state"]

    def status(self):
        return json.loads(self.f("mtd", "status", "--json").stdout)

    def creds(self, node):
        d = Path(self.nodes[node]["state_dir"])
        return dict(cert=str(d / "node.crt"), key=str(d / "node.key"), ca=str(d / "ca.crt"))

    def ticket_key(self):
        pem = (Path(self.nodes["controller"]["state_dir"]) / "ticket.key").read_bytes()
        return serialization.load_pem_private_key(pem, password=None)


@pytest.fixture
def lab(make_cluster, tmp_path, busybox):
    return Lab(make_cluster(), tmp_path, busybox)


def token(key, epoch, requester, mode=SHAMIR, k=2, ttl=30, draw_id=None):
    body = (b"FMTD1" + struct.pack(">Q", epoch) + (draw_id or os.urandom(16)) + bytes([mode, k, len(requester)]) +
            requester.encode() + struct.pack(">Q", int(time.time()) + ttl))
    return body + key.sign(body)


def share_request(tok, nonce):
    return fw.frame(fw.REQUEST, fw.tlv(fw.TAG_OP, struct.pack(">H", OP_MTD_SHARE)) + fw.tlv(TAG_TICKET, tok) +
                    fw.tlv(TAG_NONCE, nonce))


def test_shamir_and_fountain_draws_and_quarantine(lab):
    lab.up("security_mode = shamir\nkey_number = 2\nids_action = evacuate\n")
    lab.sleeper("web")
    seen = set()
    for policy in ("shamir", "fountain", None):
        source = lab.node_of("web")
        out = lab.move("web", policy)
        assert out["policy"] == (policy or "shamir"), out
        assert out["destination"] != source and out["migration"]["result"] == "ok", out
        assert lab.node_of("web") == out["destination"]
        # k = 2 shares, from the source's peers: distinct ones for shamir, repeats allowed for fountain.
        assert len(out["asked"]) == 2 and source not in out["asked"], out
        if out["policy"] == "shamir":
            assert len(set(out["asked"])) == 2, out
        assert out["share_ms"] <= out["draw_ms"] and out["epoch"] > 0
        seen.add(out["epoch"])
    assert len(seen) == 3  # a change of mode is a new epoch: fresh secret, shares and tables
    ds = json.loads(lab.f("policy", "decisions", "--json").stdout)["decisions"]
    assert [d["policy"] for d in ds] == ["mtd:shamir", "mtd:fountain", "mtd:shamir"], ds
    audit = json.loads(lab.f("audit", "--json").stdout)["entries"]
    assert sum(e["action"] == "mtd-move" and e["subject"] == "web" for e in audit) == 3, audit
    # A quarantined host is in no new epoch and never drawn.
    lab.f("alert", "send", "--severity", "1", "--message", "n4 compromised", "--node", "n4")
    deadline = time.time() + 10
    while time.time() < deadline and not json.loads(lab.f("node", "quarantine", "--json").stdout)["quarantine"]:
        time.sleep(0.2)
    # If web was on n4 the evacuation moves it: wait for it to run again, wherever that is.
    while time.time() < deadline + 20 and (lab.node_of("web") == "n4" or lab.state_of("web") != "running"):
        time.sleep(0.2)
    for i in range(8):
        out = lab.move("web", ("shamir", "random")[i % 2])
        assert out["destination"] != "n4", out
        assert "n4" not in out["asked"], out
    assert "n4" not in lab.status()["hosts"]
    # Decoys: cover streams from the source to every other host (asked 3, there are 2 left), sized
    # like the real one, at the same time.
    lab.f("node", "release", "n4")
    source = lab.node_of("web")
    out = json.loads(lab.f("mtd", "move", "web", "--decoys", "3", "--json").stdout)
    assert len(out["decoys"]) == 2 and len(set(out["decoys"])) == 2, out
    assert source not in out["decoys"] and out["destination"] not in out["decoys"], out
    wire = out["migration"]["bytes_wire"]
    assert 0.7 * 2 * wire < out["decoy_bytes"] < 1.3 * 2 * wire, out
    bad = lab.f("mtd", "move", "web", "--decoys", "9", check=False)
    assert bad.returncode == 2 and "--decoys" in bad.stderr
    bad = lab.f("mtd", "move", "web", "--policy", "bandwidth", check=False)
    assert bad.returncode == 2 and "not random, shamir or fountain" in bad.stderr


def test_share_service_refuses_strangers_replays_and_old_epochs(lab):
    lab.up("security_mode = shamir\nkey_number = 2\n")
    lab.sleeper("web")
    lab.move("web")
    epoch = lab.status()["epoch"]
    key = lab.ticket_key()
    n3 = lab.nodes["n3"]["address"]

    def ask(tok, nonce, creds=None):
        conn = fw.connect(n3, fw.NODE_PORT, "ferry-mtd/1", **(creds or lab.creds("n2")))
        try:
            conn.send(share_request(tok, nonce))
            ftype, payload = conn.recv_frame()
            if ftype == fw.RESPONSE:
                return fw.parse_tlv(payload)
            return fw.parse_tlv(payload).get(fw.TAG_MESSAGE, [b"?"])[0].decode()
        finally:
            conn.close()

    nonce = os.urandom(16)
    good = token(key, epoch, "n2")
    answer = ask(good, nonce)
    assert isinstance(answer, dict), answer
    assert struct.unpack(">Q", answer[TAG_EPOCH][0])[0] == epoch and answer[TAG_NONCE][0] == nonce
    assert len(answer[TAG_SHARE][0]) == 33 and answer[TAG_SHARE][0][0] != 0
    # The same request again: a replay.
    assert "replayed share request" in ask(good, nonce)
    # Shamir: one share per host and draw, even with a fresh nonce.
    assert "every share this node may give" in ask(good, os.urandom(16))
    # An old epoch, a token for another node, a token signed by another key.
    assert "is not the current epoch" in ask(token(key, epoch - 1, "n2"), os.urandom(16))
    assert "is for 'n1', not 'n2'" in ask(token(key, epoch, "n1"), os.urandom(16))
    assert "not the controller's" in ask(token(ed25519.Ed25519PrivateKey.generate(), epoch, "n2"), os.urandom(16))
    assert "expired" in ask(token(key, epoch, "n2", ttl=-5), os.urandom(16))
    # A share token does not open a decoy stream.
    conn = fw.connect(n3, fw.NODE_PORT, "ferry-mtd/1", **lab.creds("n2"))
    conn.send(fw.frame(fw.REQUEST, fw.tlv(fw.TAG_OP, struct.pack(">H", 52)) + fw.tlv(TAG_TICKET, token(key, epoch, "n2"))
                       + fw.tlv(47, struct.pack(">Q", 1000))))
    assert "not a decoy token" in conn.error_text()
    conn.close()
    # The admin's certificate is the cluster's, but not a node's.
    admin = STATE_ROOT / lab.c.name / "admin"
    assert "not in the allowlist" in ask(good, os.urandom(16), dict(cert=str(admin / "admin.crt"),
                                                                    key=str(admin / "admin.key"),
                                                                    ca=str(admin / "ca.crt")))
    # From outside the cluster: a certificate of another CA does not get through the handshake.
    k = fw.make_key()
    stranger = fw.make_cert("n2", k)
    fw.write_key(k, lab.tmp / "s.key")
    fw.write_cert(stranger, lab.tmp / "s.crt")
    with pytest.raises(Exception):
        ask(good, os.urandom(16), dict(cert=str(lab.tmp / "s.crt"), key=str(lab.tmp / "s.key"),
                                       ca=lab.creds("n2")["ca"]))
    # The nodes said why.
    log = (Path(lab.nodes["n3"]["state_dir"]) / "daemon.log").read_text()
    assert "refused a share request from n2: a replayed share request" in log


def test_rotation_moves_the_selected_containers_on_a_jittered_schedule(lab):
    lab.up("security_mode = fountain\nkey_number = 2\nmtd_interval_s = 3\nmtd_jitter_percent = 30\n"
           "mtd_containers = web\n")
    lab.sleeper("web")
    lab.sleeper("still", node="n2")
    deadline = time.time() + 30
    moves = []
    while time.time() < deadline and len(moves) < 3:
        moves = [d for d in json.loads(lab.f("policy", "decisions", "--json").stdout)["decisions"]
                 if d["container"] == "web"]
        time.sleep(0.5)
    assert len(moves) >= 3, moves
    assert all(d["policy"] == "mtd:fountain" and d["action"] == "migrated" for d in moves), moves
    inputs = [json.loads(json.loads(lab.f("policy", "show", str(d["id"]), "--json").stdout)["decisions"][0]["inputs"])
              for d in moves[:3]]
    assert all(i["trigger"] == "rotation" for i in inputs), inputs
    assert len({i["epoch"] for i in inputs}) == 3, inputs  # a fresh epoch every round
    # Only the selected container moves.
    assert lab.node_of("still") == "n2"
    audit = json.loads(lab.f("audit", "--json").stdout)["entries"]
    assert any(e["actor"] == "controller" and e["action"] == "mtd-move" for e in audit)
