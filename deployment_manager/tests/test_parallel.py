# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Operations in parallel: two real manager servers on one database, six
environments on three sshd hosts, the runners on Odoo's cron workers.

Each environment's status command is a gate on its host: it writes when it
starts, waits until the test opens the gate, writes when it ends. While the
gate is closed the test sees how many operations run at once, on which
server, and that a second operation on a busy environment waits its turn.
"""

import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta

from odoo.tests import tagged

from .common import DeploymentTestMixin
from .test_worker_killed import ManagerServerCase, _free_port

GATE_SH = """\
#!/bin/sh
# $1: the environment's label. Journaled start and end, held while closed.
echo "$1 start $(date +%s.%N)" >> {log}
while [ ! -e {opened} ]; do sleep 0.1; done
echo "$1 end $(date +%s.%N)" >> {log}
echo active
"""


def _utcnow():
    """Naive UTC, as Odoo stores datetimes."""
    return datetime.now(UTC).replace(tzinfo=None)


ADDRESSES = ("127.0.0.41", "127.0.0.42", "127.0.0.43")
THREADS_PER_SERVER = 3


@tagged("post_install", "-at_install")
class TestParallelManagers(DeploymentTestMixin, ManagerServerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sshd_hosts = [cls._start_sshd(address) for address in ADDRESSES]
        cls.log = os.path.join(cls.workdir, "gate.log")
        cls.opened = os.path.join(cls.workdir, "gate-open")
        cls.gate = os.path.join(cls.workdir, "gate.sh")
        with open(cls.gate, "w") as handle:
            handle.write(GATE_SH.format(log=cls.log, opened=cls.opened))
        os.chmod(cls.gate, 0o755)
        cls.servers = {}
        cls.addClassCleanup(cls._stop_servers)

    @classmethod
    def _start_named_server(cls, name):
        """A manager server of its own (port, log), on the shared database."""
        port = cls.port if name == "a" else _free_port()
        cls.servers[name] = subprocess.Popen(
            [
                *cls.base_args,
                "--http-port",
                str(port),
                "--http-interface",
                "127.0.0.1",
                "--max-cron-threads",
                str(THREADS_PER_SERVER),
                "--log-level=warn",
                "--logfile",
                os.path.join(cls.workdir, f"server-{name}.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return cls.servers[name]

    @classmethod
    def _stop_servers(cls):
        for server in cls.servers.values():
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(60)

    def _setup_landscape(self):
        """Six environments, two per sshd host, each gated; six runners."""
        environments = {}
        for index, sshd in enumerate(self.sshd_hosts):
            host_id = self.call(
                "deployment.host",
                "create",
                {
                    "name": f"Host {index + 1}",
                    "kind": "ssh",
                    "hostname": sshd.address,
                    "port": sshd.port,
                    "username": sshd.username,
                    "auth_method": "key",
                    "private_key": sshd.client_key_text,
                    "host_key_type": sshd.host_key_type,
                    "host_key_base64": sshd.host_key_base64,
                    "work_dir": os.path.join(self.workdir, f"work-{index}"),
                },
            )
            for suffix in ("a", "b"):
                label = f"env{index + 1}{suffix}"
                environments[label] = self.call(
                    "deployment.environment",
                    "create",
                    {
                        "name": label,
                        "environment_type": "development",
                        "host_id": host_id,
                        "odoo_status_command": f"{self.gate} {label}",
                    },
                )
        # Four runners are shipped; six run at once when duplicated (README).
        runners = self.call(
            "ir.cron",
            "search",
            [("code", "ilike", "_cron_run_operations")],
        )
        self.assertEqual(len(runners), 4)
        for runner in runners[:2]:
            self.call("ir.cron", "copy", [runner])
        return environments

    def _gate_events(self):
        """{label: [(event, time), ...]} from the gate's journal on the hosts."""
        events = {}
        if not os.path.exists(self.log):
            return events
        with open(self.log) as handle:
            for line in handle:
                label, event, stamp = line.split()
                events.setdefault(label, []).append((event, float(stamp)))
        return events

    def _started(self):
        return {
            label: sum(1 for event, _t in marks if event == "start")
            for label, marks in self._gate_events().items()
        }

    def _operations(self, ids):
        return {
            op["id"]: op
            for op in self.call(
                "deployment.operation",
                "read",
                ids,
                [
                    "state",
                    "worker",
                    "attempt",
                    "started_at",
                    "scheduled_at",
                    "error_message",
                    "error_reason",
                ],
            )
        }

    def test_six_at_once_on_two_servers_one_per_target_and_a_takeover(self):
        """Six operations queued at once run at the same time across two
        servers; a seventh on a busy environment waits for it; a server
        killed mid-way has its operations taken over by the other, none run
        twice; a scheduled operation does not start early; a chain stops at
        its failed link."""
        self._start_named_server("a")
        self._switch_to("a")
        self.wait_for(self._answers, 120, "manager server a did not start")
        # A worker gone is judged so after 1 s.
        self.call(
            "ir.config_parameter",
            "set_param",
            "deployment_manager.heartbeat_grace_seconds",
            "1",
        )
        environments = self._setup_landscape()
        self._start_named_server("b")
        self._switch_to("b")
        self.wait_for(self._answers, 120, "manager server b did not start")
        self._switch_to("a")
        # Requests on six environments at once.
        first = {}
        for label, environment_id in environments.items():
            first[label] = self.call(
                "deployment.environment",
                "queue_operation",
                [environment_id],
                "service_status",
            )
        self.wait_for(
            lambda: len(self._started()) == 6,
            180,
            f"six operations never ran at once: {self._started()}",
        )
        # A seventh on env1a, due now: it must wait for the running one.
        now = _utcnow().strftime("%Y-%m-%d %H:%M:%S")
        seventh = self.call(
            "deployment.environment",
            "queue_operation",
            [environments["env1a"]],
            "service_status",
            scheduled_at=now,
        )
        running = self._operations(list(first.values()))
        self.assertEqual({op["state"] for op in running.values()}, {"running"})
        workers = {op["worker"] for op in running.values()}
        self.assertEqual(len(workers), 2, f"both servers take work: {workers}")
        time.sleep(3)
        self.assertEqual(self._started()["env1a"], 1, "never two on one environment")
        self.assertEqual(self._operations([seventh])[seventh]["state"], "queued")

        # Server a dies with its operations held at the gate.
        server_a = self.servers["a"]
        pid_a = server_a.pid
        os.killpg(pid_a, signal.SIGKILL)
        server_a.wait(30)
        orphans = [
            op_id for op_id, op in running.items() if op["worker"].endswith(f":{pid_a}")
        ]
        self.assertTrue(orphans)
        self._switch_to("b")
        open(self.opened, "w").close()

        ids = [*first.values(), seventh]
        ended = self.wait_for(
            lambda: (
                (ops := self._operations(ids))
                and all(op["state"] not in ("queued", "running") for op in ops.values())
                and ops
            ),
            240,
            "the operations never all ended after the takeover",
        )
        for op in ended.values():
            self.assertEqual(op["state"], "done", op["error_message"])
        for op_id in orphans:
            self.assertEqual(ended[op_id]["attempt"], 2, "taken over by server b")
            self.assertNotIn(f":{pid_a}", ended[op_id]["worker"])
        # None ran twice: one start per operation on its host.
        started = self._started()
        self.assertEqual(started.pop("env1a"), 2)
        self.assertEqual(set(started.values()), {1})
        events = self._gate_events()
        firsts = [marks[:2] for marks in events.values()]
        self.assertLess(
            max(start for (_s, start), _e in firsts),
            min(end for _s, (_e, end) in firsts),
            "the six ran at the same time: all started before any ended",
        )
        _start1, (_e1, end1), (_s2, start2), _end2 = events["env1a"]
        self.assertGreaterEqual(start2, end1, "one at a time on one environment")

        # A scheduled operation does not start early.
        at = _utcnow().replace(microsecond=0) + timedelta(seconds=6)
        scheduled = self.call(
            "deployment.environment",
            "queue_operation",
            [environments["env2a"]],
            "service_status",
            scheduled_at=at.strftime("%Y-%m-%d %H:%M:%S"),
        )
        op = self.wait_until_ended(scheduled, 120, "the scheduled one never ran")
        self.assertEqual(op["state"], "done", op["error_message"])
        [(_event, stamp)] = [
            mark for mark in self._gate_events()["env2a"][2:] if mark[0] == "start"
        ]
        self.assertGreaterEqual(stamp, at.timestamp() - 0.001)

        # A chain stops at its failed link: the drift report fails (no
        # production), what waits for it is cancelled and never runs.
        soon = _utcnow() + timedelta(seconds=3)
        drift = self.call(
            "deployment.environment",
            "queue_operation",
            [environments["env3a"]],
            "drift_report",
            scheduled_at=soon.strftime("%Y-%m-%d %H:%M:%S"),
        )
        after = self.call(
            "deployment.environment",
            "queue_operation",
            [environments["env3b"]],
            "service_status",
            after_operation_id=drift,
        )
        op = self.wait_until_ended(after, 120, "the chain never ended", "error_reason")
        self.assertEqual(op["state"], "cancelled")
        self.assertEqual(op["error_reason"], "dependency")
        self.assertEqual(self._started()["env3b"], 1, "the cancelled link never ran")

    def _switch_to(self, name):
        """Talk to server ``name`` from now on."""
        server = self.servers[name]
        type(self).port = int(server.args[server.args.index("--http-port") + 1])
        self._proxies()

    def _answers(self):
        try:
            return self.common.version()
        except OSError:
            return None
