"""Hosts with their own addresses on one machine: a network namespace per host, joined by a bridge.

Layout of one `HostNetwork` (every name carries this process's pid and a counter, so two runs never
collide, and a run that died without cleaning up is swept by the next one):

    rl<pid>n<k>-net      the bridge's own namespace: bridge br0 and one veth end per host
    rl<pid>n<k>-<host>   one per host: lo up, eth0 with the host's address on the subnet

Each host's namespace has `/etc/netns/<namespace>/hosts`, which `ip netns exec` shows as /etc/hosts,
so every host name resolves inside every namespace as it does on a compose network. A "client" host
(the last address of the subnet) is the vantage point of tests and chaos clients: `inside("client")`
moves the calling thread into it, so their traffic goes only to these namespaces' addresses.

Cuts (see cuts.py) are nftables tables inside the namespaces; nothing outside them is touched.
Needs root, iproute2 and nftables; `unavailable_reason()` says why not otherwise.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import itertools
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path

from replog.hosts.cuts import Cut, ruleset

__all__ = ["CLIENT", "HostNetwork", "HostsUnavailable", "sweep_stale", "unavailable_reason"]

CLIENT = "client"
NETNS_ETC = Path("/etc/netns")
NETNS_RUN = Path("/run/netns")
CLONE_NEWNET = 0x40000000
_NAME = re.compile(r"^rl(\d+)n\d+-")
_counter = itertools.count()


class HostsUnavailable(RuntimeError):
    """Namespaces cannot be made here; the message says why."""


@cache
def unavailable_reason() -> str | None:
    """None when namespaces, veths and nftables work here; else why not (for a skip message)."""
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (apt-get install {package})"
    probe = f"rl{os.getpid()}n-probe"
    try:
        _ip("netns", "add", probe)
        _ip("netns", "exec", probe, "nft", "list", "tables")
    except HostsUnavailable as exc:
        return f"cannot make a network namespace with nftables: {exc}"
    finally:
        subprocess.run(["ip", "netns", "delete", probe], capture_output=True, check=False)
    return None


def sweep_stale() -> list[str]:
    """Delete the namespaces (and /etc/netns entries) of runs whose process is gone. Returns their names."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    swept = []
    for line in listed.splitlines():
        name = line.split(" ", 1)[0]
        match = _NAME.match(name)
        if match and not _alive(int(match.group(1))):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
            shutil.rmtree(NETNS_ETC / name, ignore_errors=True)
            swept.append(name)
    return swept


class HostNetwork:
    def __init__(self, addresses: Mapping[str, str], subnet: ipaddress.IPv4Network) -> None:
        """`addresses`: each host's name and its address on `subnet`. A "client" host is added."""
        if CLIENT in addresses:
            raise ValueError(f"{CLIENT!r} is the harness's own host name")
        self.subnet = subnet
        self.addresses = {**addresses, CLIENT: str(subnet.broadcast_address - 1)}
        self._prefix = f"rl{os.getpid()}n{next(_counter)}"
        self._bridge = f"{self._prefix}-net"
        self._made: list[str] = []
        self._rules: dict[str, str] = {}
        self._cuts_lock = threading.RLock()  # why: a chaos run heals one cut while it makes the next
        self.cuts: frozenset[Cut] = frozenset()

    def namespace(self, host: str) -> str:
        if host not in self.addresses:
            raise KeyError(f"no host {host!r} (hosts: {', '.join(self.addresses)})")
        return f"{self._prefix}-{host}"

    @property
    def hosts(self) -> list[str]:
        """The hosts the nodes run on (every host but the client)."""
        return [host for host in self.addresses if host != CLIENT]

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> HostNetwork:
        self.create()
        return self

    def __exit__(self, *_: object) -> None:
        self.destroy()

    def create(self) -> None:
        """Make every namespace, the bridge and the links; on any failure undo what was made and raise."""
        if reason := unavailable_reason():
            raise HostsUnavailable(reason)
        sweep_stale()
        try:
            self._add_namespace(self._bridge)
            _ip("-n", self._bridge, "link", "add", "br0", "type", "bridge")
            _ip("-n", self._bridge, "link", "set", "br0", "up")
            hosts_file = "127.0.0.1 localhost\n" + "".join(f"{a} {h}\n" for h, a in self.addresses.items())
            for number, (host, address) in enumerate(self.addresses.items()):
                namespace = self.namespace(host)
                self._add_namespace(namespace)
                (NETNS_ETC / namespace).mkdir(parents=True, exist_ok=True)
                (NETNS_ETC / namespace / "hosts").write_text(hosts_file)
                port = f"v{number}"
                _ip("-n", namespace, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", self._bridge)
                _ip("-n", self._bridge, "link", "set", port, "master", "br0")
                _ip("-n", self._bridge, "link", "set", port, "up")
                _ip("-n", namespace, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0")
                _ip("-n", namespace, "link", "set", "eth0", "up")
                _ip("-n", namespace, "link", "set", "lo", "up")
        except BaseException:
            self.destroy()
            raise

    def destroy(self) -> None:
        """Delete every namespace this network made (its links and rules go with it). Idempotent.

        Stop the processes inside first: a namespace lives on, detached, while a process still uses it.
        """
        for namespace in reversed(self._made):
            subprocess.run(["ip", "netns", "delete", namespace], capture_output=True, check=False)
            shutil.rmtree(NETNS_ETC / namespace, ignore_errors=True)
        self._made.clear()
        self._rules.clear()
        self.cuts = frozenset()

    def _add_namespace(self, namespace: str) -> None:
        _ip("netns", "add", namespace)
        self._made.append(namespace)

    # ------------------------------------------------------------------ running things inside

    def exec_argv(self, host: str, argv: Sequence[str]) -> list[str]:
        """A command line that runs `argv` on `host` (`ip netns exec` execs it: the PID is argv's own)."""
        return ["ip", "netns", "exec", self.namespace(host), *argv]

    @contextlib.contextmanager
    def inside(self, host: str = CLIENT) -> Iterator[None]:
        """Run the calling thread's network calls on `host` until the block ends.

        A network namespace is a per-thread property: sockets made inside stay on `host` for their life;
        other threads, and this one after the block, are unaffected.
        """
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(NETNS_RUN / self.namespace(host), os.O_RDONLY)
        try:
            _setns(target)
            yield
        finally:
            _setns(own)
            os.close(target)
            os.close(own)

    # ------------------------------------------------------------------ cuts

    def set_cuts(self, cuts: Iterable[Cut]) -> None:
        """Make exactly `cuts` true: every host's nftables table is replaced where it changes."""
        wanted = frozenset(cuts)
        for cut in wanted:
            self.namespace(cut.source), self.namespace(cut.destination)  # unknown hosts raise KeyError
        with self._cuts_lock:
            for host in self.addresses:
                script = ruleset(host, wanted, self.addresses)
                if self._rules.get(host, ruleset(host, (), self.addresses)) != script:
                    _run(["ip", "netns", "exec", self.namespace(host), "nft", "-f", "-"], stdin=script)
                    self._rules[host] = script
            self.cuts = wanted

    def cut(self, cuts: Iterable[Cut]) -> None:
        with self._cuts_lock:
            self.set_cuts(self.cuts | frozenset(cuts))

    def heal(self, cuts: Iterable[Cut] | None = None) -> None:
        """End `cuts`, or every cut."""
        with self._cuts_lock:
            self.set_cuts(frozenset() if cuts is None else self.cuts - frozenset(cuts))

    def rules(self, host: str) -> str:
        """What nftables holds on `host` now, as `nft list ruleset` prints it."""
        return _run(["ip", "netns", "exec", self.namespace(host), "nft", "list", "ruleset"])


def _ip(*args: str) -> None:
    _run(["ip", *args])


def _run(argv: list[str], stdin: str | None = None) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise HostsUnavailable(f"`{' '.join(argv)}` failed: {done.stderr.strip() or done.returncode}")
    return done.stdout


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc().setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
