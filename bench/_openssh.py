"""The OpenSSH client on the tests' sshd rigs, as an administrator would use
it: the benchmarks' "by hand" side over SSH."""

import shlex


def write_known_hosts(path, *rigs):
    """Pin the rigs' host keys for the OpenSSH client."""
    with open(path, "w") as handle:
        handle.writelines(
            f"[{rig.address}]:{rig.port} {rig.host_key_type} {rig.host_key_base64}\n"
            for rig in rigs
        )
    return path


class Ssh:
    """The OpenSSH client on one rig; ``options`` are added to its own."""

    def __init__(self, rig, known_hosts, options=()):
        self.rig = rig
        self.options = [
            "-F",
            "none",
            "-i",
            rig.client_key_path,
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-p",
            str(rig.port),
            "-l",
            rig.username,
            *options,
        ]

    def __call__(self, argv):
        # ssh hands the remote shell one string: the argv quoted word by
        # word, as SshTransport does.
        return ["ssh", *self.options, self.rig.address, shlex.join(argv)]

    def rsync_shell(self):
        """rsync's -e: split on spaces by rsync itself, no shell (the paths
        were checked to hold no space)."""
        return " ".join(["ssh", *self.options])
