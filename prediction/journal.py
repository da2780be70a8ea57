"""A process's journal on local disk: what it has promised but not yet written elsewhere.

Each process that journals has a folder of its own under the journal root, with a `lock` file
it holds an exclusive flock on for as long as it lives. The kernel lets go of that lock when
the process ends, however it ends (kill -9 included): a folder whose lock can be taken
belongs to a process that is gone, and whoever takes the lock may replay its entries, alone.

An entry is a file written under a temporary name and renamed into place, so a reader sees it
whole or not at all. Once write() and rename() return, the kernel has it: killing the process
loses nothing. Nothing is synced to the disk, so a power cut may lose the last entries (as it
may lose SQLite's last commits under synchronous=NORMAL): that is a different promise.

Plain Python: no Django here (keeping.py says what an entry holds and how it is written).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCK = "lock"
VERSION = 1


class UnreadableEntry(ValueError):
    """An entry that is not one this module wrote whole (a torn write after a power cut)."""


@dataclass(frozen=True)
class Entry:
    name: str
    header: dict[str, Any]
    data: bytes


def encode(header: dict[str, Any], data: bytes) -> bytes:
    # One JSON line (json.dumps escapes any newline inside it), then the payload as it is.
    return json.dumps({"v": VERSION, **header}, separators=(",", ":")).encode() + b"\n" + data


def decode(name: str, content: bytes) -> Entry:
    head, newline, data = content.partition(b"\n")
    try:
        header = json.loads(head)
    except ValueError:
        header = None
    if not newline or not isinstance(header, dict) or header.pop("v", None) != VERSION:
        raise UnreadableEntry(f"Journal entry {name} is not readable.")
    return Entry(name, header, data)


class Journal:
    """This process's journal. Made in a hidden folder, locked, then renamed into place, so
    no other process ever sees it unlocked while its owner lives (one killed in between leaves
    an empty hidden folder, which nothing reads)."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.pid = root, os.getpid()
        name = f"{self.pid}-{secrets.token_hex(6)}"  # the pid only helps a person reading
        hidden = root / f".{name}"
        hidden.mkdir()
        self._lock = os.open(hidden / LOCK, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.folder = root / name
        hidden.rename(self.folder)

    def append(self, name: str, header: dict[str, Any], data: bytes) -> Path:
        """Write an entry; once this returns, it outlives this process."""
        path, temporary = self.folder / name, self.folder / f".{name}"
        try:
            with temporary.open("xb") as out:
                out.write(encode(header, data))
            temporary.rename(path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return path

    def close(self) -> None:
        """Let go of the lock. What is left in the folder, and the folder, are then another
        process's to replay and remove: never this one's, which may still be appending."""
        # In a forked child this closes only the child's copy: the parent keeps its lock.
        os.close(self._lock)


class Orphan:
    """The journal of a process that is gone, locked by this one while it replays it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def names(self) -> list[str]:
        try:
            return _entry_names(self.folder)
        except FileNotFoundError:  # replayed and removed by another process meanwhile
            return []

    def read(self, name: str) -> Entry:
        return decode(name, (self.folder / name).read_bytes())

    def remove(self, names: Iterable[str]) -> None:
        remove(self.folder / name for name in names)

    def discard_if_done(self) -> bool:
        """Remove the folder once every entry has gone (what was never renamed into place
        was never promised); False while some are left."""
        if self.names():
            return False
        _remove_folder(self.folder)
        return True


def orphans(root: Path) -> Generator[Orphan, None, None]:
    """The journals under `root` whose process is gone, each locked while the caller handles
    it (until the next one is asked for). A live process's journal is never yielded, nor one
    another process is replaying."""
    try:
        folders = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    except FileNotFoundError:
        return
    for folder in folders:
        try:
            lock = os.open(folder / LOCK, os.O_RDWR | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):  # not a journal, or just removed
            continue
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process lives (or another is replaying it)
            yield Orphan(folder)
        finally:
            os.close(lock)


def remove(paths: Iterable[Path]) -> None:
    """Forget entries (what they promised is written)."""
    for path in paths:
        path.unlink(missing_ok=True)


def _entry_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != LOCK and p.name[0] != ".")


def _remove_folder(folder: Path) -> None:
    """An orphan's folder with no entries left: what its process never renamed into place (it
    never promised those), then the lock file, then the folder."""
    with contextlib.suppress(FileNotFoundError):
        for path in folder.iterdir():
            if path.name != LOCK:
                path.unlink(missing_ok=True)
        (folder / LOCK).unlink()
        folder.rmdir()
