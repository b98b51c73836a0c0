"""Benchmark the model runtime: sequential single calls vs concurrent calls through the batcher.

Prints tokens/s for both, their ratio, and (when llama-cpp-python is installed)
llama.cpp single-stream tokens/s on the same GGUF file, measured in the same run.

    .venv/bin/python scripts/bench_runtime.py --concurrent 64 --sequential 8
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

TOPICS = ["the ocean", "volcanoes", "the history of bread", "learning a language", "bicycles", "rain forests",
          "the moon", "coffee", "chess", "city parks", "honey bees", "trains", "libraries", "winter sports",
          "photography", "gardening"]
STYLES = ["Write a paragraph about {}.", "Explain {} to a ten-year-old.", "Describe three facts about {}.",
          "Write a short story that involves {}."]


def prompts(n: int) -> list[str]:
    return [STYLES[i % len(STYLES)].format(TOPICS[(i // len(STYLES) + i) % len(TOPICS)]) for i in range(n)]


def bench_runtime(args: argparse.Namespace) -> tuple[float, float, dict[str, float]]:
    from oversight.roles import GenerationConfig, ModelConfig
    from oversight.runtime import Runtime, as_chat
    from oversight.settings import Settings

    settings = Settings.from_env()
    runtime = Runtime(settings.models_dir, max_batch=args.max_batch, max_wait_s=args.max_wait_ms / 1000,
                      continuous=not args.plain)
    handle = runtime.handle(ModelConfig(source="embedded:smollm2-135m-instruct", dtype=args.dtype))
    params = GenerationConfig(max_new_tokens=args.max_new_tokens)
    handle.generate([as_chat("warm up")], GenerationConfig(max_new_tokens=4))

    seq_prompts = prompts(args.sequential)
    start = time.perf_counter()
    seq_tokens = sum(handle.generate([as_chat(p)], params)[0].new_tokens for p in seq_prompts)
    seq_rate = seq_tokens / (time.perf_counter() - start)

    con_prompts = prompts(args.concurrent)
    decoder = handle.batcher.decoder
    before = ((decoder.stats.steps, decoder.stats.row_steps) if decoder else
              (handle.batcher.stats.batches, handle.batcher.stats.requests))
    start = time.perf_counter()
    with ThreadPoolExecutor(args.concurrent) as pool:
        outs = list(pool.map(lambda p: handle.generate([as_chat(p)], params)[0], con_prompts))
    elapsed = time.perf_counter() - start
    con_rate = sum(o.new_tokens for o in outs) / elapsed
    if decoder:
        steps = decoder.stats.steps - before[0]
        shape = f"{steps} decode steps, mean {(decoder.stats.row_steps - before[1]) / max(steps, 1):.1f} rows"
    else:
        batches = handle.batcher.stats.batches - before[0]
        shape = f"{batches} batches, mean batch {(handle.batcher.stats.requests - before[1]) / max(batches, 1):.1f}"
    stats = {"shape": shape, "seconds": elapsed, "dtype": str(handle.loaded.model.dtype)}
    runtime.close()
    return seq_rate, con_rate, stats


def llama_cpp_rate(args: argparse.Namespace) -> float:
    """llama.cpp single-stream tokens/s on the same GGUF (runs in its own process, see below)."""
    from llama_cpp import Llama

    from oversight.runtime.embedded import gguf_location

    folder, name = gguf_location("smollm2-135m-instruct")
    llm = Llama(model_path=str(folder / name), n_ctx=1024, n_threads=args.threads, n_batch=args.llama_n_batch,
                verbose=False)
    llm.create_chat_completion([{"role": "user", "content": "warm up"}], max_tokens=4, temperature=0)
    tokens, start = 0, time.perf_counter()
    for p in prompts(args.sequential):
        out = llm.create_chat_completion([{"role": "user", "content": p}], max_tokens=args.max_new_tokens,
                                         temperature=0.0)
        tokens += out["usage"]["completion_tokens"]
    return tokens / (time.perf_counter() - start)


def bench_llama_cpp(args: argparse.Namespace) -> float | str | None:
    """Run llama.cpp in a child process: its OpenMP runtime and torch's must not share one process."""
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    argv = [sys.executable, __file__, "--llama-cpp-only", "--sequential", str(args.sequential),
            "--max-new-tokens", str(args.max_new_tokens), "--threads", str(args.threads),
            "--llama-n-batch", str(args.llama_n_batch)]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        return f"failed (exit {proc.returncode}); try --llama-n-batch 1"
    return float(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=8, help="prompts run one at a time")
    parser.add_argument("--concurrent", type=int, default=64, help="prompts issued at once from threads")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float32"])
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp CPU threads")
    parser.add_argument("--llama-n-batch", type=int, default=512,
                        help="llama.cpp prompt batch (1 avoids a crash of some CPU builds)")
    parser.add_argument("--plain", action="store_true", help="plain batched generate, not continuous batching")
    parser.add_argument("--skip-llama-cpp", action="store_true")
    parser.add_argument("--llama-cpp-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.llama_cpp_only:
        print(llama_cpp_rate(args))
        return

    llama = None if args.skip_llama_cpp else bench_llama_cpp(args)
    seq, con, stats = bench_runtime(args)
    print(f"model: SmolLM2-135M-Instruct ({stats['dtype']}), {args.max_new_tokens} new tokens, greedy")
    print(f"sequential single calls   : {seq:8.1f} tokens/s ({args.sequential} prompts)")
    print(f"concurrent via batcher    : {con:8.1f} tokens/s ({args.concurrent} callers, "
          f"{stats['shape']}, {stats['seconds']:.1f} s)")
    print(f"batcher / sequential      : {con / seq:8.2f}x")
    if llama is None:
        print("llama.cpp single-stream   : not measured (pip install llama-cpp-python to compare)")
    elif isinstance(llama, str):
        print(f"llama.cpp single-stream   : {llama}")
    else:
        verdict = "meets" if con >= 3 * llama else "misses"
        print(f"llama.cpp single-stream   : {llama:8.1f} tokens/s ({args.threads} threads)")
        print(f"batcher / llama.cpp       : {con / llama:8.2f}x ({verdict} the 3x target)")


if __name__ == "__main__":
    main()
