"""`models`: prepare the embedded model and show which models the roles use."""

from __future__ import annotations

import argparse

from oversight.cli.common import add_roles_options
from oversight.cli.model_versions import add_actions, print_versions
from oversight.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="base models and trained versions (example: models list)",
                       description="Prepare and list the base models the roles run on; show, promote, roll back "
                                   "and retire the registry's trained versions.")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    prep = msub.add_parser("prepare", help="convert the embedded model once (example: models prepare)",
                           description="Convert the embedded GGUF model into a cached safetensors folder "
                                       "and load it once. Example: python -m oversight.run models prepare")
    add_roles_options(prep)
    prep.set_defaults(run=run_prepare)
    ls = msub.add_parser("list", help="list models of a roles file (example: models list)",
                         description="Show each model, where it loads from, and which roles use it. "
                                     "Example: python -m oversight.run models list")
    add_roles_options(ls)
    ls.set_defaults(run=run_list)
    add_actions(msub, add_roles_options)


def run_prepare(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from oversight.roles import load_roles
    from oversight.runtime.loading import load_base, model_folder, pick_device

    roles = load_roles(args.roles, settings.project_dir, args.overrides)
    for name, model in roles.models.items():
        start = time.perf_counter()
        device = pick_device(model.device, settings.device)  # an unusable device is refused before any conversion
        folder = model_folder(model, settings.models_dir)
        loaded = load_base(model, settings.models_dir, device=device)
        params = sum(p.numel() for p in loaded.parameters())
        print(f"{name}: {model.source} -> {folder} ({params / 1e6:.0f}M parameters, "
              f"{next(loaded.parameters()).dtype}, {time.perf_counter() - start:.1f} s)")
    return 0


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    from oversight.roles import load_roles

    roles = load_roles(args.roles, settings.project_dir, args.overrides)
    for name, model in roles.models.items():
        users = [r for r, role in roles.roles.items() if role.model == name]
        print(f"{name}: {model.source} dtype={model.dtype} device={model.device} "
              f"backend={model.backend} roles={','.join(users)}")
    print_versions(settings)
    return 0
