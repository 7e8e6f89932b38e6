"""Hostile checks of the tiered zygotes (recipe preset): routing reads ASCII whole words of the
UTF-8 bytes, 64 KiB of bytes at most; every tier has the same allow-list and gives the same
result for the same logic; random state is fresh per run in every tier; model code never makes
run() raise or lose a slot. Each tier is reached by a one-line comment prefix (same line count,
so tracebacks line up): ``#`` (tier 0), ``#math`` (tier 1), ``#numpy`` (tier 2)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from retool.sandbox import PythonSandbox
from tests.capabilities import sandbox_options

PROBE = "print(*(any(c.__module__ == m for c in object.__subclasses__()) for m in ('dec' + 'imal', 'num' + 'py')))"
TIERS = {0: "#\n", 1: "#math\n", 2: "#numpy\n"}
SEEN = {0: "False False", 1: "True False", 2: "True True"}


def _fixture(**overrides: object) -> Iterator[tuple[asyncio.AbstractEventLoop, PythonSandbox]]:
    loop = asyncio.new_event_loop()
    options = {"timeout": 20, "concurrency": 2, "zygotes": 1, "module_preset": "recipe",
               **sandbox_options(), **overrides}
    box = PythonSandbox(**options)
    loop.run_until_complete(box.start())
    yield loop, box
    loop.run_until_complete(box.close())
    loop.close()


@pytest.fixture(scope="module")
def recipe() -> Iterator[tuple[asyncio.AbstractEventLoop, PythonSandbox]]:
    yield from _fixture()


@pytest.fixture(scope="module")
def short() -> Iterator[tuple[asyncio.AbstractEventLoop, PythonSandbox]]:
    yield from _fixture(timeout=3)


def run(box, code: str):
    loop, sandbox = box
    return loop.run_until_complete(sandbox.run(code))


def out(box, code: str) -> str:
    result = run(box, code)
    assert result.status == "ok", (result.status, result.stderr)
    return result.stdout.strip()


def per_tier(box, code: str) -> dict[int, tuple[str, str, str]]:
    results = {tier: run(box, prefix + code) for tier, prefix in TIERS.items()}
    return {tier: (r.status, r.stdout, r.stderr) for tier, r in results.items()}


def assert_same_in_every_tier(box, code: str) -> tuple[str, str, str]:
    results = per_tier(box, code)
    assert results[0] == results[1] == results[2], results
    return results[0]


# --- routing ------------------------------------------------------------------------------------
def test_the_comment_prefixes_reach_tiers_0_1_and_2(recipe) -> None:
    assert {tier: out(recipe, prefix + PROBE) for tier, prefix in TIERS.items()} == SEEN


@pytest.mark.parametrize("name", ["numpy_", "xnumpy", "_numpy", "numpy1", "NUMPY", "Numpy", "mathematics", "sympyx"])
def test_a_module_name_glued_to_ascii_word_characters_does_not_count(recipe, name: str) -> None:
    assert out(recipe, f"{name} = 1\n" + PROBE) == SEEN[0]


@pytest.mark.parametrize("text", ["énumpy", "numpyé", "ÿnumpy", "numpy€", "'numpy'", "numpy.linalg", "x.numpy"])
def test_a_module_name_beside_non_ascii_or_punctuation_counts_as_a_whole_word(recipe, text: str) -> None:
    assert out(recipe, f"# {text}\n" + PROBE) == SEEN[2]


def test_a_fullwidth_nfkc_import_of_numpy_routes_to_tier_0_and_still_imports(recipe) -> None:
    # Python NFKC-folds identifiers: this is ``import numpy``, though no ASCII "numpy" is written.
    assert out(recipe, PROBE + "\nimport ｎｕｍｐｙ as np\nprint(np.arange(4).sum())") == SEEN[0] + "\n6"


def test_a_fullwidth_import_of_os_is_forbidden_in_every_tier(recipe) -> None:
    status, _, stderr = assert_same_in_every_tier(recipe, "import ｏｓ\nprint('escaped')")
    assert status == "forbidden" and "ForbiddenImport" in stderr


@pytest.mark.parametrize(("size", "tier"), [((1 << 16) - 1, 0), (1 << 16, 0), ((1 << 16) + 1, 2)])
def test_the_64k_cut_counts_ascii_bytes(recipe, size: int, tier: int) -> None:
    head = PROBE + "\n#"
    code = head + "x" * (size - len(head.encode()))
    assert len(code.encode()) == size
    assert out(recipe, code) == SEEN[tier]


@pytest.mark.parametrize(("size", "tier"), [(1 << 16, 0), ((1 << 16) + 1, 2)])
def test_the_64k_cut_counts_utf8_bytes_not_characters(recipe, size: int, tier: int) -> None:
    head = PROBE + "\n#"
    pad = size - len(head.encode())
    code = head + "€" * (pad // 3) + "x" * (pad % 3)
    assert len(code.encode()) == size and len(code) < 1 << 15  # far under 64 Ki characters
    assert out(recipe, code) == SEEN[tier]


@pytest.mark.parametrize("big", [False, True])
def test_a_source_with_a_lone_surrogate_never_makes_run_raise(recipe, big: bool) -> None:
    code = "s = '\ud800'\nprint(len(s))" + ("\n#" + "x" * (1 << 16) if big else "")
    result = run(recipe, code)  # must not raise UnicodeEncodeError out of run()
    assert (result.status, result.stdout) == ("ok", "1\n")
    assert recipe[1].free_slots() == 2


# --- the allow-list is the same in every tier -----------------------------------------------------
@pytest.mark.parametrize("name", ["os", "sys", "ctypes", "subprocess", "types", "importlib", "json", "gc",
                                  "builtins", "threading", "gmpy2", "warnings", "weakref"])
def test_a_plain_import_of_a_module_outside_the_allow_list_is_forbidden_in_every_tier(recipe, name: str) -> None:
    status, stdout, stderr = assert_same_in_every_tier(recipe, f"import {name}\nprint('escaped')")
    assert (status, stdout) == ("forbidden", "") and f"module '{name}' is not allowed" in stderr


@pytest.mark.parametrize("name", ["collections.abc", "numpy.linalg", "numpy.random", "sympy.abc", "mpmath.libmp", "string"])
def test_an_allowed_module_or_submodule_imports_in_every_tier(recipe, name: str) -> None:
    assert assert_same_in_every_tier(recipe, f"import {name}\nprint('ok')") == ("ok", "ok\n", "")


@pytest.mark.xfail(strict=True, reason="known, by design (the import guard is messages only, not a boundary): __import__(name) without globals bypasses the allow-list in every tier "
                                       "(with globals() it is ForbiddenImport); eval(\"__import__('os')\") too")
@pytest.mark.parametrize("name", ["os", "sys", "ctypes"])
def test_a_computed_dunder_import_of_a_forbidden_module_is_forbidden_in_every_tier(recipe, name: str) -> None:
    half = len(name) // 2
    status, stdout, _ = assert_same_in_every_tier(recipe, f"print(__import__({name[:half]!r} + {name[half:]!r}))")
    assert (status, stdout) == ("forbidden", "")


def test_a_computed_dunder_import_with_globals_is_forbidden_in_every_tier(recipe) -> None:
    status, _, stderr = assert_same_in_every_tier(recipe, "print(__import__('o' + 's', globals()))")
    assert status == "forbidden" and "ForbiddenImport" in stderr


@pytest.mark.xfail(strict=True, reason="known, left alone: os.fork() (os reached via random._os) fails at once with PermissionError "
                                       "in tiers 0/1 but hangs to the wall-clock timeout (status timeout) in tier 2")
def test_a_fork_from_model_code_gets_the_same_status_in_every_tier(short) -> None:
    code = "r = __import__('ran' + 'dom')\nprint(r._os.fork())"
    statuses = {tier: run(short, prefix + code).status for tier, prefix in TIERS.items()}
    assert statuses[0] == statuses[1] == statuses[2], statuses
    assert short[1].free_slots() == 2


# --- the same logic gives the same result in every tier ------------------------------------------
def test_sympy_by_computed_import_in_tier_0_equals_sympy_named_in_tier_2(recipe) -> None:
    code = ("s = __import__('sym' + 'py')\nx = s.Symbol('x')\n"
            "print(s.integrate(s.sin(x)**2, x), s.nsimplify(0.333333333333333), s.factorint(2**32 + 1), s.sqrt(8))")
    computed = out(recipe, "#\n" + code)
    named = out(recipe, "#numpy\nimport sympy\n" + code)
    assert computed == named == "x/2 - sin(x)*cos(x)/2 1/3 {641: 1, 6700417: 1} 2*sqrt(2)"


def test_numpy_output_and_warnings_are_the_same_in_every_tier(recipe) -> None:
    status, stdout, stderr = assert_same_in_every_tier(
        recipe, "n = __import__('num' + 'py')\nprint(n.pi * n.ones(2), repr(n.float64(0.1)), n.array([1.0]) / 0)")
    assert status == "ok" and "[inf]" in stdout and "RuntimeWarning: divide by zero" in stderr


def test_module_state_left_by_the_warm_up_is_the_same_in_every_tier(recipe) -> None:
    code = ("d = __import__('dec' + 'imal'); n = __import__('num' + 'py'); m = __import__('mp' + 'math')\n"
            "print(d.getcontext().prec, n.geterr(), n.get_printoptions()['precision'], m.mp.dps, m.libmp.BACKEND)")
    assert assert_same_in_every_tier(recipe, code)[0] == "ok"


def test_the_snippet_namespace_is_the_same_in_every_tier(recipe) -> None:
    assert assert_same_in_every_tier(recipe, "print(sorted(globals()), len(vars(__builtins__)) if not isinstance(__builtins__, dict) else len(__builtins__))")[0] == "ok"


def test_seeded_random_and_numpy_random_are_the_same_in_every_tier(recipe) -> None:
    code = ("r = __import__('ran' + 'dom'); n = __import__('num' + 'py')\nr.seed(5); n.random.seed(5)\n"
            "print(r.random(), n.random.random(), n.random.default_rng(5).random())")
    assert assert_same_in_every_tier(recipe, code)[0] == "ok"


@pytest.mark.xfail(strict=True, reason="known, left alone: each tier's zygote has its own str hash seed, so a set of strings "
                                       "iterates in a different order when a comment names math or numpy")
def test_a_set_of_strings_iterates_in_the_same_order_in_every_tier(recipe) -> None:
    assert_same_in_every_tier(recipe, "print(list({'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}))")


@pytest.mark.xfail(strict=True, reason="known, left alone: tier 2 runs the snippet one frame shallower (recursion depth 994 vs 993)")
def test_the_reachable_recursion_depth_is_the_same_in_every_tier(recipe) -> None:
    assert_same_in_every_tier(recipe, "def f(n):\n    try:\n        return f(n + 1)\n    except RecursionError:\n        return n\nprint(f(0))")


# --- random state is fresh per run in every tier -------------------------------------------------
def _distinct_per_tier(box, code: str, runs: int = 3) -> dict[int, int]:
    return {tier: len({out(box, prefix + code) for _ in range(runs)}) for tier, prefix in TIERS.items()}


def test_stdlib_random_differs_between_runs_in_every_tier(recipe) -> None:
    assert _distinct_per_tier(recipe, "r = __import__('ran' + 'dom')\nprint(r.random(), r.getrandbits(64))") == {0: 3, 1: 3, 2: 3}


def test_numpy_random_differs_between_runs_in_every_tier(recipe) -> None:
    assert _distinct_per_tier(recipe, "n = __import__('num' + 'py')\nprint(n.random.random(), n.random.default_rng().random())") == {0: 3, 1: 3, 2: 3}


def test_sympy_random_differs_between_runs_in_every_tier(recipe) -> None:
    assert _distinct_per_tier(recipe, "s = __import__('sym' + 'py')\nprint(s.randprime(10**20, 10**21))") == {0: 3, 1: 3, 2: 3}


def test_concurrent_runs_in_one_tier_draw_different_random_numbers(recipe) -> None:
    loop, box = recipe
    async def many():
        return await asyncio.gather(*(box.run("#math\nimport random\nprint(random.random())") for _ in range(6)))
    assert len({r.stdout for r in loop.run_until_complete(many())}) == 6


# --- slots -------------------------------------------------------------------------------------
def test_64_concurrent_mixed_tier_calls_each_land_in_their_tier_and_free_every_slot(recipe) -> None:
    loop, box = recipe
    tiers = [i % 3 for i in range(64)]
    async def many():
        return await asyncio.gather(*(box.run(TIERS[t] + f"print({i})\n" + PROBE) for i, t in enumerate(tiers)))
    results = loop.run_until_complete(many())
    assert [(r.status, r.stdout) for r in results] == [("ok", f"{i}\n{SEEN[t]}\n") for i, t in enumerate(tiers)]
    assert box.free_slots() == 2


def test_a_call_cancelled_in_tier_2_leaves_calls_in_tiers_0_and_1_working(recipe) -> None:
    loop, box = recipe
    async def scenario():
        sleeper = asyncio.create_task(box.run("#numpy\nwhile True:\n    pass"))
        await asyncio.sleep(0.3)
        sleeper.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sleeper
        assert box.free_slots() == 2
        return await asyncio.gather(box.run(TIERS[0] + PROBE), box.run(TIERS[1] + PROBE), box.run(TIERS[2] + PROBE))
    results = loop.run_until_complete(scenario())
    assert [r.stdout.strip() for r in results] == [SEEN[0], SEEN[1], SEEN[2]]
    assert box.free_slots() == 2


def test_a_call_cancelled_in_tier_0_mid_import_of_sympy_leaves_tier_2_working(recipe) -> None:
    loop, box = recipe
    async def scenario():
        importer = asyncio.create_task(box.run("#\n__import__('sym' + 'py')\nwhile True:\n    pass"))
        await asyncio.sleep(0.1)
        importer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await importer
        return await box.execute_code("#numpy\nimport sympy\nprint(sympy.factor(sympy.Symbol('x')**2 - 1))")
    assert loop.run_until_complete(scenario()) == "(x - 1)*(x + 1)"
    assert box.free_slots() == 2
