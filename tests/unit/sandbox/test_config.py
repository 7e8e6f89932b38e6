"""Contract tests of ``retool.sandbox.config``: ``parse_size`` units and errors, ``SandboxConfig``
validation, defaults and ``from_tool_configs``, ``ExecutionResult`` and the model-facing
``format_result`` text of every status. All pure: no sandbox is started here."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from retool.sandbox import (
    DEFAULT_ALLOWED_MODULES,
    LAYERS,
    MODULE_PRESETS,
    STATUSES,
    TOOL_CONFIGS,
    ExecutionResult,
    SandboxConfig,
    format_result,
    parse_size,
)


def result(status: str, stdout: str = "", stderr: str = "", **kw: Any) -> ExecutionResult:
    return ExecutionResult(status=status, stdout=stdout, stderr=stderr, duration_s=0.01, **kw)


# --- parse_size ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [("4GB", 4 * 10**9), ("100MB", 10**8), ("512MiB", 512 * 2**20), ("1.5GiB", 3 * 2**29),
     ("64 kB", 64_000), ("10KiB", 10240), ("7", 7), (123, 123), ("2gb", 2 * 10**9), ("1TiB", 2**40)],
)
def test_parse_size_is_exact(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["", "GB", "4 GBs", "-1MB", "0", "1.2.3MB", "4XB", 0, -5, 1.5, None, True])
def test_parse_size_rejects_bad_values_naming_them(bad: object) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("decimal", "binary"), [("1kB", "1KiB"), ("1MB", "1MiB"), ("1GB", "1GiB"), ("1TB", "1TiB")])
def test_decimal_units_are_powers_of_1000_and_binary_units_powers_of_1024(decimal: str, binary: str) -> None:
    power = {"k": 1, "M": 2, "G": 3, "T": 4}[decimal[1]]
    assert (parse_size(decimal), parse_size(binary)) == (1000**power, 1024**power)


@pytest.mark.parametrize("spelling", ["4gb", "4GB", "4Gb", "4gB", "4G", "4g", " 4 GB "])
def test_parse_size_units_are_case_insensitive_and_tolerate_spaces(spelling: str) -> None:
    assert parse_size(spelling) == 4 * 10**9


def test_parse_size_fractions_are_exact_not_float_rounded() -> None:
    assert parse_size("0.1GB") == 100_000_000
    assert parse_size("3.000000001GB") == 3_000_000_001
    assert parse_size("0.3KiB") == 307  # 0.3 * 1024 = 307.2, floored to whole bytes


def test_parse_size_plain_bytes_unit() -> None:
    assert parse_size("512B") == parse_size("512b") == 512


def test_a_size_that_rounds_down_to_zero_bytes_is_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        parse_size("0.0001kB")


@pytest.mark.parametrize("bad", ["4 parsecs", "lots", "-3GB"])
def test_parse_size_error_quotes_the_value(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_size(bad)
    assert repr(bad) in str(info.value)


# --- SandboxConfig -------------------------------------------------------------------------------
def test_tool_configs_keep_the_recipe_keys_and_defaults() -> None:
    assert TOOL_CONFIGS == {"python_timeout": 120, "python_memory_limit": "4GB", "tool_concurrency": 32}
    config = SandboxConfig.from_tool_configs()
    assert (config.timeout_s, config.memory_limit_bytes, config.concurrency) == (120.0, 4 * 10**9, 32)
    assert config.allowed_modules == DEFAULT_ALLOWED_MODULES


def test_config_is_frozen_and_keyword_only() -> None:
    config = SandboxConfig()
    with pytest.raises(AttributeError):
        config.timeout_s = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        SandboxConfig(1.0)  # type: ignore[misc]


def test_default_config_turns_every_layer_on_and_guards_imports() -> None:
    config = SandboxConfig()
    assert config.layers == frozenset(LAYERS)
    assert config.allowed_modules == DEFAULT_ALLOWED_MODULES
    assert config.allow_weaker is False and config.print_last_expression is True


def test_from_tool_configs_types_a_custom_dict_and_takes_overrides() -> None:
    config = SandboxConfig.from_tool_configs(
        {"python_timeout": "30", "python_memory_limit": "512MiB", "tool_concurrency": "4"}, max_threads=3)
    assert (config.timeout_s, config.memory_limit_bytes, config.concurrency, config.max_threads) == (
        30.0, 512 * 2**20, 4, 3)
    assert isinstance(config.timeout_s, float) and isinstance(config.concurrency, int)


def test_from_tool_configs_rejects_a_bad_memory_limit() -> None:
    with pytest.raises(ValueError, match="size"):
        SandboxConfig.from_tool_configs({**TOOL_CONFIGS, "python_memory_limit": "plenty"})


@pytest.mark.parametrize(
    ("field", "value"),
    [("timeout_s", 0), ("timeout_s", -1.0), ("timeout_s", 86400.5), ("timeout_s", "10"),
     ("memory_limit_bytes", 0), ("memory_limit_bytes", True), ("memory_limit_bytes", 1.5),
     ("concurrency", 0), ("concurrency", 1025), ("max_output_bytes", -1), ("max_code_bytes", (1 << 20) + 1),
     ("max_file_bytes", 0), ("max_open_files", 7), ("max_threads", 0),
     ("layers", frozenset({"magic"})), ("layers", {"uid"}), ("layers", ("uid",)),
     ("allowed_modules", "math"), ("allowed_modules", ("os.path",)), ("allowed_modules", ("1abc",)),
     ("allowed_modules", (3,)), ("uid_base", 999), ("uid_base", 2**31 - 10), ("zygotes", -1),
     ("kill_grace_s", 0)],
)
def test_bad_values_are_rejected_at_construction_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        SandboxConfig(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [("timeout_s", 86400), ("timeout_s", 0.001), ("max_open_files", 8), ("max_code_bytes", 1 << 20),
     ("concurrency", 1024), ("allowed_modules", None), ("allowed_modules", ()), ("layers", frozenset()),
     ("uid_base", 1000), ("zygotes", 0)],
)
def test_boundary_values_are_accepted(field: str, value: object) -> None:
    assert getattr(SandboxConfig(**{field: value}), field) == value  # type: ignore[arg-type]


# --- ExecutionResult -----------------------------------------------------------------------------
def test_result_rejects_unknown_status() -> None:
    with pytest.raises(ValueError, match="status"):
        ExecutionResult(status="fine", stdout="", stderr="", duration_s=0.0)


@pytest.mark.parametrize("status", STATUSES)
def test_result_accepts_every_status(status: str) -> None:
    assert result(status).status == status


def test_result_is_frozen_with_empty_defaults() -> None:
    r = result("ok")
    assert (r.exit_code, r.term_signal, r.detail, r.exception) == (None, None, "", None)
    with pytest.raises(AttributeError):
        r.status = "error"  # type: ignore[misc]


# --- format_result -------------------------------------------------------------------------------
CONFIG = SandboxConfig(timeout_s=2.5, memory_limit_bytes=100 * 10**6, max_output_bytes=1000,
                       allowed_modules=("math", "random"))


def test_ok_output_is_shown_verbatim_without_trailing_newlines() -> None:
    assert format_result(result("ok", "42\n\n"), CONFIG) == "42"


def test_ok_without_output_says_so_and_suggests_print() -> None:
    text = format_result(result("ok"), CONFIG)
    assert text.startswith("[no output") and "print()" in text


def test_stdout_and_stderr_are_joined_on_separate_lines() -> None:
    assert format_result(result("ok", "out", "err\n"), CONFIG) == "out\nerr"
    assert format_result(result("ok", "out\n", "err"), CONFIG) == "out\nerr"
    assert format_result(result("error", "", "Traceback\n"), CONFIG) == "Traceback"


def test_error_without_output_names_the_supervisor_detail() -> None:
    text = format_result(result("error", detail="the process exited with status 3"), CONFIG)
    assert text == "[error: the process exited with status 3]"


def test_error_without_output_or_detail_still_says_it_failed() -> None:
    assert format_result(result("error"), CONFIG) == "[error: the code failed without a message]"


def test_forbidden_lists_the_allowed_modules() -> None:
    text = format_result(result("forbidden", "", "ForbiddenImport: os\n"), CONFIG)
    assert text == "ForbiddenImport: os\n[forbidden: only these modules can be imported here: math, random]"


def test_timeout_names_the_configured_limit() -> None:
    assert format_result(result("timeout", "started\n"), CONFIG) == "started\n[timeout: execution stopped after 2.5 s]"


@pytest.mark.parametrize(("limit", "spelled"), [(100 * 10**6, "100 MB"), (4 * 10**9, "4 GB"), (1536, "1.536 kB"),
                                                 (999, "999 bytes")])
def test_memory_names_the_limit_in_readable_units(limit: int, spelled: str) -> None:
    config = SandboxConfig(memory_limit_bytes=limit)
    assert format_result(result("memory"), config) == f"[memory limit: execution ran out of its {spelled} memory limit]"


def test_output_limit_marks_the_truncation_with_the_cap() -> None:
    text = format_result(result("output_limit", "y" * 1000), CONFIG)
    assert text == "y" * 1000 + "\n[output truncated: more than 1000 bytes were printed; execution was stopped]"


def test_crashed_names_the_signal_and_the_detail() -> None:
    text = format_result(result("crashed", term_signal=int(signal.SIGSEGV), detail="killed by SIGSEGV"), CONFIG)
    assert text == "[crashed: the interpreter died (SIGSEGV): killed by SIGSEGV]"


def test_crashed_without_a_signal_says_the_cause_is_unknown() -> None:
    text = format_result(result("crashed", detail="the zygote serving this call died"), CONFIG)
    assert text == "[crashed: the interpreter died (unknown cause): the zygote serving this call died]"


def test_crashed_by_a_signal_without_a_name_still_formats() -> None:
    text = format_result(result("crashed", term_signal=40, detail="killed by 40"), CONFIG)
    assert text.startswith("[crashed: the interpreter died") and "40" in text


@pytest.mark.parametrize("status", [s for s in STATUSES if s not in ("ok", "error")])
def test_a_marker_without_output_has_no_leading_blank_line(status: str) -> None:
    text = format_result(result(status, term_signal=int(signal.SIGKILL) if status == "crashed" else None), CONFIG)
    assert text.startswith("[") and "\n" not in text


def test_each_marked_status_reads_differently_for_the_same_output() -> None:
    texts = {s: format_result(result(s, "x\n", term_signal=int(signal.SIGKILL) if s == "crashed" else None), CONFIG)
             for s in STATUSES if s != "error"}
    assert len(set(texts.values())) == len(texts)
    marked = {s: t for s, t in texts.items() if s != "ok"}
    assert all(t.startswith("x\n[") for t in marked.values())
    assert len({t.split("[", 1)[1].split(":", 1)[0] for t in marked.values()}) == len(marked)


def test_an_error_without_a_traceback_does_not_read_like_ok() -> None:
    detail = "the process exited with status 0 before the code finished"
    error = format_result(result("error", "half\n", detail=detail), CONFIG)
    assert error != format_result(result("ok", "half\n"), CONFIG)


def test_format_result_is_pure() -> None:
    r = result("timeout", "a\n", "b\n")
    assert format_result(r, CONFIG) == format_result(r, CONFIG)


# --- module presets ------------------------------------------------------------------------------
def test_the_recipe_preset_allows_and_names_the_recipe_libraries() -> None:
    config = SandboxConfig(module_preset="recipe")
    assert {"numpy", "sympy", "mpmath", "fractions", "itertools", "math"} <= set(config.allowed_modules or ())


def test_a_preset_keeps_extra_modules_asked_for() -> None:
    config = SandboxConfig(module_preset="recipe", allowed_modules=("math", "json"))
    assert "json" in (config.allowed_modules or ()) and "sympy" in (config.allowed_modules or ())


def test_without_a_preset_the_seed_modules_stay_the_default() -> None:
    assert SandboxConfig().allowed_modules == DEFAULT_ALLOWED_MODULES == MODULE_PRESETS["default"]


def test_an_unknown_preset_is_a_value_error_naming_the_presets() -> None:
    with pytest.raises(ValueError, match="recipe"):
        SandboxConfig(module_preset="everything")


def test_tool_configs_can_select_a_preset() -> None:
    config = SandboxConfig.from_tool_configs({**TOOL_CONFIGS, "python_module_preset": "recipe"})
    assert config.module_preset == "recipe" and "sympy" in (config.allowed_modules or ())
    assert SandboxConfig.from_tool_configs().module_preset is None
