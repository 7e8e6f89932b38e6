"""The recipe module preset end to end: numpy, sympy and mpmath pre-imported in the zygote work
in a child on the layers this host has, and their lazily imported submodules load too."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from retool.sandbox import PythonSandbox
from tests.capabilities import sandbox_options


@pytest.fixture(scope="module")
def recipe() -> Iterator[tuple[asyncio.AbstractEventLoop, PythonSandbox]]:
    loop = asyncio.new_event_loop()
    box = PythonSandbox(timeout=20, concurrency=2, zygotes=1, module_preset="recipe", **sandbox_options())
    loop.run_until_complete(box.start())
    yield loop, box
    loop.run_until_complete(box.close())
    loop.close()


def run(recipe: tuple[asyncio.AbstractEventLoop, PythonSandbox], code: str) -> str:
    loop, box = recipe
    return loop.run_until_complete(box.execute_code(code))


def test_sympy_solves_and_simplifies(recipe) -> None:
    out = run(recipe, "import sympy as sp\nx = sp.Symbol('x')\nprint(sp.solve(x**2 - 4, x), sp.factor(x**3 - x))")
    assert out == "[-2, 2] x*(x - 1)*(x + 1)"


def test_numpy_computes(recipe) -> None:
    assert run(recipe, "import numpy as np\nprint(int(np.linalg.matrix_rank(np.eye(3))), np.arange(4).sum())") == "3 6"


def test_lambdify_with_numpy_loads_its_lazy_submodules(recipe) -> None:
    out = run(recipe, "import sympy as sp\nx = sp.Symbol('x')\nf = sp.lambdify(x, sp.sin(x) ** 2, 'numpy')\nprint(round(float(f(1.0)), 6))")
    assert out == "0.708073"


def test_mpmath_and_fractions_work(recipe) -> None:
    out = run(recipe, "import mpmath\nfrom fractions import Fraction\nmpmath.mp.dps = 20\nprint(mpmath.sqrt(2), Fraction(1, 3) + Fraction(1, 6))")
    assert out == "1.4142135623730950488 1/2"


def test_a_module_outside_the_preset_is_still_forbidden(recipe) -> None:
    assert run(recipe, "import subprocess").startswith("Traceback") and "forbidden" in run(recipe, "import subprocess")


# --- the tiers: a snippet forks from the smallest zygote holding the allowed modules it names -------
LOADED = "print(*(any(c.__module__ == m for c in object.__subclasses__()) for m in ('dec' + 'imal', 'num' + 'py')))"


def test_a_snippet_naming_no_allowed_module_forks_from_a_zygote_holding_none(recipe) -> None:
    assert run(recipe, LOADED) == "False False"


def test_a_snippet_naming_only_stdlib_modules_forks_from_the_zygote_holding_them(recipe) -> None:
    assert run(recipe, "import math\n" + LOADED) == "True False"


def test_a_snippet_naming_numpy_anywhere_forks_from_the_zygote_holding_every_module(recipe) -> None:
    assert run(recipe, "# uses numpy\n" + LOADED) == "True True"


def test_a_module_named_inside_a_longer_word_does_not_count(recipe) -> None:
    assert run(recipe, "numpyish = 1\n" + LOADED) == "False False"


def test_a_source_over_64k_forks_from_the_top_tier_unread(recipe) -> None:
    assert run(recipe, LOADED + "\n#" + "x" * (1 << 16)) == "True True"


def test_an_allowed_module_imported_by_a_computed_name_still_loads_in_the_smallest_tier(recipe) -> None:
    out = run(recipe, "m = __import__('sym' + 'py')\nx = m.Symbol('x')\nprint(m.factor(x**2 - 1), __import__('num' + 'py').arange(4).sum(), __import__('fra' + 'ctions').Fraction(1, 2))")
    assert out == "(x - 1)*(x + 1) 6 1/2"


def test_the_recipe_preset_runs_three_tiers_of_zygotes(recipe) -> None:
    _loop, box = recipe
    assert len(box.zygote_pids()) == 3  # zygotes=1: none pre-imported, the stdlib ones, every one


def test_without_tiers_every_snippet_forks_from_the_zygote_holding_every_module() -> None:
    async def main() -> tuple[str, int]:
        async with PythonSandbox(timeout=20, concurrency=1, zygotes=1, module_preset="recipe",
                                 lean_zygotes=False, **sandbox_options()) as box:
            return await box.execute_code(LOADED), len(box.zygote_pids())

    assert asyncio.run(main()) == ("True True", 1)


# --- the module warm-ups ------------------------------------------------------------------------
def test_what_sympy_loads_on_first_use_is_loaded_before_the_zygote_serves(recipe) -> None:
    assert run(recipe, "import sympy\nprint('combinatorics' in vars(sympy))") == "True"  # factor's first call loads it


def test_the_warm_up_leaves_mpmath_at_its_default_precision(recipe) -> None:
    assert run(recipe, "import mpmath\nprint(mpmath.mp.dps, mpmath.mp.prec)") == "15 53"
