"""Player specs: plain data (TOML/JSON) that say what a player is.

    name = "tiny-greedy"
    kind = "llamacpp"
    path = "models/tiny.gguf"
    decode = "constrained"
    [prompt]
    reasoning = "direct"
    [sampling]
    temperature = 0.0

Specs are validated with clear errors: unknown fields, bad values, a missing model file, an API
key written where the name of its environment variable belongs. Keys are never stored: a spec
names the environment variable (`api_key_env`) and the backend reads it at call time.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from arena.backends.base import Sampling
from arena.errors import ArenaError
from arena.fields import Problem, problems
from arena.prompts import DEFAULT_REASONING_TOKENS, PromptOptions
from arena.secrets import looks_like_secret, redact_url, url_credentials, valid_env_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@+\-]{0,63}$")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_TEMPERATURE = 5.0  # a sampling temperature's bound (a training job's too: it becomes one)
DAY_S = 86_400.0  # the longest wait that makes sense for one request or one move
API_KEY_ENV_REFUSED = (
    "api_key_env takes the NAME of an environment variable that holds the key (letters, digits "
    "and _, e.g. OPENAI_API_KEY), not the key itself; the key was not stored"
)


class SpecError(ArenaError, ValueError):
    """A player spec is malformed; the message says which field and why (`problems`: each
    one, for a form to show at its field)."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


def storable_number_problem(value: Any, where: str = "") -> str | None:
    """Why a number somewhere inside `value` (dicts, lists) cannot be stored: NaN or infinity,
    or a whole number beyond SQLite's 64 bits. None when every number is fine."""
    at = f" (at {where})" if where else ""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            return f"a whole number beyond 64 bits{at}: from {INT64_MIN} to {INT64_MAX} fit"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a finite number{at}"
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        problem = storable_number_problem(item, f"{where}.{key}" if where else str(key))
        if problem:
            return problem
    return None


class _Strict(BaseModel):
    # NaN and infinity are never a setting; whole numbers must fit SQLite's 64 bits.
    # The docstrings under the fields are their help, in forms and in --help.
    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, use_attribute_docstrings=True
    )

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, v: Any) -> Any:
        problem = storable_number_problem(v)
        if problem:
            raise ValueError(problem)
        return v


class PromptSpec(_Strict):
    """How the model is prompted."""

    style: Literal["stateless", "chat"] = "stateless"
    """`stateless`: one user message with the full observation each turn; `chat`: one
    conversation per match."""
    reasoning: Literal["think", "direct", "think-then-constrained"] = "think"
    """`think`: reason, then `Final answer: <move>` (free text, parsed); `direct`: the move
    alone; `think-then-constrained`: reason up to `reasoning_tokens`, then the answer is decoded
    among the legal moves (needs decode `constrained` or `score`)."""
    reasoning_tokens: int = Field(DEFAULT_REASONING_TOKENS, ge=1, le=32768)
    """The reasoning budget in tokens for `think-then-constrained`."""
    list_legal_moves: bool = True
    """Append an explicit list of legal moves to the observation (once: not where the game's
    observation lists them already)."""
    repeat_legal_moves: bool = False
    """Append the list even where the observation shows it (the prompt that models trained
    here before the list was deduplicated saw, such as the shipped tictactoe model)."""
    include_rules: bool = True
    """Send the game's rules as system text."""
    system_extra: str = ""
    """Extra system text (a persona, a strategy hint)."""

    def options(self) -> PromptOptions:
        return PromptOptions(**self.model_dump())


class SamplingSpec(_Strict):
    """Decoding settings; part of a player's identity."""

    temperature: float = Field(0.0, ge=0.0, le=MAX_TEMPERATURE)
    """0 means greedy."""
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    """Nucleus sampling: draw among the likeliest tokens up to this much probability."""
    top_k: int = Field(0, ge=0)
    """Draw among the k likeliest tokens; 0: all."""
    max_tokens: int = Field(256, ge=1, le=32768)
    """Longest reply; a reply cut off without a move is an illegal attempt."""
    seed: int | None = None
    """Mixed into every move's seed; moves stay reproducible from the match seed."""
    stop: tuple[str, ...] = ()
    """Strings that end the reply where they appear."""

    def sampling(self) -> Sampling:
        return Sampling(**self.model_dump())


class _PlayerSpec(_Strict):
    name: str
    """Unique player name (letters, digits and _ . : @ + -)."""

    @field_validator("name")
    @classmethod
    def _check_name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(
                "a name is 1-64 characters: letters, digits and _ . : @ + - (not starting with a symbol)"
            )
        return v


class BotSpec(_PlayerSpec):
    kind: Literal["bot"] = "bot"
    bot: str | None = None
    """The games library's bot name (random, minimax, cfr, ...); defaults to `name`."""
    params: dict[str, Any] = {}
    """Bot parameters, e.g. {depth = 6} for connect_four's minimax."""


class HumanSpec(_PlayerSpec):
    kind: Literal["human"] = "human"


class _ModelSpec(_PlayerSpec):
    decode: Literal["free", "constrained", "score"] = "free"
    """`free` (free text, parsed by the game), `constrained` (forced to a legal move), `score`
    (most likely legal move by log-probability, with exact action probabilities)."""
    prompt: PromptSpec = PromptSpec()
    sampling: SamplingSpec = SamplingSpec()
    move_time_limit_s: float | None = Field(None, gt=0, le=DAY_S)
    """Wall time per attempt; a move past it is an illegal attempt."""

    @model_validator(mode="before")
    @classmethod
    def _modes(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("decode") == "generate":  # the old name of "free"
            data["decode"] = "free"
        prompt = data.get("prompt")
        if isinstance(prompt, BaseModel):  # a PromptSpec given in Python, not as data
            prompt = prompt.model_dump()
        prompt = prompt if isinstance(prompt, dict) else {}
        reasoning = prompt.get("reasoning")
        decode = data.get("decode")
        if decode is None:
            # Local models reason, then answer among the legal moves, so they always play
            # legal moves; asking for `think` alone means free text, parsed.
            decode = "constrained" if cls._LOCAL and reasoning != "think" else "free"
        if reasoning is None:
            if decode == "free":
                reasoning = "think"
            else:
                reasoning = "think-then-constrained" if cls._LOCAL else "direct"
        elif reasoning == "think" and decode in ("constrained", "score"):
            reasoning = "direct"  # what such a spec has always meant: no room to think
        if reasoning == "think-then-constrained" and decode == "free":
            raise ValueError(
                "reasoning think-then-constrained needs decode constrained or score, not free"
            )
        data["decode"] = decode
        data["prompt"] = {**prompt, "reasoning": reasoning}
        return data

    _LOCAL: ClassVar[bool] = False


class _LocalModelSpec(_ModelSpec):
    """A model this process runs (llama.cpp, transformers, vLLM): by default it reasons, then
    its move is decoded among the legal moves, so it always plays legal moves."""

    _LOCAL: ClassVar[bool] = True
    decode: Literal["free", "constrained", "score"] = "constrained"
    """`free` (free text, parsed by the game), `constrained` (forced to a legal move), `score`
    (most likely legal move by log-probability, with exact action probabilities)."""
    prompt: PromptSpec = PromptSpec(reasoning="think-then-constrained")


def _model_folder_or_id(v: str) -> str:
    """A Hugging Face `model`: a folder on this machine (made absolute, so the player works from
    any directory) or a hub id (`org/name`)."""
    if not v.strip():
        raise ValueError("give a model folder or a hub id")
    path = Path(v).expanduser()
    if _looks_local(v) or path.exists():
        if not path.exists():
            raise ValueError(f"model folder {v!r} does not exist")
        if not path.is_dir():
            raise ValueError(f"model {v!r} is a file; give the model's folder")
        return str(path.resolve())
    return v


def _existing_file(v: str, what: str) -> str:
    """`v` as an absolute path (`~` expanded, a relative path taken from the current
    directory), so the player works from any directory; it must be a file."""
    path = Path(v).expanduser()
    if not path.exists():
        raise ValueError(f"{what} {v!r} does not exist")
    if path.is_dir():
        raise ValueError(f"{what} {v!r} is a folder, not a file")
    return str(path.resolve())


def _looks_local(v: str) -> bool:
    """Whether a transformers `model` names a folder on this machine rather than a hub id
    (`org/name`): an absolute or home path, ./ or ../, or a Windows path."""
    return v.startswith(("/", "~", "./", "../")) or v in (".", "..") or "\\" in v


class LlamaCppSpec(_LocalModelSpec):
    kind: Literal["llamacpp"] = "llamacpp"
    path: str
    """A GGUF file, any quantization llama.cpp reads (f32, f16, Q8_0, Q4_K_M, ...)."""
    chat_format: str | None = None
    """A llama-cpp-python chat format name; default: the template in the GGUF file."""
    n_ctx: int = Field(4096, ge=128, le=2**24)
    """Context size in tokens (prompt and reply together)."""
    n_threads: int = Field(1, ge=1, le=4096)
    """Inference threads; 1 per process is fastest on small shared CPUs."""
    seed: int = 0
    """The model's own seed (each move's sampling seed comes from the match)."""
    repack: bool = False
    """Let llama.cpp repack quantized weights for its faster CPU kernels (they crash on CPUs
    with Intel AMX, hence off by default)."""

    @field_validator("path")
    @classmethod
    def _check_path(cls, v: str) -> str:
        v = _existing_file(v, "GGUF file")
        if not v.endswith(".gguf"):
            raise ValueError(f"{v!r} is not a .gguf file")
        return v


class TransformersSpec(_LocalModelSpec):
    kind: Literal["transformers"] = "transformers"
    model: str
    """A local Hugging Face model folder (or a hub id when there is internet)."""
    device: str = "auto"
    """auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, mps."""
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    """Weights' precision; auto: the checkpoint's own (float32 on CPU)."""
    batch_window_ms: float = Field(5.0, ge=0, le=60_000)
    """How long a request waits for others to join its batch."""
    max_batch_size: int = Field(16, ge=1, le=65_536)
    """The most requests run as one batch."""
    threads: int | None = Field(None, ge=1, le=4096)
    """CPU threads for torch (process-wide); 1 is fastest on small shared machines."""

    @field_validator("model")
    @classmethod
    def _check_model(cls, v: str) -> str:
        return _model_folder_or_id(v)


class VLLMSpec(_LocalModelSpec):
    kind: Literal["vllm"] = "vllm"
    model: str
    """A Hugging Face model folder or hub id that vLLM loads (GPU machines: the vllm extra)."""
    tensor_parallel_size: int = Field(1, ge=1, le=64)
    """GPUs one copy of the model is split over."""
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    """The share of each GPU's memory vLLM may take (weights and key-value cache)."""
    vllm_dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    """The weights' precision in vLLM (auto: the checkpoint's)."""
    max_model_len: int | None = Field(None, ge=16, le=2**24)
    """The longest prompt plus reply in tokens (none: the model's own)."""

    @field_validator("model")
    @classmethod
    def _check_model(cls, v: str) -> str:
        return _model_folder_or_id(v)


class OpenAISpec(_ModelSpec):
    kind: Literal["openai"] = "openai"
    base_url: str = "https://api.openai.com/v1"
    """The endpoint (OpenAI, vLLM, a llama.cpp server, Ollama), e.g. http://127.0.0.1:8080/v1."""
    model: str
    """The model's name as the endpoint knows it."""
    api_key_env: str | None = "OPENAI_API_KEY"
    """The NAME of the environment variable holding the key (never the key itself); none (or
    "" in a file) for a local server that needs no key."""
    timeout_s: float = Field(120.0, gt=0, le=DAY_S)
    """Seconds one request attempt may take, wall clock, from connecting to the last byte of
    the reply (retries get 3 times that in all)."""
    max_retries: int = Field(3, ge=0, le=20)
    """Retries of a failed request (connection errors, 429 and 5xx)."""
    total_timeout_s: float | None = Field(None, gt=0, le=DAY_S)
    """Seconds all attempts of one request may take together, with the waits between them
    (default: 3 x `timeout_s`)."""
    max_body_bytes: int = Field(1 << 20, ge=1024, le=1 << 28)
    """The largest reply body read (a longer one is abandoned where it passes this: a recorded
    error, not megabytes in memory)."""
    concurrency: int = Field(4, ge=1, le=4096)
    """Requests at once to the endpoint, across every match."""
    price_input_per_mtok: float | None = Field(None, ge=0)
    """US dollars per million prompt tokens (for the cost column)."""
    price_output_per_mtok: float | None = Field(None, ge=0)
    """US dollars per million completion tokens."""
    grammar: bool = False
    """The server accepts GBNF grammars (llama.cpp server): enables `constrained`."""
    llama_sampling: bool = False
    """Send llama.cpp's sampling fields (top_k, min_p=0, repeat_penalty=1) so the server
    decodes exactly like llama.cpp run locally (on by default with `grammar`)."""
    gguf_path: str | None = None
    """The GGUF file a llama.cpp server is serving: enables `score` (exact action
    probabilities, computed through the server with the file's own tokenizer)."""

    @field_validator("gguf_path")
    @classmethod
    def _check_gguf(cls, v: str | None) -> str | None:
        return None if v is None else _existing_file(v, "GGUF file")

    @field_validator("api_key_env", mode="before")
    @classmethod
    def _check_env(cls, v: Any) -> Any:
        # Before type checks too, so that no error of any kind repeats what was pasted.
        if v is None or v == "":
            return None  # no key: a local server (TOML has no null, so "" says it)
        if not isinstance(v, str) or looks_like_secret(v) or not valid_env_name(v):
            raise ValueError(API_KEY_ENV_REFUSED)
        return v

    @field_validator("base_url", mode="before")
    @classmethod
    def _check_url(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v  # the type check says what is wrong
        where = url_credentials(v)
        if where is not None:
            raise ValueError(
                f"base_url carries a credential: {where}; give the URL without it and put "
                "the key in an environment variable named by api_key_env; the URL was not stored"
            )
        if not re.match(r"^https?://[^\s/]+(/\S*)?$", v):
            shown = "a value that looks like a key" if looks_like_secret(v) else repr(redact_url(v))
            raise ValueError(f"base_url must start with http:// or https://, got {shown}")
        return v.rstrip("/")


PlayerSpec = Annotated[
    BotSpec | HumanSpec | LlamaCppSpec | TransformersSpec | OpenAISpec | VLLMSpec,
    Field(discriminator="kind"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(PlayerSpec)
KINDS = ("bot", "human", "llamacpp", "transformers", "openai", "vllm")


def _error(exc: ValidationError, source: str) -> SpecError:
    found = problems(exc, skip=KINDS)
    lines = [f"  {p.sentence()}" for p in found]
    return SpecError(f"invalid player spec{source}:\n" + "\n".join(lines), found)


def parse_spec(data: dict[str, Any], *, source: str = "") -> Any:
    """Validate a spec dict; `SpecError` lists every problem with its field."""
    if not isinstance(data, dict):
        raise SpecError(f"a player spec{source} must be a table/object, got {type(data).__name__}")
    if "kind" not in data:
        found = Problem("kind", f"is required: one of {', '.join(KINDS)}", True)
        raise SpecError(f"invalid player spec{source}:\n  {found.sentence()}", [found])
    if data["kind"] not in KINDS:
        found = Problem("kind", f"must be one of {', '.join(KINDS)} (got {data['kind']!r})", True)
        raise SpecError(f"invalid player spec{source}:\n  {found.sentence()}", [found])
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise _error(exc, source) from None


def load_specs(path: str | Path) -> list[Any]:
    """Read one spec, or several (`[[players]]` in TOML, a JSON list), from a file."""
    path = Path(path)
    source = f" in {path}"
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(
            f"{path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}"
        ) from None
    if isinstance(data, dict) and "players" in data:
        data = data["players"]
    items = data if isinstance(data, list) else [data]
    return [parse_spec(anchor_paths(item, path.parent), source=source) for item in items]


def anchor_paths(data: Any, folder: Path) -> Any:
    """A spec read from a file, with its relative file paths (`path`, `gguf_path`, a local
    transformers `model`) taken from `folder`, the file's own folder, not the current
    directory: a spec file means the same wherever arena is started."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    keys = {
        "llamacpp": ("path",),
        "openai": ("gguf_path",),
        "transformers": ("model",),
        "vllm": ("model",),
    }
    for key in keys.get(str(out.get("kind")), ()):
        value = out.get(key)
        if not isinstance(value, str) or not value.strip():
            continue
        path = Path(value).expanduser()
        if path.is_absolute():
            continue
        if key == "model" and not (_looks_local(value) or (folder / path).exists()):
            continue  # a hub id (org/name), not a folder
        out[key] = str(folder / path)
    return out


def spec_to_dict(spec: Any) -> dict[str, Any]:
    """The spec as plain data (what gets stored): no secrets, since none are ever held."""
    return spec.model_dump(mode="json")


def display_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A stored spec as it may be shown (`players show`, `--json` listings): a credential in
    `base_url` masked (rows stored before such URLs were refused) and an `api_key_env` that
    holds a key rather than a name hidden."""
    out = dict(spec)
    if isinstance(out.get("base_url"), str):
        out["base_url"] = redact_url(out["base_url"])
    env = out.get("api_key_env")
    if isinstance(env, str) and (looks_like_secret(env) or not valid_env_name(env)):
        out["api_key_env"] = "***"
    return out


def play_mode(spec: dict[str, Any]) -> str:
    """How a stored model player plays: "constrained · think-then-constrained" (decode ·
    reasoning), read the way the spec's validation reads it."""
    decode = spec.get("decode", "free")
    decode = "free" if decode == "generate" else decode
    reasoning = (spec.get("prompt") or {}).get("reasoning", "think")
    if reasoning == "think" and decode != "free":
        reasoning = "direct"
    return f"{decode} · {reasoning}"


def describe_spec(spec: dict[str, Any]) -> str:
    """One line saying what a stored player is (the CLI's list and the app's tables)."""
    kind = spec.get("kind")
    if kind == "bot":
        params = spec.get("params") or {}
        args = ", ".join(f"{k}={v}" for k, v in params.items())
        return f"bot {spec.get('bot') or spec.get('name')}" + (f" ({args})" if args else "")
    if kind == "human":
        return "a person"
    if kind == "llamacpp":
        where = Path(str(spec.get("path", ""))).name
    elif kind == "transformers":
        where = f"{spec.get('model')} on {spec.get('device', 'auto')}"
    elif kind == "openai":
        where = f"{spec.get('model')} @ {redact_url(str(spec.get('base_url', '')))}"
    elif kind == "vllm":
        where = f"{spec.get('model')} on vLLM"
    else:
        return str(kind)
    return f"{where} · {play_mode(spec)}"
