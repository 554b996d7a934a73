"""Scoring candidate continuations with an in-process llama.cpp model.

Scores are sums of natural-log probabilities of each candidate's tokens after the prompt. The
prompt is evaluated once (reusing llama-cpp-python's cached prefix), then candidates are walked
like a trie so shared prefixes are decoded once. Everything here runs in the backend's worker
thread, under its lock.
"""

from __future__ import annotations

from typing import Any

from arena.backends.base import BackendError


def score_candidates(
    llama: Any, batch: Any, prompt: list[int], cand_ids: list[list[int]], *, recurrent: bool
) -> list[float]:
    """The score of each candidate (its token ids) after `prompt`. `batch` is a llama_batch
    of at least `llama.n_batch` tokens, reused for every decode."""
    n_prompt = len(prompt)
    first = _prefill(llama, prompt, recurrent)
    # Candidates are scored along a path of evaluated tokens that is extended and cut back
    # like a depth-first walk of their trie: shared prefixes ("e2e4", "e2e3") cost once.
    path: list[int] = []
    rows: list[Any] = [first]  # rows[i]: log-probabilities after prompt + path[:i]
    scores: dict[int, float] = {}
    for index in sorted(range(len(cand_ids)), key=lambda i: cand_ids[i]):
        ids = cand_ids[index]
        if not ids:
            scores[index] = 0.0
            continue
        need = ids[:-1]
        keep = 0
        while keep < min(len(path), len(need)) and path[keep] == need[keep]:
            keep += 1
        del path[keep:], rows[keep + 1 :]
        if len(need) > keep:
            llama.n_tokens = n_prompt + keep  # `_decode_rows` drops the cache past here
            rows.extend(_decode_rows(llama, batch, need[keep:], recurrent))
            path.extend(need[keep:])
        scores[index] = float(sum(rows[i][tok] for i, tok in enumerate(ids)))
    return [scores[i] for i in range(len(cand_ids))]


def _prefill(llama: Any, prompt: list[int], recurrent: bool) -> Any:
    """Evaluate `prompt`, reusing the cached prefix; the log-probabilities of the next token."""
    import llama_cpp
    import numpy as np

    cached = llama.input_ids[: llama.n_tokens]
    same = min(len(cached), len(prompt) - 1)  # re-evaluate at least one token for fresh logits
    mismatch = np.nonzero(cached[:same] != np.asarray(prompt[:same], dtype=cached.dtype))[0]
    keep = int(mismatch[0]) if mismatch.size else same
    if recurrent:
        keep = 0  # recurrent state cannot be cut back to a prefix
        llama.reset()
    llama.n_tokens = keep
    llama.eval(prompt[keep:])  # drops the cache past `keep` first
    logits = np.ctypeslib.as_array(
        llama_cpp.llama_get_logits_ith(llama.ctx, -1), shape=(llama.n_vocab(),)
    )
    return _log_softmax(logits)


def _decode_rows(llama: Any, batch: Any, tokens: list[int], recurrent: bool) -> list[Any]:
    """Append `tokens` at `llama.n_tokens` with logits for every one; their log-probs."""
    import llama_cpp
    import numpy as np

    if recurrent:
        raise BackendError("scoring needs a transformer model (its KV cache can be cut back)")
    llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(llama.ctx), -1, llama.n_tokens, -1)
    n_vocab = llama.n_vocab()
    out: list[Any] = []
    for start in range(0, len(tokens), llama.n_batch):
        chunk = tokens[start : start + llama.n_batch]
        batch.n_tokens = len(chunk)
        for i, token in enumerate(chunk):
            batch.token[i] = token
            batch.pos[i] = llama.n_tokens + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = True
        code = llama_cpp.llama_decode(llama.ctx, batch)
        if code != 0:
            raise RuntimeError(f"llama_decode returned {code}")
        logits = np.ctypeslib.as_array(
            llama_cpp.llama_get_logits(llama.ctx), shape=(len(chunk), n_vocab)
        )
        out.extend(_log_softmax(logits))
        # Keep llama-cpp-python's record of the cache true, so `generate` reuses it.
        llama.input_ids[llama.n_tokens : llama.n_tokens + len(chunk)] = chunk
        llama.n_tokens += len(chunk)
    return out


def _log_softmax(logits: Any) -> Any:
    """Natural-log softmax over the last axis, in float64 (sums of many terms stay exact)."""
    import numpy as np

    rows = np.asarray(logits, dtype=np.float64)
    top = rows.max(axis=-1, keepdims=True)
    return rows - (top + np.log(np.exp(rows - top).sum(axis=-1, keepdims=True)))
