"""Reproducible installs: hand-edited requirements*.in, hashed locks requirements*.txt, make installs the locks.

`make lock` writes each lock from its .in (uv pip compile --universal --generate-hashes); every venv the
Makefile builds installs a lock with `pip install --require-hashes`. These tests fail when a lock is stale
(an .in changed without `make lock`), when a lock line is unpinned or unhashed, and when the Makefile
installs anything that did not come from a lock.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")

# Each hand-edited input and the lock `make lock` writes from it.
LOCKS = {
    "requirements.in": "requirements.txt",
    "requirements-dev.in": "requirements-dev.txt",
    "requirements-checkov.in": "requirements-checkov.txt",
    "requirements-uv.in": "requirements-uv.txt",
}
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")
# Under `make test`, the outer make's flags and variables would reach the make these tests run.
MAKE_ENV = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}}


def _logical_lines(path: Path) -> list[str]:
    """The file's lines with comments dropped and backslash continuations joined, as pip reads them."""
    joined: list[str] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            joined.append(line)
    return joined


def _locked(lock: str) -> list[tuple[Requirement, list[str]]]:
    """(the requirement, its options) for every package line of a lock. A package may have one line per
    environment (`numpy==X ; python_full_version < '3.12'` and `numpy==Y ; ...`)."""
    entries = []
    for line in _logical_lines(REPO / lock):
        spec, *options = line.split(" --")
        entries.append((Requirement(spec.strip()), [f"--{option.strip()}" for option in options]))
    return entries


def _locked_versions(lock: str) -> dict[str, set[str | None]]:
    """Package name -> the versions a lock pins it at (one per environment it distinguishes)."""
    versions: dict[str, set[str | None]] = {}
    for requirement, _ in _locked(lock):
        versions.setdefault(canonicalize_name(requirement.name), set()).add(_exact_version(requirement))
    return versions


def _direct_pins(in_file: str) -> dict[str, Requirement]:
    """Package name -> requirement for every direct dependency of an .in file, following its -r includes."""
    pins: dict[str, Requirement] = {}
    for line in _logical_lines(REPO / in_file):
        if line.startswith("-r "):
            pins.update(_direct_pins(line.removeprefix("-r ").strip()))
        elif not line.startswith("-"):
            requirement = Requirement(line)
            pins[canonicalize_name(requirement.name)] = requirement
    return pins


def _exact_version(requirement: Requirement) -> str | None:
    """The X.Y.Z of a requirement pinned with a single ==X.Y.Z, or None for anything looser."""
    specs = list(requirement.specifier)
    if len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version:
        return None
    return specs[0].version


@pytest.mark.parametrize("lock", sorted(LOCKS.values()))
def test_every_lock_line_is_one_exact_version_with_its_hashes(lock: str) -> None:
    entries = _locked(lock)
    assert entries, f"{lock} pins nothing"
    for requirement, options in entries:
        name = requirement.name
        assert _exact_version(requirement), f"{lock}: {name} is not pinned with =="
        assert requirement.url is None, f"{lock}: {name} comes from a URL, which pip cannot check by hash"
        assert options, f"{lock}: {name} has no --hash (pip --require-hashes would refuse the whole file)"
        assert all(HASH.fullmatch(option) for option in options), f"{lock}: {name} has an option that is no hash"


@pytest.mark.parametrize("in_file", sorted(LOCKS))
def test_every_direct_dependency_is_pinned_exactly_in_its_in_file(in_file: str) -> None:
    pins = _direct_pins(in_file)
    assert pins, f"{in_file} names no package"
    loose = sorted(name for name, requirement in pins.items() if not _exact_version(requirement))
    assert not loose, f"{in_file}: pin these with ==X.Y.Z: {loose}"


@pytest.mark.parametrize(("in_file", "lock"), sorted(LOCKS.items()))
def test_each_lock_holds_the_versions_its_in_file_pins(in_file: str, lock: str) -> None:
    locked = _locked_versions(lock)
    stale = {
        name: (_exact_version(requirement), sorted(map(str, locked.get(name, set()))))
        for name, requirement in _direct_pins(in_file).items()
        if locked.get(name) != {_exact_version(requirement)}
    }
    assert not stale, f"{lock} is stale (package: (.in pin, locked)): {stale}; run `make lock`"


def test_the_dev_venv_gets_the_function_runtime_at_its_own_locked_versions_and_hashes() -> None:
    dev = {str(requirement): sorted(hashes) for requirement, hashes in _locked("requirements-dev.txt")}
    differ = sorted(
        str(requirement)
        for requirement, hashes in _locked("requirements.txt")
        if dev.get(str(requirement)) != sorted(hashes)
    )
    assert not differ, f"requirements-dev.txt differs from requirements.txt for {differ}; run `make lock`"


def test_the_powertools_layer_follows_the_locked_powertools_version() -> None:
    from infra.constants import POWERTOOLS_VERSION

    assert _locked_versions("requirements.txt")["aws-lambda-powertools"] == {POWERTOOLS_VERSION}


def _dry_run(tmp_path: Path, *targets: str) -> list[str]:
    """The commands `make` would run for targets, with every venv placed in tmp_path (nothing is run)."""
    assert MAKE, "make is not installed"
    venvs = [f"VENV={tmp_path / 'v'}", f"CHECKOV_VENV={tmp_path / 'c'}", f"LOCK_VENV={tmp_path / 'l'}"]
    done = subprocess.run(
        [MAKE, "-n", "-B", "-C", str(REPO), *venvs, *targets], capture_output=True, text=True, check=True, env=MAKE_ENV
    )
    return done.stdout.splitlines()


def test_make_installs_every_venv_from_a_lock_with_require_hashes(tmp_path: Path) -> None:
    installs = [line for line in _dry_run(tmp_path, "dev", "lock") if " -m pip install " in line]
    from_locks = {m.group(1) for line in installs if (m := re.search(r" -r (\S+)", line))}
    assert from_locks == {"requirements-dev.txt", "requirements-checkov.txt", "requirements-uv.txt"}
    for line in installs:
        if " -e " in line:  # the project itself: no dependencies of its own, built by the locked setuptools
            assert "--no-deps" in line and "--no-build-isolation" in line, line
        else:
            assert "--require-hashes" in line and "--only-binary :all:" in line, line


def _stamps(workdir: Path) -> list[str]:
    assert MAKE, "make is not installed"
    show = "stamps: ; @echo $(STAMP) $(CHECKOV_STAMP) $(LOCK_STAMP)"
    done = subprocess.run(
        [MAKE, "-s", "-f", str(REPO / "Makefile"), "-C", str(workdir), "--eval", show, "stamps"],
        capture_output=True,
        text=True,
        check=True,
        env=MAKE_ENV,
    )
    return done.stdout.split()


@pytest.mark.parametrize("lock", sorted(LOCKS.values()))
def test_a_changed_lock_makes_the_next_make_reinstall_its_venv(tmp_path: Path, lock: str) -> None:
    for name in [*LOCKS.values(), "pyproject.toml"]:
        shutil.copy(REPO / name, tmp_path / name)
    before = _stamps(tmp_path)
    with (tmp_path / lock).open("a", encoding="utf-8") as changed:
        changed.write("# a new line, as `make lock` writes after an .in changed\n")
    after = _stamps(tmp_path)
    assert len(before) == len(after) == 3
    assert before != after, f"a change to {lock} leaves every venv stamp as it was: no reinstall would happen"


def _browser_target(tmp_path: Path, chromium: str, *, uid: int, apt_get_exit: int | None) -> tuple[str, list[str]]:
    """`make browser` where PATH holds only a stand-in `id` (printing uid) and, unless apt_get_exit is None, a
    stand-in `apt-get` that records its arguments and exits with apt_get_exit; Chromium is looked for at
    `chromium`. Returns what make printed and the apt-get calls."""
    assert MAKE, "make is not installed"
    bin_dir, calls = tmp_path / "bin", tmp_path / "apt-get-calls"
    bin_dir.mkdir()
    (bin_dir / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    if apt_get_exit is not None:
        (bin_dir / "apt-get").write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexit {apt_get_exit}\n')
    for stand_in in bin_dir.iterdir():
        stand_in.chmod(0o755)
    done = subprocess.run(
        [MAKE, "-s", "-C", str(REPO), "browser", f"CHROMIUM={chromium}"],
        capture_output=True,
        text=True,
        check=True,  # make test goes on without Chromium: its browser test skips, saying why
        env={**MAKE_ENV, "PATH": str(bin_dir)},
    )
    return done.stdout, calls.read_text().splitlines() if calls.exists() else []


def test_make_test_installs_chromium_with_apt_get_when_root(tmp_path: Path) -> None:
    said, apt_calls = _browser_target(tmp_path, str(tmp_path / "no-chromium"), uid=0, apt_get_exit=0)
    assert "Installing Debian's chromium" in said
    assert apt_calls[0] == "update -qq"
    assert apt_calls[1].startswith("install -y") and apt_calls[1].endswith(" chromium")


def test_make_test_goes_on_saying_the_browser_test_will_skip_when_apt_get_fails(tmp_path: Path) -> None:
    said, apt_calls = _browser_target(tmp_path, str(tmp_path / "no-chromium"), uid=0, apt_get_exit=100)
    assert apt_calls == ["update -qq"]
    assert "could not install chromium with apt-get: the browser test will be skipped" in said


def test_make_test_says_why_the_browser_test_will_skip_when_not_root(tmp_path: Path) -> None:
    said, apt_calls = _browser_target(tmp_path, str(tmp_path / "no-chromium"), uid=1000, apt_get_exit=0)
    assert apt_calls == []
    assert "only as root with apt-get: the browser test will be skipped" in said


def test_make_test_says_why_the_browser_test_will_skip_without_apt_get(tmp_path: Path) -> None:
    said, _ = _browser_target(tmp_path, str(tmp_path / "no-chromium"), uid=0, apt_get_exit=None)
    assert "only as root with apt-get: the browser test will be skipped" in said


def test_make_test_installs_nothing_when_chromium_is_there(tmp_path: Path) -> None:
    said, apt_calls = _browser_target(tmp_path, sys.executable, uid=0, apt_get_exit=0)
    assert (said, apt_calls) == ("", [])
