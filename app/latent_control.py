"""LLC mode's latent: the skill latent the LLC acts on, the presets it can jump to and the blend between two
of them (`app.presets`: the LLC's named skills, else one preset per motion clip)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from app.latents import SkillMap, normalize, set_component, slerp
from app.loading import SessionConfig
from app.presets import Presets, blend_label, clip_presets, skill_presets
from app.state import EventLine
from controllers.getup import GetupAssist
from controllers.latents import clip_preset, sample_latents
from sim.observations import clip_windows
from sim.single import SingleCharacter

if TYPE_CHECKING:
    from controllers.protocols import Policy

NEAR_COS = 0.5  # a latent this close (cosine) to a preset is shown as near it
START_SKILL = "idle"  # what a skill LLC holds when the viewer opens


class LatentControl:
    """The latent of `llc` (None: no LLC, no latent), its presets and the blend (preset a, preset b, t)."""

    def __init__(
        self, llc: Policy | None, *, cfg: SessionConfig, motions: Any, sim: SingleCharacter,
        rng: np.random.Generator, events: EventLine, messages: list[str],
    ) -> None:  # fmt: skip
        self.cfg, self.motions, self.sim, self.rng = cfg, motions, sim, rng
        self.events, self.messages = events, messages  # the event line; the session's messages (presets that fail)
        self.llc: Policy | None = None
        self.latent: np.ndarray | None = None
        self.presets: Presets | None = None
        self.blend = (0, 1, 0.0)  # preset a, preset b, t
        self.getup = GetupAssist({})  # a skill LLC's get-up assist (LLC mode)
        if llc is not None:
            self.use_llc(llc)
            self.blend = self.default_blend()

    def use_llc(self, llc: Policy) -> None:
        """Another LLC: a latent from its prior and its presets (the blend stays)."""
        self.llc = llc
        self.latent = self.sample(llc.latent_dim)
        self.presets = self.build_presets()
        skills = getattr(llc, "skills", None) or {}
        if START_SKILL in skills:  # a skill LLC starts standing on its idle skill, not on a random latent
            self.latent = normalize(np.asarray(skills[START_SKILL], dtype=np.float64))
        self.getup = GetupAssist(dict(getattr(llc, "skills", None) or {}), enabled=self.getup.enabled)

    def sample(self, dim: int) -> np.ndarray:
        """One latent from ASE's prior: the trainer's own sampler (`controllers.latents`), without torch."""
        return sample_latents(1, dim, self.rng)[0]

    def build_presets(self) -> Presets | None:
        """The LLC's named skills when it has some, else one preset per clip (normalized mean encoder output over
        the clip's windows), marked with what is known of each (`app.presets`)."""
        llc = self.llc
        if llc is None:
            return None
        if named := skill_presets(getattr(llc, "skills", None) or {}):
            return named
        if self.motions is None:
            return None
        try:
            names = list(self.motions.clip_names)
            lat = []
            for c in range(len(names)):
                windows = clip_windows(self.motions, self.sim.joints, self.sim.control_dt, c, llc.num_amp_frames)
                lat.append(clip_preset(llc.encode(windows)))
            config = getattr(llc, "config", None)
            llc_file = self.cfg.llc if self.cfg.policy_backend == "torch" else None
            return clip_presets(names, np.stack(lat), llc_file, config if isinstance(config, dict) else None)
        except Exception as exc:  # presets are a convenience: keep the viewer running without them
            self.messages.append(f"latent presets unavailable ({type(exc).__name__}: {exc})")
            return None

    def default_blend(self) -> tuple[int, int, float]:
        """walk -> run when there are such presets, else the first two."""
        names = self.skill_map.names if self.skill_map is not None else []
        a = names.index("walk") if "walk" in names else 0
        b = names.index("run") if "run" in names else min(1, max(len(names) - 1, 0))
        return a, b, 0.0

    @property
    def skill_map(self) -> SkillMap | None:
        """The presets' names, latents and 2-D map (None without presets)."""
        return self.presets.map if self.presets is not None else None

    def acting_latent(self, head_height: float, root_quat: np.ndarray, dt: float) -> np.ndarray:
        """The latent the LLC acts on this control step: the held one, or its get-up skill while the assist has
        taken over (`controllers.getup.GetupAssist`: the head low for its `down_seconds`, until it stands)."""
        return self.getup.latent(self.latent, head_height, root_quat, dt)

    def set_latent(self, z: np.ndarray) -> None:
        self.latent = normalize(z)

    def set_latent_component(self, axis: np.ndarray, value: float) -> None:
        """Set the latent's component along unit `axis` (a principal axis or a raw dimension), staying on the sphere."""
        if self.latent is not None:
            self.latent = set_component(self.latent, axis, value)

    def randomize(self) -> None:
        self.set_latent(self.sample(len(self.latent)))
        self.events.say("random latent")

    def use_preset(self, name: str) -> None:
        """Hold preset `name` (a skill's or a clip's short name)."""
        if self.skill_map is not None:
            self.set_latent(self.skill_map.latent(name))
            kind = "skill" if self.presets.kind == "skills" else "clip preset"
            self.events.say(f"{kind} {name}")

    def set_blend(self, a: int, b: int, t: float) -> None:
        """Slerp from preset `a` (t=0) to preset `b` (t=1)."""
        self.blend = (a, b, t)
        if self.skill_map is not None:
            self.set_latent(slerp(self.skill_map.latents[a], self.skill_map.latents[b], t))
            self.events.say(blend_label(self.skill_map.names[a], self.skill_map.names[b], t))

    def blend_text(self) -> str:
        """The blend in words: "blend walk -> run 0.30"."""
        if self.skill_map is None:
            return ""
        a, b, t = self.blend
        return blend_label(self.skill_map.names[a], self.skill_map.names[b], t)

    def nearest_preset(self, acting: Policy | None) -> str:
        """The preset nearest the latent, in words, while `acting` (the LLC acting now) is this one."""
        if self.skill_map is None or self.latent is None:
            return "-"
        if acting is not self.llc:  # the presets are the session LLC's, not this task's
            return "- (this task's LLC has its own latents)"
        name, cos = self.skill_map.nearest(self.latent)
        return f"{name} (cos {cos:.2f})" if cos >= NEAR_COS else f"none near ({name}, cos {cos:.2f})"
