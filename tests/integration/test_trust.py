# SPDX-License-Identifier: GPL-2.0-or-later
"""Trust and transport on a real cluster: every way in that must stay shut, stays shut."""
import json
import os
import re
import socket
import ssl
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

import ferrywire as fw
from conftest import FERRY, FERRYD, cgroup2_root, ferry, run


@pytest.fixture
def trusted(make_cluster, tmp_path):
    """A 3-host cluster with enrolled nodes and a helper to issue tickets."""
    c = make_cluster()
    c.up("--nodes", "3", "--subnet", c.subnet)
    st = c.status()
    c.nodes = {n["name"]: n for n in st["nodes"]}
    c.dir = Path(st["state_dir"])
    c.admin = c.dir / "admin"
    # Wait for the allowlist push to reach every host (the controller retries every 2 s).
    deadline = time.time() + 15
    while time.time() < deadline:
        if all(len((Path(c.nodes[h]["state_dir"]) / "allowlist").read_text().split("\n")) >= 5 for h in ("n1", "n2", "n3")):
            break
        time.sleep(0.2)

    def creds(node):
        d = Path(c.nodes[node]["state_dir"])
        return dict(cert=str(d / "node.crt"), key=str(d / "node.key"), ca=str(d / "ca.crt"))

    def data_dir(name, files):
        d = tmp_path / name
        d.mkdir()
        for fname, data in files:
            (d / fname).write_bytes(data)
        return d

    generations = iter(range(1, 1 << 30))

    def ticket(src, dst, files, generation=None, ttl="60s", container="web"):
        # Each migration of a container carries a newer fencing generation.
        generation = generation if generation is not None else next(generations)
        d = data_dir(f"data-{time.monotonic_ns()}", files)
        out = tmp_path / f"ticket-{time.monotonic_ns()}"
        ferry("ticket", "issue", "--name", c.name, "--container", container, "--from", src, "--to", dst,
              "--generation", str(generation), "--ttl", ttl, "--manifest-dir", d, "--out", out)
        return out.read_bytes(), d

    def mig(src, dst, **kw):
        return fw.connect(c.nodes[dst]["address"], fw.NODE_PORT, fw.ALPN_MIG, **creds(src), **kw)

    def received(node):
        base = Path(c.nodes[node]["state_dir"]) / "tmp"
        return (sorted(p.name for p in (base / "received").iterdir()),
                sorted(p.name for p in (base / "incoming").iterdir()))

    c.creds, c.ticket, c.mig, c.received, c.data_dir = creds, ticket, mig, received, data_dir
    return c


FILES = [("a.bin", os.urandom(200_000)), ("sub-b.txt", b"hello\n"), ("empty", b"")]


def send_with_ferryd(c, src, dst, ticket_bytes, d, tmp_path):
    tpath = tmp_path / f"t-{time.monotonic_ns()}"
    tpath.write_bytes(ticket_bytes)
    return c.exec(src, FERRYD, "send", "--state-dir", c.nodes[src]["state_dir"], "--to",
                  f"{c.nodes[dst]['address']}:{fw.NODE_PORT}", "--ticket", tpath, d, check=False)


# ---- the happy path first: a test that could not pass would prove nothing ----

def test_enrolled_nodes_transfer_a_verified_bundle(trusted, tmp_path):
    t, d = trusted.ticket("n1", "n2", FILES)
    out = send_with_ferryd(trusted, "n1", "n2", t, d, tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["bytes"] == 200_006
    done, incoming = trusted.received("n2")
    assert len(done) == 1 and incoming == []
    got = Path(trusted.nodes["n2"]["state_dir"]) / "tmp" / "received" / done[0]
    assert (got / "a.bin").read_bytes() == FILES[0][1] and (got / "empty").read_bytes() == b""
    listed = json.loads(ferry("node", "list", "--json", "--name", trusted.name).stdout)
    assert sorted(n["name"] for n in listed["nodes"]) == ["n1", "n2", "n3"]


# ---- channel: who may connect ----

def expect_rejected(connect, tls_level=True):
    """The server must refuse. tls_level: in the handshake itself (TLS 1.3: a refused client may only
    see the alert on its first read), not later by an ERROR frame — so that a broken CA check cannot
    hide behind the allowlist."""
    try:
        conn = connect()
    except (ssl.SSLError, ConnectionError, OSError):
        return
    try:
        conn.send(fw.frame(fw.REQUEST, fw.tlv(fw.TAG_OP, struct.pack(">H", fw.OP_PING))))
        answer = conn.error_text()
    except (ssl.SSLError, ConnectionError, OSError) as e:
        answer = f"closed: {e}"
    conn.close()
    assert answer != "OK", "the server accepted a client it must refuse"
    if tls_level:
        assert answer.startswith("closed"), f"refused only after the handshake: {answer}"


def test_client_without_certificate_is_refused(trusted):
    n2 = trusted.nodes["n2"]["address"]
    for alpn in (fw.ALPN_MIG, fw.ALPN_CTL):
        expect_rejected(lambda: fw.connect(n2, fw.NODE_PORT, alpn))
    # The controller completes TLS without a client certificate (enrollment needs that) and then refuses.
    ctl = trusted.nodes["controller"]["address"]
    expect_rejected(lambda: fw.connect(ctl, fw.CONTROLLER_PORT, fw.ALPN_API), tls_level=False)


def test_certificate_from_another_ca_is_refused(trusted, tmp_path):
    ca_key, key = fw.make_key(), fw.make_key()
    ca = fw.make_cert("evil CA", ca_key, ca=True)
    fw.write_cert(fw.make_cert("n1", key, ca, ca_key), tmp_path / "c.crt")
    fw.write_key(key, tmp_path / "c.key")
    n2 = trusted.nodes["n2"]["address"]
    expect_rejected(lambda: fw.connect(n2, fw.NODE_PORT, fw.ALPN_MIG, cert=tmp_path / "c.crt", key=tmp_path / "c.key"))


def real_ca(trusted):
    d = Path(trusted.nodes["controller"]["state_dir"])
    return x509_load(d / "ca.crt"), fw.load_key(d / "ca.key")


def x509_load(path):
    from cryptography import x509
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_expired_certificate_from_the_real_ca_is_refused(trusted, tmp_path):
    ca, ca_key = real_ca(trusted)
    key = fw.load_key(Path(trusted.nodes["n1"]["state_dir"]) / "node.key")  # even n1's own enrolled key
    fw.write_cert(fw.make_cert("n1", key, ca, ca_key, expired=True), tmp_path / "old.crt")
    n2 = trusted.nodes["n2"]["address"]
    expect_rejected(lambda: fw.connect(n2, fw.NODE_PORT, fw.ALPN_MIG, cert=tmp_path / "old.crt",
                                       key=Path(trusted.nodes["n1"]["state_dir"]) / "node.key"))


def test_valid_ca_but_not_in_the_allowlist_is_refused(trusted, tmp_path):
    ca, ca_key = real_ca(trusted)
    key = fw.make_key()
    fw.write_cert(fw.make_cert("n1", key, ca, ca_key), tmp_path / "x.crt")  # even claiming n1's name
    fw.write_key(key, tmp_path / "x.key")
    conn = fw.connect(trusted.nodes["n2"]["address"], fw.NODE_PORT, fw.ALPN_MIG, cert=tmp_path / "x.crt",
                      key=tmp_path / "x.key")
    assert conn.error_text() == "not in the allowlist"
    conn.close()


def test_tls12_only_client_is_refused(trusted):
    n2 = trusted.nodes["n2"]["address"]
    # The handshake itself must fail: TLS 1.3 only.
    with pytest.raises(ssl.SSLError):
        fw.connect(n2, fw.NODE_PORT, fw.ALPN_MIG, tls12=True, **trusted.creds("n1"))


def test_wrong_alpn_is_refused(trusted):
    # A node does not serve the API, and the controller does not take migration data.
    expect_rejected(lambda: fw.connect(trusted.nodes["n2"]["address"], fw.NODE_PORT, fw.ALPN_API, **trusted.creds("n1")))
    expect_rejected(lambda: fw.connect(trusted.nodes["controller"]["address"], fw.CONTROLLER_PORT, fw.ALPN_MIG,
                                       **trusted.creds("n1")))


def test_server_from_another_ca_is_refused_by_the_client(trusted, tmp_path):
    ca_key, key = fw.make_key(), fw.make_key()
    ca = fw.make_cert("evil CA", ca_key, ca=True)
    fw.write_cert(fw.make_cert("n2", key, ca, ca_key), tmp_path / "s.crt")
    fw.write_key(key, tmp_path / "s.key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "s.crt", tmp_path / "s.key")
    ctx.set_alpn_protocols([fw.ALPN_MIG])
    gateway = trusted.status()["gateway"]
    lsock = socket.socket()
    lsock.bind((gateway, 0))
    lsock.listen(4)
    port = lsock.getsockname()[1]
    got = []

    def serve():
        lsock.settimeout(20)
        try:
            s, _ = lsock.accept()
            s = ctx.wrap_socket(s, server_side=True)
            got.append(s.recv(100))
        except Exception as e:
            got.append(e)

    th = threading.Thread(target=serve)
    th.start()
    t, d = trusted.ticket("n1", "n2", FILES)
    tpath = tmp_path / "t"
    tpath.write_bytes(t)
    out = trusted.exec("n1", FERRYD, "send", "--state-dir", trusted.nodes["n1"]["state_dir"], "--to",
                       f"{gateway}:{port}", "--ticket", tpath, d, check=False)
    th.join(30)
    lsock.close()
    assert out.returncode == 1 and "TLS handshake" in out.stderr
    assert not any(isinstance(g, bytes) and g for g in got), "the client sent data to an impostor"


# ---- commands ----

def test_command_from_a_non_controller_identity_is_refused(trusted):
    conn = fw.connect(trusted.nodes["n2"]["address"], fw.NODE_PORT, fw.ALPN_CTL, **trusted.creds("n1"))
    assert conn.error_text() == "only the controller may send commands"
    conn.close()
    # And the API takes nothing but intrusion alerts from a node certificate: admin certificates drive it.
    conn = fw.connect(trusted.nodes["controller"]["address"], fw.CONTROLLER_PORT, fw.ALPN_API, **trusted.creds("n1"))
    conn.send(fw.frame(fw.REQUEST, fw.tlv(fw.TAG_OP, struct.pack(">H", fw.OP_NODE_LIST))))
    assert conn.error_text() == "a node may only report alerts here"
    conn.close()


# ---- tickets ----

def admit(trusted, src, dst, ticket):
    conn = trusted.mig(src, dst)
    conn.send(fw.frame(fw.TICKET, ticket))
    answer = conn.error_text()
    conn.close()
    return answer


def test_ticket_with_a_bad_signature_is_refused_at_both_ends(trusted, tmp_path):
    t, d = trusted.ticket("n1", "n2", FILES)
    bad = t[:-1] + bytes([t[-1] ^ 1])
    out = send_with_ferryd(trusted, "n1", "n2", bad, d, tmp_path)
    assert out.returncode == 1 and "signature" in out.stderr  # the source checks before sending
    assert admit(trusted, "n1", "n2", bad) == "ticket signature is not the controller's"
    # A ticket signed by another key with the same claims fares no better.
    forged = bytearray(t)
    forged[4] ^= 0xFF  # a different ticket id: the signature no longer covers it
    assert admit(trusted, "n1", "n2", bytes(forged)) == "ticket signature is not the controller's"


def test_expired_ticket_is_refused(trusted):
    t, _ = trusted.ticket("n1", "n2", FILES, ttl="1s")
    time.sleep(2.2)
    assert admit(trusted, "n1", "n2", t).startswith("ticket expired")


def test_ticket_for_another_destination_is_refused(trusted):
    t, _ = trusted.ticket("n1", "n3", FILES)
    assert admit(trusted, "n1", "n2", t) == "ticket is for destination 'n3', not this node 'n2'"


def test_tls_peer_must_be_the_ticket_source(trusted):
    t, _ = trusted.ticket("n1", "n2", FILES)
    assert admit(trusted, "n3", "n2", t) == "TLS peer 'n3' is not the ticket's source 'n1'"


def test_replayed_ticket_is_refused_also_after_a_restart(trusted, tmp_path):
    t, d = trusted.ticket("n1", "n2", FILES)
    assert send_with_ferryd(trusted, "n1", "n2", t, d, tmp_path).returncode == 0
    again = send_with_ferryd(trusted, "n1", "n2", t, d, tmp_path)
    assert again.returncode == 1 and "replay refused" in again.stderr
    ferry("cluster", "restart", "n2", "--name", trusted.name)
    assert admit(trusted, "n1", "n2", t) == "ticket was already used (replay refused)"
    assert len(trusted.received("n2")[0]) == 1


def test_stale_generation_is_refused(trusted, tmp_path):
    t5, d5 = trusted.ticket("n1", "n2", FILES, generation=5, container="gen")
    assert send_with_ferryd(trusted, "n1", "n2", t5, d5, tmp_path).returncode == 0
    t3, _ = trusted.ticket("n1", "n2", FILES, generation=3, container="gen")
    assert admit(trusted, "n1", "n2", t3) == "ticket generation 3 of 'gen' is stale (seen 5)"
    t5b, _ = trusted.ticket("n1", "n2", FILES, generation=5, container="gen")
    assert "is stale" in admit(trusted, "n1", "n2", t5b)
    # Another container has its own generations.
    other, _ = trusted.ticket("n1", "n2", FILES, generation=1, container="db")
    assert admit(trusted, "n1", "n2", other) == "OK"


# ---- streams: nothing unverified is ever used ----

def stream(trusted, frames, src="n1", dst="n2", close_early=False):
    """Send a fresh ticket then frames; return the destination's final answer."""
    t, _ = trusted.ticket(src, dst, FILES)
    conn = trusted.mig(src, dst)
    conn.send(fw.frame(fw.TICKET, t))
    assert conn.error_text() == "OK"
    try:
        for f in frames:
            conn.send(f)
    except (ssl.SSLError, OSError):
        pass
    if close_early:
        conn.close()
        return None
    answer = conn.error_text()
    conn.close()
    return answer


def test_byte_flips_anywhere_in_the_stream_are_rejected(trusted):
    good = b"".join(fw.bundle_frames(None, FILES))
    assert stream(trusted, [good]) == "OK"
    before = trusted.received("n2")[0]
    # Offsets across the manifest frame, the data frames and the end frame.
    offsets = sorted({0, 3, 8, 9, 20, 60, 100, 140, len(good) // 3, len(good) // 2, len(good) - 45,
                      len(good) - 30, len(good) - 1} | {int(len(good) * f) for f in (0.1, 0.25, 0.75, 0.9)})
    for off in offsets:
        bad = bytearray(good)
        bad[off] ^= 0x40
        answer = stream(trusted, [bytes(bad)])
        assert answer != "OK", f"flip at {off} accepted"
    deadline = time.time() + 5
    while trusted.received("n2")[1] and time.time() < deadline:
        time.sleep(0.1)
    assert trusted.received("n2") == (before, []), "a corrupted stream left something behind"


def test_stream_cut_without_end_is_rejected(trusted):
    frames = fw.bundle_frames(None, FILES)
    before = trusted.received("n2")[0]
    stream(trusted, frames[:-1], close_early=True)  # everything but END, then the TCP connection ends
    log = Path(trusted.nodes["n2"]["state_dir"]) / "daemon.log"
    deadline = time.time() + 10
    # The destination logs the failure after it has removed staging: wait for the log line first.
    while "connection closed by peer" not in log.read_text():
        assert time.time() < deadline, "the destination never noticed the cut"
        time.sleep(0.1)
    assert trusted.received("n2") == (before, [])


def test_manifest_that_differs_from_the_ticket_is_rejected(trusted):
    other = [("a.bin", b"not what was signed")]
    assert stream(trusted, fw.bundle_frames(None, other)) == "manifest does not match the ticket's manifest hash"


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_oversized_and_malformed_frames_are_refused_without_allocating(trusted):
    pid = trusted.nodes["n2"]["pid"]
    before = rss_kib(pid)
    # Header violations end the connection without an answer; a well-framed but bad ticket is refused with a reason.
    cases = [
        (fw.frame(fw.DATA, length=0xFFFFFFFF), "closed"),             # 4 GiB announced
        (fw.frame(fw.TICKET, length=64 * 1024 + 1), "closed"),        # one byte over a control cap
        (fw.frame(0x55, b"x"), "closed"),                               # unknown type
        (fw.frame(fw.TICKET, b"x", flags=1), "closed"),                 # reserved bits
        (fw.frame(fw.TICKET, b"FTK1" + b"\0" * 10), "ticket is cut short"),  # truncated ticket
    ]
    for raw, expected in cases:
        conn = trusted.mig("n1", "n2")
        conn.send(raw)
        answer = conn.error_text()
        conn.close()
        assert answer.startswith(expected), (raw[:8], answer)
    log = (Path(trusted.nodes["n2"]["state_dir"]) / "daemon.log").read_text()
    assert "DATA frame of 4294967295 bytes exceeds the 262148-byte cap" in log
    # Nothing was allocated for the announced sizes (generous bound: 8 MiB).
    assert rss_kib(pid) - before < 8 * 1024


def test_removed_node_loses_live_connections_within_5s(trusted):
    conn = trusted.mig("n1", "n2")  # authenticated and idle
    t0 = time.time()
    ferry("node", "remove", "n1", "--name", trusted.name)
    conn.sock.settimeout(10)
    answer = conn.error_text()
    elapsed = time.time() - t0
    conn.close()
    assert answer.startswith("closed") and elapsed < 5, (answer, elapsed)
    # New connections from the removed node fail too.
    later = trusted.mig("n1", "n2")
    assert later.error_text() == "not in the allowlist"
    later.close()
    listed = json.loads(ferry("node", "list", "--json", "--name", trusted.name).stdout)
    assert "n1" not in [n["name"] for n in listed["nodes"]]


# ---- enrollment ----

def test_reused_expired_and_forged_tokens_are_refused_and_logged(trusted, tmp_path):
    ns = "ferry-%s-n3" % trusted.name
    listen = f"{trusted.nodes['n3']['address']}:7999"

    def join(token):
        return run("ip", "netns", "exec", ns, FERRYD, "join", token, "--state-dir", tmp_path / f"j{time.monotonic_ns()}",
                   "--listen", listen, check=False)

    token = ferry("token", "create", "--node", "n9", "--name", trusted.name).stdout.strip()
    assert join(token).returncode == 0
    reused = join(token)
    assert reused.returncode == 1 and "token was already used" in reused.stderr
    short = ferry("token", "create", "--node", "n8", "--ttl", "10s", "--name", trusted.name).stdout.strip()
    time.sleep(11)
    expired = join(short)
    assert expired.returncode == 1 and "token expired" in expired.stderr
    # Same controller, pin and node, but a secret the controller never issued.
    raw = bytearray(__import__("base64").urlsafe_b64decode(token[len("ferry1."):] + "=="))
    raw[-40] ^= 1
    forged = "ferry1." + __import__("base64").urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    bad = join(forged)
    assert bad.returncode == 1 and "unknown" in bad.stderr
    # A token pinning another CA is refused by the joining node before it sends the secret.
    raw = bytearray(__import__("base64").urlsafe_b64decode(token[len("ferry1."):] + "=="))
    raw[-72] ^= 1
    wrong_pin = "ferry1." + __import__("base64").urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    pinned = join(wrong_pin)
    assert pinned.returncode == 1 and "pinned cluster CA" in pinned.stderr
    log = (Path(trusted.nodes["controller"]["state_dir"]) / "daemon.log").read_text()
    assert "refused: token was already used" in log and "refused: token expired" in log
    assert "refused: token is unknown" in log
    # Secrets never reach the logs.
    assert token[len("ferry1."):] not in log


def test_keys_are_private(trusted):
    ctl = Path(trusted.nodes["controller"]["state_dir"])
    for f in ("ca.key", "ticket.key", "controller.key", "registry.db"):
        assert oct((ctl / f).stat().st_mode & 0o777) == "0o600", f
    assert oct(((Path(trusted.nodes["n1"]["state_dir"])) / "node.key").stat().st_mode & 0o777) == "0o600"
    assert oct((trusted.admin / "admin.key").stat().st_mode & 0o777) == "0o600"


# ---- availability ----

FLOOD = r'''
import socket, sys, time
target, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
held, opened, end = [], 0, time.time() + seconds
while time.time() < end:
    try:
        s = socket.create_connection((target, port), timeout=1)
        opened += 1
        held.append(s)          # hold it: never send a ClientHello
        if len(held) > 300:
            held.pop(0).close()
    except OSError:
        time.sleep(0.01)
print(opened)
'''


def test_preauth_flood_does_not_lock_out_a_legitimate_client(trusted, tmp_path):
    script = tmp_path / "flood.py"
    script.write_text(FLOOD)
    ctl = trusted.nodes["controller"]["address"]
    flood = subprocess.Popen(["ip", "netns", "exec", f"ferry-{trusted.name}-n3", "/usr/bin/python3", str(script), ctl,
                              str(fw.CONTROLLER_PORT), "8"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(2)  # the flood is in full swing
        for _ in range(3):
            t0 = time.time()
            out = ferry("node", "list", "--name", trusted.name, check=False)
            assert out.returncode == 0, out.stderr
            assert time.time() - t0 < 3
            time.sleep(0.5)
    finally:
        opened = int(flood.communicate(timeout=30)[0].strip() or 0)
    assert opened > 50  # the flood was real


def test_slowloris_handshake_is_closed_at_the_deadline(trusted):
    s = socket.create_connection((trusted.nodes["n2"]["address"], fw.NODE_PORT), timeout=30)
    s.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello, then silence
    t0 = time.time()
    data = s.recv(100)
    elapsed = time.time() - t0
    s.close()
    assert data == b"" or data.startswith(b"\x15")  # closed (perhaps with an alert)
    assert 9 <= elapsed <= 12.5, elapsed  # the default 10 s handshake deadline


def test_limits_file_is_validated(tmp_path):
    cfg = tmp_path / "limits"
    cfg.write_text("max_handshakes = 10\nbogus = 3\n")
    proc = run(FERRYD, "--name", "x", "--state-dir", tmp_path / "s", "--config", cfg, check=False)
    assert proc.returncode == 1 and "line 2: unknown key 'bogus'; expected a limit" in proc.stderr, proc.stderr


def test_penalty_box_turns_away_a_failing_source(make_cluster, tmp_path):
    c = make_cluster()
    c.up("--nodes", "2", "--subnet", c.subnet)
    st = {n["name"]: n for n in c.status()["nodes"]}
    d = Path(st["n2"]["state_dir"])
    creds = dict(cert=str(d / "node.crt"), key=str(d / "node.key"), ca=str(d / "ca.crt"))
    # Five failed handshakes (garbage instead of a ClientHello) from n2's address ...
    script = tmp_path / "garbage.py"
    script.write_text("import socket,sys\nfor _ in range(5):\n    s=socket.create_connection((sys.argv[1],7440),timeout=5)\n"
                      "    s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'*40)\n    s.recv(100)\n    s.close()\n")
    run("ip", "netns", "exec", f"ferry-{c.name}-n2", "/usr/bin/python3", script, st["n1"]["address"])
    # ... and even a valid client from that address is turned away, before TLS.
    flagged = run("ip", "netns", "exec", f"ferry-{c.name}-n2", "/usr/bin/python3", "-c",
                  "import socket,sys\ns=socket.create_connection((sys.argv[1],7440),timeout=5)\n"
                  "print(repr(s.recv(10)))", st["n1"]["address"], check=False)
    assert flagged.stdout.strip() == "b''" or "reset" in flagged.stderr.lower()
    # Another source is unaffected.
    conn = fw.connect(st["n1"]["address"], fw.NODE_PORT, fw.ALPN_MIG, **creds)
    conn.send(fw.frame(fw.TICKET, b"x"))
    assert conn.error_text() != ""
    conn.close()
