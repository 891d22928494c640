"""What launch.py's command lines share: their one-line errors and the flags several of them take.

Every room may import this module (docs/architecture.md): it imports nothing of the project. A flag added here
means the same thing in every command that takes it.
"""

from __future__ import annotations

import argparse
import sys

# --trust-checkpoint (controllers.checkpoint.trusting_checkpoints)
TRUST_HELP = (
    "read checkpoints that safe loading refuses (third-party files, resumable states written before plain-data "
    "checkpoints) by unpickling them in full, which runs any code such a file holds: only for files you trust"
)
# --device: where the physics runs (sim.backend.make_backend)
DEVICE_HELP = "cpu (default: mujoco.batch), cuda[:K] (MuJoCo Warp on an NVIDIA GPU) or warp-cpu (Warp's CPU device)"


def error(prog: str, msg: str, code: int = 2) -> int:
    """Print `prog: msg` to stderr as one line (whatever line breaks the message holds); returns `code`, the exit
    status (2: the command line asked for something impossible, 1: it failed while running)."""
    print(f"{prog}: {' '.join(msg.split())}", file=sys.stderr)
    return code


def layer_sizes(text: str) -> tuple[int, ...]:
    """argparse type of --hidden: comma-separated positive layer sizes, e.g. 512,256."""
    try:
        sizes = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer sizes like 512,256, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def add_trust_checkpoint(p: argparse.ArgumentParser, files: str = "") -> None:
    """--trust-checkpoint; `files` names the flags whose files it covers."""
    p.add_argument("--trust-checkpoint", action="store_true", help=TRUST_HELP + (f" ({files})" if files else ""))


def add_trust_pickle(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust-pickle", action="store_true", help="allow loading ASE .npy clips (pickles run code)")


def add_allow_other_llc(p: argparse.ArgumentParser, when: str) -> None:
    """--allow-other-llc: a task controller goes with an LLC file other than the one it was trained with."""
    p.add_argument(
        "--allow-other-llc", action="store_true",
        help=f"{when}: use an LLC file other than the one the task controller was trained with",
    )  # fmt: skip


def add_device(p: argparse.ArgumentParser, networks: str = "") -> None:
    """--device (default cpu): the physics; `networks` says where the command's networks run with it."""
    p.add_argument("--device", default="cpu", help=f"physics: {DEVICE_HELP}" + (f"; {networks}" if networks else ""))


def add_training_flags(p: argparse.ArgumentParser, presets: list[str], kind: str) -> None:
    """The flags both trainers (`train llc`, `train hlc`) take, with the same meaning; `kind` is llc or hlc."""
    p.add_argument("--preset", choices=sorted(presets), help="cpu (default) or reference")
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--iterations", type=int,
        help="stop once this many iterations are done in total, earlier ones of a resumed run included",
    )  # fmt: skip
    p.add_argument("--resume", nargs="?", const="auto", help="resume from a checkpoint.pt (default: OUT/checkpoint.pt)")
    p.add_argument("--checkpoint-every", type=int, help="iterations between checkpoints")
    p.add_argument("--threads", type=int, help="torch threads (preset default)")
    add_device(p, f"cuda[:K] also puts the {kind.upper()}'s networks and update on that GPU (under torchrun rank r "
               "uses cuda:LOCAL_RANK)")  # fmt: skip
    p.add_argument("--lr", type=float)
    p.add_argument("--epochs", type=int)
    p.add_argument("--no-progress", action="store_true")
