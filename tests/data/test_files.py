"""The data step of `make report`: `python -m probgen.data ensure | download | check` and their messages.

No test here touches the network: `urllib.request.urlopen` is replaced, either by
one that fails as it does offline, or by a fake mirror that serves known bytes.
"""

import gzip
import hashlib
import io
import re
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest

from probgen import paths
from probgen.data import files
from probgen.data.__main__ import main


@pytest.fixture
def offline(monkeypatch):
    """urlopen fails as it does without a network; the list records every url asked for."""
    asked = []

    def urlopen(url, timeout=None):
        asked.append(url)
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return asked


def _known(rel: str, content: bytes, *urls: str) -> files.DataFile:
    return files.DataFile(rel, hashlib.md5(content).hexdigest(), hashlib.sha256(content).hexdigest(), len(content),
                          urls)


@pytest.fixture
def mirror(monkeypatch):
    """A fake set of two known files and a fake network: `serve[url] = bytes`; other urls fail."""
    present, fresh = b"x,y\n1,2\n", b"a,b\n3,4\n"
    fake = {
        "toy/present.csv": _known("toy/present.csv", present, "https://a.example/present.csv"),
        "toy/missing.csv": _known("toy/missing.csv", fresh, "https://a.example/missing.csv",
                                  "https://b.example/missing.csv"),
    }
    monkeypatch.setattr(files, "KNOWN_FILES", fake)
    asked, serve = [], {"https://b.example/missing.csv": fresh}

    def urlopen(url, timeout=None):
        asked.append(url)
        if url not in serve:
            raise urllib.error.URLError("[Errno -2] Name or service not known")
        return io.BytesIO(serve[url])

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return {"present": present, "fresh": fresh, "asked": asked, "serve": serve}


def _assert_describes(msg: str, base, rels):
    """`msg` names, for every file in `rels`: where it goes, its size, md5, sha256 and every url."""
    for rel in rels:
        k = files.KNOWN_FILES[rel]
        assert str(base / rel) in msg, rel
        assert f"{k.size} bytes" in msg and k.md5 in msg and k.sha256 in msg, rel
        for url in k.urls:
            assert url in msg, url


def _assert_next_steps(msg: str):
    """Concrete next steps, not only "run the same command again"."""
    assert "What to do next" in msg
    assert "Copy the files" in msg and "make data-check" in msg  # copy them in, then verify
    assert "PROBGEN_DATA=" in msg  # or point at a folder that has them
    assert "When this machine can reach the urls above" in msg  # retrying is advice only for when online


def test_offline_ensure_names_every_missing_file_its_path_checksums_and_next_steps(tmp_path, offline, capsys):
    assert main(["ensure", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    _assert_describes(err, tmp_path, files.KNOWN_FILES)
    _assert_next_steps(err)
    assert err.count("Name or service not known") == len(offline)  # each url's own error
    assert offline == [url for k in files.KNOWN_FILES.values() for url in k.urls]  # every mirror, once
    assert list(tmp_path.iterdir()) == []  # no empty folders, no .part files left behind


def test_failed_download_says_what_to_do_and_names_only_what_was_asked_for(tmp_path, offline, capsys):
    assert main(["download-mnist", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    mnist = [rel for rel in files.KNOWN_FILES if rel.startswith("mnist/")]
    _assert_describes(err, tmp_path, mnist)
    _assert_next_steps(err)
    assert "trueskill/" not in err.split("What to do next")[0]


def test_download_api_error_says_where_the_file_goes_and_its_checksums(tmp_path, offline):
    """`probgen.data.download_mnist` and notebooks go through `files.download`: same message."""
    with pytest.raises(files.DataFileError) as err:
        files.download("gp/data_part_B.csv", tmp_path)
    _assert_describes(str(err.value), tmp_path, ["gp/data_part_B.csv"])
    _assert_next_steps(str(err.value))


def test_download_tries_mirrors_and_keeps_only_a_matching_md5(tmp_path):
    """Real urllib on file:// mirrors: a tampered copy and a dead mirror are skipped, the good one is kept."""
    good, bad = tmp_path / "good.csv.gz", tmp_path / "bad.csv.gz"
    with gzip.open(good, "wb") as fh:
        fh.write(b"a,b\n1,2\n")
    with gzip.open(bad, "wb") as fh:
        fh.write(b"tampered\n")
    entry = _known("x/f.csv", b"a,b\n1,2\n", bad.as_uri(), (tmp_path / "missing").as_uri(), good.as_uri())
    entry = files.DataFile(**{**entry.__dict__, "gunzip": True})
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(files.KNOWN_FILES, "x/f.csv", entry)
        target = files.download("x/f.csv", tmp_path / "data")
        assert target.read_bytes() == b"a,b\n1,2\n" and not list(target.parent.glob("*.part"))
        mp.setitem(files.KNOWN_FILES, "x/f.csv", files.DataFile(**{**entry.__dict__, "urls": (bad.as_uri(),)}))
        with pytest.raises(files.DataFileError, match=r"(?s)could not download x/f.csv.*"
                           r"-> DataFileError: downloaded file has md5 \w+, expected \w+; not kept.*What to do next"):
            files.download("x/f.csv", tmp_path / "other")
    assert not (tmp_path / "other" / "x" / "f.csv").exists()


def test_present_files_are_not_downloaded_again_and_mirrors_are_tried_in_order(tmp_path, mirror, capsys):
    (tmp_path / "toy").mkdir()
    present = tmp_path / "toy" / "present.csv"
    present.write_bytes(mirror["present"])
    before = present.stat().st_mtime_ns
    assert main(["ensure", "--data-dir", str(tmp_path)]) == 0
    assert mirror["asked"] == ["https://a.example/missing.csv", "https://b.example/missing.csv"]
    assert (tmp_path / "toy" / "missing.csv").read_bytes() == mirror["fresh"]
    assert present.read_bytes() == mirror["present"] and present.stat().st_mtime_ns == before
    capsys.readouterr()
    # Everything present: no network at all, and nothing printed.
    assert main(["ensure", "--data-dir", str(tmp_path)]) == 0
    assert mirror["asked"] == ["https://a.example/missing.csv", "https://b.example/missing.csv"]
    assert capsys.readouterr() == ("", "")


def test_a_download_with_the_wrong_md5_is_not_kept(tmp_path, mirror, capsys):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "present.csv").write_bytes(mirror["present"])
    mirror["serve"]["https://b.example/missing.csv"] = b"someone else's file\n"
    assert main(["ensure", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert not (tmp_path / "toy" / "missing.csv").exists()
    assert not list((tmp_path / "toy").glob("*.part"))
    expected = files.KNOWN_FILES["toy/missing.csv"].md5
    assert re.search(rf"https://b\.example/missing\.csv\s+-> DataFileError: downloaded file has md5 \w+, "
                     rf"expected {expected}; not kept", err)


def test_check_downloads_nothing_and_says_what_to_do_for_missing_and_mismatched_files(tmp_path, offline, capsys):
    (tmp_path / "trueskill").mkdir()
    (tmp_path / "trueskill" / "SerieA.csv").write_text("not the file\n")
    assert main(["check", "--data-dir", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert offline == []
    assert re.search(r"md5 mismatch\s+trueskill/SerieA\.csv", out) and re.search(r"missing\s+gp/data_part_B\.csv", out)
    _assert_describes(err, tmp_path, files.KNOWN_FILES)
    _assert_next_steps(err)
    assert "nothing was downloaded" in err
    assert f"it has md5 {hashlib.md5(b'not the file' + bytes([10])).hexdigest()}" in err
    assert "Delete or replace the mismatched files first" in err


def test_data_that_is_present_matches_both_checksums(offline, capsys):
    """The sha256 values typed into KNOWN_FILES agree with the files (CI points PROBGEN_DATA at them)."""
    if files.problems():
        pytest.skip("not every data file is in the data directory (set PROBGEN_DATA)")
    for rel, k in files.KNOWN_FILES.items():
        path = paths.data_dir() / rel
        assert hashlib.sha256(path.read_bytes()).hexdigest() == k.sha256, rel
        assert path.stat().st_size == k.size, rel
    assert main(["ensure"]) == 0
    assert offline == [] and capsys.readouterr() == ("", "")


def test_data_readme_gives_every_known_file_its_md5_and_urls():
    """data/README.md is written from KNOWN_FILES; this keeps the two from drifting apart."""
    readme = (paths.repo_root() / "data" / "README.md").read_text()
    for rel, k in files.KNOWN_FILES.items():
        row = next((line for line in readme.splitlines() if f"`{rel}`" in line and line.startswith("|")), None)
        assert row is not None, f"{rel} has no row in data/README.md"
        assert k.md5 in row and str(k.size) in row, rel
        for url in k.urls:
            assert url in readme, url


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_report_gets_the_data_before_the_notebooks_and_make_test_needs_no_network():
    def dry_run(target):
        return subprocess.run(["make", "-n", target, "PROFILE=smoke"], cwd=paths.repo_root(),
                              capture_output=True, text=True, check=True).stdout

    report = dry_run("report")
    assert "-m probgen.data ensure" in report
    assert report.index("-m probgen.data ensure") < report.index("-m probgen.run")
    assert "probgen.data" not in dry_run("test")
