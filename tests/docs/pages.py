"""Runs the shell and Python blocks of a documentation page, in page order, in one shell session.

Sybil (sybil.parsers.myst) finds the fenced blocks of a MyST page and the ``<!-- skip: next -->``
markers of illustrative blocks; :class:`ShellSession` is the evaluator: one ``bash`` process per
page, so an ``export``, a ``cd`` or an activated virtualenv carries over to the next block, as
for a reader who types the page into one terminal. A block runs under ``set -e -o pipefail``: any
failing command fails the block, the page and the test, with the block's output. A ``python``
block runs as ``python -`` in the same shell (the page's active interpreter and environment).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from sybil import Example, Sybil
from sybil.parsers.myst import CodeBlockParser, SkipParser

_DONE = "__DOCS_BLOCK_DONE__"
#: What a page calls an illustrative (not run) block, next to its ``skip`` marker.
ILLUSTRATIVE = "Illustrative"


class BlockFailed(AssertionError):
    """A block of a page exited non-zero (or the session died or hung)."""


class ShellSession:
    """One ``bash`` for one page; every block is sourced into it.

    :param cwd: the reader's working directory at the start of the page.
    :param environment: the reader's environment (``HOME`` etc.).
    :param name: names the folder of the session's blocks and outputs (under ``cwd/.doc-blocks``).
    :param preamble: shell lines run before the first block (what the reader already did).
    :param block_timeout: seconds one block may take.
    """

    def __init__(
        self,
        cwd: Path,
        environment: Mapping[str, str],
        *,
        name: str = "session",
        preamble: str = "",
        block_timeout: float = 900,
    ) -> None:
        self.cwd = cwd
        self.block_timeout = block_timeout
        # One folder per session: the blocks as run and their output, kept for a failing page.
        (cwd / ".doc-blocks").mkdir(exist_ok=True)
        self.block_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=cwd / ".doc-blocks"))
        self._count = 0
        self.transcript: list[str] = []
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=cwd,
            env=dict(environment),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            # Its own process group: what the page starts in the background (Airflow's
            # components) is found again and stopped by stop_groups().
            start_new_session=True,
        )
        if preamble:
            self.run(preamble, label="preamble")

    @property
    def pgid(self) -> int:
        return self.process.pid

    def run(self, source: str, *, label: str) -> str:
        """Source ``source`` into the session; its output, or BlockFailed naming ``label``."""
        self._count += 1
        block = self.block_dir / f"block-{self._count:02d}.sh"
        output = self.block_dir / f"block-{self._count:02d}.out"
        block.write_text(source)
        command = (
            f"set -e -o pipefail; {{ . '{block}'; }} </dev/null >'{output}' 2>&1; "
            f"set +e +o pipefail; echo {_DONE}\n"
        )
        if self.process.poll() is not None or self.process.stdin is None or self.process.stdout is None:
            raise BlockFailed(f"{label}: the shell session has ended (an earlier block failed)")
        self.process.stdin.write(command)
        self.process.stdin.flush()
        deadline = time.monotonic() + self.block_timeout
        finished = False
        while not finished:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BlockFailed(f"{label}: still running after {self.block_timeout:.0f} s\n{source}")
            ready, _, _ = select.select([self.process.stdout], [], [], min(remaining, 5))
            if ready:
                line = self.process.stdout.readline()
                if line == "":
                    break
                finished = line.strip() == _DONE
        text = output.read_text(errors="replace") if output.exists() else ""
        self.transcript.append(f"$ # {label}\n{source}\n{text}")
        if not finished:
            code = self.process.wait(timeout=30)
            raise BlockFailed(
                f"{label} failed (exit status {code}):\n{source}\n--- output ---\n{text[-6000:]}"
            )
        return text

    def close(self) -> None:
        """End the shell; what it started in the background keeps running (see stop_groups)."""
        if self.process.poll() is None and self.process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def signal_group(self, sig: int) -> bool:
        """Send ``sig`` to everything the session started (its process group); False: none left."""
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            return False
        return True


def stop_groups(sessions: Sequence[ShellSession], grace: float = 8.0) -> None:
    """SIGTERM everything the sessions started, at once; SIGKILL what is left after ``grace`` s."""
    for session in sessions:
        session.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(session.signal_group(0) for session in sessions):
        time.sleep(0.2)
    for session in sessions:
        session.signal_group(signal.SIGKILL)


def _evaluate_shell(example: Example) -> None:
    session: ShellSession = example.namespace["session"]
    session.run(example.parsed, label=f"{Path(example.path).name} line {example.line}")


def _evaluate_python(example: Example) -> None:
    session: ShellSession = example.namespace["session"]
    code = textwrap.dedent(example.parsed)
    session.run(
        f"python - <<'__DOCS_PYTHON__'\n{code}\n__DOCS_PYTHON__\n",
        label=f"{Path(example.path).name} line {example.line} (python)",
    )


SYBIL = Sybil(
    parsers=[
        CodeBlockParser(language="bash", evaluator=_evaluate_shell),
        CodeBlockParser(language="python", evaluator=_evaluate_python),
        SkipParser(),
    ],
)


def run_page(page: Path, session: ShellSession) -> int:
    """Evaluate every block of ``page`` in order in ``session``; the number of blocks run."""
    document = SYBIL.parse(page)
    document.namespace["session"] = session
    ran = 0
    for example in document.examples():
        before = session._count
        example.evaluate()
        ran += session._count > before
    return ran
