"""The latent presets the LLC mode offers, and what is known about each one.

An LLC that names its skills (`llc.skills`: name -> unit anchor latent, from the checkpoint's `skills` record)
gets one preset per skill: holding that latent is what the skill was trained to do. Any other LLC gets one
preset per motion clip (the normalized mean of the encoder's latents over the clip's windows), marked with what
is known: whether the LLC was trained on the clip (its checkpoint config's `motions`) and whether holding the
preset reproduces the clip, measured by `launch.py eval` (the `coverage` record of the LLC's JSON card beside
the checkpoint) or "not measured". A clip preset is only the encoder's summary of the clip: nothing promises
that the LLC acting on it moves like the clip.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.latents import SkillMap, normalize

REPO = Path(__file__).resolve().parent.parent
CLIP_SUFFIXES = (".txt", ".npy", ".bvh")


@dataclass
class PresetInfo:
    """What is known about one preset."""

    trained: bool | None = None  # the LLC was trained on this clip (None: unknown; skills: True)
    reproduces: bool | None = None  # holding the preset moves like the clip, measured (None: not measured)
    nearest: str = ""  # the clip the measured motion came nearest to (the card's `coverage.nearest`)

    def note(self) -> str:
        """One line: "trained on; reproduces its clip (measured)", "not trained on; not measured"..."""
        trained = {True: "trained on", False: "not trained on", None: "training set unknown"}[self.trained]
        if self.reproduces is None:
            return f"{trained}; reproduction not measured"
        if self.reproduces:
            return f"{trained}; reproduces its clip (measured)"
        return f"{trained}; does not reproduce its clip (measured: moves like {self.nearest or 'another clip'})"


@dataclass
class Presets:
    """The presets of one LLC: named latents on a 2-D map (`SkillMap`), their kind and what is known of each."""

    kind: str  # "skills" (named by the LLC) or "clips" (one per motion clip)
    map: SkillMap
    info: dict[str, PresetInfo] = field(default_factory=dict)
    clip_of: dict[str, str] = field(default_factory=dict)  # display name -> full clip name (clip presets)

    @property
    def names(self) -> list[str]:
        return self.map.names

    def summary(self) -> str:
        """What the presets are, honestly, in a sentence or two (the presets tab's header)."""
        if self.kind == "skills":
            return (f"{len(self.names)} skills named by this LLC: each one is the latent it was trained to "
                    "perform that skill on.")  # fmt: skip
        trained = [n for n, i in self.info.items() if i.trained]
        measured = [n for n in trained if self.info[n].reproduces is not None]
        good = [n for n in measured if self.info[n].reproduces]
        text = ("One preset per clip: the encoder's mean latent over the clip. Not guaranteed to reproduce "
                "the clip: ")  # fmt: skip
        if not any(i.trained is not None for i in self.info.values()):
            return text + "this LLC's training set is unknown and nothing was measured."
        text += f"the LLC was trained on {len(trained)} of these {len(self.names)} clips"
        if measured:
            text += f"; {len(good)} of the {len(measured)} measured reproduce their clip ({', '.join(good) or 'none'})"
        else:
            text += "; reproduction not measured"
        others = len(self.names) - len(measured)
        return text + (f"; {others} not measured." if others and measured else ".")


def short_names(names: list[str]) -> list[str]:
    """Clip names without their common prefix ("humanoid3d_walk" -> "walk")."""
    import os

    prefix = os.path.commonprefix(names) if len(names) > 1 else ""
    prefix = prefix[: prefix.rfind("_") + 1] if "_" in prefix else ""
    return [n[len(prefix) :] or n for n in names]


def skill_presets(skills: dict[str, Any]) -> Presets | None:
    """Presets from an LLC's named skills (name -> anchor latent); None when it names none."""
    if not skills:
        return None
    names = list(skills)
    latents = np.stack([normalize(np.asarray(skills[n], dtype=np.float64).reshape(-1)) for n in names])
    return Presets("skills", SkillMap.build(names, latents), {n: PresetInfo(trained=True) for n in names})


def clip_presets(clip_names: list[str], latents: np.ndarray, llc_path: str | None, config: dict | None) -> Presets:
    """Presets from motion clips (`latents`: one unit latent per clip), marked from the LLC's config and card."""
    shown = short_names(list(clip_names))
    trained = trained_clips(config or {})
    coverage = measured_coverage(llc_path)
    info = {}
    for short, full in zip(shown, clip_names):
        i = PresetInfo(trained=None if trained is None else full in trained)
        if full in coverage:
            near = coverage[full]
            i.nearest = shown[clip_names.index(near)] if near in clip_names else near
            i.reproduces = coverage[full] == full
        info[short] = i
    return Presets("clips", SkillMap.build(shown, latents), info, dict(zip(shown, clip_names)))


def trained_clips(config: dict) -> set[str] | None:
    """The clip names (file stems) an LLC was trained on, from its checkpoint config's `motions` (a clip, a
    YAML dataset or a folder); None when the config does not say or the file is not here."""
    motions = config.get("motions")
    if not motions:
        return None
    path = Path(motions)
    if not path.is_absolute() and not path.exists():
        path = REPO / path
    try:
        if path.suffix in (".yaml", ".yml"):
            from motion.dataset import read_yaml_dataset

            return {e.file.stem for e in read_yaml_dataset(path)}
        if path.is_dir():
            return {p.stem for p in path.iterdir() if p.suffix in CLIP_SUFFIXES and not p.stem.startswith("dataset")}
        if path.is_file():
            return {path.stem}
    except Exception:  # an unreadable dataset: unknown, not an error (the presets still work)
        return None
    return None


def measured_coverage(llc_path: str | None) -> dict[str, str]:
    """clip -> the clip its preset's motion came nearest to, from the LLC's JSON card (`launch.py eval --json`,
    written beside the checkpoint as <name>.json); empty when there is no card or no coverage record."""
    if not llc_path:
        return {}
    try:
        results = json.loads(Path(llc_path).with_suffix(".json").read_text())["results"]
        record = next(iter(results.values()))
        return {str(k): str(v) for k, v in record["coverage"]["nearest"].items()}
    except (OSError, ValueError, KeyError, StopIteration, TypeError, AttributeError):
        return {}


def blend_label(a: str, b: str, t: float) -> str:
    """The blend row in words: "blend walk -> run 0.30" (0: all `a`, 1: all `b`)."""
    return f"blend {a} -> {b} {t:.2f}"
