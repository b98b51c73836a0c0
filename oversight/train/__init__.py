"""Teaching the oversight roles: material, verdict heads, LoRA adapters, bootstrap."""
