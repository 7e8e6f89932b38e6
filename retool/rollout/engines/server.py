"""A small HTTP server that serves a transformers model with SGLang's native ``/generate`` schema.

Contract:
- Routes: ``GET /health`` (200, empty body), ``GET /get_model_info`` (``{"model_path": ...}``) and
  ``POST /generate`` with SGLang's request fields ``input_ids`` (or ``text``), ``sampling_params``
  (``temperature``, ``top_p``, ``top_k``, ``max_new_tokens`` (default 128), ``stop``,
  ``stop_token_ids``, ``ignore_eos``, ``skip_special_tokens`` (default true), ``no_stop_trim`` (default false),
  ``sampling_seed``, ``custom_params``), ``return_logprob``, ``rid`` and ``lora_path`` (recorded,
  not applied). The answer has SGLang's shape: ``text``, ``output_ids`` and ``meta_info`` with
  ``id``, ``finish_reason`` (``{"type": "stop", "matched": str|id}`` or ``{"type": "length",
  "length": n}``), ``prompt_tokens``, ``completion_tokens``, ``cached_tokens`` (the longest prefix
  the request shares with one of the last 64 sequences served, at most ``prompt_tokens - 1``: a
  prefix cache's count), ``weight_version`` (``weight_version=``, "default" as in SGLang),
  ``e2e_latency`` and, with ``return_logprob``, ``output_token_logprobs`` as ``[[logprob,
  token_id, null], ...]``; with ``custom_params.return_top_p_token_ids`` also the kept nucleus of
  each token as ``top_p_token_ids`` / ``top_p_token_offsets``. Without ``no_stop_trim`` a matched
  stop string is cut from ``text`` (the ids keep the whole token), as SGLang does. A request
  without stop strings gets ``default_stop`` (``retool serve --dialect``: the dialect's call closers
  and forged markup), so a client that sends none, such as the upstream ReTool rollout, still stops
  at ``</code>``; with no ``default_stop`` (the default) nothing is added, as in SGLang.
  A malformed request gets HTTP 400 with ``{"error": {"message": ...}}``; so does a sampling key
  SGLang does not know (SGLang builds its ``SamplingParams(**sampling_params)`` and refuses the
  request), and a key SGLang knows that this server cannot honour (a non-default penalty, ``n``,
  constrained decoding), named in the message.
- :class:`ServerFaults` makes the server misbehave on purpose, for testing clients over real
  HTTP: the next ``http_5xx`` requests get HTTP 503, the next ``aborts`` get ``finish_reason``
  abort with no tokens; every ``/generate`` request's headers and body are recorded.
- Generation runs on :class:`retool.rollout.engines.HFEngine` (its lock serialises requests; the HTTP
  side is threaded, HTTP/1.1 with keep-alive).
- It binds to loopback only unless ``allow_remote=True``; port 0 picks a free port (see ``url``).
  ``start()`` serves from a daemon thread, ``close()`` stops and joins it; it is a context manager.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Sequence
from typing import Any

from retool.rollout.config import Generation, SamplingParams
from retool.rollout.engines.hf import HFEngine
from retool.sandbox.service.config import is_loopback


class BadRequest(ValueError):
    pass


# The keyword arguments of SGLang's SamplingParams (sglang/srt/sampling/sampling_params.py); any other
# key makes SGLang refuse the request. The value is the default this server honours (None: any value).
SGLANG_SAMPLING_KEYS: dict[str, Any] = {
    "max_new_tokens": None, "stop": None, "stop_token_ids": None, "temperature": None, "top_p": None, "top_k": None,
    "ignore_eos": None, "skip_special_tokens": None, "spaces_between_special_tokens": None, "no_stop_trim": None,
    "sampling_seed": None, "custom_params": None, "stream_interval": None, "logit_bias": {},
    "min_p": 0.0, "frequency_penalty": 0.0, "presence_penalty": 0.0, "repetition_penalty": 1.0, "min_new_tokens": 0,
    "n": 1, "stop_regex": None, "json_schema": None, "regex": None, "ebnf": None, "structural_tag": None,
}
_UNHONOURED_WHEN_SET = ("stop_regex", "json_schema", "regex", "ebnf", "structural_tag")


@dataclass
class ServerFaults:
    """Faults to inject and what was received (see the module docstring); shared with the server thread."""

    http_5xx: int = 0
    aborts: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self) -> str | None:
        with self.lock:
            if self.http_5xx > 0:
                self.http_5xx -= 1
                return "5xx"
            if self.aborts > 0:
                self.aborts -= 1
                return "abort"
        return None

    def record(self, headers: dict[str, str], body: Any) -> None:
        with self.lock:
            self.requests.append({"headers": headers, "body": body})




def parse_sampling_params(raw: Any) -> tuple[SamplingParams, bool, bool]:
    """SGLang ``sampling_params`` -> (params, skip_special_tokens, no_stop_trim); BadRequest if invalid."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise BadRequest(f"sampling_params must be an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(SGLANG_SAMPLING_KEYS))
    if unknown:
        raise BadRequest(f"SamplingParams.__init__() got an unexpected keyword argument {unknown[0]!r} (unknown: {unknown})")
    for key, default in SGLANG_SAMPLING_KEYS.items():
        value = raw.get(key)
        if value is None:
            continue
        if key in _UNHONOURED_WHEN_SET or (default is not None and value != default):
            raise BadRequest(f"sampling_params.{key}={value!r} is valid for SGLang but not supported by this server")
    custom = raw.get("custom_params")
    if custom is not None and not isinstance(custom, dict):
        raise BadRequest(f"custom_params must be an object, got {type(custom).__name__}")
    stop = raw.get("stop") or ()
    stop = (stop,) if isinstance(stop, str) else tuple(stop)
    if not all(isinstance(s, str) for s in stop):
        raise BadRequest(f"stop must be a string or a list of strings, got {raw.get('stop')!r}")
    try:
        params = SamplingParams(
            temperature=float(raw.get("temperature", 1.0)),
            top_p=float(raw.get("top_p", 1.0)),
            top_k=int(raw.get("top_k", -1)),
            max_new_tokens=int(raw.get("max_new_tokens", 128)),
            stop=stop,
            stop_token_ids=tuple(raw.get("stop_token_ids") or ()),
            seed=None if raw.get("sampling_seed") is None else int(raw["sampling_seed"]),
            ignore_eos=bool(raw.get("ignore_eos", False)),
            custom_params=custom,
        )
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"bad sampling_params: {exc}") from exc
    return params, bool(raw.get("skip_special_tokens", True)), bool(raw.get("no_stop_trim", False))


def sglang_response(gen: Generation, tokenizer: Any, *, prompt_tokens: int, rid: str, return_logprob: bool,
                    skip_special_tokens: bool, no_stop_trim: bool, latency_s: float, cached_tokens: int = 0,
                    weight_version: str = "default") -> dict[str, Any]:
    text = tokenizer.decode(list(gen.output_ids), skip_special_tokens=skip_special_tokens)
    if gen.finish_reason == "stop" and isinstance(gen.matched, str) and not no_stop_trim:
        cut = text.find(gen.matched)
        text = text[:cut] if cut >= 0 else text
    if gen.finish_reason == "length":
        finish: dict[str, Any] = {"type": "length", "length": len(gen.output_ids)}
    else:
        finish = {"type": gen.finish_reason, "matched": gen.matched}
    meta: dict[str, Any] = {
        "id": rid,
        "finish_reason": finish,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": len(gen.output_ids),
        "cached_tokens": cached_tokens,
        "weight_version": weight_version,
        "e2e_latency": latency_s,
    }
    if return_logprob:
        meta["output_token_logprobs"] = [[lp, tid, None] for lp, tid in zip(gen.output_logprobs, gen.output_ids)]
    if gen.top_p_token_ids is not None:
        meta["top_p_token_ids"] = list(gen.top_p_token_ids)
        meta["top_p_token_offsets"] = list(gen.top_p_token_offsets or ())
    return {"text": text, "output_ids": list(gen.output_ids), "meta_info": meta}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 60  # idle keep-alive connections are dropped after this

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: Any) -> None:
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path in ("/health", "/health_generate"):
            self._send(200, None)
        elif self.path == "/get_model_info":
            self._send(200, {"model_path": self.server.model_name, "is_generation": True})
        else:
            self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path != "/generate":
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        faults = self.server.faults
        if faults is not None:
            try:
                recorded: Any = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                recorded = raw.decode("utf-8", "replace")
            faults.record({k.lower(): v for k, v in self.headers.items()}, recorded)
            fault = faults.take()
            if fault == "5xx":
                self._send(503, {"error": {"message": "injected fault: service unavailable"}})
                return
            if fault == "abort":
                self._send(200, {"text": "", "output_ids": [], "meta_info": {
                    "id": uuid.uuid4().hex, "finish_reason": {"type": "abort", "message": "injected fault: abort"},
                    "prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0,
                    "weight_version": self.server.weight_version, "output_token_logprobs": []}})
                return
        try:
            body = self.server.handle_generate(raw)
        except BadRequest as exc:
            self._send(400, {"error": {"message": str(exc)}})
            return
        self._send(200, body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], engine: HFEngine, model_name: str, verbose: bool,
                 faults: ServerFaults | None, weight_version: str, default_stop: tuple[str, ...] = ()) -> None:
        super().__init__(address, _Handler)
        self.engine = engine
        self.default_stop = default_stop
        self.model_name = model_name
        self.verbose = verbose
        self.faults = faults
        self.weight_version = weight_version
        self._served: deque[tuple[int, ...]] = deque(maxlen=64)
        self._cache_lock = threading.Lock()

    def cached_prefix(self, ids: list[int]) -> int:
        """The longest prefix of ``ids`` (short of its last token) shared with a sequence served before."""
        best = 0
        with self._cache_lock:
            for seq in self._served:
                n = 0
                for a, b in zip(seq, ids[:-1]):
                    if a != b:
                        break
                    n += 1
                best = max(best, n)
        return best

    def remember(self, seq: tuple[int, ...]) -> None:
        with self._cache_lock:
            self._served.append(seq)

    def handle_generate(self, raw: bytes) -> dict[str, Any]:
        try:
            req = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            raise BadRequest(f"body is not JSON: {exc}") from exc
        if not isinstance(req, dict):
            raise BadRequest("body must be a JSON object")
        tokenizer = self.engine.tokenizer
        ids = req.get("input_ids")
        if ids is None and isinstance(req.get("text"), str):
            ids = tokenizer(req["text"], add_special_tokens=False)["input_ids"]
        if not isinstance(ids, list) or not ids or not all(isinstance(t, int) and not isinstance(t, bool) for t in ids):
            raise BadRequest("need a non-empty flat list of ints in input_ids (or a text); batches are not supported")
        vocab = self.engine.model.config.vocab_size
        if not all(0 <= t < vocab for t in ids):
            raise BadRequest(f"input_ids hold a token outside [0, {vocab})")
        params, skip_special, no_trim = parse_sampling_params(req.get("sampling_params"))
        if not params.stop and self.default_stop:
            params = params.replace(stop=self.default_stop)
        started = time.perf_counter()
        cached = self.cached_prefix(ids)
        gen = self.engine.generate_sync(ids, params)
        self.remember((*ids, *gen.output_ids))
        return sglang_response(
            gen, tokenizer, prompt_tokens=len(ids), rid=str(req.get("rid") or uuid.uuid4().hex),
            return_logprob=bool(req.get("return_logprob", False)), skip_special_tokens=skip_special,
            no_stop_trim=no_trim, latency_s=time.perf_counter() - started, cached_tokens=cached,
            weight_version=self.weight_version,
        )


class GenerateServer:
    """Serve ``engine`` over HTTP; ``with GenerateServer(engine) as server: server.url ...``."""

    def __init__(self, engine: HFEngine, *, host: str = "127.0.0.1", port: int = 0, model_name: str = "model",
                 allow_remote: bool = False, verbose: bool = False, faults: ServerFaults | None = None,
                 weight_version: str = "default", default_stop: Sequence[str] = ()) -> None:
        if not allow_remote and not is_loopback(host):
            raise ValueError(f"refusing to bind {host!r}: not a loopback address (pass allow_remote=True to expose it)")
        self._server = _Server((host, port), engine, model_name, verbose, faults, weight_version, tuple(default_stop))
        self._thread: threading.Thread | None = None

    @property
    def weight_version(self) -> str:
        return self._server.weight_version

    @weight_version.setter
    def weight_version(self, value: str) -> None:  # what an SGLang weight update does to its version
        self._server.weight_version = str(value)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> GenerateServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="retool-serve", daemon=True
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> GenerateServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()
