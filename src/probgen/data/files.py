"""The project's data files: where they are looked for, their checksums, and clear errors."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .. import paths


@dataclass(frozen=True)
class DataFile:
    relpath: str  # relative to the data directory
    md5: str
    size: int
    how_to_get: str
    urls: tuple[str, ...] = ()  # mirrors `python -m probgen.data download` tries in order (md5-checked)
    gunzip: bool = False  # the urls serve a .gz of the file


_MNIST_HOW = "python -m probgen.data download   (downloads and verifies every missing file)"
_HOW = "python -m probgen.data download   (downloads and verifies it), or copy it from the source in data/README.md into {dir}"
_GH = "https://raw.githubusercontent.com/"
_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")


def _mnist(name: str, md5: str, size: int) -> "DataFile":
    return DataFile(f"mnist/{name}", md5, size, _MNIST_HOW, tuple(m + name for m in _MNIST_MIRRORS))


KNOWN_FILES: dict[str, DataFile] = {
    f.relpath: f
    for f in [
        _mnist("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
        _mnist("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", 28881),
        _mnist("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", 1648877),
        _mnist("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", 4542),
        DataFile("trueskill/SerieA.csv", "41fbbc576bf062b5249e3e00754ffdb6", 13761, _HOW,
                 (_GH + "Gabriel-Arteaga/APML_Trueskill/16325ab286a846d5c33ab718f6afd5e2e11a48f2/data/SerieA.csv",)),
        DataFile("trueskill/chess_games.csv", "22a652ce21b9ecc314b979cf6b28d463", 7672655, _HOW,
                 (_GH + "BoyTiger-1/Chess-AI-Bot/ff0768d9b791654e36df3c3ab07fe88803b4eaa3/games.csv.gz",), gunzip=True),
        DataFile("gp/data_part_B.csv", "3f8189db0de0961ad430f50dab7096b4", 1529, _HOW,
                 (_GH + "yabay0/ProbMLProject/a1e4bf76de9b836d012cb9a1850db66033d63976/Part_B/data_part_B.csv",)),
    ]
}


class DataFileError(FileNotFoundError):
    """A data file is missing or its checksum is wrong; the message says where we looked and what to do."""


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def find(relpath: str, data_dir: str | os.PathLike | None = None, *, verify: bool = True) -> Path:
    """Path of a known data file under the data directory, checked against its md5.

    Raises `DataFileError` naming the file, every place looked in, its checksum
    and how to get it.
    """
    places = paths.data_search_path(data_dir)
    # Only the first place that applies is *the* data directory; the others are
    # listed so a user sees why a copy elsewhere was not used.
    base = places[0][1]
    path = base / relpath
    known = KNOWN_FILES.get(relpath)
    if not path.is_file():
        where = "; ".join(f"{label} = {p}" for label, p in places)
        msg = [f"data file {relpath!r} not found at {path}.", f"Data directory resolution (first applies): {where}."]
        if known:
            msg.append(f"Expected md5 {known.md5} ({known.size} bytes).")
            msg.append("To get it: " + known.how_to_get.format(dir=base))
        msg.append("Or point PROBGEN_DATA at a folder that has it (CI uses ../shared/data).")
        raise DataFileError(" ".join(msg))
    if verify and known is not None:
        got = md5sum(path)
        if got != known.md5:
            raise DataFileError(
                f"data file {path} has md5 {got}, expected {known.md5}: it is corrupt or another version. "
                f"Delete it and get it again: " + known.how_to_get.format(dir=base)
            )
    return path


def status(data_dir: str | os.PathLike | None = None) -> list[tuple[str, str, str]]:
    """(file, found-at or '-', 'ok' | 'missing' | 'md5 mismatch') for every known file."""
    base = paths.data_dir(data_dir)
    rows = []
    for rel, known in KNOWN_FILES.items():
        p = base / rel
        if not p.is_file():
            rows.append((rel, "-", "missing"))
        else:
            rows.append((rel, str(p), "ok" if md5sum(p) == known.md5 else "md5 mismatch"))
    return rows


def download(relpath: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Fetch a known file into the data directory, trying its mirrors in order.

    A download is kept only if its md5 matches; otherwise the next mirror is
    tried. A file already present with the right md5 is not fetched again.
    """
    import gzip
    import shutil
    import urllib.request

    known = KNOWN_FILES[relpath]
    target = paths.data_dir(data_dir) / relpath
    if target.is_file() and md5sum(target) == known.md5:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    errors = []
    for url in known.urls:
        try:
            print(f"downloading {url}")
            with urllib.request.urlopen(url, timeout=60) as resp, open(part, "wb") as out:
                shutil.copyfileobj(gzip.GzipFile(fileobj=resp) if known.gunzip else resp, out)
            got = md5sum(part)
            if got != known.md5:
                raise DataFileError(f"md5 {got}, expected {known.md5}")
            os.replace(part, target)
            return target
        except Exception as exc:  # try the next mirror; report every failure if none works
            errors.append(f"{url}: {exc}")
        finally:
            part.unlink(missing_ok=True)
    raise DataFileError(f"could not download {relpath} ({'; '.join(errors) or 'no address known'}); "
                        + known.how_to_get.format(dir=paths.data_dir(data_dir)))
