"""A real OpenSSH server on 127.0.0.1 for the SSH remote tests: ``/usr/sbin/sshd -D`` with a
throwaway host key, a throwaway client key as its only authorized key, on a free port, stopped
at the end (SIGTERM, then SIGKILL after a timeout). ``known_hosts`` is a file that trusts its
host key (mlvc checks host keys: without it the server is refused). ``.ci/run`` installs
openssh-server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

from s3server import free_port

SSHD = "/usr/sbin/sshd"


def why_not() -> str | None:
    """Why a test sshd cannot run here (None when it can)."""
    if not os.access(SSHD, os.X_OK):
        return f"no {SSHD}: apt-get install -y openssh-server (.ci/run does it)"
    if shutil.which("ssh-keygen") is None:
        return "no ssh-keygen: apt-get install -y openssh-client"
    if os.geteuid() != 0:
        return "sshd with a temp config needs root here (privilege separation)"
    return None


def keygen(path: str) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mlvc-test", "-f", path],
                   check=True, stdout=subprocess.DEVNULL)
    return path


class SshServer:
    """sshd on ``127.0.0.1:port``; log in as ``user`` (root: PermitRootLogin yes, StrictModes no
    in the temp config) with ``keyfile`` (no password, no agent)."""

    def __init__(self, workdir: str, timeout: float = 20) -> None:
        os.makedirs(workdir, exist_ok=True)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation folder
        self.port = free_port()
        self.user = "root"
        host_key = keygen(os.path.join(workdir, "host_key"))
        self.known_hosts = os.path.join(workdir, "known_hosts")
        with open(host_key + ".pub") as f, open(self.known_hosts, "w") as out:
            out.write(f"[127.0.0.1]:{self.port} {' '.join(f.read().split()[:2])}\n")
        self.keyfile = keygen(os.path.join(workdir, "client_key"))
        authorized = os.path.join(workdir, "authorized_keys")
        shutil.copy(self.keyfile + ".pub", authorized)
        self.log_path = os.path.join(workdir, "sshd.log")
        config = os.path.join(workdir, "sshd_config")
        with open(config, "w") as f:
            f.write(f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
                    f"PidFile {os.path.join(workdir, 'sshd.pid')}\nAuthorizedKeysFile {authorized}\n"
                    "PermitRootLogin yes\nStrictModes no\nPasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\nUsePAM no\nSubsystem sftp internal-sftp\n"
                    "MaxStartups 100\nMaxSessions 100\nLogLevel ERROR\n")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", config], stdout=subprocess.DEVNULL,
                                     stderr=open(self.log_path, "wb"), start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.settimeout(2)
                    if s.recv(4).startswith(b"SSH-"):
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                with open(self.log_path, "rb") as f:
                    raise RuntimeError(f"sshd did not start: {f.read().decode(errors='replace').strip()}")
            time.sleep(0.1)

    def url(self, path: str) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
