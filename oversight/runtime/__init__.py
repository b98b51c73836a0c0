"""Model runtime: load once, LoRA adapters per role, dynamic batching, three operations.

Knows nothing of the store or the graph (see DESIGN.md).
"""

from oversight.runtime.engine import ModelHandle, Runtime, as_chat
from oversight.runtime.ops import Chat, Generation

__all__ = ["Chat", "Generation", "ModelHandle", "Runtime", "as_chat"]
