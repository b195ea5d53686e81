"""The throw-away database servers' discovery: what is missing is said, and the newest PostgreSQL is chosen."""

import os

import dbservers


def test_postgres_missing_reason(monkeypatch):
    """Without /usr/lib/postgresql/<version>/bin the reason names the package to install."""
    monkeypatch.setattr(dbservers.glob, "glob", lambda pattern: [])
    assert dbservers.postgres_bindir() is None
    assert dbservers.postgres_missing() == (
        "no PostgreSQL server binaries (/usr/lib/postgresql/<version>/bin/initdb; apt-get install postgresql)")


def test_newest_postgres_version_chosen(monkeypatch):
    """Of several installed versions the newest (numerically) is used."""
    dirs = ["/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"]
    monkeypatch.setattr(dbservers.glob, "glob", lambda pattern: list(dirs))
    monkeypatch.setattr(os.path, "exists", lambda path: True)
    assert dbservers.postgres_bindir() == "/usr/lib/postgresql/16/bin"


def test_mysql_missing_reason(monkeypatch):
    """Without a MariaDB/MySQL server binary the reason names the package to install."""
    monkeypatch.setattr(dbservers.shutil, "which", lambda name: None)
    monkeypatch.setattr(os.path, "exists", lambda path: False)
    assert dbservers.mysql_missing() == (
        "no MariaDB/MySQL server binary (mariadbd/mysqld; apt-get install mariadb-server)")
