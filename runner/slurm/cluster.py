"""A local single-node SLURM cluster, for tests and for trying SLURM sweeps on one machine.

``python -m runner.slurm.cluster up`` (``make slurm-up``) installs SLURM from the package
manager when it is missing, writes a cluster's configuration under one state directory, starts
its daemons in the foreground (MariaDB and slurmdbd for accounting, slurmctld, slurmd),
records their process ids, and waits until the node takes jobs. ``down`` (``make slurm-down``)
cancels the cluster's jobs and stops exactly the processes it started (``install`` only installs).
Everything the cluster writes stays in the state directory; clients find it through
``SLURM_CONF``.

The daemons are SLURM's own, configured as the SLURM documentation describes for one node;
the choices a single machine without systemd needs are explained where they are made.
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DIRECTORY = Path(tempfile.gettempdir()) / "runner-slurm"
DEFAULT_PORT = 6817  # SLURM's own: slurmctld 6817, slurmd 6818, slurmdbd 6819; MariaDB next
PACKAGES = ("slurm-wlm", "slurmdbd", "mariadb-server")
PROGRAMS = ("slurmctld", "slurmd", "slurmdbd", "mariadbd", "mariadb-install-db", "sinfo")
PARTITION = "debug"  # the default partition: where sweeps go unless told otherwise
URGENT_PARTITION = "urgent"  # a higher-priority partition whose jobs preempt those in debug
READY_TIMEOUT_S = 60.0
CLUSTER_NAME = "runner"


class ClusterError(RuntimeError):
    """Why the cluster cannot start or stop, in one line."""


@dataclass(frozen=True)
class Node:
    """This machine as slurmd sees it."""

    name: str
    cpus: int
    memory_mb: int

    @classmethod
    def this_machine(cls) -> "Node":
        """What ``slurmd -C`` reports; the node must be named after the host."""
        fields = dict(
            item.split("=", 1)
            for item in run_quietly(["slurmd", "-C"]).split()
            if "=" in item and not item.startswith("UpTime")
        )
        # slurmd refuses a node that claims more memory than it finds: leave some headroom
        return cls(fields["NodeName"], int(fields["CPUs"]), int(fields["RealMemory"]) * 9 // 10)


@dataclass(frozen=True)
class Ports:
    slurmctld: int
    slurmd: int
    slurmdbd: int
    mariadb: int

    @classmethod
    def from_base(cls, base: int) -> "Ports":
        return cls(base, base + 1, base + 2, base + 3)

    def named(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass(frozen=True)
class Daemon:
    """A process the cluster started: enough to find it again, and only it."""

    name: str
    pid: int
    started: int  # the kernel's start time of the process, so a reused pid is not taken for it

    def alive(self) -> bool:
        return process_start_time(self.pid) == self.started


class LocalCluster:
    """The cluster whose configuration, state and logs live in ``directory``."""

    def __init__(self, directory: Path = DEFAULT_DIRECTORY, port: int = DEFAULT_PORT) -> None:
        self.directory = Path(directory).resolve()
        self.ports = Ports.from_base(port)

    @property
    def conf(self) -> Path:
        return self.directory / "slurm.conf"

    @property
    def environment(self) -> dict[str, str]:
        """What a client (sbatch, squeue, submitit) needs in its environment to use the cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    @property
    def _daemons_file(self) -> Path:
        return self.directory / "daemons.json"

    def running(self) -> list[Daemon]:
        """The daemons this cluster started that are still alive."""
        try:
            recorded = json.loads(self._daemons_file.read_text())
        except (OSError, ValueError):
            return []
        return [d for d in (Daemon(**entry) for entry in recorded) if d.alive()]

    def up(self, accounting: bool = True) -> list[Daemon]:
        """Start the cluster and wait until its node is idle; return the daemons started.

        On any failure every daemon started so far is stopped again.
        """
        self._check_can_start(accounting)
        self._prepare_directory()
        self._write_configs(Node.this_machine(), accounting)
        daemons: list[Daemon] = []
        try:
            self._start_daemons(daemons, accounting)
            self._wait_until_idle(daemons)
        except BaseException:
            stop_processes(daemons)
            raise
        return daemons

    def _check_can_start(self, accounting: bool) -> None:
        """Root, no cluster of this directory running, SLURM installed, the ports free."""
        if os.geteuid() != 0:
            raise ClusterError("a local SLURM cluster needs root (its daemons run as root here)")
        if self.running():
            raise ClusterError(
                f"a local SLURM cluster is already running from {self.directory}; "
                "stop it first (make slurm-down)"
            )
        install_missing_packages()
        for name, port in self.ports.named().items():
            if not accounting and name in ("slurmdbd", "mariadb"):
                continue
            if port_in_use(port):
                raise ClusterError(
                    f"port {port} ({name}) is in use: another SLURM or database is running "
                    "here; stop it, or choose other ports with --port"
                )

    def _start_daemons(self, daemons: list[Daemon], accounting: bool) -> None:
        """MariaDB and slurmdbd (with accounting), slurmctld and slurmd, each added to
        ``daemons`` as it starts."""
        if accounting:
            self._initialise_database()
            daemons.append(self._start("mariadbd", self._mariadb_command()))
            wait_for_port(self.ports.mariadb, "mariadbd", self._log("mariadbd"))
            daemons.append(self._start("slurmdbd", ["slurmdbd", "-D"]))
            wait_for_port(self.ports.slurmdbd, "slurmdbd", self._log("slurmdbd"))
        daemons.append(self._start("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)]))
        daemons.append(self._start("slurmd", ["slurmd", "-D", "-f", str(self.conf)]))

    def down(self) -> list[Daemon]:
        """Cancel the cluster's jobs and stop its daemons (by their recorded pids); return
        the daemons that were running."""
        daemons = self.running()
        if any(d.name == "slurmctld" for d in daemons):
            subprocess.run(
                ["scancel", "--full", "--user=root"],
                env=self.environment, capture_output=True, timeout=30, check=False,
            )  # fmt: skip
        stop_processes(self._job_step_daemons(), timeout_s=5.0)
        stop_processes(daemons)
        self._daemons_file.unlink(missing_ok=True)
        return daemons

    def _job_step_daemons(self) -> list[Daemon]:
        """The ``slurmstepd`` processes of this cluster's jobs: slurmd leaves them running
        when it stops, so they are stopped too."""
        found = []
        for pid in (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
                environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if command.startswith(b"slurmstepd") and (
                f"SLURM_CONF={self.conf}".encode() in environment
            ):
                found.append(Daemon("slurmstepd", pid, process_start_time(pid)))
        return found

    def _prepare_directory(self) -> None:
        for sub in ("state", "spool", "log", "database"):
            path = self.directory / sub
            if sub != "log":
                shutil.rmtree(path, ignore_errors=True)  # a fresh cluster: job ids from 1
            path.mkdir(parents=True, exist_ok=True)

    def _log(self, name: str) -> Path:
        return self.directory / "log" / f"{name}.log"

    def _start(self, name: str, command: list[str]) -> Daemon:
        with open(self._log(name), "ab") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment,
                start_new_session=True,  # outlives `make slurm-up`; Ctrl-C there does not reach it
            )
        daemon = Daemon(name, process.pid, process_start_time(process.pid))
        recorded = [vars(d) for d in self.running()] + [vars(daemon)]
        self._daemons_file.write_text(json.dumps(recorded, indent=2) + "\n")
        return daemon

    def _initialise_database(self) -> None:
        """A new MariaDB data directory whose root may log in from 127.0.0.1 without a
        password: the database listens on the loopback interface only."""
        run_quietly(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={self.directory / 'database'}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--user=root",
            ]  # fmt: skip
        )

    def _mariadb_command(self) -> list[str]:
        return [
            "mariadbd", "--no-defaults", f"--datadir={self.directory / 'database'}",
            f"--socket={self.directory / 'mariadb.sock'}", f"--port={self.ports.mariadb}",
            "--bind-address=127.0.0.1", "--skip-name-resolve", "--user=root",
            "--innodb-buffer-pool-size=64M", f"--log-error={self._log('mariadbd')}",
        ]  # fmt: skip

    def _write_configs(self, node: Node, accounting: bool) -> None:
        self.conf.write_text(slurm_conf(self.directory, node, self.ports, accounting))
        dbd_conf = self.directory / "slurmdbd.conf"
        dbd_conf.write_text(slurmdbd_conf(self.directory, node, self.ports))
        dbd_conf.chmod(0o600)  # slurmdbd refuses a config others can read

    def _wait_until_idle(self, daemons: list[Daemon]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            for daemon in daemons:
                if not daemon.alive():
                    raise ClusterError(
                        f"{daemon.name} stopped while starting; see {self._log(daemon.name)}"
                    )
            states = subprocess.run(
                ["sinfo", "-h", "-o", "%T"],
                env=self.environment, capture_output=True, text=True, check=False,
            ).stdout.split()  # fmt: skip
            if "idle" in states:
                return
            time.sleep(0.2)
        raise ClusterError(
            f"the node did not become idle in {READY_TIMEOUT_S:.0f} s; see {self._log('slurmctld')}"
        )


def slurm_conf(directory: Path, node: Node, ports: Ports, accounting: bool) -> str:
    """slurm.conf for one node that is both controller and compute node."""
    if accounting:
        storage = (
            "AccountingStorageType=accounting_storage/slurmdbd\n"
            f"AccountingStorageHost={node.name}\nAccountingStoragePort={ports.slurmdbd}\n"
        )
    else:
        storage = "AccountingStorageType=accounting_storage/none\n"
    return f"""\
# A local single-node cluster written by runner.slurm.cluster; everything under {directory}.
ClusterName={CLUSTER_NAME}
SlurmctldHost={node.name}
SlurmctldPort={ports.slurmctld}
SlurmdPort={ports.slurmd}
SlurmUser=root
SlurmdUser=root
# One machine, no munge: no authentication between the daemons. Credentials expire after 5 s,
# so a requeued job waits that long, not the default 120 s, before it may start again.
AuthType=auth/none
CredType=cred/none
AuthInfo=cred_expire=5
# No systemd or cgroups here: processes are tracked through their parents.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerParameters=sched_interval=1
MailProg=/bin/true
# After SIGTERM a job step has KillWait seconds before SIGKILL.
KillWait=5
# Jobs in {URGENT_PARTITION} preempt jobs in {PARTITION}, which SLURM requeues: the preempted
# job gets SIGTERM, then GraceTime seconds to checkpoint before SIGKILL.
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
{storage}JobAcctGatherType=jobacct_gather/none
StateSaveLocation={directory}/state
SlurmdSpoolDir={directory}/spool
SlurmctldPidFile={directory}/slurmctld.pid
SlurmdPidFile={directory}/slurmd.pid
SlurmctldLogFile={directory}/log/slurmctld.log
SlurmdLogFile={directory}/log/slurmd.log
NodeName={node.name} CPUs={node.cpus} RealMemory={node.memory_mb} State=UNKNOWN
PartitionName={PARTITION} Nodes={node.name} Default=YES MaxTime=INFINITE State=UP PriorityTier=1 GraceTime=5
PartitionName={URGENT_PARTITION} Nodes={node.name} MaxTime=INFINITE State=UP PriorityTier=2 PreemptMode=OFF
"""


def slurmdbd_conf(directory: Path, node: Node, ports: Ports) -> str:
    return f"""\
# slurmdbd of the local cluster; MariaDB listens on 127.0.0.1:{ports.mariadb} only.
AuthType=auth/none
DbdHost={node.name}
DbdPort={ports.slurmdbd}
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={ports.mariadb}
StorageUser=root
StorageLoc=slurm_acct_db
PidFile={directory}/slurmdbd.pid
LogFile={directory}/log/slurmdbd.log
"""


def install_missing_packages() -> None:
    """SLURM, slurmdbd and MariaDB from the package manager, when a program is missing."""
    if all(shutil.which(program) for program in PROGRAMS):
        return
    if shutil.which("apt-get") is None:
        raise ClusterError(
            f"SLURM is not installed and there is no apt-get here; install {' '.join(PACKAGES)}"
        )
    print(f"installing {' '.join(PACKAGES)} with apt-get ...", file=sys.stderr, flush=True)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        result = subprocess.run(command, env=environment, capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise ClusterError(f"{' '.join(command)} failed: {last}")


def run_quietly(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ClusterError(f"{command[0]} failed: {last}")
    return result.stdout


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def wait_for_port(port: int, name: str, log: Path, timeout_s: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise ClusterError(f"{name} did not open port {port} in {timeout_s:.0f} s; see {log}")


def process_start_time(pid: int) -> int:
    """The start time of process ``pid`` in clock ticks since boot; -1 when there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    if fields[0] == "Z":  # a zombie has ended; its parent has not collected it yet
        return -1
    return int(fields[19])


def descendants(daemon: Daemon) -> list[Daemon]:
    """The processes ``daemon`` started, and theirs (slurmctld's slurmscriptd, say)."""
    found = []
    try:
        tasks = list(Path(f"/proc/{daemon.pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        with contextlib.suppress(OSError):
            for pid in map(int, (task / "children").read_text().split()):
                child = Daemon(f"{daemon.name}'s child", pid, process_start_time(pid))
                found += [child, *descendants(child)]
    return found


def stop_processes(daemons: list[Daemon], timeout_s: float = 15.0) -> None:
    """SIGTERM to every one at once, then SIGKILL to those still running after ``timeout_s``;
    return only once they and the processes they started have all ended.

    Those that are this process's children are collected, so that none is left a zombie.
    """
    family = [*daemons, *(child for daemon in daemons for child in descendants(daemon))]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for daemon in daemons if sig == signal.SIGTERM else family:
            if daemon.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(daemon.pid, sig)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for daemon in family:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(daemon.pid, os.WNOHANG)
            if not any(d.alive() for d in family):
                return
            time.sleep(0.05)


def install(cluster: "LocalCluster", args: argparse.Namespace) -> None:
    install_missing_packages()
    print("SLURM, slurmdbd and MariaDB are installed")


def up(cluster: "LocalCluster", args: argparse.Namespace) -> None:
    started = time.monotonic()
    daemons = cluster.up(accounting=not args.no_accounting)
    took = time.monotonic() - started
    print(f"local SLURM cluster up in {took:.1f} s, state in {cluster.directory}:")
    for daemon in daemons:
        print(f"  {daemon.name:<10} pid {daemon.pid}")
    print(f"partitions: {PARTITION} (default), {URGENT_PARTITION} (preempts {PARTITION})")
    print(f"use it from this shell with:\n  export SLURM_CONF={cluster.conf}")


def down(cluster: "LocalCluster", args: argparse.Namespace) -> None:
    daemons = cluster.down()
    if daemons:
        names = ", ".join(f"{d.name} ({d.pid})" for d in daemons)
        print(f"stopped the local SLURM cluster in {cluster.directory}: {names}")
    else:
        print(f"no local SLURM cluster is running from {cluster.directory}")


def status(cluster: "LocalCluster", args: argparse.Namespace) -> None:
    daemons = cluster.running()
    for daemon in daemons:
        print(f"{daemon.name:<10} pid {daemon.pid}")
    if not daemons:
        print(f"no local SLURM cluster is running from {cluster.directory}")
        sys.exit(1)


ACTIONS = {"install": install, "up": up, "down": down, "status": status}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m runner.slurm.cluster", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("action", choices=list(ACTIONS))
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("SLURM_DIR", DEFAULT_DIRECTORY)),
                        help="the state directory (default: $SLURM_DIR, else %(default)s)")  # fmt: skip
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="slurmctld's port; slurmd, slurmdbd and MariaDB take the next three")  # fmt: skip
    parser.add_argument("--no-accounting", action="store_true",
                        help="no slurmdbd or MariaDB (sacct then fails; submitit waits forever on a cancelled job)")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        ACTIONS[args.action](LocalCluster(args.dir, args.port), args)
    except ClusterError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
