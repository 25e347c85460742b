# SPDX-License-Identifier: GPL-2.0-or-later
"""Images built from this machine's binaries run under real runc, and CRIU moves their state.

The groundwork of the migration engine: scripts/mkimage's images must serve real workloads, and a
container on them must checkpoint and restore with its state intact (counter keeps counting).
"""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, run

MKIMAGE = REPO / "scripts" / "mkimage"


class Runc:
    """One runc container under a private runc root; always deleted afterwards."""

    def __init__(self, tmp_path, name):
        self.root = tmp_path / "runc-root"
        self.bundle = tmp_path / f"bundle-{name}"
        self.id = f"ferry-test-{name}-{os.getpid()}"
        self.started = False

    def runc(self, *args, check=True, timeout=60):
        return run("timeout", str(timeout), "runc", "--root", self.root, *args, check=check, timeout=timeout + 5)

    def create(self, rootfs, args):
        self.bundle.mkdir()
        run("runc", "spec", "--bundle", self.bundle)
        cfg = json.loads((self.bundle / "config.json").read_text())
        cfg["root"] = {"path": str(rootfs), "readonly": False}
        cfg["process"]["args"] = args
        cfg["process"]["terminal"] = False
        cfg["hostname"] = "ferry-test"
        (self.bundle / "config.json").write_text(json.dumps(cfg))

    def _detached(self, *args):
        """runc run/restore -d with the container's stdout and stderr on a pipe.

        CRIU cannot dump an fd to a host file outside the container's mount namespace, but runc
        checkpoints and restores stdio pipes itself. Our end is closed: the container's output
        is not needed here, and an open read end would only fill up.
        """
        r, w = os.pipe()
        try:
            subprocess.run(["timeout", "60", "runc", "--root", str(self.root), *args], stdin=subprocess.DEVNULL,
                           stdout=w, stderr=w, check=True, timeout=65)
        finally:
            os.close(w)
            os.close(r)

    def start(self):
        self._detached("run", "-d", "--bundle", str(self.bundle), self.id)
        self.started = True

    def restore(self, images):
        self._detached("restore", "-d", "--image-path", str(images), "--bundle", str(self.bundle), self.id)
        self.started = True

    def state(self):
        proc = self.runc("state", self.id, check=False)
        return json.loads(proc.stdout)["status"] if proc.returncode == 0 else None

    def delete(self):
        if self.started:
            self.runc("delete", "--force", self.id, check=False)
            self.started = False


@pytest.fixture
def runc_containers(tmp_path):
    made = []

    def make(name):
        c = Runc(tmp_path, name)
        made.append(c)
        return c

    yield make
    for c in made:
        c.delete()
        assert c.state() is None, f"container {c.id} survived its test"


def test_mkimage_rejects_bad_input(tmp_path):
    bad = run(MKIMAGE, "nginx", tmp_path / "x", check=False)
    assert bad.returncode == 2 and "unknown image 'nginx'" in bad.stderr
    (tmp_path / "exists").mkdir()
    taken = run(MKIMAGE, "busybox", tmp_path / "exists", check=False)
    assert taken.returncode == 1 and "already exists" in taken.stderr


def test_redis_image_serves_under_runc(tmp_path, runc_containers):
    rootfs = tmp_path / "redis"
    run(MKIMAGE, "redis", rootfs)
    c = runc_containers("redis")
    c.create(rootfs, ["/usr/bin/redis-server", "/etc/redis.conf", "--unixsocket", "/tmp/redis.sock"])
    c.start()
    deadline = time.time() + 10
    while True:
        pong = c.runc("exec", c.id, "/usr/bin/redis-cli", "-s", "/tmp/redis.sock", "ping", check=False)
        if pong.stdout.strip() == "PONG":
            break
        assert time.time() < deadline, pong.stderr
        time.sleep(0.1)
    c.runc("exec", c.id, "/usr/bin/redis-cli", "-s", "/tmp/redis.sock", "set", "k", "v")
    assert c.runc("exec", c.id, "/usr/bin/redis-cli", "-s", "/tmp/redis.sock", "get", "k").stdout.strip() == "v"


def read_count(rootfs):
    text = (rootfs / "data" / "count").read_text().strip() if (rootfs / "data" / "count").exists() else ""
    return int(text) if text.isdigit() else 0


def test_counter_keeps_counting_across_criu_checkpoint_and_restore(tmp_path, runc_containers):
    rootfs = tmp_path / "busybox"
    run(MKIMAGE, "busybox", rootfs)
    c = runc_containers("counter")
    # The count lives in the shell's memory; the file only shows it.
    c.create(rootfs, ["/bin/sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /data/count; sleep 0.05; done"])
    c.start()
    deadline = time.time() + 10
    while read_count(rootfs) < 20:
        assert time.time() < deadline, "the counter never started"
        time.sleep(0.05)
    images = tmp_path / "images"
    images.mkdir(mode=0o700)
    c.runc("checkpoint", "--image-path", images, c.id, timeout=60)
    assert c.state() is None  # dumped and stopped
    at_dump = read_count(rootfs)
    (rootfs / "data" / "count").write_text("0\n")  # a restart from scratch would count from 1 again
    c.restore(images)
    assert c.state() == "running"
    deadline = time.time() + 10
    while read_count(rootfs) <= at_dump:
        assert time.time() < deadline, f"counter restarted instead of resuming (at dump {at_dump})"
        time.sleep(0.05)
    assert read_count(rootfs) > at_dump
