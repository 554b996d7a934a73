"""A player spec's fields as a person sets them, for every kind: the app's player form and
`arena players add` are both built from `FIELDS`, and the spec classes in `arena.specs` (which
the backends read) stay the only validator (`parse_spec`): this module maps form text to a
spec dict and the spec's errors back to fields.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from arena.fields import FieldDef, FieldType, FieldValueError, describe, from_text, lookup, put
from arena.specs import (
    BotSpec,
    HumanSpec,
    LlamaCppSpec,
    OpenAISpec,
    SpecError,
    TransformersSpec,
    VLLMSpec,
)

SPEC_CLASSES: dict[str, type[BaseModel]] = {
    "bot": BotSpec,
    "llamacpp": LlamaCppSpec,
    "transformers": TransformersSpec,
    "openai": OpenAISpec,
    "vllm": VLLMSpec,
    "human": HumanSpec,
}
FORM_KINDS = tuple(SPEC_CLASSES)
MODELS = ("llamacpp", "transformers", "openai", "vllm")
EXTRA = "extra"  # a JSON object merged into the spec: fields the form has no input for


def _owner(key: str) -> type[BaseModel]:
    """The first spec class with the key's top field (a nested key is followed from there)."""
    head = key.split(".")[0]
    return next(cls for cls in SPEC_CLASSES.values() if head in cls.model_fields)


def _f(key: str, label: str, type: FieldType, kinds: tuple[str, ...], **kw: Any) -> FieldDef:
    if kw.pop("nullable", False):
        kw["blank"] = "none"
    if key == EXTRA:
        return FieldDef(key, label, type, kinds, flag="--set-json", **kw)
    return describe(_owner(key), key, label, type, kinds, **kw)


def _bot_names() -> tuple[str, ...]:
    from arena.players.factory import builtin_bot_names

    return tuple(sorted(builtin_bot_names()))


FIELDS: tuple[FieldDef, ...] = (
    _f("name", "name", "text", FORM_KINDS, hint="letters, digits and _ . : @ + -"),
    _f("bot", "bot", "choice", ("bot",), nullable=True, choices=_bot_names()),
    _f("params", "bot params", "json", ("bot",), hint='JSON object, e.g. {"depth": 6}'),
    _f("path", "GGUF file", "text", ("llamacpp",), hint="path to a .gguf file"),
    _f("chat_format", "chat format", "text", ("llamacpp",), nullable=True, hint="from the GGUF"),
    _f("n_ctx", "context", "int", ("llamacpp",)),
    _f("n_threads", "threads", "int", ("llamacpp",)),
    _f("seed", "model seed", "int", ("llamacpp",)),
    _f("repack", "repack weights", "bool", ("llamacpp",)),
    _f(
        "model",
        "model",
        "text",
        ("transformers", "openai", "vllm"),
        hint="folder, hub id or model name",
        help="transformers and vllm: a local model folder (or a hub id); openai: the served "
        "model's name.",
    ),
    _f("device", "device", "text", ("transformers",), hint="auto, cpu, cuda, cuda:1, mps"),
    _f("dtype", "dtype", "choice", ("transformers",)),
    _f("batch_window_ms", "batch window ms", "float", ("transformers",)),
    _f("max_batch_size", "max batch", "int", ("transformers",)),
    _f("threads", "torch threads", "int", ("transformers",), nullable=True),
    _f("tensor_parallel_size", "GPUs per copy", "int", ("vllm",)),
    _f("gpu_memory_utilization", "GPU memory share", "float", ("vllm",)),
    _f("vllm_dtype", "vLLM dtype", "choice", ("vllm",)),
    _f("max_model_len", "max model length", "int", ("vllm",), nullable=True),
    _f("base_url", "base URL", "text", ("openai",)),
    _f("api_key_env", "API key variable", "text", ("openai",), nullable=True, hint="empty: none"),
    _f("timeout_s", "timeout s", "float", ("openai",)),
    _f("max_retries", "max retries", "int", ("openai",)),
    _f("total_timeout_s", "total timeout s", "float", ("openai",), nullable=True),
    _f("max_body_bytes", "max reply bytes", "int", ("openai",)),
    _f("concurrency", "concurrency", "int", ("openai",)),
    _f("price_input_per_mtok", "$ / M input", "float", ("openai",), nullable=True),
    _f("price_output_per_mtok", "$ / M output", "float", ("openai",), nullable=True),
    _f("grammar", "GBNF grammars", "bool", ("openai",)),
    _f("llama_sampling", "llama.cpp sampling", "bool", ("openai",)),
    _f("gguf_path", "served GGUF", "text", ("openai",), nullable=True, hint="enables score"),
    _f("decode", "decode", "choice", MODELS),
    _f("prompt.reasoning", "reasoning", "choice", MODELS),
    _f("prompt.reasoning_tokens", "reasoning tokens", "int", MODELS),
    _f("prompt.style", "prompt style", "choice", MODELS),
    _f("prompt.list_legal_moves", "list legal moves", "bool", MODELS),
    _f("prompt.include_rules", "include rules", "bool", MODELS),
    _f("prompt.system_extra", "system extra", "text", MODELS, hint="persona, strategy hint"),
    _f("sampling.temperature", "temperature", "float", MODELS),
    _f("sampling.top_p", "top p", "float", MODELS),
    _f("sampling.top_k", "top k", "int", MODELS),
    _f("sampling.max_tokens", "max tokens", "int", MODELS),
    _f("sampling.seed", "sampling seed", "int", MODELS, nullable=True, flag="--sampling-seed"),
    _f("sampling.stop", "stop strings", "json", MODELS, hint='JSON list, e.g. ["\\n\\n"]'),
    _f("move_time_limit_s", "move time limit s", "float", MODELS, nullable=True),
    _f(EXTRA, "other fields", "json", FORM_KINDS, hint="JSON object merged into the spec"),
)
BY_KEY = {f.key: f for f in FIELDS}


def default_value(key: str, kind: str) -> Any:
    """The spec class's default for `key` (None when it has none, e.g. a required path)."""
    if key == EXTRA:
        return None
    *parents, leaf = key.split(".")
    cls: type[BaseModel] = SPEC_CLASSES.get(kind, BotSpec)
    if key.split(".")[0] not in cls.model_fields:  # shown for another kind: its own default
        cls = next((c for c in SPEC_CLASSES.values() if key.split(".")[0] in c.model_fields), cls)
    table: BaseModel | None = None  # the kind's own default table ("prompt" of llamacpp)
    for part in parents:
        info = cls.model_fields.get(part)
        if info is None:
            return None
        table = info.get_default(call_default_factory=True)
        cls = type(table)
    info = cls.model_fields.get(leaf)
    if info is None or info.is_required():
        return None
    if table is not None:
        value = getattr(table, leaf)
    else:
        value = info.get_default(call_default_factory=True)
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def to_text(field: FieldDef, value: Any) -> str:
    """How a spec value is written in the field's input."""
    if value is None:
        return ""
    if field.type == "json":
        return json.dumps(list(value) if isinstance(value, tuple) else value, ensure_ascii=False)
    return str(value)


def form_values(spec: dict[str, Any], kind: str) -> dict[str, Any]:
    """Input values for every field from a (stored) spec dict, defaults where it is silent;
    spec fields the form has no input for land in `extra`."""
    out: dict[str, Any] = {}
    for f in FIELDS:
        if f.key == EXTRA:
            continue
        found, value = lookup(spec, f.key)
        value = value if found else default_value(f.key, kind)
        if f.type == "bool":
            out[f.key] = bool(value)
        elif f.type == "choice":
            out[f.key] = value
        else:
            out[f.key] = to_text(f, value)
    extra = {k: v for k, v in spec.items() if k != "kind" and k not in _top_level_keys()}
    for group in ("prompt", "sampling"):
        unknown = {k: v for k, v in (spec.get(group) or {}).items() if f"{group}.{k}" not in BY_KEY}
        if unknown:
            extra[group] = unknown
    out[EXTRA] = json.dumps(extra, ensure_ascii=False) if extra else ""
    return out


def _top_level_keys() -> set[str]:
    return {f.key.split(".")[0] for f in FIELDS if f.key != EXTRA}


def build_spec_dict(
    kind: str, values: dict[str, Any], *, name: Callable[[FieldDef], str] = lambda f: f.label
) -> tuple[dict[str, Any], dict[str, str]]:
    """A spec dict for `parse_spec` from the form's (or the command line's) values, and the
    errors found before it (JSON that does not parse), each naming its field by `name` (the
    form's label; the CLI's option). Numbers stay text: the spec classes parse and judge them,
    so the form and the CLI say the same thing about a bad value."""
    data: dict[str, Any] = {"kind": kind}
    errors: dict[str, str] = {}
    for f in FIELDS:
        if kind not in f.kinds or f.key not in values:
            continue
        value = values[f.key]
        if f.type == "choice":
            if value is None or value == "":
                if f.nullable:
                    put(data, f.key, None)
            else:
                put(data, f.key, value)
            continue
        try:
            given, parsed = from_text(f, value)
        except FieldValueError as exc:
            errors[f.key] = f"{name(f)} {exc}"
            continue
        if not given:
            continue
        if f.key == EXTRA:
            if not isinstance(parsed, dict):
                errors[f.key] = (
                    f'{name(f)} must be a JSON object of spec fields, e.g. {{"n_ctx": 2048}}'
                )
                continue
            _merge(data, parsed)
            continue
        put(data, f.key, parsed)
    return data, errors


def _merge(data: dict[str, Any], extra: dict[str, Any]) -> None:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k].update(v)
        else:
            data[k] = v


def spec_errors(
    exc: SpecError, kind: str, extra_keys: set[str]
) -> tuple[dict[str, str], list[str]]:
    """A `SpecError`'s problems by the form field that owns them, each a sentence naming the
    field by its label ("context must be at least 128 (got 8)"); and those no field owns
    (shown above the buttons)."""
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    keys = [f.key for f in FIELDS if kind in f.kinds and f.key != EXTRA]
    for found in exc.problems:
        parts = found.loc.split(".")
        prefixes = {".".join(parts[: i + 1]) for i in range(len(parts))}
        if prefixes & extra_keys:  # written in the JSON field: the problem is shown there
            key, name = EXTRA, found.loc
        else:
            # The longest field key that is a prefix of the location: sampling.stop.0 -> stop.
            owners = [k for k in keys if k in prefixes]
            if not owners:
                general.append(found.sentence())
                continue
            key = max(owners, key=len)
            label = BY_KEY[key].label
            name = label if key == found.loc else f"{label} ({found.loc})"
        by_field.setdefault(key, []).append(found.sentence(name))
    return {k: "; ".join(v) for k, v in by_field.items()}, general


def extra_keys(values: dict[str, Any]) -> set[str]:
    """The dotted keys written in the `extra` field (for attributing errors to it)."""
    try:
        data = json.loads(str(values.get(EXTRA) or "") or "{}")
    except json.JSONDecodeError:
        return set()
    if not isinstance(data, dict):
        return set()
    keys = set()
    for k, v in data.items():
        if isinstance(v, dict) and k in ("prompt", "sampling"):
            keys.update(f"{k}.{sub}" for sub in v)  # merged into the form's own group
        else:
            keys.add(k)
    return keys


def key_warnings(kind: str, env: str | None) -> dict[str, str]:
    """Problems shown as the key variable is typed: a key pasted where its variable's name
    belongs (said without repeating it; saving refuses it), or a variable not set here."""
    from arena.secrets import looks_like_secret, valid_env_name

    if kind != "openai" or not env:
        return {}
    if looks_like_secret(env) or not valid_env_name(env):
        return {"api_key_env": "give the NAME of the variable that holds the key, not the key"}
    if env not in os.environ:
        return {"api_key_env": f"${env} is not set in this environment: calls will fail"}
    return {}
