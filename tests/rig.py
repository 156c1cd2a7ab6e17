"""A share that behaves like NFS: each node on its own caching network mount of one directory.

An sshd on 127.0.0.1 (its own config, keys and port, started once per test session) serves the
backing directory over SFTP; every node gets its own sshfs mount of it, with the kernel caching
attributes, names and "no such file" answers for `attr_timeout`, `entry_timeout` and
`negative_timeout` seconds and sshfs caching directory listings and attributes for
`dcache_timeout` seconds, so that one node sees another's writes late, as NFS clients do.
Tests read the backing directory itself: the truth, as the NFS server has it.

Where the kernel can export and mount NFS (root, nfsd and the NFS client in the kernel, Debian's
nfs-kernel-server), the same tests also run on real NFS: the backing directory exported to
127.0.0.1 and each node on its own NFSv4.2 mount with `actimeo` of 10 s. Where it cannot (a
container or VM kernel without nfsd, as on the machines this was built on), those runs are
skipped, naming what is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

CACHES = {
    "local": None,
    "sshfs-long": 10,  # seconds of attribute, name, negative and listing caching
    "sshfs-short": 1,
    "nfs": 10,  # the kernel's NFS client: attribute cache (actimeo), names and negative lookups with it
}


def available() -> str | None:
    """None when the rig can run here, else why not."""
    for tool in ("sshfs", "fusermount3", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (apt-get install sshfs openssh-server)"
    if not Path("/usr/sbin/sshd").exists():
        return "/usr/sbin/sshd is missing (apt-get install openssh-server)"
    if not Path("/dev/fuse").exists():
        return "/dev/fuse is missing"
    return None


def nfs_missing() -> str | None:
    """None when this machine can serve and mount kernel NFS, else what is missing."""
    if os.geteuid() != 0:
        return "kernel NFS needs root"
    filesystems = Path("/proc/filesystems").read_text().split()
    for fs, what in (("nfsd", "NFS server (nfsd)"), ("nfs4", "NFSv4 client")):
        if fs not in filesystems:
            return f"this kernel has no {what}: no {fs} in /proc/filesystems (modprobe {fs} where it has one)"
    for tool in ("exportfs", "rpc.nfsd", "rpc.mountd", "rpcbind", "mount.nfs"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            return f"{tool} is missing (apt-get install nfs-kernel-server)"
    return None


class NfsServer:
    """The kernel's NFS server, started once per test session; each rig exports its own folder."""

    def start(self) -> NfsServer:
        if not os.path.ismount("/proc/fs/nfsd"):
            subprocess.run(["mount", "-t", "nfsd", "nfsd", "/proc/fs/nfsd"], check=True, capture_output=True)
        for cmd in (["rpcbind"], ["rpc.mountd"], ["rpc.nfsd", "8"]):
            subprocess.run(cmd, check=True, capture_output=True, timeout=30)
        return self

    def export(self, folder: Path) -> None:
        fsid = abs(hash(str(folder))) % (1 << 31)
        options = f"rw,sync,no_root_squash,no_subtree_check,fsid={fsid}"
        subprocess.run(["exportfs", "-o", options, f"127.0.0.1:{folder}"], check=True, capture_output=True)

    def unexport(self, folder: Path) -> None:
        subprocess.run(["exportfs", "-u", f"127.0.0.1:{folder}"], capture_output=True, check=False)

    def stop(self) -> None:
        subprocess.run(["rpc.nfsd", "0"], capture_output=True, check=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sshd:
    """An sshd of the tests' own, for the current user, on a free port of 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.key = folder / "id_ed25519"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Sshd:
        self.folder.mkdir(parents=True, exist_ok=True)
        host_key = self.folder / "host_ed25519"
        for key in (self.key, host_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        (self.folder / "authorized_keys").write_text(self.key.with_suffix(".pub").read_text())
        config = self.folder / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {host_key}",
                    f"AuthorizedKeysFile {self.folder / 'authorized_keys'}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "StrictModes no",
                    "UsePAM no",
                    "PidFile none",
                    "Subsystem sftp internal-sftp",
                    "",
                ]
            )
        )
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        log = (self.folder / "sshd.log").open("ab")
        self.proc = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], stdout=log, stderr=log, start_new_session=True
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"sshd did not start: {(self.folder / 'sshd.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@dataclass
class Rig:
    """Where each node finds the share: the backing folder itself, or a mount of its own."""

    kind: str
    backing: Path
    sshd: Sshd | None = None
    mounts: dict[str, Path] = field(default_factory=dict)
    nfs: NfsServer | None = None

    @property
    def cache(self) -> int | None:
        return CACHES[self.kind]

    def share_for(self, node: str) -> Path:
        if self.cache is None:
            return self.backing
        if node not in self.mounts:
            self.mounts[node] = self._mount(node)
        return self.mounts[node]

    def _mount(self, node: str) -> Path:
        assert self.cache is not None
        self.backing.mkdir(parents=True, exist_ok=True)
        target = self.backing.parent / f"mnt-{node}"
        target.mkdir(exist_ok=True)
        t = self.cache
        if self.kind == "nfs":
            return self._mount_nfs(target, t)
        assert self.sshd is not None
        options = ",".join(
            [
                f"port={self.sshd.port}",
                f"IdentityFile={self.sshd.key}",
                "StrictHostKeyChecking=no",
                "UserKnownHostsFile=/dev/null",
                "LogLevel=ERROR",
                f"attr_timeout={t}",
                f"entry_timeout={t}",
                f"negative_timeout={t}",
                f"dcache_timeout={t}",
            ]
        )
        user = os.environ.get("USER") or "root"
        subprocess.run(
            ["sshfs", "-o", options, f"{user}@127.0.0.1:{self.backing}", str(target)],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return target

    def _mount_nfs(self, target: Path, t: int) -> Path:
        """Each node its own client (`nosharecache`), caching as the lab's defaults would."""
        assert self.nfs is not None
        if not self.mounts:
            self.nfs.export(self.backing)
        options = f"vers=4.2,actimeo={t},lookupcache=all,nosharecache,hard,timeo=50"
        subprocess.run(
            ["mount", "-t", "nfs", "-o", options, f"127.0.0.1:{self.backing}", str(target)],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return target

    def unmount_all(self) -> None:
        for target in self.mounts.values():
            if self.kind == "nfs":
                subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)
            else:
                subprocess.run(["fusermount3", "-u", "-z", str(target)], capture_output=True, check=False)
        if self.nfs is not None and self.mounts:
            self.nfs.unexport(self.backing)
        self.mounts.clear()
