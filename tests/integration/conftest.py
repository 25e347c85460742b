# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures for integration tests: real binaries on a real local cluster.

Every cluster a test creates is torn down afterwards, even when the test
fails, and the teardown itself checks that nothing named after the cluster
is left: namespaces, interfaces, mounts, cgroups, state files, processes.
"""
import json
import os
import random
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / os.environ.get("FERRY_BUILD", "build")
FERRY = BUILD / "src" / "cli" / "ferry"
FERRYD = BUILD / "src" / "ferryd" / "ferryd"
CONTROLLER = BUILD / "src" / "controller" / "ferry-controller"
STATE_ROOT = Path(os.environ.get("FERRY_CLUSTER_ROOT", "/run/ferry/clusters"))


def run(*args, check=True, timeout=120, env=None):
    """Run a command; return CompletedProcess with text output."""
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


def ferry(*args, **kw):
    return run(FERRY, *args, **kw)


def cgroup2_root():
    """The cgroup2 mount point (pure v2 at /sys/fs/cgroup preferred), or None."""
    found = None
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[fields.index("-") + 1] == "cgroup2":
            if fields[4] == "/sys/fs/cgroup":
                return Path(fields[4])
            found = found or Path(fields[4])
    return found


def pid_alive(pid):
    """True when pid exists and is not a zombie (PID 1 here reaps orphans lazily)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def leftovers(name, pids=()):
    """Everything named after cluster `name` that still exists."""
    left = []
    netns = Path("/run/netns")
    if netns.is_dir():
        left += [f"netns {p.name}" for p in netns.iterdir() if p.name.startswith(f"ferry-{name}-")]
    left += [f"link {p.name}" for p in Path("/sys/class/net").iterdir() if p.name.startswith(f"fy{name}-")]
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mp = line.split()[4]
        if mp.startswith(f"{STATE_ROOT}/{name}/") or mp == f"{STATE_ROOT}/{name}":
            left.append(f"mount {mp}")
    if (STATE_ROOT / name).exists():
        left.append(f"state {STATE_ROOT / name}")
    cg = cgroup2_root()
    if cg and (cg / "ferry" / name).exists():
        left.append(f"cgroup {cg / 'ferry' / name}")
    left += [f"process {p}" for p in pids if pid_alive(p)]
    # CRIU's probe cache link (src/lib/runtime/kdat.c) into this cluster's nodes.
    kdat = Path("/run/criu.kdat")
    if kdat.is_symlink() and os.readlink(kdat).startswith(f"{STATE_ROOT}/{name}/"):
        left.append(f"link {kdat}")
    return left


class Cluster:
    def __init__(self, name, subnet):
        self.name = name
        self.subnet = subnet
        self.pids = []

    def up(self, *args, check=True):
        proc = ferry("cluster", "up", "--name", self.name, *args, check=check)
        if proc.returncode == 0:
            self.pids = [n["pid"] for n in self.status()["nodes"] if n["pid"]]
        return proc

    def status(self):
        return json.loads(ferry("cluster", "status", "--name", self.name, "--json", check=False).stdout)

    def exec(self, node, *cmd, check=True, timeout=60):
        return ferry("cluster", "exec", "--name", self.name, node, "--", *cmd, check=check, timeout=timeout)

    def down(self):
        return ferry("cluster", "down", "--name", self.name, check=False)


@pytest.fixture
def make_cluster():
    """Factory for clusters with unique names and subnets; tears all of them down."""
    made = []

    def make():
        name = "t" + "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(5))
        subnet = f"10.{random.randint(100, 250)}.{random.randint(0, 255)}.0/24"
        c = Cluster(name, subnet)
        made.append(c)
        return c

    yield make
    problems = []
    for c in made:
        proc = c.down()
        if proc.returncode != 0:
            problems.append(f"cluster down {c.name} failed: {proc.stderr}")
        left = leftovers(c.name, c.pids)
        if left:
            problems.append(f"cluster {c.name} left behind: {left}")
            force_clean(c.name)
    assert not problems, "\n".join(problems)


def force_clean(name):
    """Last resort after a failed teardown, so one bad test does not poison the next."""
    for p in leftovers(name):
        kind, _, what = p.partition(" ")
        if kind == "netns":
            run("ip", "netns", "delete", what, check=False)
        elif kind == "link":
            run("ip", "link", "delete", what, check=False)
        elif kind == "mount":
            run("umount", "-l", what, check=False)
    run("rm", "-rf", "--one-file-system", str(STATE_ROOT / name), check=False)


@pytest.fixture(scope="session", autouse=True)
def require_root_and_build():
    assert os.geteuid() == 0, "integration tests need root (namespaces, bridges, mounts)"
    for b in (FERRY, FERRYD, CONTROLLER):
        assert b.exists(), f"{b} is missing; run 'make build' first"
