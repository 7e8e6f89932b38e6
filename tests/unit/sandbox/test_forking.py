"""retool.sandbox.forking: the zygote's fork call and the child's reseed (real forks, no mocks)."""

from __future__ import annotations

import os
import random
import sys

import pytest

from retool.sandbox import PythonSandbox
from retool.sandbox.forking import (
    MODULE_WARM_UPS,
    WARM_UP_SNIPPETS,
    fork_function,
    reseed_in_child,
    warm_up,
)
from tests.capabilities import sandbox_options


def _in_child(body: bytes) -> bytes:
    """Fork with ``fork_function()``; the child writes ``body``-computed bytes to a pipe."""
    r, w = os.pipe()
    pid = fork_function()()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(r)
            os.write(w, body)
        finally:
            os._exit(0)
    os.close(w)
    try:
        data = os.read(r, 4096)
    finally:
        os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return data


def test_the_fork_function_returns_a_child_pid_in_the_parent_and_runs_the_child() -> None:
    assert _in_child(b"child ran") == b"child ran"


def test_the_child_is_another_process() -> None:
    r, w = os.pipe()
    pid = fork_function()()
    if pid == 0:
        os.write(w, str(os.getpid()).encode())
        os._exit(0)
    os.close(w)
    child_pid = int(os.read(r, 64))
    os.close(r)
    os.waitpid(pid, 0)
    assert child_pid == pid != os.getpid()


def test_reseed_gives_the_global_generator_a_new_state() -> None:
    state = random.getstate()
    try:
        reseed_in_child()
        assert random.getstate() != state
    finally:
        random.setstate(state)


def test_numpy_global_generator_is_reseeded_when_loaded() -> None:
    np = pytest.importorskip("numpy")
    state = np.random.get_state()[1].copy()
    try:
        reseed_in_child()
        assert "numpy.random" in sys.modules and (np.random.get_state()[1] != state).any()
    finally:
        np.random.set_state(("MT19937", state, 0, 0, 0.0))


@pytest.mark.asyncio
async def test_children_of_one_zygote_draw_different_numbers_from_both_generators() -> None:
    options = {"timeout": 10, "concurrency": 1, "zygotes": 1, **sandbox_options(),
               "allowed_modules": ("random", "numpy")}
    async with PythonSandbox(**options) as sandbox:
        draws = {(await sandbox.run("import random, numpy\nprint(random.random(), numpy.random.rand())")).stdout
                 for _ in range(3)}
    assert len(draws) == 3 and all(line.count(" ") == 1 for line in draws)


@pytest.mark.asyncio
async def test_a_snippet_can_start_and_join_a_thread() -> None:
    options = {"timeout": 10, "concurrency": 1, "zygotes": 1, **sandbox_options(),
               "allowed_modules": ("threading",)}
    code = ("import threading\nout = []\nt = threading.Thread(target=out.append, args=(7,))\nt.start(); t.join()\n"
            "print(out, threading.current_thread() is threading.main_thread(), threading.active_count())")
    async with PythonSandbox(**options) as sandbox:
        result = await sandbox.run(code)
    assert (result.status, result.stdout) == ("ok", "[7] True 1\n")


def test_warm_up_puts_back_the_import_hook_the_streams_and_the_line_cache(capsys: pytest.CaptureFixture[str]) -> None:
    import builtins
    import linecache

    from retool.sandbox import zygote

    before_import, before_stderr = builtins.__import__, sys.stderr
    warm_up(zygote._run_snippet, {"print_last_expression": True}, frozenset({"math"}))
    captured = capsys.readouterr()
    assert builtins.__import__ is before_import and sys.stderr is before_stderr
    assert zygote.SNIPPET_FILENAME not in linecache.cache
    assert captured.err == "" and "ZeroDivisionError" in captured.out  # the error path ran, into stdout


def test_warm_up_snippets_cover_output_an_expression_an_error_and_a_refused_import() -> None:
    joined = "\n".join(WARM_UP_SNIPPETS)
    assert "print(" in joined and "1 / 0" in joined and "import os" in joined


def test_warm_up_adds_the_module_warm_ups_of_the_pre_imported_modules_only() -> None:
    ran: list[str] = []
    warm_up(lambda code, _cfg, _allowed: ran.append(code), {"preimport": ["math", "mpmath", "fractions"]}, None)
    assert ran == [*WARM_UP_SNIPPETS, MODULE_WARM_UPS["mpmath"]]


def test_module_warm_ups_exist_for_the_recipe_libraries_each_importing_its_own() -> None:
    assert {"sympy", "numpy", "mpmath"} <= set(MODULE_WARM_UPS)
    assert all(f"import {name}" in code for name, code in MODULE_WARM_UPS.items())
