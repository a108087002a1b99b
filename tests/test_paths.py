import os

import pytest

from probgen import paths


@pytest.mark.parametrize("folder, env", [(paths.cache_dir, "PROBGEN_CACHE"), (paths.results_dir, "PROBGEN_RESULTS"),
                                         (paths.figures_dir, "PROBGEN_FIGURES")])
def test_folder_that_cannot_be_created_is_a_clear_error(tmp_path, monkeypatch, folder, env):
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv(env, str(tmp_path / "a_file" / "out"))
    with pytest.raises(paths.UnwritableFolderError) as err:
        folder()
    assert f"{tmp_path}/a_file/out" in str(err.value) and f"set ${env} to a writable folder" in str(err.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_cache_folder_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "ro").mkdir(mode=0o500)
    monkeypatch.setenv("PROBGEN_CACHE", str(tmp_path / "ro"))
    with pytest.raises(paths.UnwritableFolderError, match=r"ro.*set \$PROBGEN_CACHE to a writable folder"):
        paths.cache_dir()
    with pytest.raises(paths.UnwritableFolderError, match=r"ro/vae"):
        paths.cache_dir("vae")


def test_writable_folders_are_created(tmp_path, monkeypatch):
    monkeypatch.setenv("PROBGEN_CACHE", str(tmp_path / "c"))
    assert paths.cache_dir("vae", "x") == tmp_path / "c" / "vae" / "x" and (tmp_path / "c" / "vae" / "x").is_dir()
