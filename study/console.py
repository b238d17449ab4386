"""A quiet console: Ray's and Tune's own output goes to the study's log file, the person at the
terminal sees the `[study]` lines, real warnings and errors, and one progress line per stage.

Ray writes from everywhere: Python loggers bound to the stderr of import time, Tune's status tables
through print, the C++ core worker straight to file descriptor 2, and the lines of every worker
process, which its log monitor forwards to the driver's sys.stdout. So the redirection happens at
both levels: file descriptors 1 and 2 point at the log (child processes started later, the raylet
included, inherit that), and sys.stdout / sys.stderr become `_Filtered` streams that write every
line to the log and the lines a person needs also to a duplicate of the original terminal.

Nothing is lost: the log holds everything, also what the console shows. `study -v` does not quiet
anything (Tune's tables come back).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

LOG_FILE = "study.log"

# What a person needs to see, matched on the line with Ray's "(Actor pid=N) " prefix and colours removed.
_SHOWN = re.compile(r"^(\[study\]|error:|warning:|\S+:\d+: \w*Warning: )")
_RAY_PREFIX = re.compile(r"^(?:\x1b\[[\d;]*m)*\([^)]*pid=\d+[^)]*\)(?:\x1b\[[\d;]*m)*\s*")
_COLOUR = re.compile(r"\x1b\[[\d;]*[mK]")


def console_text(line: str) -> str | None:
    """The line as the console shows it, or None when it belongs in the log only."""
    plain = _COLOUR.sub("", _RAY_PREFIX.sub("", line))
    return plain if _SHOWN.match(plain) else None


class Console:
    """The terminal: messages, and one progress line that messages never tear (on a terminal it is
    redrawn in place; elsewhere, a CI log or a pipe, it is printed as a plain line when it changes)."""

    def __init__(self, stream, log=None):
        self.stream, self.log = stream, log
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._lock = threading.RLock()
        self._progress = ""

    def message(self, text: str) -> None:
        with self._lock:
            if self.tty and self._progress:
                self.stream.write("\r\x1b[K")
            self.stream.write(text.rstrip("\n") + "\n")
            if self.tty and self._progress:
                self.stream.write(self._progress)
            self.stream.flush()

    def progress(self, text: str) -> None:
        """Show `text` as the progress line ("" ends it)."""
        with self._lock:
            if self.tty:
                self.stream.write("\r\x1b[K" + (text[: shutil.get_terminal_size().columns - 1] if text else ""))
                self.stream.flush()
            elif text and text != self._progress:
                self.stream.write(text + "\n")
                self.stream.flush()
            if self.log is not None and text and text != self._progress:
                _log_write(self.log, text + "\n")
            self._progress = text


class _Filtered(io.TextIOBase):
    """sys.stdout / sys.stderr while quiet: every line to the log, the shown ones to the console."""

    def __init__(self, log, console: Console):
        self.log, self.console = log, console
        self._partial = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            # Ray colours its worker prefixes; a log file has no use for it.
            _log_write(self.log, _COLOUR.sub("", text))
            lines = (self._partial + text).split("\n")
            self._partial = lines.pop()
        for line in lines:
            shown = console_text(line)
            if shown is not None:
                self.console.message(shown)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.log.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:   # for libraries that ask: the log (fd 1 and 2 point there anyway)
        return self.log.fileno()


def _log_write(log, text: str) -> None:
    """Write to the log unless it cannot take it: a full disk (the log lives in the study folder) must
    neither crash the study nor hide the line that says the disk is full, which the console still shows."""
    with contextlib.suppress(OSError, ValueError):
        log.write(text)
        log.flush()


class _State:
    run: QuietRun | None = None


def active() -> Console | None:
    """The console while a quiet run is under way, else None (progress lines are then not drawn)."""
    return _State.run.console if _State.run is not None else None


def move_into(store) -> None:
    """Continue a quiet run's log in the study folder `store` (nothing when not quiet)."""
    if _State.run is not None:
        _State.run.move_into(store)


def _duplicate(stream):
    """A stream to the same place as `stream` that survives fd 1 and 2 being pointed at the log."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return stream   # not a file descriptor (pytest's capture buffers): write to it directly
    return os.fdopen(os.dup(fd), "w", buffering=1, encoding="utf-8", errors="replace")


class QuietRun:
    """Started before Ray (into a temporary log), moved into the study folder once it exists."""

    def __init__(self) -> None:
        fd, path = tempfile.mkstemp(prefix="study-", suffix=".log")
        os.close(fd)
        self.path = Path(path)
        self.final: str | None = None
        self.log = open(self.path, "a", buffering=1, encoding="utf-8", errors="replace")
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved = (sys.stdout, sys.stderr, os.dup(1), os.dup(2))
        self.console = Console(_duplicate(sys.stdout), self.log)
        self.errors = Console(_duplicate(sys.stderr), None)
        self._point_fds_at(self.log)
        sys.stdout, sys.stderr = _Filtered(self.log, self.console), _Filtered(self.log, self.errors)
        _State.run = self

    def _point_fds_at(self, log) -> None:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)

    def move_into(self, store) -> None:
        """Continue the log at `<study folder>/study.log` (local folders; a remote study gets a copy at
        the end), and say where it is."""
        self.final = store.uri(LOG_FILE)
        if store.is_local:
            target = store.local_path(LOG_FILE)
            with open(target, "a", encoding="utf-8") as handle:
                handle.write(self.path.read_text(encoding="utf-8", errors="replace"))
            moved = open(target, "a", buffering=1, encoding="utf-8", errors="replace")
            self._point_fds_at(moved)
            self.log.close()
            self.path.unlink(missing_ok=True)
            self.log, self.path = moved, target
            for stream in (sys.stdout, sys.stderr):
                if isinstance(stream, _Filtered):
                    stream.log = moved
            self.console.log = moved
        self._store = store
        self.console.message(f"[study] Ray's and Tune's output: {self.final} (`study -v` shows it here)")

    def close(self) -> None:
        """Give the terminal back first (whatever else fails, later output must reach it), then the log."""
        with contextlib.suppress(OSError, ValueError):
            self.console.progress("")
            sys.stdout.flush()
            sys.stderr.flush()
        out, err, fd1, fd2 = self._saved
        os.dup2(fd1, 1)
        os.dup2(fd2, 2)
        os.close(fd1)
        os.close(fd2)
        sys.stdout, sys.stderr = out, err
        _State.run = None
        with contextlib.suppress(OSError, ValueError):
            self.log.close()
        store = getattr(self, "_store", None)
        if store is not None and not store.is_local:
            with contextlib.suppress(OSError):
                store.write_bytes(self.path.read_bytes(), LOG_FILE)
        if store is None or not store.is_local:
            self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def quiet(enabled: bool = True) -> Iterator[QuietRun | None]:
    """Around a study run: quiet console, full log. Yields the QuietRun (None when not enabled)."""
    if not enabled or _State.run is not None:
        yield None
        return
    run = QuietRun()
    try:
        yield run
    finally:
        run.close()
