"""Optional vLLM generation backend for GPU machines (`backend: vllm` in roles YAML).

vLLM does its own continuous batching and serves LoRA adapters per request, so
on a GPU it replaces transformers' `generate` only; option scoring and features
still run on the transformers copy (they are single forward passes). Nothing in
the graph or the trainer changes: switching is one line of configuration.
Not exercised by the CPU test suite (vLLM needs a GPU); see README.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from oversight.errors import OversightError
from oversight.roles import GenerationConfig, ModelConfig
from oversight.runtime.ops import CUT_MARKER, GenerateRequest, Generation, keep_head_and_tail


class VllmGenerator:
    """Wraps `vllm.LLM` for one base model; adapters are passed as LoRARequests."""

    def __init__(self, config: ModelConfig, folder: str, tokenizer: Any, dtype: str, max_lora_rank: int = 64) -> None:
        try:
            from vllm import LLM
        except ImportError:
            raise OversightError("roles set backend: vllm, but vLLM is not installed "
                                 "(pip install 'oversight[vllm]' on a CUDA machine)") from None
        self.tokenizer = tokenizer
        self.max_context = config.max_context
        self.llm = LLM(model=folder, dtype=dtype, enable_lora=True, max_lora_rank=max_lora_rank,
                       max_model_len=config.max_context + 4096,
                       gpu_memory_utilization=0.6)  # the transformers copy (scoring, features) needs room too
        self._lora_ids: dict[str, int] = {}

    def _lora(self, adapter_folder: str | None) -> Any:
        if adapter_folder is None:
            return None
        from vllm.lora.request import LoRARequest

        ident = self._lora_ids.setdefault(adapter_folder, len(self._lora_ids) + 1)
        return LoRARequest(Path(adapter_folder).name, ident, adapter_folder)

    def generate(self, requests: Sequence[GenerateRequest], params: GenerationConfig,
                 adapter_folders: Sequence[str | None], limit: int | None = None) -> list[Generation]:
        """Per-request token limits and LoRA adapters, in one vLLM call."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        limit = limit or self.max_context
        prompts, truncated = [], []
        for request in requests:
            text = self.tokenizer.apply_chat_template(request.chat, add_generation_prompt=True, tokenize=False)
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            truncated.append(len(ids) > limit)
            marker = self.tokenizer(CUT_MARKER, add_special_tokens=False)["input_ids"]
            prompts.append(TokensPrompt(prompt_token_ids=keep_head_and_tail(ids, limit, marker)))
        sampling = [SamplingParams(max_tokens=r.max_new_tokens,
                                   temperature=params.temperature if params.do_sample else 0.0,
                                   top_p=params.top_p if params.do_sample else 1.0) for r in requests]
        outs = self.llm.generate(prompts, sampling, lora_request=[self._lora(f) for f in adapter_folders],
                                 use_tqdm=False)
        return [Generation(o.outputs[0].text.strip(), len(o.prompt_token_ids), len(o.outputs[0].token_ids), t)
                for o, t in zip(outs, truncated, strict=True)]
