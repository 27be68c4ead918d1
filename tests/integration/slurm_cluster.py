"""A private single-node Slurm for the integration tests: munged, slurmctld and slurmd started
from a slurm.conf written into a temporary directory (ports found free at run time, state,
spool, logs and the munge socket all inside it), stopped by PID afterwards.

Needs root (slurmd runs jobs as their user and the daemons here run as root) and the Debian
packages slurm-wlm and munge (deploy/install-deps.sh installs them). Every client command
(sbatch, squeue, scancel, sacct) finds this cluster through SLURM_CONF, which ``env()`` returns.

Choices that matter for the tests:
- CPUs are the only consumable (CR_CPU): jobs without --mem can run side by side.
- A second partition ``held`` is DOWN: a job submitted there stays PENDING (PartitionDown).
- Partitions ``low`` and ``high`` share the node with partition-priority preemption: a job in
  ``high`` that needs the CPUs of a ``low`` job cancels it, and Slurm reports it PREEMPTED
  (``debug`` and ``low`` are on the same tier, so nothing else is ever preempted).
- No slurmdbd: accounting_storage/none plus jobcomp/filetxt, so ``sacct -c`` knows finished jobs
  (the executor falls back to it when plain sacct has no storage).
- batch_sched_delay=0 and ReturnToService=2 keep starts quick and the node usable.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sacct", "scontrol",
            "sinfo")


def missing_reason():
    """Why this machine cannot run the cluster, or None."""
    if os.geteuid() != 0:
        return "the Slurm tests need root (slurmd and munged run as root here)"
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        return "Slurm binaries missing: %s (apt-get install slurm-wlm munge)" % ", ".join(missing)
    return None


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _wait(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("Slurm test cluster: %s did not happen within %d s" % (what, timeout))


class SlurmCluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="hs-slurm-")
        os.chmod(self.dir, 0o755)  # munged refuses a socket dir others cannot traverse
        for sub in ("munge", "state", "spool", "log", "work"):
            os.makedirs(os.path.join(self.dir, sub))
        self.host = socket.gethostname().split(".")[0]
        self.conf = os.path.join(self.dir, "slurm.conf")
        self.procs = {}

    def env(self):
        env = dict(os.environ)
        env["SLURM_CONF"] = self.conf
        return env

    def _write_conf(self):
        ctld_port, slurmd_port = _free_ports(2)
        ncpu = os.cpu_count() or 1
        with open("/proc/meminfo") as f:
            mem_kb = int(next(l for l in f if l.startswith("MemTotal")).split()[1])
        mem_mb = max(256, mem_kb // 1024 - 1024)
        d = self.dir
        text = f"""ClusterName=hstest
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={d}/munge/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
ReturnToService=2
SchedulerParameters=batch_sched_delay=0
JobAcctGatherType=jobacct_gather/none
PreemptType=preempt/partition_prio
PreemptMode=CANCEL
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={d}/log/jobcomp.txt
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={ncpu} RealMemory={mem_mb} State=UNKNOWN
PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
PartitionName=held Nodes={self.host} Default=NO MaxTime=INFINITE State=DOWN
PartitionName=low Nodes={self.host} Default=NO MaxTime=INFINITE State=UP PriorityTier=1
PartitionName=high Nodes={self.host} Default=NO MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF
"""
        with open(self.conf, "w") as f:
            f.write(text)

    def _spawn(self, name, argv):
        out = open(os.path.join(self.dir, "log", name + ".out"), "ab")
        self.procs[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                            env=self.env())
        out.close()

    def _run(self, *argv):
        return subprocess.run(list(argv), capture_output=True, text=True, env=self.env(),
                              timeout=30)

    def start(self):
        self._write_conf()
        m = os.path.join(self.dir, "munge")
        key = os.path.join(m, "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(128))
        os.chmod(key, 0o600)
        self._spawn("munged", ["munged", "-F", "--socket=" + m + "/munge.sock",
                               "--key-file=" + key, "--pid-file=" + m + "/munged.pid",
                               "--seed-file=" + m + "/munged.seed",
                               "--log-file=" + m + "/munged.log"])
        _wait(lambda: os.path.exists(m + "/munge.sock"), 10, "munged start")
        self._spawn("slurmctld", ["slurmctld", "-D", "-f", self.conf])
        _wait(lambda: "UP" in self._run("scontrol", "ping").stdout, 30, "slurmctld start")
        self._spawn("slurmd", ["slurmd", "-D", "-f", self.conf])
        _wait(lambda: self._run("sinfo", "-h", "-p", "debug", "-n", self.host, "-o",
                                "%T").stdout.strip() == "idle", 30, "node idle")
        return self

    def squeue(self, job_id):
        """(state, reason) of a Slurm job as squeue shows it, or None."""
        r = self._run("squeue", "-h", "--states=all", "-j", str(job_id), "-o", "%T|%r")
        line = r.stdout.strip()
        return tuple(line.split("|", 1)) if r.returncode == 0 and line else None

    def tasks(self, array_id):
        """{task: (array id, state)} of an array's tasks as ``squeue -r`` shows them."""
        r = self._run("squeue", "-h", "-r", "--states=all", "-j", str(array_id), "-o", "%K|%F|%T")
        out = {}
        for line in r.stdout.split():
            task, array, state = line.split("|")
            out[int(task)] = (array, state)
        return out

    def named(self, name):
        """The ids squeue shows (``-r``: one per array task) for jobs with this --job-name."""
        r = self._run("squeue", "-h", "-r", "--states=all", "--name=" + name, "-o", "%i")
        return r.stdout.split()

    def sbatch(self, *args):
        """Submits a job of the test's own (e.g. ``"-p", "high", "--wrap", "sleep 1"``); its id."""
        r = self._run("sbatch", "--parsable", "-o", "/dev/null", "--chdir",
                      os.path.join(self.dir, "work"), *args)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def scontrol(self, *args):
        r = self._run("scontrol", *args)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def restart_controller_clean(self):
        """Restarts slurmctld with its saved state cleared (-c): every job it knew is forgotten,
        as after a controller that lost its state; the node's running steps are then killed
        when slurmd registers again. The jobcomp file is set aside too (job ids start again
        at 1, and sacct -c must not answer for a new job with an old one's record)."""
        p = self.procs["slurmctld"]
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
        log = os.path.join(self.dir, "log")
        if os.path.exists(os.path.join(log, "jobcomp.txt")):
            os.replace(os.path.join(log, "jobcomp.txt"),
                       os.path.join(log, "jobcomp.before-clear.txt"))
        self._spawn("slurmctld", ["slurmctld", "-D", "-c", "-f", self.conf])
        _wait(lambda: "UP" in self._run("scontrol", "ping").stdout, 30, "slurmctld restart")
        _wait(lambda: self._run("sinfo", "-h", "-p", "debug", "-n", self.host, "-o",
                                "%T").stdout.strip() in ("idle", "mixed", "allocated"), 60,
              "node back after the restart")

    def kill_node(self):
        """The node dies with its jobs: slurmd and every job step of this cluster are killed
        with SIGKILL, and the node is marked DOWN, as slurmctld does itself once the node has
        been silent for SlurmdTimeout (minutes by default). Its running jobs end NODE_FAIL."""
        p = self.procs.pop("slurmd")
        p.kill()
        p.wait(timeout=15)
        self._kill_stray_steps()
        self.scontrol("update", "NodeName=" + self.host, "State=DOWN", "Reason=node_died")

    def revive_node(self):
        """slurmd started again and the node returned to service."""
        self._spawn("slurmd", ["slurmd", "-D", "-f", self.conf])
        self.scontrol("update", "NodeName=" + self.host, "State=RESUME")
        _wait(lambda: self._run("sinfo", "-h", "-p", "debug", "-n", self.host, "-o",
                                "%T").stdout.strip() in ("idle", "mixed", "allocated"), 60,
              "node back in service")

    @staticmethod
    def runner_pids(daemon_url, job_id):
        """PIDs of the `surgeond run --report-to` processes (on this one node) of a job of the
        daemon at daemon_url: what a test kills to make Slurm see the job fail."""
        needle = ("%s/api/v1/jobs/%d/report" % (daemon_url, job_id)).encode()
        pids = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    args = f.read().split(b"\0")
            except OSError:
                continue
            if b"run" in args and needle in args:
                pids.append(int(pid))
        return pids

    def log_text(self):
        out = []
        for name in ("slurmctld.log", "slurmd.log"):
            p = os.path.join(self.dir, "log", name)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    out.append("== %s ==\n%s" % (name, f.read()[-4000:]))
        return "\n".join(out)

    def cancel_all(self):
        """Cancels every job still pending or running and waits until none is left."""
        ids = self._run("squeue", "-h", "-o", "%A").stdout.split()
        if ids:
            self._run("scancel", *sorted(set(ids)))
            _wait(lambda: not self._run("squeue", "-h", "-o", "%A").stdout.split(), 15,
                  "cancel of the remaining jobs")

    def stop(self):
        if "slurmctld" in self.procs:
            self.cancel_all()
        for name in ("slurmd", "slurmctld", "munged"):
            p = self.procs.get(name)
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self._kill_stray_steps()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _kill_stray_steps(self):
        """A slurmstepd of this cluster that outlived slurmd (by its SLURM_CONF)."""
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if not f.read().startswith(b"slurmstepd"):
                        continue
                with open("/proc/%s/environ" % pid, "rb") as f:
                    if ("SLURM_CONF=" + self.conf).encode() in f.read().split(b"\0"):
                        os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass
