"""Hypothesis strategies for sandbox fuzzing: small Python programs aimed at the audit's bait.

Programs are ``string.Template`` sources like the battery's snippets: they may name the bait
(``$canary``, ``$port``, ``$decoy_pid``, ...) and call the battery's prelude helpers (``_os()``,
``_imp()``, ``_read()``, ``_connect()``, ``_fx()``), which ``retool.sandbox.audit.render`` fills in.
Two sources: a grammar of small statements (arithmetic, loops, prints, syscalls through an
``os`` namespace reached by a subclass walk, reads of secret paths, connects), and mutations of
the battery's own snippets (statements inserted at top-level line boundaries, lines dropped or
duplicated: a broken program is a fine input too).
"""

from __future__ import annotations

from hypothesis import strategies as st

from retool.sandbox.audit import TECHNIQUES, Technique

_INTS = st.integers(min_value=-3, max_value=40).map(str)
_PATHS = st.sampled_from([
    "$canary", "$canary_dir", "$leak_path", "'/etc/passwd'", "'/etc/shadow'", "'/proc/1/environ'",
    "'/proc/self/environ'", "'/proc/%d/environ' % $decoy_pid", "'/proc/%d/cmdline' % $decoy_pid",
    "'/proc/%d/mem' % $auditor_pid", "'/proc/%d/root' % $auditor_pid + $canary", "'/dev/shm/x-' + $marker",
    "'../../' + $canary", "'.'", "'/'", "'/tmp/' + $marker",
])
_PIDS = st.sampled_from(["$decoy_pid", "$auditor_pid", "1", "-1", "0", "_os()['getppid']()"])
_SIGNALS = st.sampled_from(["0", "9", "10", "15", "19"])


@st.composite
def _os_call(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["path", "path2", "kill", "fd", "plain"]))
    if kind == "path":
        fn = draw(st.sampled_from(["listdir", "stat", "unlink", "rmdir", "mkdir", "chdir", "readlink", "chmod"]))
        args = draw(_PATHS) + (", 0o777" if fn == "chmod" else "")
    elif kind == "path2":
        fn = draw(st.sampled_from(["symlink", "link", "rename"]))
        args = f"{draw(_PATHS)}, 'f-' + $marker"
    elif kind == "kill":
        fn = draw(st.sampled_from(["kill", "killpg"]))
        args = f"{draw(_PIDS)}, {draw(_SIGNALS)}"
    elif kind == "fd":
        fn = draw(st.sampled_from(["read", "fstat", "close", "dup"]))
        args = draw(st.integers(min_value=0, max_value=70).map(str)) + (", 64" if fn == "read" else "")
    else:
        fn = draw(st.sampled_from(["fork", "setsid", "getppid", "getuid", "getcwd", "sync", "pipe", "wait"]))
        args = ""
    return f"_os()[{fn!r}]({args})"


_EXPR = st.one_of(
    _INTS,
    st.tuples(_INTS, st.sampled_from(["+", "-", "*", "//", "%", "**"]), _INTS).map(" ".join),
    _INTS.map(lambda n: f"sum(i * i for i in range({n}))"),
    _INTS.map(lambda n: f"[str(i) for i in range({n})]"),
    _INTS.map(lambda n: f"().__class__.__base__.__subclasses__()[{n}]"),
    _PATHS.map(lambda p: f"_read({p})"),
    _os_call(),
    st.sampled_from([
        "_imp('gc').get_referrers(len)[:1]", "_imp('ctypes').CDLL(None).getpid()", "vars(_imp('math'))",
        "_connect(_imp('sock' 'et'), $port)", "_connect(_imp('sock' 'et'), $udp_port, 2)",
        "_os()['environ']", "_os()['system']($shell)", "len(_os()['sys'].modules)",
    ]),
)


@st.composite
def statement(draw: st.DrawFn, depth: int = 0) -> str:
    """One small statement (possibly a compound one, indented consistently)."""
    choices = ["assign", "print", "guarded", "guarded"] + (["for", "try", "def"] if depth < 2 else [])
    kind = draw(st.sampled_from(choices))
    if kind == "assign":
        return f"v{draw(st.integers(0, 3))} = {draw(_EXPR)}"
    if kind == "print":
        return f"print({draw(_EXPR)})"
    if kind == "guarded":
        return f"try:\n    print({draw(_EXPR)})\nexcept BaseException as e:\n    print(type(e).__name__)"
    inner = draw(statement(depth + 1)).replace("\n", "\n    ")
    if kind == "for":
        return f"for i in range({draw(st.integers(0, 3))}):\n    {inner}"
    if kind == "def":
        return f"def g():\n    {inner}\ng()"
    return f"try:\n    {inner}\nexcept BaseException as e:\n    print(type(e).__name__)"


_TIME_WASTERS = st.sampled_from(["_sleep(0.2)", "while True:\n    pass", "_sleep(30)", "print('x' * 100000)"])


def grammar_programs(*, with_hangs: bool = False) -> st.SearchStrategy[str]:
    extra = [_TIME_WASTERS] if with_hangs else []
    return st.lists(st.one_of(statement(), *extra), min_size=1, max_size=6).map("\n".join)


_SNIPPETS = [t.code for t in TECHNIQUES if not t.hazardous and t.followup is None]


@st.composite
def mutated_snippets(draw: st.DrawFn) -> str:
    """A battery snippet with statements inserted at top-level boundaries, lines dropped or duplicated."""
    lines = draw(st.sampled_from(_SNIPPETS)).split("\n")
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["insert", "drop", "duplicate"]))
        i = draw(st.integers(0, len(lines)))
        if op == "insert" and (i == len(lines) or not lines[i][:1].isspace()):
            lines[i:i] = draw(statement()).split("\n")
        elif op == "drop" and i < len(lines) and len(lines) > 1:
            del lines[i]
        elif op == "duplicate" and i < len(lines):
            lines.insert(i, lines[i])
    return "\n".join(lines)


def programs(*, with_hangs: bool = False) -> st.SearchStrategy[str]:
    return st.one_of(grammar_programs(with_hangs=with_hangs), mutated_snippets())


def as_techniques(codes: list[str]) -> tuple[Technique, ...]:
    return tuple(
        Technique(name=f"fuzz_{i}", category="fuzz", code=code, aims=("canary_read",)) for i, code in enumerate(codes)
    )
