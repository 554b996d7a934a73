"""Generation mode's rollouts on a vLLM engine (`rollout_engine = "vllm"`, CUDA only).

The trained model stays where it is (transformers, the trainer's optimizer, the loss); a vLLM
engine on the same GPU (`vllm_gpu_memory` of its memory) samples the rollout's replies, the
concurrent games' requests in one `generate` call, continuously batched. After every update
the engine is given the policy's weights:

- a full fine-tune: the trained parameters are written to one safetensors file under the
  job's folder, and every engine worker loads them (`ArenaWeightLoader`, vLLM's
  `worker_extension_cls`), in place, with the model's own `load_weights`;
- LoRA: the adapter is saved (peft's format) and the next requests carry a new
  `LoRARequest` for it, which vLLM hot-loads; the base weights never move.

What the loss needs comes back with every reply, as the torch sampler gives it: the sampled
token ids (the loss never re-tokenizes) and each one's log-probability under the tempered
distribution it was drawn from (`logprobs_mode = "processed_logprobs"`), for PPO's ratio. The
scored answers of `think-then-constrained` stay with the trainer's own scorer.

Tested on a GPU (tests/test_trainer_vllm.py, skipped where vLLM or CUDA is missing); the
conversion, engine choice and weight files are tested everywhere.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainer.generate import SampleRequest

# The LoRA ranks vLLM accepts as `max_lora_rank`.
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
WEIGHTS_FILE = "policy.safetensors"
SYNC_DIR = "vllm-sync"  # under the job's folder: the latest weights or adapter given to vLLM


def vllm_installed() -> bool:
    """Whether `import vllm` would find it (without importing it: it is heavy)."""
    return importlib.util.find_spec("vllm") is not None


def resolve_rollout_engine(choice: str, device: str, *, installed: bool | None = None) -> str:
    """The engine a job's rollouts use: `torch` or `vllm`. `auto` takes vLLM on CUDA where it
    is installed; asking for `vllm` where it cannot run is an error that says why."""
    have = vllm_installed() if installed is None else installed
    on_gpu = str(device).startswith("cuda")
    if choice == "torch":
        return "torch"
    if choice == "auto":
        return "vllm" if on_gpu and have else "torch"
    if choice != "vllm":
        raise ValueError(f"unknown rollout engine {choice!r}")
    if not on_gpu:
        raise ValueError(f"rollout_engine vllm needs a CUDA GPU (this job trains on {device})")
    if not have:
        raise ValueError(
            "rollout_engine vllm needs vLLM: pip install 'arena-games[vllm]' on the GPU machine"
        )
    return "vllm"


def vllm_lora_rank(rank: int) -> int:
    """The smallest `max_lora_rank` vLLM accepts that holds a LoRA of `rank`."""
    for allowed in VLLM_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise ValueError(f"vLLM serves LoRA ranks up to {VLLM_LORA_RANKS[-1]} (got {rank})")


def sampling_params(vllm: Any, request: SampleRequest, eos_ids: frozenset[int]) -> Any:
    """vLLM's `SamplingParams` for one request: its temperature, budget and seed, the model's
    end-of-turn ids and the request's stop strings, and the sampled token's log-probability."""
    return vllm.SamplingParams(
        temperature=request.temperature,
        max_tokens=request.max_new_tokens,
        seed=request.seed,
        stop=list(request.stop_strings) or None,
        stop_token_ids=sorted(eos_ids),
        logprobs=0,  # the sampled token's own
        skip_special_tokens=True,
        detokenize=bool(request.stop_strings),  # stop strings are matched on the text
    )


def sample_from_output(output: Any, eos_ids: frozenset[int]) -> tuple[list[int], list[float], str]:
    """One vLLM `RequestOutput` as the torch sampler returns a reply: the sampled ids (an
    end-of-turn id kept last, as there), each one's log-probability, and "stop" or "length"."""
    completion = output.outputs[0]
    ids = [int(t) for t in completion.token_ids]
    logps: list[float] = []
    for token, entry in zip(ids, completion.logprobs or [], strict=False):
        value = entry[token]
        logps.append(float(getattr(value, "logprob", value)))
    if len(logps) != len(ids):
        raise RuntimeError(
            f"vLLM returned {len(logps)} log-probabilities for {len(ids)} tokens: "
            "the loss needs one per sampled token"
        )
    reason = completion.finish_reason
    finish = "length" if reason == "length" else "stop"
    if reason not in ("stop", "length"):
        raise RuntimeError(f"vLLM ended a reply with {reason!r}")
    return ids, logps, finish


def write_weights(model: Any, folder: Path) -> Path:
    """The model's parameters (each once: tied weights share one name) as one safetensors file
    in `folder`, written whole before it replaces the last one; returns its path."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {name: param.detach().contiguous().cpu() for name, param in model.named_parameters()}
    path = folder / WEIGHTS_FILE
    tmp = folder / (WEIGHTS_FILE + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(path)
    return path


class ArenaWeightLoader:
    """Mixed into every vLLM worker (`worker_extension_cls`): loads the trainer's weights file
    into the worker's model in place."""

    def load_arena_weights(self, path: str) -> int:
        from safetensors.torch import load_file

        tensors = load_file(path, device="cpu")
        self.model_runner.model.load_weights(weights=list(tensors.items()))  # type: ignore[attr-defined]
        return len(tensors)


class VLLMRollout:
    """A vLLM engine sampling the rollout's replies, given the policy's weights after every
    update (`sync`). `sample` is the `PolicyBackend`'s sampler."""

    def __init__(
        self,
        base: str,
        *,
        sync_dir: Path,
        dtype: str,
        seed: int,
        gpu_memory: float,
        max_model_len: int | None = None,
        lora_rank: int | None = None,
        eos_ids: frozenset[int] = frozenset(),
        torchrun: bool = False,
    ) -> None:
        import vllm

        self.vllm = vllm
        self.sync_dir = Path(sync_dir)
        self.lora = lora_rank is not None
        self.lora_request: Any = None
        self.eos_ids = eos_ids
        self.synced_step: int | None = None
        options: dict[str, Any] = dict(
            model=base,
            dtype=dtype,
            seed=seed,
            gpu_memory_utilization=gpu_memory,
            enable_prefix_caching=True,  # a rollout's prompts share their start
            worker_extension_cls=f"{__name__}.ArenaWeightLoader",
            # After the temperature, as the loss reads them (vLLM 0.10.2 and later).
            logprobs_mode="processed_logprobs",
        )
        if torchrun:  # one engine per rank, on the rank's own GPU (torchrun's LOCAL_RANK)
            options.update(distributed_executor_backend="external_launcher", tensor_parallel_size=1)
        if max_model_len is not None:
            options["max_model_len"] = max_model_len
        if self.lora:
            options.update(enable_lora=True, max_lora_rank=vllm_lora_rank(lora_rank or 8))
        self.llm = vllm.LLM(**options)
        self.batches: list[int] = []

    def sample(self, requests: Sequence[SampleRequest]) -> list[tuple[list[int], list[float], str]]:
        """Every request in one `generate` call (vLLM batches them)."""
        if not requests:
            return []
        prompts = [{"prompt_token_ids": list(r.prompt)} for r in requests]
        params = [sampling_params(self.vllm, r, self.eos_ids) for r in requests]
        outputs = self.llm.generate(prompts, params, use_tqdm=False, lora_request=self.lora_request)
        self.batches.append(len(requests))
        return [sample_from_output(out, self.eos_ids) for out in outputs]

    def sync(self, model: Any, step: int) -> None:
        """Give the engine the policy's weights as they are after `step` updates."""
        if self.lora:
            from vllm.lora.request import LoRARequest

            folder = self.sync_dir / f"adapter-{step}"
            if folder.exists():
                shutil.rmtree(folder)
            model.save_pretrained(str(folder))
            old = self.lora_request
            # A new id: vLLM caches adapters by id, so the same id would keep the old weights.
            self.lora_request = LoRARequest(f"policy-{step}", step + 1, str(folder))
            if old is not None:  # the engine keeps a few adapters; the old one is done with
                self.llm.llm_engine.remove_lora(old.lora_int_id)
                shutil.rmtree(old.lora_path, ignore_errors=True)
        else:
            path = write_weights(model, self.sync_dir)
            self.llm.collective_rpc("load_arena_weights", args=(str(path),))
            self.llm.reset_prefix_cache()  # cached keys and values came from the old weights
        self.synced_step = step

    def close(self) -> None:
        self.llm = None
        shutil.rmtree(self.sync_dir, ignore_errors=True)


def make_vllm_rollout(trainer: Any, dtype: Any) -> VLLMRollout:
    """The engine of a `Trainer` whose rollouts run on vLLM: the job's base model (a LoRA job
    and a fresh one sample from it as they are), given the checkpoint's weights at once when
    the job resumes."""
    from arena.backends.transformers_backend import _eos_ids

    config = trainer.config
    rank = trainer.dist.rank
    engine = VLLMRollout(
        config.base,
        sync_dir=trainer.job_dir / SYNC_DIR / f"rank-{rank}",
        dtype=str(dtype).removeprefix("torch."),
        seed=config.seed + rank,
        gpu_memory=config.vllm_gpu_memory,
        lora_rank=config.lora_rank if config.lora else None,
        eos_ids=frozenset(_eos_ids(trainer.play_model, trainer.tokenizer)),
        torchrun=trainer.dist.world > 1,
    )
    if trainer.resumed_from is not None:
        engine.sync(trainer.play_model, trainer.step)
    return engine
