# SPDX-License-Identifier: GPL-2.0-or-later
"""make install's layout: programs, systemd units that name them, example configuration."""
import subprocess

from conftest import BUILD, run


def test_install_layout(tmp_path):
    run("meson", "install", "-C", BUILD, "--no-rebuild", "--destdir", tmp_path, timeout=300)
    prefix = tmp_path / "usr" / "local"
    for prog in ("sbin/ferryd", "sbin/ferry-controller", "bin/ferry"):
        assert (prefix / prog).exists(), prog
    assert run(prefix / "bin" / "ferry", "version").stdout.startswith("ferry ")
    unit = (prefix / "lib" / "systemd" / "system" / "ferryd.service").read_text()
    assert "ExecStart=/usr/local/sbin/ferryd --name ${FERRY_NAME}" in unit and "@" not in unit
    assert "KillMode=process" in unit and "EnvironmentFile=/usr/local/etc/ferry/ferryd.env" in unit
    ctl = (prefix / "lib" / "systemd" / "system" / "ferry-controller.service").read_text()
    assert "ExecStart=/usr/local/sbin/ferry-controller" in ctl
    for f in ("ferryd.env.example", "ferry-controller.env.example", "limits.conf.example"):
        assert (prefix / "etc" / "ferry" / f).exists(), f
    assert (prefix / "share" / "doc" / "ferry" / "DEPLOY.md").exists()
    # The example limits file is one the daemons accept.
    proc = subprocess.run([str(prefix / "sbin" / "ferryd"), "--name", "n1", "--state-dir", str(tmp_path / "none"),
                           "--config", str(prefix / "etc" / "ferry" / "limits.conf.example")],
                          capture_output=True, text=True, timeout=30)
    # It gets past the limits file to the next check (this state directory never joined).
    assert "has not joined a cluster" in proc.stderr, proc.stderr
