"""Throw-away PostgreSQL and MariaDB/MySQL servers for the database metric tests.

Each server gets a fresh data directory under a temporary directory, listens on a
free port of 127.0.0.1 (and a Unix socket in that directory), and is stopped and
deleted at the end. Both servers refuse to run as root: when the tests run as root,
the server runs as the ``postgres`` / ``mysql`` OS user, which owns the directory.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Dict, Iterator, List, Optional


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_user(user: Optional[str], argv: List[str]) -> List[str]:
    return argv if user is None else ["runuser", "-u", user, "--", *argv]


def _server_user(name: str) -> Optional[str]:
    """The OS user to run a server as: ``None`` (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(name)
    except KeyError:
        return "missing"
    return name if shutil.which("runuser") else "missing"


def _workdir(prefix: str, user: Optional[str]) -> str:
    path = tempfile.mkdtemp(prefix=prefix)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def _run(argv: List[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}): {result.stdout}\n{result.stderr}")


def postgres_bindir() -> Optional[str]:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb and pg_ctl (Debian's layout), or None."""
    found = [d for d in glob.glob("/usr/lib/postgresql/*/bin")
             if os.path.exists(os.path.join(d, "initdb")) and os.path.exists(os.path.join(d, "pg_ctl"))]
    found.sort(key=lambda d: [int(p) for p in d.split("/")[-2].split(".") if p.isdigit()])
    return found[-1] if found else None


def postgres_missing() -> Optional[str]:
    """Why a PostgreSQL server cannot be started here, or None when it can."""
    if postgres_bindir() is None:
        return "no PostgreSQL server binaries (/usr/lib/postgresql/<version>/bin/initdb; apt-get install postgresql)"
    if _server_user("postgres") == "missing":
        return "running as root without a 'postgres' OS user (and runuser) to run the server as"
    return None


@contextlib.contextmanager
def postgres_server(database: str = "pyrometer") -> Iterator[Dict[str, str]]:
    """Start a cluster with ``database`` in it; yields Django's connection settings for it (trust auth)."""
    bindir = postgres_bindir()
    assert bindir is not None, postgres_missing()
    user = _server_user("postgres")
    work = _workdir("pyrometer-pg-", user)
    data, port = os.path.join(work, "data"), free_port()
    pg_ctl = os.path.join(bindir, "pg_ctl")
    try:
        _run(_as_user(user, [os.path.join(bindir, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
                             "-E", "UTF8", "--no-sync"]), "initdb")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {work} -c fsync=off"
        _run(_as_user(user, [pg_ctl, "-D", data, "-o", options, "-l", os.path.join(work, "server.log"),
                             "-w", "-t", "30", "start"]), "pg_ctl start")
        try:
            _run(_as_user(user, [os.path.join(bindir, "createdb"), "-h", "127.0.0.1", "-p", str(port),
                                 "-U", "postgres", database]), "createdb")
            yield {"NAME": database, "USER": "postgres", "PASSWORD": "", "HOST": "127.0.0.1", "PORT": str(port)}
        finally:
            _run(_as_user(user, [pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"]), "pg_ctl stop")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def mysql_binaries() -> Optional[Dict[str, str]]:
    """Paths of the server, its data-directory initialiser (MariaDB) and the client, or None."""
    mysqld = shutil.which("mariadbd") or shutil.which("mysqld") or next(
        (p for p in ("/usr/sbin/mariadbd", "/usr/sbin/mysqld") if os.path.exists(p)), None)
    client = shutil.which("mariadb") or shutil.which("mysql")
    if mysqld is None or client is None:
        return None
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    return {"mysqld": mysqld, "install": install or "", "client": client}


def mysql_missing() -> Optional[str]:
    """Why a MariaDB/MySQL server cannot be started here, or None when it can."""
    if mysql_binaries() is None:
        return "no MariaDB/MySQL server binary (mariadbd/mysqld; apt-get install mariadb-server)"
    if _server_user("mysql") == "missing":
        return "running as root without a 'mysql' OS user (and runuser) to run the server as"
    return None


@contextlib.contextmanager
def mysql_server(database: str = "pyrometer") -> Iterator[Dict[str, str]]:
    """Start a MariaDB/MySQL server with ``database`` in it; yields Django's connection settings (a user of its own)."""
    binaries = mysql_binaries()
    assert binaries is not None, mysql_missing()
    user = _server_user("mysql")
    work = _workdir("pyrometer-my-", user)
    data, port, sock = os.path.join(work, "data"), free_port(), os.path.join(work, "mysqld.sock")
    try:
        if binaries["install"]:  # MariaDB
            _run(_as_user(user, [binaries["install"], "--no-defaults", f"--datadir={data}",
                                 "--auth-root-authentication-method=normal", "--skip-test-db"]),
                 "mariadb-install-db")
        else:  # MySQL
            _run(_as_user(user, [binaries["mysqld"], "--no-defaults", "--initialize-insecure", f"--datadir={data}"]),
                 "mysqld --initialize-insecure")
        server = subprocess.Popen(
            _as_user(user, [binaries["mysqld"], "--no-defaults", f"--datadir={data}", f"--port={port}",
                            f"--socket={sock}", "--bind-address=127.0.0.1", "--skip-name-resolve",
                            f"--pid-file={os.path.join(work, 'mysqld.pid')}", "--innodb-flush-log-at-trx-commit=0",
                            f"--log-error={os.path.join(work, 'error.log')}"]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            _wait_listening(port, server, os.path.join(work, "error.log"))
            # root may only log in through the socket; the tests connect over TCP as a user of their own.
            _run([binaries["client"], "--no-defaults", f"--socket={sock}", "-uroot", "-e",
                  f"CREATE DATABASE {database}; CREATE USER 'pyrometer'@'127.0.0.1' IDENTIFIED BY 'pyrometer'; "
                  f"GRANT ALL ON *.* TO 'pyrometer'@'127.0.0.1'"], "creating the database")
            yield {"NAME": database, "USER": "pyrometer", "PASSWORD": "pyrometer", "HOST": "127.0.0.1",
                   "PORT": str(port)}
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:  # the server under runuser too: its own process group
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _wait_listening(port: int, process: subprocess.Popen, log: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            with open(log, errors="replace") as f:
                raise RuntimeError(f"mysqld exited with {process.returncode}:\n{f.read()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError("mysqld did not listen within 60 s")
