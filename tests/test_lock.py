"""requirements.lock pins what requirements.txt asks for: a requirement added without `make lock` fails here."""

import re

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from probgen import paths


def _requirements(name: str) -> list[Requirement]:
    lines = (paths.repo_root() / name).read_text().splitlines()
    return [Requirement(line.split("#")[0].strip()) for line in lines if line.split("#")[0].strip()]


def _pins() -> dict[str, Version]:
    pins = {}
    for req in _requirements("requirements.lock"):
        spec = list(req.specifier)
        assert len(spec) == 1 and spec[0].operator == "==", f"requirements.lock: {req} is not an exact pin"
        name = canonicalize_name(req.name)
        assert name not in pins, f"requirements.lock pins {req.name} twice"
        pins[name] = Version(spec[0].version)
    return pins


def test_every_requirement_is_pinned_in_the_lock_within_its_spec():
    pins = _pins()
    for req in _requirements("requirements.txt"):
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in requirements.txt but not in requirements.lock: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {req.name}=={pins[name]}, outside requirements.txt's '{req.specifier}': "
            "run `make lock`")


def test_torch_is_pinned_without_a_build_label():
    """2.13.0, not 2.13.0+cpu: the same lock installs the CPU or a CUDA build (TORCH_INDEX picks)."""
    assert str(_pins()["torch"]) == "2.13.0"
    assert not any(re.match(r"(nvidia-|triton\b)", str(name)) for name in _pins()), "CUDA-only packages in the lock"


def test_the_lock_says_how_it_was_made_and_where():
    header = [line for line in (paths.repo_root() / "requirements.lock").read_text().splitlines()
              if line.startswith("#")]
    text = "\n".join(header)
    assert "make lock" in text and "requirements.txt" in text
    assert re.search(r"Resolved on CPython 3\.\d+\.\d+, Linux x86_64", text)
