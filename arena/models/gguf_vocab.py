"""A Hugging Face byte-level BPE tokenizer, translated into GGUF's tokenizer metadata and back.

llama.cpp re-implements tokenization from the file: the token strings, their types, the merges,
the special ids, and a named pre-tokenizer (the regex that splits text before BPE). The name
must match the tokenizer's real split regex or llama.cpp tokenizes differently, so the split is
read from tokenizer.json and only the splits llama.cpp knows under a name are accepted
(`detect_pre`); `byte_level_pre_tokenizer` builds the `tokenizers` pre-tokenizer for a name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arena.models.hf_folder import ExportError, HFFolder

# GGUF token types (gguf.TokenType), written as plain ints.
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# llama.cpp's name for a pre-tokenizer -> its split regex, as tokenizer.json holds it.
SPLIT_REGEXES = {
    # Llama 3: letters glued to one leading symbol, digits in groups of up to three.
    "llama-bpe": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    # Qwen2 and Qwen2.5: the same, with digits one at a time.
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}
_SPLITS = {regex: name for name, regex in SPLIT_REGEXES.items()}
SUPPORTED_PRE = (
    "gpt-2 (ByteLevel with its own regex)",
    "smollm (single digits, then GPT-2's regex)",
    "llama-bpe (Llama 3)",
    "qwen2",
)
# llama.cpp names that share one split: GPT-2's regex, or single digits first, then GPT-2's.
_GPT2_PRE = ("gpt-2",)
_DIGITS_GPT2_PRE = ("smollm", "starcoder", "refact")
_PRE_ALIASES = {"llama3": "llama-bpe", "llama-v3": "llama-bpe"}  # llama.cpp's other spellings
IMPORTABLE_PRE = _GPT2_PRE + _DIGITS_GPT2_PRE + tuple(SPLIT_REGEXES) + tuple(_PRE_ALIASES)


@dataclass(frozen=True)
class GGUFVocab:
    """Everything the GGUF tokenizer section holds."""

    tokens: list[str]
    types: list[int]
    merges: list[str]
    pre: str
    special_ids: dict[str, int]  # "bos" | "eos" | "pad" | "unk" -> id
    add_bos: bool
    add_eos: bool


def _is_byte_level(node: dict[str, Any] | None) -> bool:
    return bool(node) and node.get("type") == "ByteLevel"


def detect_pre(tokenizer: dict[str, Any]) -> str:
    """llama.cpp's pre-tokenizer name for this tokenizer.json; `ExportError` when unknown."""
    pre = tokenizer.get("pre_tokenizer") or {}
    if _is_byte_level(pre) and pre.get("use_regex", True) and not pre.get("add_prefix_space"):
        return "gpt-2"
    parts = pre.get("pretokenizers") if pre.get("type") == "Sequence" else None
    if (
        parts
        and len(parts) == 2
        and parts[0].get("type") == "Digits"
        and parts[0].get("individual_digits")
        and _is_byte_level(parts[1])
        and parts[1].get("use_regex", True)
        and not parts[1].get("add_prefix_space")
    ):
        return "smollm"
    if parts and len(parts) == 2 and parts[0].get("type") == "Split" and _is_byte_level(parts[1]):
        byte_level = parts[1]
        regex = (parts[0].get("pattern") or {}).get("Regex")
        if (
            regex in _SPLITS
            and not byte_level.get("use_regex", True)
            and not byte_level.get("add_prefix_space")
            and parts[0].get("behavior") == "Isolated"
        ):
            return _SPLITS[regex]
    raise ExportError(
        "this tokenizer's pre-tokenizer (how it splits text before BPE) has no llama.cpp "
        f"equivalent that the exporter knows; supported: {', '.join(SUPPORTED_PRE)}"
    )


def canonical_pre(pre: str) -> str:
    """The name this module uses for one of llama.cpp's spellings of a pre-tokenizer."""
    return _PRE_ALIASES.get(pre, pre)


def byte_level_pre_tokenizer(pre: str) -> Any:
    """The `tokenizers` pre-tokenizer that splits text as llama.cpp's pre-tokenizer `pre` does
    (one of `IMPORTABLE_PRE`); `ValueError` for others."""
    from tokenizers import Regex, pre_tokenizers

    pre = canonical_pre(pre)
    if pre in _GPT2_PRE:
        return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre in _DIGITS_GPT2_PRE:
        return pre_tokenizers.Sequence(
            [
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
            ]
        )
    if pre in SPLIT_REGEXES:
        return pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(SPLIT_REGEXES[pre]), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    raise ValueError(f"unknown pre-tokenizer {pre!r}; known: {', '.join(IMPORTABLE_PRE)}")


def _token_text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _first(value: Any) -> int | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, int) else None


def _template_adds(post: dict[str, Any] | None, token: str | None) -> tuple[bool, bool]:
    """Whether a TemplateProcessing post-processor puts `token` first / last in a single text."""
    if not post or token is None:
        return False, False
    if post.get("type") == "Sequence":
        found = [_template_adds(p, token) for p in post.get("processors", [])]
        return any(f[0] for f in found), any(f[1] for f in found)
    if post.get("type") != "TemplateProcessing" or not post.get("single"):
        return False, False
    single = post["single"]

    def is_token(item: dict[str, Any]) -> bool:
        return item.get("SpecialToken", {}).get("id") == token

    return is_token(single[0]), is_token(single[-1])


def build_vocab(folder: HFFolder, n_vocab: int) -> GGUFVocab:
    """Translate the folder's tokenizer for a model whose embedding has `n_vocab` rows."""
    tok = folder.tokenizer
    model = tok.get("model") or {}
    if model.get("type") != "BPE" or not (
        _is_byte_level(tok.get("decoder")) or _is_byte_level(tok.get("pre_tokenizer"))
    ):
        raise ExportError(
            "only byte-level BPE tokenizers (GPT-2, Llama 3 and Qwen2 style) can be exported; "
            f"this one is {model.get('type', 'unknown')} without byte-level pre-tokenization"
        )
    normalizer = tok.get("normalizer")
    if normalizer and normalizer.get("type") != "NFC":
        raise ExportError(f"unsupported tokenizer normalizer {normalizer.get('type')!r}")
    pre = detect_pre(tok)
    # llama.cpp looks whole pieces up before merging exactly for Llama 3's pre-tokenizer.
    if bool(model.get("ignore_merges")) != (pre == "llama-bpe"):
        raise ExportError(
            f"the tokenizer's ignore_merges={bool(model.get('ignore_merges'))} does not match what "
            f"llama.cpp does for the {pre!r} pre-tokenizer"
        )

    by_id: dict[int, str] = {int(i): t for t, i in model.get("vocab", {}).items()}
    types: dict[int, int] = dict.fromkeys(by_id, NORMAL)
    for added in tok.get("added_tokens", []):
        by_id[int(added["id"])] = added["content"]
        types[int(added["id"])] = CONTROL if added.get("special") else USER_DEFINED
    if by_id and max(by_id) >= n_vocab:
        raise ExportError(
            f"the tokenizer has token id {max(by_id)} but the embedding has only {n_vocab} rows"
        )
    # Embedding rows past the tokenizer (often padded to a multiple of 64) get unused tokens.
    tokens = [by_id.get(i, f"[PAD{i}]") for i in range(n_vocab)]
    token_types = [types.get(i, UNUSED) for i in range(n_vocab)]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]

    ids = {t: i for i, t in enumerate(tokens)}
    tc, cfg = folder.tokenizer_config, folder.config
    special: dict[str, int] = {}
    for role in ("bos", "eos", "pad", "unk"):
        text = _token_text(tc.get(f"{role}_token"))
        tid = ids.get(text) if text is not None else None
        if tid is None:
            tid = _first(cfg.get(f"{role}_token_id"))
        if tid is None and role == "eos":
            tid = _first(folder.generation_config.get("eos_token_id"))
        if tid is not None:
            special[role] = tid

    bos_text = tokens[special["bos"]] if "bos" in special else None
    eos_text = tokens[special["eos"]] if "eos" in special else None
    post = tok.get("post_processor")
    add_bos = tc.get("add_bos_token")
    if not isinstance(add_bos, bool):
        add_bos = _template_adds(post, bos_text)[0]
    add_eos = tc.get("add_eos_token")
    if not isinstance(add_eos, bool):
        add_eos = _template_adds(post, eos_text)[1]
    return GGUFVocab(tokens, token_types, merges, pre, special, add_bos, add_eos)
