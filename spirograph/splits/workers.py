"""Rendering worker processes for ``generate(workers > 1)``: ordered results, quiet on every interrupt.

Each worker is a fresh Python process in its own session, fed tasks on its stdin and answering on
its stdout (length-prefixed pickles). Its own session keeps a terminal's Ctrl-C, sent to the whole
foreground process group, away from the workers: only the parent decides what an interrupt means,
and it stops the workers itself. A worker whose parent died (even by SIGKILL) sees its pipes close
and exits without a word. Tasks go to the workers in turn and results come back in task order,
with at most ``2·workers`` chunks in flight, so memory stays bounded whatever the file size.
"""

from __future__ import annotations

import collections
import json
import os
import pickle
import signal
import struct
import subprocess
import sys
from typing import Any, Callable, Iterable, Iterator

_HEADER = struct.Struct("<Q")
_BOOT = (
    "import json, sys; "
    "sys.path[:0] = [p for p in json.loads(sys.argv[1]) if p not in sys.path]; "
    "from spirograph.splits.workers import serve; serve()"
)


class WorkerError(ChildProcessError):
    """A rendering worker ended without answering (killed, out of memory); the finished chunks are kept."""


def _send(stream, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream):
    """The next object on ``stream``, or raise EOFError when the other side is gone."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    size = _HEADER.unpack(header)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def serve() -> None:
    """A worker's main loop: answer each task on stdin with ``("ok", result)`` or ``("error", exception)``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles interrupts and stops us
    import torch

    torch.set_num_threads(1)  # workers share the cores
    tasks = sys.stdin.buffer
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print goes to stderr, never into the answers
    try:
        while True:
            function, argument = _receive(tasks)
            try:
                answer = ("ok", function(argument))
            except Exception as err:  # sent to the parent, which raises it
                answer = ("error", err)
            try:
                _send(answers, answer)
            except (pickle.PicklingError, TypeError, AttributeError):
                _send(answers, ("error", RuntimeError(f"{type(answer[1]).__name__}: {answer[1]}")))
    except (EOFError, OSError):
        pass  # the parent is gone or closed our stdin: nothing to report
    os._exit(0)  # skip interpreter teardown: nothing of it matters and it could print


class Pool:
    """``workers`` rendering processes; ``map(function, tasks)`` yields results in task order.

    ``function`` must be importable by name (it is pickled by reference). Use as a context manager:
    leaving the block, normally or by an exception, stops every worker.
    """

    def __init__(self, workers: int) -> None:
        self.processes: list[subprocess.Popen] = []
        try:
            for _ in range(workers):
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-c", _BOOT, json.dumps(sys.path)],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        start_new_session=True,
                    )
                )
        except BaseException:
            self.close(kill=True)
            raise

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close(kill=kind is not None)

    def map(self, function: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        tasks = iter(tasks)
        pending: collections.deque = collections.deque()
        count = 0

        def submit() -> bool:
            nonlocal count
            task = next(tasks, None)
            if task is None:
                return False
            process = self.processes[count % len(self.processes)]
            count += 1
            try:
                _send(process.stdin, (function, task))
            except OSError:
                raise self._died(process) from None
            pending.append(process)
            return True

        for _ in range(2 * len(self.processes)):
            if not submit():
                break
        while pending:
            process = pending.popleft()
            try:
                status, value = _receive(process.stdout)
            except EOFError:
                raise self._died(process) from None
            if status == "error":
                raise value
            submit()
            yield value

    def _died(self, process: subprocess.Popen) -> WorkerError:
        code = process.wait()
        how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        return WorkerError(f"a rendering worker (process {process.pid}) ended unexpectedly ({how})")

    def close(self, *, kill: bool = False) -> None:
        """Stop the workers: close their input and wait (``kill``: terminate them first)."""
        for process in self.processes:
            if kill and process.poll() is None:
                process.kill()
            for stream in (process.stdin, process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        for process in self.processes:
            process.wait()
        self.processes = []
