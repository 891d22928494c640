"""`eval --skills`: are an LLC's named skills distinct, physically right, and reachable from one another?

- A frozen clip classifier (an MLP on the discriminator's 10-frame windows, trained on noisy dataset windows
  and committed beside this file; never used in training) labels the windows of rollouts.
- Per skill: rollouts of `seconds` from standing (default pose), from walking (the walk clip's reference
  state) and from lying (fall-pool poses). Recall = the fraction of its windows the classifier gives the
  skill (after the first `skip_seconds`); a skill is **distinct** when recall >= 0.8 and no other skill takes
  more than 0.2 of its windows. Get-up skills are judged on their lying starts' first `getup_seconds` only
  (after a get-up the character stands, which is another skill's motion).
- Physical signatures: mean horizontal root speed (walk / jog / run should be ~1.0 / 2.8 / 3.6 m/s, in that
  order), idle: the fraction of rollouts below 0.15 m/s for 5 s, punch: peak hand speed, kick: peak foot
  height (against walk's), get-up: fraction up (root > 0.7 m, head > 1.2 m) and median time to it.
- Transitions: every character switches skill every `switch_seconds` in random order (no get-ups); a switch
  succeeds when the new skill is recognised within 1 s and the character does not fall before the next one.
An LLC without named skills is measured on its clip presets (the mean encoder latent of each clip).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from controllers.getup import GetupAssist
from controllers.latents import GETUP_PREFIX, clip_preset
from evaluation.llc import _time_up
from motion.amp import AmpDataset
from sim.env import EnvConfig, HumanoidEnv, ResetConfig

CLASSIFIER_PATH = Path(__file__).resolve().parent / "skill_classifier.pt"


@dataclass
class SkillEvalConfig:
    rollouts: int = 32  # per skill and start
    seconds: float = 10.0
    skip_seconds: float = 1.0  # windows before this are not judged (the skill is starting)
    getup_seconds: float = 3.0  # get-up skills: judged over their lying starts' first seconds
    switch_seconds: float = 3.0
    transition_envs: int = 64
    recognise_seconds: float = 1.0
    seed: int = 0
    nthread: int = 1


# ---------------------------------------------------------------------------------------------- classifier
class ClipClassifier(nn.Module):
    """Standardized window -> clip logits."""

    def __init__(self, window_dim: int, num_clips: int, hidden: tuple[int, ...] = (256, 128)) -> None:
        super().__init__()
        sizes, layers = [window_dim, *hidden], []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], num_clips))
        self.register_buffer("mean", torch.zeros(window_dim))
        self.register_buffer("std", torch.ones(window_dim))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.net((windows - self.mean) / self.std)

    @torch.no_grad()
    def labels(self, windows: np.ndarray) -> np.ndarray:
        return self(torch.as_tensor(np.asarray(windows, dtype=np.float32))).argmax(-1).numpy()


def train_classifier(
    env: HumanoidEnv, steps: int = 3000, noise: float = 0.3, seed: int = 0, windows: int = 40_000
) -> tuple[ClipClassifier, float]:
    """A classifier of the env's clips from their dataset windows with Gaussian noise (`noise` standard
    deviations of each feature) added; clips are drawn uniformly. Returns it and its accuracy on clean windows."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    lib = env.motions
    saved = lib.weights.copy()
    lib.weights = np.full(lib.num_clips, 1.0 / lib.num_clips)
    try:
        data = AmpDataset.of(env)
        x, y = data.sample(windows, rng)
        x_test, y_test = data.sample(max(windows // 10, 100), rng)
    finally:
        lib.weights = saved
    model = ClipClassifier(x.shape[1], lib.num_clips)
    model.mean.copy_(torch.as_tensor(x.mean(0), dtype=torch.float32))
    model.std.copy_(torch.as_tensor(x.std(0) + 1e-3, dtype=torch.float32))
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(xt), (512,), generator=gen)
        xb = xt[idx] + noise * model.std * torch.randn(512, xt.shape[1], generator=gen)
        loss = nn.functional.cross_entropy(model(xb), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    accuracy = float((model.labels(x_test) == y_test).mean())
    return model, accuracy


def save_classifier(model: ClipClassifier, names: list[str], accuracy: float, path: Path = CLASSIFIER_PATH) -> None:
    from sim.observations import OBS_LAYOUT_VERSION

    state = {
        "names": list(names), "accuracy": accuracy, "obs_layout_version": OBS_LAYOUT_VERSION,
        "window_dim": int(model.mean.shape[0]), "state_dict": model.state_dict(),
    }  # fmt: skip
    tmp = Path(path).with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_classifier(names: list[str], window_dim: int, path: Path = CLASSIFIER_PATH) -> ClipClassifier | None:
    """The committed classifier when it was trained on these clips and this window layout, else None."""
    from sim.observations import OBS_LAYOUT_VERSION

    if not Path(path).is_file():
        return None
    state = torch.load(path, weights_only=True)
    if state["names"] != list(names) or state["window_dim"] != window_dim:
        return None
    if state["obs_layout_version"] != OBS_LAYOUT_VERSION:
        return None
    model = ClipClassifier(window_dim, len(names))
    model.load_state_dict(state["state_dict"])
    return model.eval()


# ---------------------------------------------------------------------------------------------- rollouts
def skill_latents(policy: Any, env: HumanoidEnv) -> tuple[np.ndarray, str]:
    """(K, D) one latent per clip of env's library: the LLC's named skill of that name, else the clip preset."""
    skills = getattr(policy, "skills", {}) or {}
    names = env.motions.clip_names
    if skills and all(n in skills for n in names):
        return np.stack([skills[n] for n in names]).astype(np.float32), "named skills"
    dataset = AmpDataset.of(env)
    presets = [clip_preset(policy.encode(dataset.clip_windows(c))) for c in range(len(names))]
    return np.stack(presets).astype(np.float32), "clip presets (this LLC names no skills for these clips)"


def _eval_env(motions: Any, n: int, seed: int, nthread: int) -> HumanoidEnv:
    cfg = EnvConfig(
        num_envs=n, seed=seed, nthread=nthread, early_termination=False, auto_reset=False,
        reset=ResetConfig(mode="mix").with_mix(fall_pool=1.0),  # builds the fall pool; every reset names its kind
    )  # fmt: skip
    return HumanoidEnv(cfg, motions)


def _start(env: HumanoidEnv, starts: np.ndarray, walk_clip: int) -> np.ndarray:
    """Reset every env: 0 standing (default pose), 1 walking (walk clip reference state), 2 lying (fall pool)."""
    if (starts == 0).any():
        env.reset(np.nonzero(starts == 0)[0], mode="default")
    if (starts == 1).any():
        saved = env.start_weights
        w = np.zeros(env.motions.num_clips)
        w[walk_clip] = 1.0
        env.start_weights = w
        env.reset(np.nonzero(starts == 1)[0], mode="reference")
        env.start_weights = saved
    if (starts == 2).any():
        env.reset(np.nonzero(starts == 2)[0], mode="fall_pool")
    return env.obs.copy()


def _body(env: HumanoidEnv, name: str) -> int:
    return env.character.body_index(name) + 1


def _up(pos: np.ndarray, head: int) -> np.ndarray:
    """(n,) standing: root above 0.7 m and head above 1.2 m (bodies `pos` (n, nbody, 3), world)."""
    return (pos[:, 1, 2] > 0.7) & (pos[:, head, 2] > 1.2)


def skill_rollouts(policy: Any, motions: Any, classifier: ClipClassifier, cfg: SkillEvalConfig) -> dict[str, Any]:
    names = motions.clip_names
    K, R = len(names), cfg.rollouts
    n = K * 3 * R
    env = _eval_env(motions, n, cfg.seed, cfg.nthread)
    z_all, source = skill_latents(policy, env)
    skill = np.repeat(np.arange(K), 3 * R)
    starts = np.tile(np.repeat(np.arange(3), R), K)
    walk = names.index("walk") if "walk" in names else 0
    obs = _start(env, starts, walk)
    z = z_all[skill]
    dt = env.control_dt
    T = int(round(cfg.seconds / dt))
    skip, getup_T = int(round(cfg.skip_seconds / dt)), int(round(cfg.getup_seconds / dt))
    labels = np.zeros((T, n), dtype=np.int64)
    root_xy = np.zeros((T + 1, n, 2))
    root_xy[0] = env.backend.qpos[:, :2]
    ids_hand = [_body(env, b) for b in ("right_hand", "left_hand")]
    ids_foot = [_body(env, b) for b in ("right_foot", "left_foot")]
    head = _body(env, "head")
    hand_speed, foot_height = np.zeros(n), np.zeros(n)
    up = np.zeros((T, n), dtype=bool)
    for t in range(T):
        obs = env.step(policy.act(obs, z)).obs
        labels[t] = classifier.labels(env.amp_window())
        pos, _, lin, _ = env.backend.bodies()
        root_xy[t + 1] = env.backend.qpos[:, :2]
        if t >= skip:
            hand_speed = np.maximum(hand_speed, np.linalg.norm(lin[:, ids_hand], axis=-1).max(1))
            foot_height = np.maximum(foot_height, pos[:, ids_foot, 2].max(1))
        up[t] = _up(pos, head)

    speed = np.linalg.norm(np.diff(root_xy, axis=0), axis=-1) / dt  # (T, n)
    per_skill: dict[str, Any] = {}
    confusion = np.zeros((K, K))
    for c, name in enumerate(names):
        mine = skill == c
        if name.startswith(GETUP_PREFIX):
            judged = labels[:getup_T, mine & (starts == 2)]
        else:
            judged = labels[skip:, mine]
        counts = np.bincount(judged.ravel(), minlength=K) / max(judged.size, 1)
        confusion[c] = counts
        by_start = {
            s_name: float((labels[skip:, mine & (starts == s)] == c).mean())
            for s, s_name in enumerate(("standing", "walking", "lying"))
        }
        steady = slice(int(round(3.0 / dt)), T)  # after 3 s: the skill's own pace
        loco = mine & (starts < 2)
        entry = {
            "recall": float(counts[c]),
            "recall_by_start": by_start,
            "most_confused_with": names[int(np.argsort(counts)[-2 if counts.argmax() == c else -1])],
            "mean_speed": float(speed[steady][:, loco].mean()),
            "peak_hand_speed": float(np.median(hand_speed[loco])),
            "peak_foot_height": float(np.median(foot_height[loco])),
        }
        still = speed[int(round(3.0 / dt)) : int(round(8.0 / dt))][:, loco].mean(0) < 0.15
        entry["still_fraction"] = float(still.mean())
        lying = mine & (starts == 2)
        t_up = _time_up(up[:, lying], int(round(1.0 / dt)), T, dt)
        entry["up_from_lying"] = float(np.isfinite(t_up).mean())
        entry["median_up_seconds"] = float(np.nanmedian(t_up)) if np.isfinite(t_up).any() else float("nan")
        others = np.delete(counts, c)
        entry["distinct"] = bool(counts[c] >= 0.8 and (others.max() if len(others) else 0.0) <= 0.2)
        per_skill[name] = entry
    out = {
        "latents": source,
        "skills": per_skill,
        "distinct": [k for k, v in per_skill.items() if v["distinct"]],
        "confusion": {names[c]: {names[j]: round(float(confusion[c, j]), 3) for j in range(K)} for c in range(K)},
    }
    out["signatures"] = _signatures(per_skill)
    return out


SPEEDS = {"walk": 1.0, "jog": 2.8, "run": 3.6}


def _signatures(s: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    gaits = [g for g in SPEEDS if g in s]
    for g in gaits:
        v = s[g]["mean_speed"]
        out[f"{g}_speed"] = {"measured": v, "clip": SPEEDS[g], "within_25pct": bool(abs(v / SPEEDS[g] - 1) <= 0.25)}
    if len(gaits) > 1:
        v = [s[g]["mean_speed"] for g in gaits]
        out["gaits_in_order"] = bool(all(a < b for a, b in zip(v[:-1], v[1:])))
    if "idle" in s:
        out["idle_still_fraction"] = s["idle"]["still_fraction"]
    if "walk" in s:
        for k, field in (("punch", "peak_hand_speed"), ("kick", "peak_foot_height")):
            if k in s:
                out[f"{k}_{field}"] = {k: s[k][field], "walk": s["walk"][field]}
    return out


def transitions(policy: Any, motions: Any, classifier: ClipClassifier, cfg: SkillEvalConfig) -> dict[str, Any]:
    """Switch every character's skill every switch_seconds in random order (no get-ups), from standing."""
    names = motions.clip_names
    pool = [c for c, n in enumerate(names) if not n.startswith(GETUP_PREFIX)]
    n = cfg.transition_envs
    env = _eval_env(motions, n, cfg.seed + 11, cfg.nthread)
    z_all, _ = skill_latents(policy, env)
    rng = np.random.default_rng(cfg.seed + 11)
    obs = env.reset(mode="default")
    dt = env.control_dt
    per = int(round(cfg.switch_seconds / dt))
    within = int(round(cfg.recognise_seconds / dt))
    segments = int(round(cfg.seconds / cfg.switch_seconds))
    current = rng.choice(pool, n)
    head = _body(env, "head")
    ok, total = 0, 0
    for seg in range(segments):
        if seg:
            step = rng.integers(1, len(pool), n)  # another skill than the current one
            current = np.array(pool)[(np.searchsorted(pool, current) + step) % len(pool)]
        seen, fell = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        for t in range(per):
            obs = env.step(policy.act(obs, z_all[current])).obs
            if t < within:
                seen |= classifier.labels(env.amp_window()) == current
            fell |= env.backend.bodies()[0][:, head, 2] < 0.6
        if seg:  # the first segment starts from standing, not from another skill
            ok += int((seen & ~fell).sum())
            total += n
    return {"switches": total, "success": ok / max(total, 1)}


def assisted_getup(policy: Any, motions: Any, cfg: SkillEvalConfig) -> dict[str, float]:
    """Up from lying within `seconds` with `controllers.getup.GetupAssist` on (what the viewer does), per skill
    that is not a get-up: the held skill's anchor, replaced by the posture's get-up while the head is low. {}
    when the LLC names no get-up skill."""
    skills = getattr(policy, "skills", {}) or {}
    held = [n for n in motions.clip_names if n in skills and not n.startswith(GETUP_PREFIX)]
    if not held or not GetupAssist(skills).available:
        return {}
    R = cfg.rollouts
    n = len(held) * R
    env = _eval_env(motions, n, cfg.seed + 23, cfg.nthread)
    z_held = np.repeat(np.stack([skills[k] for k in held]).astype(np.float32), R, axis=0)
    assists = [GetupAssist(skills) for _ in range(n)]
    obs = _start(env, np.full(n, 2), 0)
    dt = env.control_dt
    T = int(round(cfg.seconds / dt))
    head = _body(env, "head")
    up = np.zeros((T, n), dtype=bool)
    pos, quat = env.backend.bodies()[:2]
    for t in range(T):
        z = np.stack([a.latent(z_held[i], pos[i, head, 2], quat[i, 1], dt) for i, a in enumerate(assists)])
        z = z.astype(np.float32)
        obs = env.step(policy.act(obs, z)).obs
        pos, quat = env.backend.bodies()[:2]
        up[t] = _up(pos, head)
    t_up = _time_up(up, int(round(1.0 / dt)), T, dt)
    return {k: float(np.isfinite(t_up[i * R : (i + 1) * R]).mean()) for i, k in enumerate(held)}


def evaluate_skills(policy: Any, motions: Any, cfg: SkillEvalConfig, classifier: ClipClassifier) -> dict[str, Any]:
    out = skill_rollouts(policy, motions, classifier, cfg)
    for name, frac in assisted_getup(policy, motions, cfg).items():
        out["skills"][name]["up_from_lying_assisted"] = frac
    out["transitions"] = transitions(policy, motions, classifier, cfg)
    return out


def skills_summary(r: dict[str, Any]) -> str:
    lines = [f"latents: {r['latents']}; distinct skills: {len(r['distinct'])} of {len(r['skills'])}"]
    lines.append(
        f"{'skill':<16}{'recall':>8}{'confused':>16}{'speed':>8}{'hand v':>8}{'foot z':>8}{'up':>6}{'assisted':>9}"
    )
    for name, s in r["skills"].items():
        lines.append(
            f"{name:<16}{s['recall']:>8.2f}{s['most_confused_with']:>16}{s['mean_speed']:>8.2f}"
            f"{s['peak_hand_speed']:>8.2f}{s['peak_foot_height']:>8.2f}{s['up_from_lying']:>6.2f}"
            + (f"{s['up_from_lying_assisted']:>9.2f}" if "up_from_lying_assisted" in s else f"{'-':>9}")
            + ("  distinct" if s["distinct"] else "")
        )
    t = r.get("transitions")
    if t:
        lines.append(f"transitions: {t['success']:.2f} of {t['switches']} switches recognised within 1 s, no fall")
    return "\n".join(lines)
