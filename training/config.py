"""Dataclass configs of LLC training, with the `reference` (ASE, GPU scale) and `cpu` presets.

Every field is saved in each checkpoint (`asdict`), so a run can be reproduced from its checkpoint. The PPO
settings are a `training.ppo.PPOConfig` (`ppo`, shared with the HLC trainer) and the reset mix the environment's
own `sim.resets.ResetConfig` (`reset`); checkpoints written before that hold them flat (`lr`, `fall_pool_prob`),
which `LLCConfig.from_dict` converts, and the presets, `--set` and the flags take the flat names too.

Differences of the `cpu` preset from the ASE reference, and why:
- networks 512-256 (actor, critic, discriminator/encoder trunk) and a 256-128 latent MLP instead of
  1024-1024-512 / 512-256: the reference sizes update at ~550 samples/s on 2 cores (6 epochs).
- 256 environments x 32 steps = 8192 samples per iteration (reference 4096 x 32 = 131072), minibatch 4096
  (2 per epoch) and 2 epochs instead of 16384 (8 per epoch) and 6: the update dominates CPU time, and
  2 epochs keep the full loop above 0.3x the environment's own rate (bench/RESULTS.md).
- discriminator batch 1024 dataset + 1024 rollout + 1024 replay windows per minibatch: the reference's
  ratio (4096 per 16384 minibatch).
- learning rate 5e-5 instead of 2e-5: 12x fewer Adam steps per iteration than the reference (4 vs 48)
  and a CPU budget of ~1e7-1e8 samples instead of ~1e10. With ASE's fixed std exp(-2.9) ~ 0.055 the PPO
  ratio is very sensitive to the mean: measured on the humanoid at N = 256, 1e-4 kept ~20% of samples
  clipped after 10 iterations, 5e-5 ~10% (the normalizer's own drift alone: <1%). (--lr changes it.)
- demo buffer 16384 windows and replay buffer 32768 (reference 200k each: 1 GB each on the CPU at 1250
  floats per window); both keep the reference's policies (512 demo windows refreshed per iteration, replay
  keep-probability 0.01 once full).
- low-style termination (on by default, `low_style_termination`; ProtoMotions' remedy for standing still):
  measured on the humanoid, a run with it walked at 14M samples (0.74 m/s) where the run without it still
  stood at 23M (docs/campaign.md, round 0).
- bf16 autocast for the critic and discriminator/encoder forward passes (bench/RESULTS.md: ~2x on CPUs with
  bf16 in hardware; training/precision.py turns it off where bf16 is emulated, ~30x slower; CUDA GPUs have
  it); the actor stays float32 so rollout and update log-probabilities are computed identically.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from controllers.networks import NetworkConfig
from sim.resets import RESET_TERMS, ResetConfig, reference_mix
from training.ppo import PPO_FIELDS, PPOConfig, flat_name, nest_ppo


@dataclass
class LLCConfig:
    """Everything the LLC trainer needs; defaults are the ASE reference values."""

    # run
    preset: str = "reference"
    character: str = "humanoid"
    motions: str = ""  # clip file, dataset YAML or folder (motion.library.MotionLibrary.from_path)
    seed: int = 0
    num_envs: int = 4096
    total_samples: int = 10_000_000_000
    torch_threads: int = 0  # 0: leave torch's default
    out_dir: str = "runs/llc"
    checkpoint_every: int = 50  # iterations between resume checkpoints
    snapshot_every: int = 0  # iterations between kept inference snapshots (snapshots/llc_<samples>.pt); 0: none
    # rollout / PPO
    ppo: PPOConfig = field(default_factory=PPOConfig)
    bound_coef: float = 10.0
    eps_greedy: bool = True  # ~10% of envs act with the mean action
    # rewards
    style_weight: float = 0.5
    enc_weight: float = 0.5
    # discriminator
    disc_coef: float = 5.0
    disc_batch: int = 4096  # dataset, rollout and replay windows each, per minibatch
    disc_grad_penalty: float = 5.0
    disc_logit_reg: float = 0.01
    disc_weight_decay: float = 1e-4
    demo_buffer_size: int = 200_000
    demo_refresh: int = 512
    replay_size: int = 200_000
    replay_keep_prob: float = 0.01
    # skills
    enc_coef: float = 5.0
    div_coef: float = 0.01
    latent_steps_min: int = 1
    latent_steps_max: int = 150  # exclusive: intervals 1..149 control steps
    # a departure from the reference (ProtoMotions): end an episode, as a termination, after
    # `low_style_steps` consecutive steps whose unscaled style reward -log(1 - D) is below
    # `low_style_threshold`, outside recovery / fall-pool / lying-start grace: an escape from standing still
    low_style_termination: bool = True
    low_style_threshold: float = 0.05
    low_style_steps: int = 10
    # the training environment's resets: the mix that makes get-up emerge (docs/method.md, "Resets and recovery")
    reset: ResetConfig = field(default_factory=ResetConfig)
    # named skills (training/skills.py): every clip of the dataset is a skill with its own anchor latent
    skills: bool = False
    init_from: str = ""  # the checkpoint a skill run was warm-started from (weights only), for the record
    anchor_prob: float = 0.85  # anchored latent draws; the rest are ASE's uniform draws
    anchor_noise: float = 0.04  # z = normalize(anchor + noise * N(0, I))
    skill_steps_min: int = 30  # an anchored latent is held this many steps ...
    skill_steps_max: int = 150  # ... up to this (exclusive), then redrawn without a reset
    cond_reward_weight: float = 0.5  # anchored envs: r = 0.5 r_cond + 0.2 r_D + 0.3 r_E (+ tracking)
    anchored_style_weight: float = 0.2
    anchored_enc_weight: float = 0.3
    cond_coef: float = 5.0  # the conditional discriminator's loss weight
    cond_grad_penalty: float = 5.0
    mismatch_frac: float = 0.5  # mismatch negatives (demo windows with another skill's z) per positive
    skill_enc_coef: float = 5.0  # supervised encoder term: demo windows encode to their skill's anchor
    track_weight: float = 0.5  # tracking reward weight at the start, annealed linearly to 0 ...
    track_anneal_samples: float = 3e7  # ... over this many samples
    track_loop_seconds: float = 3.0  # a looping clip is tracked this long after its start
    track_max_error: float = 1.0  # tracking stops once the mean body position error exceeds this (m)
    # anchored envs of a steady skill (a looping clip: walk, jog, run, idle) add speed_weight * exp(-((v - v_c) /
    # (0.25 + 0.25 v_c))^2), v the horizontal root speed and v_c the clip's mean: the skill's pace, which the
    # conditional discriminator alone let drift (jog and run ran slow, idle drifted)
    speed_weight: float = 0.0
    grace_getup_reward: bool = True  # anchored envs in a fall grace: 0.5 r_D + 0.5 r_E toward the nearest get-up
    switch_grace: int = 15  # steps after a skill switch without the conditional low-style termination
    focal_every: int = 20  # iterations between focal weight updates (skills that score low get sampled more)
    # throughput: the next rollout runs on a second thread beside this iteration's update, acting with the
    # weights from before that update (one update behind: PPO's ratio then starts from the behaviour policy)
    overlap: bool = False
    # precision
    bf16: bool = False  # autocast critic + disc/encoder forwards where the device has bf16 (actor stays float32)
    network: NetworkConfig = field(default_factory=NetworkConfig.reference)

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.ppo.horizon

    # settings that have their own flag, that fix the run's shape (networks, environments, buffers, batch) or whose
    # change would reinterpret trained values (normalize_value); every other scalar setting (of PPO's too, and the
    # reset mix's probabilities as `<term>_prob`) is a training setting that `train llc --set NAME=VALUE` may set,
    # on a fresh run or a resumed one
    NOT_SETTABLE = frozenset({
        "preset", "character", "motions", "seed", "num_envs", "total_samples", "torch_threads", "out_dir",
        "checkpoint_every", "snapshot_every", "horizon", "minibatch_size", "epochs", "lr", "disc_batch",
        "demo_buffer_size", "replay_size", "normalize_value", "bf16", "network", "skills", "init_from", "ppo",
        "reset",
    })  # fmt: skip

    @classmethod
    def settable(cls) -> dict[str, type]:
        """{name: type} of the settings `--set` may change: flat names (`clip` is `ppo.clip`, `fall_pool_prob`
        the fall pool's probability in `reset.mix`)."""
        every = [*fields(cls), *fields(PPOConfig)]
        probs = {f"{term}_prob": "float" for term in RESET_TERMS if term != "default"}
        return {**{f.name: f.type for f in every if f.name not in cls.NOT_SETTABLE}, **probs}

    def setting(self, name: str) -> object:
        """The value of a setting by its flat name (`clip`: `ppo.clip`; `fall_pool_prob`: `reset.mix["fall_pool"]`)."""
        name = flat_name(name)
        term = name.removesuffix("_prob")
        if name.endswith("_prob") and term in RESET_TERMS:
            return self.reset.mix.get(term, 0.0)
        return getattr(self.ppo if name in PPO_FIELDS else self, name)

    def set_field(self, name: str, text: str) -> str:
        """Set a settable field from its text (bool: true/false/1/0/yes/no); returns "name old -> new". `name` is
        flat (`clip`, `fall_pool_prob`) or PPO's dotted (`ppo.clip`). ValueError naming the field and the allowed
        ones."""
        kinds = {"bool": bool, "int": int, "float": float}
        settable = self.settable()
        name = flat_name(name)
        if name not in settable:
            known = {f.name for f in fields(self)} | PPO_FIELDS
            why = "has its own flag or fixes the run's shape" if name in known else "is not a field of LLCConfig"
            raise ValueError(f"--set {name}: {why}; settable: {', '.join(sorted(settable))}")
        kind = kinds[settable[name]] if isinstance(settable[name], str) else settable[name]
        try:
            if kind is bool:
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(text)
                value = text.lower() in ("true", "1", "yes")
            else:
                value = kind(float(text)) if kind is int and float(text).is_integer() else kind(text)
        except ValueError:
            raise ValueError(f"--set {name}={text}: expected a {kind.__name__}") from None
        old, term = self.setting(name), name.removesuffix("_prob")
        if name.endswith("_prob") and term in RESET_TERMS:  # a reset term's probability in the mix
            self.reset.mix[term] = value
        else:
            setattr(self.ppo if name in PPO_FIELDS else self, name, value)
        return f"{name} {old} -> {value}"

    def validate(self) -> None:
        if self.num_envs < 2:
            raise ValueError("num_envs must be at least 2")
        self.reset.validate()
        mb = self.ppo.minibatch_size
        if mb > self.batch_size or self.batch_size % mb:
            raise ValueError(f"minibatch_size {mb} must divide num_envs*horizon = {self.batch_size}")
        if self.disc_batch > mb:
            raise ValueError(f"disc_batch {self.disc_batch} exceeds minibatch_size {mb}")
        if not 1 <= self.latent_steps_min < self.latent_steps_max:
            raise ValueError("need 1 <= latent_steps_min < latent_steps_max")
        if not 1 <= self.skill_steps_min < self.skill_steps_max:
            raise ValueError("need 1 <= skill_steps_min < skill_steps_max")
        if not 0.0 <= self.anchor_prob <= 1.0:
            raise ValueError(f"anchor_prob must be in [0, 1], got {self.anchor_prob}")
        if self.skills and not self.network.conditional:
            raise ValueError("a skill LLC needs the conditional discriminator (network.conditional)")

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> LLCConfig:
        """A config from its checkpoint dict, flat (written before PPOConfig and ResetConfig nested) or not."""
        d = nest(d)
        d = {k: v for k, v in d.items() if k in {f.name for f in fields(LLCConfig)}}
        d["network"] = NetworkConfig.from_dict(d.get("network", {}))
        return LLCConfig(**d)


def nest(d: dict) -> dict:
    """A config dict or a preset's overrides with the PPO settings as a PPOConfig and the reset settings as a
    ResetConfig: the flat names (`lr`, `epochs`; `recovery_prob`, `fall_pool_prob`, `reference_prob`, the reset
    terms' probabilities) are moved in, over what `ppo` and `reset` hold."""
    d = nest_ppo(d)
    probs = {k: d.pop(k) for k in list(d) if k.endswith("_prob") and k.removesuffix("_prob") in RESET_TERMS}
    reset = d.get("reset")
    if not isinstance(reset, ResetConfig):
        reset = ResetConfig.from_dict(reset) if reset else ResetConfig(mix=reference_mix())
    mix = {**reset.mix, **{k.removesuffix("_prob"): float(v) for k, v in probs.items()}}
    return {**d, "reset": ResetConfig(**{**asdict(reset), "mix": mix})}


def reference_preset(**overrides) -> LLCConfig:
    """ASE's sizes and hyperparameters (GPU scale)."""
    return LLCConfig(**nest({"preset": "reference", **overrides}))


def cpu_preset(**overrides) -> LLCConfig:
    """Sizes that train on two CPU cores; differences from the reference are listed in this module's doc."""
    base = dict(
        preset="cpu",
        num_envs=256,
        total_samples=50_000_000,
        torch_threads=2,
        minibatch_size=4096,
        epochs=2,
        lr=5e-5,
        disc_batch=1024,
        demo_buffer_size=16384,
        replay_size=32768,
        bf16=True,
        network=NetworkConfig.cpu(),
    )
    base.update(overrides)
    return LLCConfig(**nest(base))


PRESETS = {"reference": reference_preset, "cpu": cpu_preset}
