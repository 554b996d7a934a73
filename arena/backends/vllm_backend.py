"""A local vLLM engine (`kind = "vllm"`, GPU machines; `pip install 'arena-games[vllm]'`).

One engine per model, shared by every match of the process: vLLM batches the concurrent
requests itself (continuous batching), so a tournament at concurrency 64 keeps the GPU busy
without any batching of ours. Constrained answers use vLLM's structured outputs (a choice
among the legal moves); `score` reads the log-probability of each candidate's tokens after the
prompt (`prompt_logprobs`), so a vLLM player has exact action probabilities like a llama.cpp
or transformers one. Prompts are rendered with the model's own chat template, and a trailing
assistant message is continued (reason, then a constrained answer).

vLLM itself is imported only when the engine is first used. An OpenAI-compatible vLLM server
needs none of this: use the `openai` kind with its `base_url`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from arena.backends.base import (
    Backend,
    BackendError,
    BackendUnavailable,
    Generation,
    Message,
    OnText,
    Sampling,
    split_continuation,
)

_REQUESTS = itertools.count()


def _vllm() -> Any:
    try:
        import vllm
    except ImportError:
        raise BackendUnavailable(
            "the vllm kind needs vLLM on a machine with a supported GPU: "
            "pip install 'arena-games[vllm]' (or serve the model with `vllm serve` and use "
            "the openai kind)"
        ) from None
    return vllm


def choice_params(vllm: Any, choices: list[str]) -> dict[str, Any]:
    """SamplingParams keywords that restrict the reply to one of `choices`, in the form this
    vLLM takes: `structured_outputs` (0.10 and later) or `guided_decoding` (before)."""
    params = vllm.sampling_params
    if hasattr(params, "StructuredOutputsParams"):
        return {"structured_outputs": params.StructuredOutputsParams(choice=list(choices))}
    if hasattr(params, "GuidedDecodingParams"):
        return {"guided_decoding": params.GuidedDecodingParams(choice=list(choices))}
    raise BackendUnavailable("this vLLM has neither structured outputs nor guided decoding")


class VLLMBackend(Backend):
    kind = "vllm"
    can_score = True
    can_constrain = True
    can_continue = True

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        dtype: str = "auto",
        max_model_len: int | None = None,
        seed: int = 0,
    ) -> None:
        self.model = model
        self.options = {
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "dtype": dtype,
            "max_model_len": max_model_len,
            "seed": seed,
        }
        self._engine: Any = None
        self._tokenizer: Any = None
        self._starting: asyncio.Lock | None = None

    def describe(self) -> str:
        tp = self.options["tensor_parallel_size"]
        return f"vllm {self.model} (tp={tp}, dtype={self.options['dtype']})"

    async def _ensure(self) -> Any:
        if self._engine is not None:
            return self._engine
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._engine is None:
                vllm = _vllm()
                args = vllm.AsyncEngineArgs(
                    model=self.model,
                    **{k: v for k, v in self.options.items() if v is not None},
                )
                try:
                    engine = vllm.AsyncLLMEngine.from_engine_args(args)
                except Exception as exc:  # no GPU, out of memory, an unknown architecture
                    raise BackendUnavailable(f"vLLM cannot load {self.model}: {exc}") from exc
                tokenizer = engine.get_tokenizer()
                if asyncio.iscoroutine(tokenizer):
                    tokenizer = await tokenizer
                self._engine, self._tokenizer = engine, tokenizer
        return self._engine

    def _prompt_ids(self, messages: list[Message]) -> list[int]:
        head, written = split_continuation(messages)
        try:
            text = self._tokenizer.apply_chat_template(
                [dict(m) for m in head], tokenize=False, add_generation_prompt=True
            )
        except Exception as exc:  # noqa: BLE001 - a template that rejects the messages
            raise BackendError(f"the chat template rejected the messages: {exc}") from exc
        return list(self._tokenizer.encode(text + written, add_special_tokens=False))

    async def _run(self, ids: list[int], params: Any) -> Any:
        vllm = _vllm()
        prompt = vllm.inputs.TokensPrompt(prompt_token_ids=ids)
        final = None
        async for output in self._engine.generate(prompt, params, f"arena-{next(_REQUESTS)}"):
            final = output
        if final is None:
            raise BackendError("vLLM returned no output")
        return final

    async def generate(
        self,
        messages: list[Message],
        sampling: Sampling,
        *,
        choices: list[str] | None = None,
        on_text: OnText | None = None,
    ) -> Generation:
        t0 = time.perf_counter()
        await self._ensure()
        vllm = _vllm()
        ids = self._prompt_ids(messages)
        extra = choice_params(vllm, choices) if choices is not None else {}
        params = vllm.SamplingParams(
            temperature=max(sampling.temperature, 0.0),
            top_p=sampling.top_p,
            top_k=sampling.top_k if sampling.top_k > 0 else -1,
            max_tokens=sampling.max_tokens,
            seed=sampling.seed,
            stop=list(sampling.stop) or None,
            **extra,
        )
        out = await self._run(ids, params)
        completion = out.outputs[0]
        text = completion.text
        if choices is not None and text not in choices:
            raise BackendError(f"constrained generation produced {text!r}, not one of the choices")
        if on_text is not None and text:
            on_text(text)
        return Generation(
            text=text,
            prompt_tokens=len(ids),
            completion_tokens=len(completion.token_ids),
            finish_reason=completion.finish_reason,
            latency_s=time.perf_counter() - t0,
            token_ids=list(completion.token_ids),
        )

    async def score(self, messages: list[Message], candidates: list[str]) -> list[float]:
        await self._ensure()
        vllm = _vllm()
        prompt = self._prompt_ids(messages)
        params = vllm.SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)

        async def one(candidate: str) -> float:
            cand = list(self._tokenizer.encode(candidate, add_special_tokens=False))
            if not cand:
                raise BackendError(f"the candidate {candidate!r} has no tokens")
            out = await self._run(prompt + cand, params)
            logprobs = out.prompt_logprobs  # per prompt position: {token id: Logprob}
            total = 0.0
            for pos, token in enumerate(cand, start=len(prompt)):
                entry = logprobs[pos] or {}
                if token not in entry:
                    raise BackendError("vLLM did not return the candidate's log-probabilities")
                total += float(entry[token].logprob)
            return total

        return list(await asyncio.gather(*(one(c) for c in candidates)))

    def count_tokens(self, text: str) -> int | None:
        if self._tokenizer is None:
            return None
        return len(self._tokenizer.encode(text, add_special_tokens=False))

    async def aclose(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None and hasattr(engine, "shutdown"):
            engine.shutdown()
