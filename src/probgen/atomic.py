"""One way to write a file: whole or not at all, whoever else writes it at the same time.

Every writer of the project (checkpoints, cached results, the MNIST cache,
results files, figures, executed notebooks) writes the file under its own
name in a fresh hidden folder next to the target and renames it into place
when it is complete. A reader therefore sees the old file or the new one,
never half of one; two processes writing the same file at once both succeed
(the last rename wins, and both wrote the same thing); an interrupted write
leaves no debris. The writer creates the file itself, so it gets the
permissions of any new file (0644 under the usual umask), not the 0600 of
`tempfile.mkstemp`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write instead of `path`; on success it replaces `path` atomically.

    The temporary path has `path`'s very name, inside a hidden folder of a
    unique name in the same directory, so writers that look at the name work
    unchanged: matplotlib and `np.save` choose the format by its suffix,
    `torch.save` names the records inside the file after it (the same bytes as
    a direct save). If the body raises, the temporary folder is removed and
    `path` is left as it was. Usage::

        with atomic_path(out) as tmp:
            fig.savefig(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        tmp = folder / path.name
        yield tmp
        with open(tmp, "rb") as fh:  # on disk before the rename, so a crash cannot leave an empty file in place
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (see `atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically (see `atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
