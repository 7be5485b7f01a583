"""Benchmark of one short remote command, the unit every operation is made of.

A deployment, a replication or a log check runs tens of short commands
(``test -e``, ``mv``, ``psql -c``, the polls of detached commands) on the
environment's host; what each costs beyond the command itself adds up in
every operation, and on a deployment day in the downtime. Against a test
``sshd`` started on 127.0.0.50 (its own host key, pinned on both sides),
``--count`` times each, in the same run:

(a) the OpenSSH client, multiplexed over one master connection
    (``ssh -o ControlMaster=auto … true``): the fastest way to run commands
    one after another with the raw tools, no new connection each time;
(b) ``SshTransport.run(["true"])``: one connection for all, a channel per
    command, the process-group wrapper, stdout and stderr read to the end,
    the exit status.

and prints the mean time of each and the ratio "SshTransport / OpenSSH".
Run from the repository root:

    python3 bench/ssh_command_bench.py [--count 50]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import _addon  # noqa: F401 - before the addon is imported
from _openssh import Ssh, write_known_hosts

from deployment_manager.remote.ssh import SshTransport
from deployment_manager.remote.tests.sshd_rig import SshdHost

ADDRESS = "127.0.0.50"


def openssh(rig, work_dir):
    """The OpenSSH client on the rig, multiplexed over one master connection."""
    known_hosts = write_known_hosts(os.path.join(work_dir, "known_hosts"), rig)
    master = [
        "-o",
        f"ControlPath={work_dir}/master-%C",
        "-o",
        "ControlMaster=auto",
        "-o",
        "ControlPersist=60",
    ]
    return Ssh(rig, known_hosts, master)


def mean_seconds(count, run_one):
    run_one()  # the connection is made before the clock starts
    start = time.perf_counter()
    for _ in range(count):
        run_one()
    return (time.perf_counter() - start) / count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="dm-ssh-bench-") as work_dir,
        SshdHost(ADDRESS) as rig,
    ):
        ssh = openssh(rig, work_dir)

        def openssh_true():
            subprocess.run(ssh(["true"]), check=True)

        try:
            raw = mean_seconds(args.count, openssh_true)
        finally:
            subprocess.run(
                ["ssh", *ssh.options, "-O", "exit", rig.address],
                capture_output=True,
                check=False,
            )
        with SshTransport(rig.ssh_config()) as transport:

            def transport_true():
                result = transport.run(["true"])
                if not result.ok:
                    raise RuntimeError(f"true failed: {result.stderr.text()}")

            ours = mean_seconds(args.count, transport_true)
    print(f"short command, mean of {args.count}:")
    print(f"  (a) OpenSSH client, multiplexed   {raw * 1000:7.1f} ms")
    print(f"  (b) SshTransport.run              {ours * 1000:7.1f} ms")
    print(f"SshTransport / OpenSSH: {ours / raw:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
