"""Memory of a replication's cross-host filestore step on a million files.

Across two hosts, replication finds the files to move by comparing the
source's filestore with the target's previous copy. This measures what that
costs the manager's Python process (an Odoo worker, whose memory is limited:
``limit_memory_soft``), with the code of the working tree and with the code
of an earlier commit (``--old-ref``, default ead6516, which read each side's
whole list into a dict), on the same files.

It generates a filestore of ``--files`` files laid out as Odoo does
(``<db>/xx/<40 hex digits>``; sparse files of 1 B to 64 KiB: sizes without
the blocks), makes the target's previous copy of it with ``cp -al`` (as a
first replication would have left it), then changes ``--changed`` % of the
source's files: 80 % of those rewritten with another size, 10 % new, 10 %
deleted. Two sshd on 127.0.0.62 and 127.0.0.63 (this machine; the tests'
``sshd_rig``) stand for the source and the target hosts. For each version
of the code a fresh Python process connects to both with ``SshTransport``
and runs the filestore step of a second replication (``_copy_filestore``:
seed the new directory with hard links of the previous copy, compare,
remove what changed or went, ``tar`` the changed files through the
manager). It prints the process's resident memory after connecting
(baseline) and its peak (``ru_maxrss``), its peak virtual size (``VmPeak``:
what Odoo compares with ``limit_memory_soft`` on Linux), the time of the
comparison and of the whole step, and checks the copy: the report's counts,
the number of files, the changed and new files there with their size, the
deleted ones gone. Everything is removed at the end, also on Ctrl-C or
SIGTERM. Run from the repository root, as root (sshd):

    /opt/odoo-venv/bin/python bench/filestore_memory_bench.py [--files 1000000]
"""

import argparse
import dataclasses
import importlib
import importlib.util
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

# Makes the addon's plain-Python parts importable without Odoo.
import _addon  # noqa: F401

from deployment_manager.ops.context import SimpleContext
from deployment_manager.ops.spec import EnvironmentSpec
from deployment_manager.remote import SshConfig, SshTransport
from deployment_manager.remote.tests.sshd_rig import SshdHost

SOURCE_HOST, TARGET_HOST = "127.0.0.62", "127.0.0.63"
SRC_DB, TGT_DB = "dm_fsbench_src", "dm_fsbench_tgt"
STAMP = "20260101000002"
MODULE = "deployment_manager/ops/replicate.py"
MIB = 1 << 20


# -- the child: one version of the code, in a process of its own --------------


def status_kib(*names):
    """Fields of /proc/self/status, in KiB."""
    found = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            name, _sep, value = line.partition(":")
            if name in names:
                found[name] = int(value.split()[0])
    return found


def load_replicate(ref):
    """The replicate module of the working tree, or of commit ``ref``
    (beside the working tree's other modules, which it imports)."""
    if ref is None:
        return importlib.import_module("deployment_manager.ops.replicate")
    source = subprocess.run(
        ["git", "-C", os.path.dirname(BENCH), "show", f"{ref}:{MODULE}"],
        check=True,
        capture_output=True,
    ).stdout
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/replicate.py"
        with open(path, "wb") as handle:
            handle.write(source)
        # Named inside deployment_manager.ops: its relative imports work.
        spec = importlib.util.spec_from_file_location(
            f"deployment_manager.ops.replicate_at_{ref}", path
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def child(args):
    """Run the filestore step once; print what it cost, as JSON."""
    configs = json.load(sys.stdin)
    module = load_replicate(args.ref)
    root = args.root
    timings = {"compare": 0.0}

    def timed(method):
        def wrapper(*a, **kw):
            start = time.perf_counter()
            try:
                return method(*a, **kw)
            finally:
                timings["compare"] += time.perf_counter() - start

        return wrapper

    with (
        SshTransport(SshConfig(**configs["source"])) as source,
        SshTransport(SshConfig(**configs["target"])) as target,
    ):
        for transport in (source, target):
            transport.run(["true"]).check()
        baseline = status_kib("VmRSS", "VmPeak")
        ctx = SimpleContext(work_dir=f"{root}/manager-work")
        job = module._Replicate(
            ctx,
            source,
            EnvironmentSpec(
                name="production",
                db_name=SRC_DB,
                data_dir=f"{root}/src-data",
                work_dir=f"{root}/src-work",
            ),
            target,
            EnvironmentSpec(
                name="preproduction",
                db_name=TGT_DB,
                data_dir=f"{root}/tgt-data",
                work_dir=f"{root}/tgt-work",
            ),
            STAMP,
        )
        # The comparison: the merge of the streamed lists, or the two lists
        # read whole (the old code's _list_files, called once per side).
        for name in ("_compare", "_list_files"):
            if hasattr(job, name):
                setattr(job, name, timed(getattr(job, name)))
        start = time.perf_counter()
        job._copy_filestore()
        step = time.perf_counter() - start
    # VmHWM, not ru_maxrss: the latter keeps the high-water mark of the
    # process before its exec, i.e. of the parent that forked it.
    peak = status_kib("VmHWM", "VmPeak")
    json.dump(
        {
            "baseline_rss_kib": baseline["VmRSS"],
            "peak_rss_kib": peak["VmHWM"],
            "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "baseline_vmpeak_kib": baseline["VmPeak"],
            "peak_vmpeak_kib": peak["VmPeak"],
            "compare_s": timings["compare"],
            # The hard links of the previous copy, before any comparison.
            "seed_s": sum(c.duration for c in ctx.commands if c.argv[0] == "cp"),
            "step_s": step,
            "report": job.result["filestore"],
        },
        sys.stdout,
    )


# -- the parent: the files, the hosts, the measures ----------------------------


def generate(top, count, picked, rng):
    """``count`` sparse files under ``top``/xx/, named by 40 hex digits;
    the names of those whose index is in ``picked``, to change later (the
    other names are not kept: this process stays small, see child())."""
    for index in range(256):
        os.makedirs(os.path.join(top, "%02x" % index))
    names = []
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for index in range(count):
        name = "%040x" % rng.getrandbits(160)
        fd = os.open(f"{top}/{name[:2]}/{name}", flags, 0o644)
        try:
            os.ftruncate(fd, rng.randint(1, 64 << 10))
        finally:
            os.close(fd)
        if index in picked:
            names.append(f"{name[:2]}/{name}")
        if index and index % 200_000 == 0:
            print(f"  {index:,} files", flush=True)
    rng.shuffle(names)
    return names


def change(top, names, added, rng):
    """Rewrite 8 of 9 ``names`` with another size, delete the rest, add
    ``added`` files: ({path: size} changed, {path: size} new, [deleted]).
    A rewritten file is a new inode: the previous copy keeps the old one."""
    rewrite, deleted = names[: len(names) * 8 // 9], names[len(names) * 8 // 9 :]
    changed, new = {}, {}
    for relative in rewrite:
        path = f"{top}/{relative}"
        size = os.path.getsize(path) + 1
        os.unlink(path)
        with open(path, "wb") as handle:
            handle.truncate(size)
        changed[relative] = size
    for _index in range(added):
        name = "%040x" % rng.getrandbits(160)
        with open(f"{top}/{name[:2]}/{name}", "wb") as handle:
            handle.truncate(100)
        new[f"{name[:2]}/{name}"] = 100
    for relative in deleted:
        os.unlink(f"{top}/{relative}")
    return changed, new, deleted


def count_files(top):
    total = 0
    for _folder, _dirs, files in os.walk(top):
        total += len(files)
    return total


def run_child(ref, root, configs):
    argv = [sys.executable, os.path.abspath(__file__), "--child", "--root", root]
    if ref:
        argv += ["--ref", ref]
    done = subprocess.run(
        argv, input=json.dumps(configs), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"the measure failed:\n{done.stderr}")
    return json.loads(done.stdout)


def check(result, root, expected, total):
    """What is wrong with the new copy, as a list of sentences."""
    changed, added, deleted = expected
    new_dir = f"{root}/tgt-data/filestore/{TGT_DB}_replica_{STAMP}"
    report = result["report"]
    wanted = {
        "files_total": total,
        "files_moved": len(changed) + len(added),
        "files_deleted": len(deleted),
    }
    problems = [
        f"{key}: {report[key]}, expected {value}"
        for key, value in wanted.items()
        if report[key] != value
    ]
    for relative, size in {**changed, **added}.items():
        path = f"{new_dir}/{relative}"
        if not os.path.exists(path) or os.path.getsize(path) != size:
            problems.append(f"{relative} missing or of the wrong size")
    problems += [
        f"{r} not deleted" for r in deleted if os.path.exists(f"{new_dir}/{r}")
    ]
    found = count_files(new_dir)
    if found != total:
        problems.append(f"{found} files in the copy, expected {total}")
    return problems[:10]


def mib(kib):
    return f"{kib / 1024:,.0f} MiB"


def interrupted(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument(
        "--changed", type=float, default=1.0, help="%% of the files changed"
    )
    parser.add_argument("--dir", default=None, help="where to write the files")
    parser.add_argument(
        "--old-ref", default="ead6516", help="the commit of the old code, or ''"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--ref", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def main():
    args = parse_args()
    if args.child:
        child(args)
        return 0
    signal.signal(signal.SIGTERM, interrupted)
    base = args.dir or tempfile.gettempdir()
    free = os.statvfs(base)
    if free.f_favail < args.files * 1.2 + 10_000:
        raise SystemExit(f"{base}: not enough free inodes for {args.files} files")
    root = tempfile.mkdtemp(prefix="dm-filestore-bench-", dir=base)
    versions = [("working tree", None)]
    if args.old_ref:
        versions.append((f"at {args.old_ref}", args.old_ref))
    rng = random.Random(20260101)
    problems = []
    try:
        source = f"{root}/src-data/filestore/{SRC_DB}"
        previous = f"{root}/tgt-data/filestore/{TGT_DB}"
        start = time.perf_counter()
        print(f"generating {args.files:,} files in {root}...", flush=True)
        # 1 % by default: 80 % of them rewritten, 10 % deleted, 10 % new.
        count = max(10, round(args.files * args.changed / 100))
        picked = set(rng.sample(range(args.files), count - count // 10))
        names = generate(source, args.files, picked, rng)
        os.makedirs(os.path.dirname(previous))
        subprocess.run(["cp", "-al", "--", source, previous], check=True)
        expected = change(source, names, count // 10, rng)
        total = args.files + len(expected[1]) - len(expected[2])
        # Page cache warm for every measure, the first included.
        subprocess.run(["find", source, previous, "-printf", ""], check=True)
        print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
        print(
            f"source {total:,} files; changed {len(expected[0]):,}, "
            f"new {len(expected[1]):,}, deleted {len(expected[2]):,}",
            flush=True,
        )
        results = {}
        with SshdHost(SOURCE_HOST) as one, SshdHost(TARGET_HOST) as two:
            configs = {
                "source": dataclasses.asdict(one.ssh_config()),
                "target": dataclasses.asdict(two.ssh_config()),
            }
            for label, ref in versions:
                print(f"measuring the code {label}...", flush=True)
                result = results[label] = run_child(ref, root, configs)
                problems += [
                    f"{label}: {p}" for p in check(result, root, expected, total)
                ]
                shutil.rmtree(f"{root}/tgt-data/filestore/{TGT_DB}_replica_{STAMP}")
        print()
        print(
            f"{'code':<14} {'RSS: baseline':>13} {'peak':>8} {'VmPeak: baseline':>16} "
            f"{'peak':>8} {'compare':>8} {'seed':>7} {'step':>7}"
        )
        for label, r in results.items():
            print(
                f"{label:<14} {mib(r['baseline_rss_kib']):>13} "
                f"{mib(r['peak_rss_kib']):>8} {mib(r['baseline_vmpeak_kib']):>16} "
                f"{mib(r['peak_vmpeak_kib']):>8} {r['compare_s']:7.2f}s "
                f"{r['seed_s']:6.2f}s {r['step_s']:6.2f}s"
            )
        for label, r in results.items():
            print(
                f"{label}: ru_maxrss {mib(r['ru_maxrss_kib'])}; "
                f"report {json.dumps(r['report'])}"
            )
        print("copies checked: ok" if not problems else "\n".join(problems))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
