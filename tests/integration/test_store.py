# SPDX-License-Identifier: GPL-2.0-or-later
"""The controller's registry in a real PostgreSQL server, over TLS with a verified server.

Each test starts its own server (Debian's postgresql-15: initdb in a temporary directory, a CA and a
server certificate for the cluster's gateway address made with openssl, scram-sha-256 passwords,
TLS only from the cluster's subnet) and stops and removes it afterwards.
"""
import glob
import ipaddress
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, STATE_ROOT, ferry, run

MKIMAGE = REPO / "scripts" / "mkimage"
PASSWORD = "ferry-test-" + "".join(random.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(12))


def pg_bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    assert found, f"{name} is missing (scripts/setup installs postgresql-15)"
    return found[-1]


def free_port():
    while True:
        port = random.randint(20000, 40000)
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
                return port
            except OSError:
                continue


class Postgres:
    def __init__(self, subnet):
        self.net = ipaddress.ip_network(subnet)
        self.host = str(self.net.network_address + 1)  # the cluster's gateway, in the root namespace
        self.root = Path(tempfile.mkdtemp(prefix="ferry-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.started = False

    def as_postgres(self, *args, check=True):
        return run("runuser", "-u", "postgres", "--", *args, check=check)

    def start(self):
        os.chmod(self.root, 0o755)
        r = self.root
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", r / "ca.key", "-out", r / "ca.crt", "-days", "2", "-subj", "/CN=ferry test CA")
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
            r / "server.key", "-out", r / "server.csr", "-subj", f"/CN={self.host}")
        (r / "san.ext").write_text(f"subjectAltName = IP:{self.host}\n")
        run("openssl", "x509", "-req", "-in", r / "server.csr", "-CA", r / "ca.crt", "-CAkey", r / "ca.key",
            "-CAcreateserial", "-out", r / "server.crt", "-days", "2", "-extfile", r / "san.ext")
        (r / "pw").write_text(PASSWORD + "\n")
        run("chown", "-R", "postgres:postgres", r)
        os.chmod(r / "server.key", 0o600)
        self.as_postgres(pg_bin("initdb"), "-D", self.data, "-U", "postgres", "--pwfile", r / "pw",
                         "--auth-local=trust", "--auth-host=scram-sha-256")
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"listen_addresses = '*'\nport = {self.port}\nunix_socket_directories = '{r}'\n"
                    f"ssl = on\nssl_cert_file = '{r}/server.crt'\nssl_key_file = '{r}/server.key'\n")
        # TLS from the cluster's subnet only; nothing else.
        (self.data / "pg_hba.conf").write_text(
            "local all postgres trust\n"
            f"hostssl all all {self.net} scram-sha-256\n"
            "host all all 0.0.0.0/0 reject\nhost all all ::/0 reject\n")
        self.as_postgres(pg_bin("pg_ctl"), "-D", self.data, "-l", r / "log", "-w", "-t", "30", "start")
        self.started = True
        self.sql(f"CREATE ROLE ferry LOGIN PASSWORD '{PASSWORD}'")
        self.sql("CREATE DATABASE ferry OWNER ferry")

    def sql(self, statement, db="postgres", check=True):
        return self.as_postgres("psql", "-h", self.root, "-p", str(self.port), "-d", db, "-v", "ON_ERROR_STOP=1",
                                "-At", "-c", statement, check=check)

    def url(self, sslmode="verify-full", ca=None):
        return (f"postgresql://ferry:{PASSWORD}@{self.host}:{self.port}/ferry?sslmode={sslmode}"
                f"&sslrootcert={ca or self.root / 'ca.crt'}")

    def stop(self):
        if self.started:
            self.as_postgres(pg_bin("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def pg_cluster(make_cluster):
    c = make_cluster()
    pg = Postgres(c.subnet)
    try:
        pg.start()
        yield c, pg
    finally:
        pg.stop()


def store_file(tmp_path, url):
    f = tmp_path / "store"
    f.write_text(f"store = {url}\n")
    f.chmod(0o600)
    return f


def test_postgresql_keeps_the_registry_and_refuses_to_rewrite_the_audit_log(pg_cluster, tmp_path):
    c, pg = pg_cluster
    # The decision loop runs while the hosts enroll: the store is reached through the cluster's first switch, whose
    # MAC must not change as hosts join it (it did, and a query then waited in the controller's send queue).
    manager = tmp_path / "manager.conf"
    manager.write_text("policy = bandwidth\nsample_interval_ms = 500\nfast_sample_interval_ms = 200\n"
                       "check_interval_ms = 1000\n")
    c.up("--nodes", "2", "--subnet", c.subnet, "--store-file", store_file(tmp_path, pg.url()), "--controller-config",
         manager)
    ctl = STATE_ROOT / c.name / "nodes" / "controller"
    assert (ctl / "store").stat().st_mode & 0o777 == 0o600
    assert not (ctl / "registry.db").exists()
    # The password is in no command line and no log.
    logs = "".join(p.read_text(errors="replace") for p in (STATE_ROOT / c.name / "nodes").glob("*/daemon.log"))
    assert PASSWORD not in logs
    env = dict(os.environ, FERRY_ADMIN_DIR=str(STATE_ROOT / c.name / "admin"))

    def f(*args, check=True):
        return ferry(*args, env=env, check=check, timeout=300)

    image = tmp_path / "busybox"
    run(MKIMAGE, "busybox", image)
    f("image", "import", image, "--name", "busybox")
    f("run", "--name", "kv", "--image", "busybox", "--node", "n1", "--", "/bin/sleep", "100000")
    assert f("migrate", "kv", "--to", "n2", "--json").returncode == 0
    assert json.loads(f("ps", "--json").stdout)["containers"][0]["node"] == "n2"
    # It is all in PostgreSQL: nodes, containers, migrations, the audit log, the measurement's tables.
    assert pg.sql("SELECT count(*) FROM identities WHERE role = 'node' AND status = 'active'", "ferry").stdout.strip() \
        == "2"
    assert pg.sql("SELECT node, generation FROM containers", "ferry").stdout.strip() == "n2|2"
    assert pg.sql("SELECT result FROM migrations", "ferry").stdout.strip() == "ok"
    actions = pg.sql("SELECT action FROM audit ORDER BY seq", "ferry").stdout.split()
    assert actions[-3:] == ["image-import", "run", "migrate"], actions
    verdict = json.loads(f("audit", "verify", "--json").stdout)
    assert verdict["result"] == "intact" and verdict["entries"] == len(actions)
    # The database refuses to change or drop audit entries, whoever asks.
    for statement in ("UPDATE audit SET actor = 'x' WHERE seq = 1", "DELETE FROM audit WHERE seq = 1",
                      "TRUNCATE audit"):
        proc = pg.sql(statement, "ferry", check=False)
        assert proc.returncode != 0 and "append-only" in proc.stderr, (statement, proc.stderr)
    # The manager's measurement goes there too, and explain reads it.
    out = json.loads(f("policy", "explain", "kv", "--policy", "bandwidth", "--json").stdout)
    assert [r["node"] for r in out["candidates"] if r["result"] == "candidate"] == ["n1"], out
    assert int(pg.sql("SELECT count(*) FROM host_samples WHERE node = 'n2'", "ferry").stdout) > 0
    assert int(pg.sql("SELECT count(*) FROM rtt_samples", "ferry").stdout) > 0
    # A controller restart finds everything where it was.
    ferry("cluster", "restart", "controller", "--name", c.name)
    assert json.loads(f("ps", "--json").stdout)["containers"][0]["node"] == "n2"
    assert json.loads(f("history", "--json").stdout)["migrations"][0]["result"] == "ok"


@pytest.mark.parametrize("case", ["unverified", "wrong-ca", "unreachable"])
def test_a_store_that_is_not_safely_reachable_stops_cluster_up(pg_cluster, tmp_path, case):
    c, pg = pg_cluster
    if case == "unverified":
        url, needle = pg.url(sslmode="require"), "lacks sslmode=verify-full"
    elif case == "wrong-ca":
        other = tmp_path / "other-ca.crt"
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", tmp_path / "other.key", "-out", other, "-days", "1", "-subj", "/CN=someone else")
        url, needle = pg.url(ca=other), "certificate verify failed"
    else:
        url, needle = pg.url().replace(f":{pg.port}/", f":{free_port()}/"), "cannot connect to PostgreSQL"
    proc = c.up("--nodes", "1", "--subnet", c.subnet, "--store-file", store_file(tmp_path, url), check=False)
    assert proc.returncode == 1 and needle in proc.stderr, proc.stderr
    assert PASSWORD not in proc.stderr
    assert not (STATE_ROOT / c.name).exists()
