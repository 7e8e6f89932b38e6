"""Contract tests of ``retool.sandbox.layout``: the scratch tree (modes, owners), testing and
emptying one slot dir without following symlinks, and the JSON start-up config of a zygote
(sys.path, pre-imports, layers, rlimits, read-only paths, slot partition). Real directories."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import math
import os
import resource
import stat
import sys
import sysconfig
from pathlib import Path

import pytest

from retool.sandbox import SandboxConfig
from retool.sandbox.layout import (
    SYSTEM_LIBRARY_PATHS,
    ZYGOTE_ENV,
    ZYGOTE_PATH,
    clean_slot,
    make_scratch,
    slot_is_dirty,
    third_party_modules,
    zygote_config,
    zygote_tiers,
)
from tests.capabilities import requires_root

ALL = frozenset({"rlimits", "uid", "no_new_privs", "landlock", "seccomp"})


def mode(path: str | Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# --- scratch dirs --------------------------------------------------------------------------------
def test_scratch_root_is_private_but_traversable_with_one_dir_per_slot(tmp_path: Path) -> None:
    root = make_scratch(SandboxConfig(concurrency=3, scratch_root=str(tmp_path)), chown=False)
    assert os.path.dirname(root) == str(tmp_path) and os.path.basename(root).startswith("retool-sandbox-")
    assert mode(root) == 0o711
    assert sorted(os.listdir(root)) == ["owner.json", "slot-0", "slot-1", "slot-2"]
    assert all(mode(os.path.join(root, f"slot-{s}")) == 0o700 for s in range(3))


@requires_root  # chown to the slot uids
def test_each_slot_dir_is_owned_by_its_slot_uid_when_chowned(tmp_path: Path) -> None:
    root = make_scratch(SandboxConfig(concurrency=2, uid_base=62500, scratch_root=str(tmp_path)), chown=True)
    owners = [(os.stat(os.path.join(root, f"slot-{s}")).st_uid, os.stat(os.path.join(root, f"slot-{s}")).st_gid)
              for s in range(2)]
    assert owners == [(62500, 62500), (62501, 62501)]


def test_slot_dirs_stay_with_the_caller_without_chown(tmp_path: Path) -> None:
    root = make_scratch(SandboxConfig(concurrency=1, uid_base=62500, scratch_root=str(tmp_path)), chown=False)
    assert os.stat(os.path.join(root, "slot-0")).st_uid == os.geteuid()


def test_two_scratch_trees_never_share_a_dir(tmp_path: Path) -> None:
    config = SandboxConfig(concurrency=1, scratch_root=str(tmp_path))
    assert make_scratch(config, chown=False) != make_scratch(config, chown=False)


@pytest.fixture()
def scratch(tmp_path: Path) -> str:
    return make_scratch(SandboxConfig(concurrency=2, scratch_root=str(tmp_path)), chown=False)


def test_a_fresh_slot_is_clean(scratch: str) -> None:
    assert not slot_is_dirty(scratch, 0)


@pytest.mark.parametrize("kind", ["file", "dir", "dangling_symlink"])
def test_any_entry_makes_a_slot_dirty(scratch: str, kind: str) -> None:
    path = os.path.join(scratch, "slot-1", "x")
    {"file": lambda: Path(path).write_text("x"), "dir": lambda: os.mkdir(path),
     "dangling_symlink": lambda: os.symlink("/nonexistent/target", path)}[kind]()
    assert slot_is_dirty(scratch, 1) and not slot_is_dirty(scratch, 0)


def test_a_missing_slot_dir_is_not_dirty(scratch: str) -> None:
    assert not slot_is_dirty(scratch, 99)


def test_clean_slot_empties_files_and_nested_dirs_but_keeps_the_slot(scratch: str) -> None:
    slot = Path(scratch, "slot-0")
    (slot / "a.txt").write_text("a")
    (slot / "deep" / "er").mkdir(parents=True)
    (slot / "deep" / "er" / "b.txt").write_text("b")
    (slot / ".hidden").write_text("h")
    clean_slot(scratch, 0)
    assert slot.is_dir() and list(slot.iterdir()) == [] and not slot_is_dirty(scratch, 0)


def test_clean_slot_leaves_other_slots_alone(scratch: str) -> None:
    Path(scratch, "slot-1", "keep").write_text("k")
    Path(scratch, "slot-0", "drop").write_text("d")
    clean_slot(scratch, 0)
    assert os.listdir(os.path.join(scratch, "slot-1")) == ["keep"]


def test_clean_slot_removes_symlinks_without_following_them(scratch: str, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("p")
    slot = Path(scratch, "slot-0")
    os.symlink(outside, slot / "dir-link")
    os.symlink(outside / "precious", slot / "file-link")
    clean_slot(scratch, 0)
    assert list(slot.iterdir()) == [] and (outside / "precious").read_text() == "p"


def test_clean_slot_of_a_missing_dir_does_not_raise(scratch: str) -> None:
    clean_slot(scratch, 99)


# --- zygote_config -------------------------------------------------------------------------------
def cfg_of(config: SandboxConfig, active: frozenset[str] = ALL, index: int = 0, n: int = 1,
           scratch: str = "/scratch/root") -> dict:
    return zygote_config(config, active, scratch, index, n)


def test_zygote_config_is_json_serialisable() -> None:
    cfg = cfg_of(SandboxConfig())
    assert json.loads(json.dumps(cfg)) == cfg


def test_slots_are_partitioned_round_robin_across_zygotes() -> None:
    config = SandboxConfig(concurrency=5, uid_base=62000)
    per_zygote = [[s["slot"] for s in cfg_of(config, index=i, n=2)["slots"]] for i in range(2)]
    assert per_zygote == [[0, 2, 4], [1, 3]]


def test_each_slot_gets_its_uid_and_its_own_scratch_dir() -> None:
    slots = cfg_of(SandboxConfig(concurrency=2, uid_base=62000), scratch="/s")["slots"]
    assert slots == [{"slot": 0, "uid": 62000, "scratch": "/s/slot-0"}, {"slot": 1, "uid": 62001, "scratch": "/s/slot-1"}]


def test_rlimits_follow_the_config() -> None:
    config = SandboxConfig(timeout_s=2.5, max_file_bytes=12345, max_open_files=20, max_threads=5)
    limits = cfg_of(config)["rlimits"]
    assert limits == {str(resource.RLIMIT_CPU): math.ceil(2.5) + 1, str(resource.RLIMIT_FSIZE): 12345,
                      str(resource.RLIMIT_NOFILE): 20, str(resource.RLIMIT_CORE): 0,
                      str(resource.RLIMIT_NPROC): 5}


def test_thread_cap_is_set_only_with_per_slot_uids() -> None:
    limits = cfg_of(SandboxConfig(), active=ALL - {"uid"})["rlimits"]
    assert str(resource.RLIMIT_NPROC) not in limits


def test_address_space_limit_is_left_to_the_zygote() -> None:
    cfg = cfg_of(SandboxConfig(memory_limit_bytes=10**8))
    assert str(resource.RLIMIT_AS) not in cfg["rlimits"]
    assert (cfg["rlimit_as_id"], cfg["memory_limit_bytes"]) == (resource.RLIMIT_AS, 10**8)


def test_layers_are_the_active_ones_sorted() -> None:
    assert cfg_of(SandboxConfig(), active=frozenset({"seccomp", "landlock"}))["layers"] == ["landlock", "seccomp"]


def test_allowed_modules_are_pre_imported_and_guarded() -> None:
    cfg = cfg_of(SandboxConfig(allowed_modules=("math", "fractions"), print_last_expression=False))
    assert cfg["preimport"] == cfg["allowed_modules"] == ["math", "fractions"]
    assert cfg["print_last_expression"] is False


def test_no_import_guard_means_nothing_pre_imported() -> None:
    cfg = cfg_of(SandboxConfig(allowed_modules=None))
    assert (cfg["preimport"], cfg["allowed_modules"]) == ([], None)


def test_read_paths_cover_the_stdlib_and_system_libraries_sorted() -> None:
    read = cfg_of(SandboxConfig())["read_paths"]
    paths = sysconfig.get_paths()
    stdlib = {paths["stdlib"], paths["platstdlib"], os.path.join(paths["platstdlib"], "lib-dynload")}
    assert {p for p in stdlib if os.path.isdir(p)} | set(SYSTEM_LIBRARY_PATHS) <= set(read) and read == sorted(read)


def test_read_paths_name_only_existing_stdlib_dirs_besides_the_system_libraries() -> None:
    read = set(cfg_of(SandboxConfig())["read_paths"]) - set(SYSTEM_LIBRARY_PATHS)
    assert read and all(os.path.isdir(p) for p in read), read


def test_sys_path_starts_with_the_dir_holding_the_package() -> None:
    first = cfg_of(SandboxConfig())["sys_path"][0]
    assert os.path.isfile(os.path.join(first, "retool", "sandbox", "zygote.py"))


def test_stdlib_only_modules_add_no_third_party_sys_path_entry() -> None:
    extra = cfg_of(SandboxConfig())["sys_path"][1:]
    assert all("site-packages" not in p and p in sys.path for p in extra), extra




def _extension_dir() -> str | None:
    """The directory the interpreter loads its stdlib extension modules from (lib-dynload)."""
    for name in ("_json", "_struct", "_socket", "_ctypes", "math", "select", "array", "_datetime"):
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec else None
        if origin and origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            return os.path.dirname(origin)
    return None


def test_read_paths_hold_the_lib_dynload_dir_extensions_are_loaded_from() -> None:
    dynload = _extension_dir()
    if dynload is None:  # a property of the interpreter build, not of the host
        pytest.skip(f"{sys.executable} has every stdlib extension module built in: no lib-dynload dir to check")
    assert dynload in cfg_of(SandboxConfig())["read_paths"]


def test_an_allowed_third_party_package_adds_its_site_dir() -> None:
    import numpy  # a dependency of retool-harness: an import error fails the test

    site = os.path.dirname(os.path.dirname(numpy.__file__))
    assert site in cfg_of(SandboxConfig(allowed_modules=("math", "numpy")))["sys_path"]


def test_zygote_script_exists_and_its_environment_holds_only_thread_caps() -> None:
    assert os.path.isfile(ZYGOTE_PATH) and os.path.basename(ZYGOTE_PATH) == "zygote.py"
    assert all(k.endswith("_NUM_THREADS") and v == "1" for k, v in ZYGOTE_ENV.items()) and ZYGOTE_ENV


# --- the lean tier -----------------------------------------------------------------------------
def test_third_party_modules_are_the_non_stdlib_names_in_order() -> None:
    allowed = ("math", "numpy", "fractions", "sympy", "itertools", "mpmath")
    assert third_party_modules(allowed) == ("numpy", "sympy", "mpmath")
    assert third_party_modules(("math", "json")) == () and third_party_modules(None) == ()


def test_third_party_modules_leaves_its_argument_alone() -> None:
    allowed = ["numpy", "math"]
    third_party_modules(allowed)  # type: ignore[arg-type]
    assert allowed == ["numpy", "math"]


def test_a_tier_zygote_pre_imports_its_modules_yet_allows_and_reads_every_allowed_one() -> None:
    config = SandboxConfig(allowed_modules=("math", "numpy", "fractions"))
    full = cfg_of(config)
    lean = zygote_config(config, ALL, "/scratch/root", 0, 1, preimport=("math", "fractions"))
    assert full["preimport"] == ["math", "numpy", "fractions"] and lean["preimport"] == ["math", "fractions"]
    assert lean["allowed_modules"] == full["allowed_modules"]
    assert lean["sys_path"] == full["sys_path"] and lean["read_paths"] == full["read_paths"]


def test_a_tier_naming_a_module_outside_the_allow_list_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="subprocess"):
        zygote_config(SandboxConfig(allowed_modules=("math",)), ALL, "/scratch/root", 0, 1, preimport=("subprocess",))


def test_lean_tiers_go_from_nothing_to_the_stdlib_modules_to_every_module() -> None:
    allowed = ("math", "numpy", "fractions", "sympy")
    assert zygote_tiers(allowed, lean=True) == ((), ("math", "fractions"), allowed)


def test_without_third_party_modules_the_lean_tiers_are_nothing_then_all() -> None:
    assert zygote_tiers(("math", "json"), lean=True) == ((), ("math", "json"))
    assert zygote_tiers(("numpy",), lean=True) == ((), ("numpy",))


def test_one_tier_of_every_module_without_lean_or_without_an_import_guard() -> None:
    assert zygote_tiers(("math", "numpy"), lean=False) == (("math", "numpy"),)
    assert zygote_tiers(None, lean=True) == ((),) and zygote_tiers((), lean=True) == ((),)
