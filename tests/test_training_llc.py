"""The LLC trainer end to end: learning checks that are fast but real, exact resume, the command line."""

from __future__ import annotations

import copy
import math
import os
import signal
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from controllers.checkpoint import load_llc, read_checkpoint, save_atomic
from controllers.networks import DiscEnc, NetworkConfig, sample_latents
from controllers.normalizer import RunningNorm
from tests.fakes import FakeDataset, FakeEnv, llc_trainer_on
from training import losses as L
from training.config import LLCConfig, cpu_preset
from training.llc import LLCTrainer

ROOT = Path(__file__).resolve().parent.parent
WALK = ROOT.parent / "shared" / "motions" / "deepmimic" / "humanoid3d_walk.txt"
TINY = NetworkConfig(actor_hidden=(64, 32), critic_hidden=(64, 32), disc_hidden=(64, 32), style_hidden=(32,))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_config(num_envs: int, character: str = "fake", **kw) -> LLCConfig:
    base = dict(
        character=character, num_envs=num_envs, horizon=16, minibatch_size=num_envs * 8, disc_batch=64, epochs=2,
        demo_buffer_size=512, demo_refresh=64, replay_size=1024, torch_threads=1, network=TINY, lr=3e-4,
    )  # fmt: skip
    base.update(kw)
    return cpu_preset(**base)


# ---------------------------------------------------------------------------- learning checks (no physics)
def test_discriminator_separates_dataset_from_perturbed_copies():
    torch.manual_seed(0)
    env, rng, gen = FakeEnv(num_amp_frames=4), np.random.default_rng(0), torch.Generator().manual_seed(0)
    data = FakeDataset(env)

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        demo = torch.as_tensor(data.sample(n, rng)[0])
        fake = torch.as_tensor(data.sample(n, rng)[0])
        fake = fake + torch.randn(fake.shape, generator=gen)  # perturbed copies of dataset windows
        return demo, fake

    de, norm = DiscEnc(env.amp_obs_dim * 4, TINY), RunningNorm(env.amp_obs_dim * 4)
    opt = torch.optim.Adam(de.parameters(), lr=1e-3)
    for _ in range(300):
        demo, fake = batch(128)
        norm.update(torch.cat([demo, fake]))
        demo_n = norm(demo).requires_grad_(True)
        demo_logit, fake_logit = de.disc_logit(demo_n), de.disc_logit(norm(fake))
        loss = (
            L.disc_bce(fake_logit, demo_logit)
            + 5.0 * L.gradient_penalty(demo_logit, demo_n)
            + 0.01 * de.logit.weight.square().sum()
            + 1e-4 * L.weights_sq(de.disc_weights())
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    demo, fake = batch(1000)
    with torch.no_grad():
        acc_demo = (de.disc_logit(norm(demo)) > 0).float().mean().item()
        acc_fake = (de.disc_logit(norm(fake)) < 0).float().mean().item()
    assert acc_demo > 0.9 and acc_fake > 0.9, (acc_demo, acc_fake)


def test_encoder_recovers_latents_on_synthetic_data():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    net = replace(TINY, latent_dim=8, disc_hidden=(128, 64))
    mix = torch.randn(8, 40, generator=gen)  # windows are a fixed nonlinear function of the latent, plus noise

    def windows(z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z @ mix) + 0.05 * torch.randn(z.shape[0], 40, generator=gen)

    de = DiscEnc(40, net)
    opt = torch.optim.Adam(de.parameters(), lr=2e-3)
    for _ in range(400):
        z = sample_latents(256, 8, gen)
        loss = L.encoder_loss(de(windows(z))[1], z)
        opt.zero_grad()
        loss.backward()
        opt.step()
    z = sample_latents(1000, 8, gen)
    with torch.no_grad():
        align = (de(windows(z))[1] * z).sum(-1)
    assert align.mean() > 0.9 and (align > 0.7).float().mean() > 0.9, align.mean()


def test_trainer_runs_and_logs_on_a_fake_env(tmp_path):
    cfg = tiny_config(8, checkpoint_every=2)
    trainer = llc_trainer_on(cfg, FakeEnv(8, num_amp_frames=4, episode_steps=20))
    stats = trainer.train(3, tmp_path, progress=False)
    for key in ("reward/disc", "reward/enc", "disc/agent_acc", "disc/demo_acc", "enc/alignment",
                "episode/length", "episode/fall_rate", "loss/diversity", "perf/samples_per_s"):  # fmt: skip
        assert key in stats and math.isfinite(stats[key]), key
    assert trainer.global_step == 3 * cfg.batch_size
    assert (tmp_path / "checkpoint.pt").is_file() and (tmp_path / "llc.pt").is_file()
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    pol = load_llc(tmp_path / "llc.pt", character="fake", obs_layout_version=trainer.checkpoint()["obs_layout_version"])
    a = pol.act(np.zeros((2, trainer.env.obs_dim), np.float32), sample_latents(2, 64).numpy())
    assert a.shape == (2, trainer.env.action_dim)
    # the first minibatch sees the rollout's own policy: log-probs recomputed in the update match exactly
    trainer2 = llc_trainer_on(cfg, FakeEnv(8, num_amp_frames=4, episode_steps=20))
    buf = trainer2.rollout()
    with torch.no_grad():
        o = trainer2.obs_norm(buf["obs"].reshape(-1, trainer2.env.obs_dim))
        mean = trainer2.actor_mean(o, buf["z"].reshape(-1, 64))
        logp = trainer2.actor.log_prob(mean, buf["actions"].reshape(-1, trainer2.env.action_dim))
    assert torch.allclose(logp, buf["logp"].reshape(-1), atol=1e-4)


def test_snapshots_keep_the_weights_every_n_iterations_across_a_resume(tmp_path):
    cfg = tiny_config(8, checkpoint_every=1, snapshot_every=2)
    a = llc_trainer_on(cfg, FakeEnv(8, num_amp_frames=4, episode_steps=20))
    a.train(5, tmp_path, progress=False)
    b = llc_trainer_on(cfg, FakeEnv(8, num_amp_frames=4, episode_steps=20))
    b.load(tmp_path / "checkpoint.pt")
    actors = {}

    def keep(i: int, stats: dict) -> None:
        actors[i] = copy.deepcopy(b.actor.state_dict())

    b.train(7, tmp_path, progress=False, on_iteration=keep)
    # iterations 2, 4 and 6; a resume keeps the schedule (no extra snapshot at its first save)
    snaps = sorted((tmp_path / "snapshots").glob("*.pt"))
    assert [p.name for p in snaps] == [f"llc_{i * cfg.batch_size:012d}.pt" for i in (2, 4, 6)]
    six = torch.load(snaps[-1], weights_only=True)
    assert six["kind"] == "llc" and "critic" not in six  # inference weights, as llc.pt
    assert all(torch.equal(v, actors[6][k]) for k, v in six["actor"].items())
    assert not all(torch.equal(v, actors[7][k]) for k, v in six["actor"].items())


def comparable(stats: dict) -> dict:
    """Statistics without timings, NaN made comparable."""
    return {k: "nan" if math.isnan(v) else v for k, v in stats.items() if not k.startswith("perf/")}


def run_and_resume(make_env, cfg: LLCConfig, tmp_path: Path, first: int, total: int, interrupt: bool = False) -> None:
    """Uninterrupted run vs run stopped after `first` iterations and resumed in a fresh trainer and env."""
    stats_a: dict[int, dict] = {}
    a = llc_trainer_on(cfg, make_env())
    a.train(total, tmp_path / "a", progress=False, on_iteration=lambda i, s: stats_a.__setitem__(i, s))

    stats_b: dict[int, dict] = {}

    def on_iteration(i: int, s: dict) -> None:
        stats_b[i] = s
        if interrupt and i == first:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: the trainer finishes this iteration, saves and stops

    b = llc_trainer_on(cfg, make_env())
    if interrupt:
        with pytest.raises(KeyboardInterrupt):
            b.train(total, tmp_path / "b", progress=False, on_iteration=on_iteration)
    else:
        b.train(first, tmp_path / "b", progress=False, on_iteration=on_iteration)
    assert b.iteration == first
    del b
    for it in range(1, first + 1):  # same seed, same numbers
        assert comparable(stats_a[it]) == comparable(stats_b[it]), it
    env = make_env()
    env.reset()
    env.step(np.zeros((cfg.num_envs, env.action_dim), np.float32))  # a different state: the checkpoint must win
    c = llc_trainer_on(cfg, env)
    c.load(tmp_path / "b" / "checkpoint.pt")
    assert c.iteration == first
    stats_c: dict[int, dict] = {}
    c.train(total, tmp_path / "b", progress=False, on_iteration=lambda i, s: stats_c.__setitem__(i, s))

    for it in range(first + 1, total + 1):
        assert comparable(stats_a[it]) == comparable(stats_c[it]), it
    for name in ("actor", "critic", "disc_enc", "obs_norm", "amp_norm", "value_norm"):
        sa, sc = getattr(a, name).state_dict(), getattr(c, name).state_dict()
        assert all(torch.equal(sa[k], sc[k]) for k in sa), name
    assert torch.equal(a.obs, c.obs) and a.global_step == c.global_step


def test_resume_continues_exactly_on_a_fake_env(tmp_path):
    cfg = tiny_config(8, checkpoint_every=1)
    run_and_resume(lambda: FakeEnv(8, num_amp_frames=4, episode_steps=20), cfg, tmp_path, first=2, total=4)


def test_ctrl_c_saves_an_exact_resume_point(tmp_path):
    cfg = tiny_config(8, checkpoint_every=100)  # no periodic checkpoint before the interrupt
    run_and_resume(lambda: FakeEnv(8, num_amp_frames=4, episode_steps=20), cfg, tmp_path, 2, 3, interrupt=True)


def test_compact_state_resumes_without_buffers(tmp_path):
    cfg = tiny_config(8, checkpoint_every=100)
    a = llc_trainer_on(cfg, FakeEnv(8, num_amp_frames=4, episode_steps=20))
    a.train(2, None, progress=False)
    full, compact = a.save(tmp_path / "full.pt"), a.save(tmp_path / "compact.pt", buffers=False)
    assert compact.stat().st_size < full.stat().st_size
    b = llc_trainer_on(cfg, FakeEnv(8, num_amp_frames=4, episode_steps=20))
    b.load(compact)
    assert b.iteration == 2 and len(b.replay) == 0 and len(b.demo) == 0
    for name in ("actor", "critic", "disc_enc", "obs_norm", "amp_norm", "value_norm"):
        sa, sb = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), name
    stats = b.train_iteration()  # refills the dataset buffer, fills the replay buffer
    assert np.isfinite(stats["loss/total"]) and len(b.demo) > 0 and len(b.replay) > 0


# ---------------------------------------------------------------------------- the humanoid
@pytest.fixture(scope="module")
def walk_library():
    if not WALK.is_file():
        pytest.skip(f"{WALK} not present")
    from motion.library import MotionLibrary
    from sim.character import load_character

    return MotionLibrary.from_path(WALK, load_character("humanoid"))


def humanoid_env(n: int, motions):
    from sim.env import EnvConfig, HumanoidEnv

    return HumanoidEnv(EnvConfig(num_envs=n, seed=0, nthread=1), motions)


def test_resume_continues_exactly_on_the_humanoid(tmp_path, walk_library):
    cfg = tiny_config(8, character="humanoid", checkpoint_every=1)
    run_and_resume(lambda: humanoid_env(8, walk_library), cfg, tmp_path, first=1, total=2)


def test_ppo_raises_the_style_reward_on_the_humanoid():
    """PPO against a fixed discriminator: the dataset is the humanoid holding its default pose (recorded from
    the simulator), the discriminator is trained for a few iterations (actor frozen), then frozen; 40 PPO
    iterations of the trainer must raise the style reward of the rollouts clearly above its start."""
    from sim.env import EnvConfig, HumanoidEnv, ResetConfig

    ref = HumanoidEnv(EnvConfig(num_envs=64, seed=1, nthread=1, reset=ResetConfig(mode="default")), None)
    ref.reset()
    hold = np.tile((-ref.action_offset / ref.action_scale).astype(np.float32), (64, 1))  # PD targets = default
    windows = np.concatenate([ref.step(hold).amp_obs for _ in range(40)][10:])

    env = HumanoidEnv(EnvConfig(num_envs=64, seed=0, nthread=1, reset=ResetConfig(mode="default")), None)
    held = SimpleNamespace(sample=lambda n, rng: (windows[rng.integers(0, len(windows), n)], np.zeros(n, np.int64)))
    cfg = tiny_config(64, character="humanoid", minibatch_size=512, disc_batch=128, enc_weight=0.0, style_weight=1.0)
    trainer = LLCTrainer(cfg, env, dataset=held)

    def freeze(module: torch.nn.Module, frozen: bool) -> None:
        for p in module.parameters():
            p.requires_grad_(not frozen)

    freeze(trainer.actor, True)
    for _ in range(3):  # discriminator (and critic) only
        trainer.train_iteration()
    freeze(trainer.actor, False)
    freeze(trainer.disc_enc, True)
    trainer.amp_norm.update = lambda x: None  # a fixed reward function from here on
    rewards = [trainer.train_iteration()["reward/disc"] for _ in range(40)]
    start, end = np.mean(rewards[:3]), np.mean(rewards[-5:])
    print(f"style reward {start:.3f} -> {end:.3f}")
    assert end > 1.3 * start, rewards


# ---------------------------------------------------------------------------- command line
def test_cli_errors_are_clear(tmp_path, capsys):
    from training.cli import main

    assert main(["hlc"]) == 2
    assert "HLC" in capsys.readouterr().err
    assert main(["llc", "--motions", str(tmp_path / "nope.txt"), "--iterations", "1"]) == 2
    err = capsys.readouterr().err
    assert "nope.txt" in err and "Traceback" not in err
    assert main(["llc", "--resume", str(tmp_path / "missing.pt")]) == 2
    assert "missing.pt: no such checkpoint file" in capsys.readouterr().err
    assert main(["llc", "--motions", str(WALK), "--envs", "1"]) == 2
    assert "num_envs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["llc", "--hidden", "512,x"])
    assert "comma-separated layer sizes" in capsys.readouterr().err


def test_cli_trains_and_resumes(tmp_path, walk_library, capsys):
    from training.cli import main

    out = tmp_path / "run"
    args = ["llc", "--motions", str(WALK), "--envs", "4", "--out", str(out), "--no-progress", "--threads", "1"]
    args += ["--hidden", "32,16"]
    assert main([*args, "--iterations", "1"]) == 0
    assert (out / "checkpoint.pt").is_file() and (out / "llc.pt").is_file()
    assert (out / "llc.pt").stat().st_size < 10e6
    assert main(["llc", "--resume", str(out / "checkpoint.pt"), "--iterations", "2", "--no-progress"]) == 0
    assert "resumed" in capsys.readouterr().out
    ckpt = read_checkpoint(out / "checkpoint.pt")
    assert ckpt["train"]["iteration"] == 2 and ckpt["character"] == "humanoid" and ckpt["config"]["preset"] == "cpu"
    assert tuple(ckpt["network"]["actor_hidden"]) == (32, 16) == tuple(ckpt["network"]["disc_hidden"])
    compact = tmp_path / "state.pt"
    assert main(["llc", "--resume", str(out / "checkpoint.pt"), "--write-compact", str(compact)]) == 0
    state = read_checkpoint(compact)
    assert state["train"]["iteration"] == 2 and state["train"]["replay"] is None
    assert compact.stat().st_size < (out / "checkpoint.pt").stat().st_size
    pol = load_llc(out / "llc.pt", character="humanoid")
    assert pol.act(np.zeros((1, pol.obs_dim), np.float32), sample_latents(1, 64).numpy()).shape == (1, 28)


# ---------------------------------------------------------------------------- low-style termination, resume
def test_low_style_termination_ends_episodes_the_discriminator_rejects():
    cfg = tiny_config(8, low_style_steps=10)
    env = FakeEnv(8, num_amp_frames=4, episode_steps=1000)
    trainer = llc_trainer_on(cfg, env)
    with torch.no_grad():
        trainer.disc_enc.logit.weight.zero_()
        trainer.disc_enc.logit.bias.fill_(-10.0)  # D ~ 0: every window looks fake
    buf = trainer.rollout()
    ends = buf["terminated"].float().sum(1)  # per step
    assert ends[:9].sum() == 0 and ends[9] == 8  # all at the 10th low step, none earlier
    assert buf["stats"]["episode/style_terminations"] == 1.0 and buf["stats"]["episode/length"] == 10
    assert (env.progress == cfg.ppo.horizon - 10).all()  # new episodes began after the 10th step
    # inside a grace period nothing ends
    env2 = FakeEnv(8, num_amp_frames=4, episode_steps=1000)
    env2.in_grace = lambda: np.ones(8, dtype=bool)
    t2 = llc_trainer_on(cfg, env2)
    t2.disc_enc.load_state_dict(trainer.disc_enc.state_dict())
    assert not t2.rollout()["terminated"].any()
    # switched off: nothing ends
    t3 = llc_trainer_on(replace(cfg, low_style_termination=False), FakeEnv(8, num_amp_frames=4, episode_steps=1000))
    t3.disc_enc.load_state_dict(trainer.disc_enc.state_dict())
    assert not t3.rollout()["terminated"].any()


def test_resume_applies_changeable_flags_and_refuses_fixed_ones():
    from training.cli import apply_resume_overrides, parse_args

    cfg = tiny_config(8)
    args = parse_args(["--resume", "x.pt", "--lr", "1e-5", "--threads", "2", "--checkpoint-every", "7"])
    changes = apply_resume_overrides(cfg, args)
    assert cfg.ppo.lr == 1e-5 and cfg.torch_threads == 2 and cfg.checkpoint_every == 7 and len(changes) == 3
    bf16 = replace(tiny_config(8), bf16=True)  # numerics only: a resume may switch it off
    assert apply_resume_overrides(bf16, parse_args(["--resume", "x.pt", "--no-bf16"])) == ["bf16 True -> False"]
    assert bf16.bf16 is False
    for flags in (["--envs", "16"], ["--hidden", "32,32"], ["--character", "humanoid_sword_shield"]):
        with pytest.raises(ValueError, match="cannot change on resume"):
            apply_resume_overrides(tiny_config(8), parse_args(["--resume", "x.pt", *flags]))


def test_a_resume_may_take_larger_batches_and_the_discriminator_share_follows():
    from training.cli import apply_resume_overrides, build_config, parse_args

    cfg = tiny_config(8)  # 8 x 16 = 128 samples, minibatch 64, disc 64
    changes = apply_resume_overrides(cfg, parse_args(["--resume", "x.pt", "--horizon", "32", "--minibatch", "128"]))
    assert (cfg.batch_size, cfg.ppo.minibatch_size, cfg.disc_batch) == (256, 128, 32)
    assert changes == ["horizon 16 -> 32", "minibatch_size 64 -> 128", "disc_batch 64 -> 32"]
    cfg.validate()
    same = tiny_config(8)  # no batch flag: the recorded discriminator share stays
    assert apply_resume_overrides(same, parse_args(["--resume", "x.pt", "--horizon", "32"])) == ["horizon 16 -> 32"]
    assert same.disc_batch == 64
    fresh = build_config(parse_args(["--horizon", "64", "--minibatch", "8192"]))
    assert (fresh.batch_size, fresh.ppo.minibatch_size, fresh.disc_batch) == (16384, 8192, 2048)
    with pytest.raises(ValueError, match="must divide"):
        build_config(parse_args(["--minibatch", "5000"])).validate()  # checked, not silently rounded


def test_resume_applies_a_new_learning_rate_to_the_optimizer(tmp_path):
    cfg = tiny_config(8)
    a = llc_trainer_on(cfg, FakeEnv(8, num_amp_frames=4))
    a.train(1, None, progress=False)
    a.save(tmp_path / "c.pt")
    b = llc_trainer_on(replace(cfg, ppo=replace(cfg.ppo, lr=1e-6)), FakeEnv(8, num_amp_frames=4))
    b.load(tmp_path / "c.pt")
    assert all(g["lr"] == 1e-6 for g in b.optimizer.param_groups)


def test_a_layout_1_run_resumes_with_upgraded_discriminator_features(tmp_path, walk_library):
    """Layout 2 changed how hinges enter the discriminator; a layout-1 run continues with its windows converted
    and the normalizer of the changed columns re-estimated from the dataset."""
    from sim.observations import changed_amp_columns

    cfg = tiny_config(4, character="humanoid", disc_batch=32)
    a = LLCTrainer(cfg, humanoid_env(4, walk_library))
    a.train(1, None, progress=False)
    ch, frames = a.env.character, a.env.num_amp_frames
    ckpt = a.checkpoint()
    # the same run written by the old code: each hinge's angle in all six of its slots
    hist = ckpt["train"]["env_state"]["amp_hist"].copy()
    flat = hist.reshape(4, -1).copy()
    cols = changed_amp_columns(ch, frames, from_version=1).reshape(-1, 6)
    angle = np.arctan2(-flat[:, cols[:, 2]], flat[:, cols[:, 0]])  # rotation about +y: R x = (cos, 0, -sin)
    flat[:, cols] = angle[..., None]
    ckpt["train"]["env_state"]["amp_hist"] = flat.reshape(hist.shape)
    ckpt["obs_layout_version"] = 1
    save_atomic(ckpt, tmp_path / "v1.pt")
    b = LLCTrainer(cfg, humanoid_env(4, walk_library))
    b.load(tmp_path / "v1.pt")
    np.testing.assert_allclose(b.env.amp_hist, hist, atol=1e-6)
    changed = torch.as_tensor(cols.reshape(-1))
    keep = torch.ones(a.amp_norm.mean.shape[0], dtype=torch.bool)
    keep[changed] = False
    assert torch.equal(b.amp_norm.mean[keep], a.amp_norm.mean[keep])
    assert (b.amp_norm.mean[changed].abs() <= 1).all() and (b.amp_norm.var[changed] <= 1).all()  # 6D statistics
    assert np.isfinite(b.train_iteration()["loss/total"])


def test_bf16_autocast_only_where_the_cpu_has_it(monkeypatch):
    from training import llc as llc_module
    from training.precision import cpu_flags

    avx2 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"
    zen4 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n"
    arm = "processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n"
    assert "avx2" in cpu_flags(avx2) and "avx512_bf16" not in cpu_flags(avx2)
    assert "avx512_bf16" in cpu_flags(zen4) and "bf16" in cpu_flags(arm)
    cfg = replace(tiny_config(8), bf16=True)
    monkeypatch.setattr(llc_module, "cpu_bf16_native", lambda: False)
    assert llc_trainer_on(cfg, FakeEnv(8, num_amp_frames=4)).bf16 is False
    monkeypatch.setattr(llc_module, "cpu_bf16_native", lambda: True)
    assert llc_trainer_on(cfg, FakeEnv(8, num_amp_frames=4)).bf16 is True
    assert llc_trainer_on(replace(cfg, bf16=False), FakeEnv(8, num_amp_frames=4)).bf16 is False


def test_set_changes_training_settings_fresh_and_on_resume():
    from training.cli import apply_resume_overrides, build_config, env_config, parse_args

    cfg = build_config(parse_args(["--set", "div_coef=0.05", "--set", "low_style_termination=false",
                                   "--set", "low_style_steps=20"]))  # fmt: skip
    assert cfg.div_coef == 0.05 and cfg.low_style_termination is False and cfg.low_style_steps == 20
    mix = build_config(parse_args(["--set", "fall_pool_prob=0.3", "--set", "recovery_prob=0.5"]))
    reset = env_config(mix, seed=0, nthread=1, device="cpu").reset  # the reset mix reaches the environment
    assert reset.mix == {"recovery": 0.5, "fall_pool": 0.3, "reference": 0.5}  # the draw order stays
    with pytest.raises(ValueError, match="fall_pool_prob must be in"):
        build_config(parse_args(["--set", "fall_pool_prob=1.5"])).validate()
    resumed = tiny_config(8)
    changes = apply_resume_overrides(resumed, parse_args(["--resume", "x.pt", "--set", "enc_coef=2.5"]))
    assert resumed.enc_coef == 2.5 and changes == ["enc_coef 5.0 -> 2.5"]
    # PPO's settings by their flat or dotted names, the reset mix by `<term>_prob`, on a resume too
    args = parse_args(
        ["--resume", "x.pt", "--set", "clip=0.1", "--set", "ppo.gamma=0.98", "--set", "fall_pool_prob=0.3"]
    )
    changes = apply_resume_overrides(resumed, args)
    assert changes == ["clip 0.2 -> 0.1", "gamma 0.99 -> 0.98", "fall_pool_prob 0.1 -> 0.3"]
    assert (resumed.ppo.clip, resumed.ppo.gamma, resumed.reset.mix["fall_pool"]) == (0.1, 0.98, 0.3)
    for flag, message in (("num_envs=8", "its own flag or fixes the run's shape"), ("nope=1", "not a field"),
                          ("epochs=3", "its own flag"), ("ppo.lr=1", "its own flag"),
                          ("div_coef=abc", "expected a float"), ("eps_greedy=maybe", "expected a bool"),
                          ("div_coef", "expected NAME=VALUE")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            build_config(parse_args(["--set", flag]))


def test_cli_reports_a_bad_setting_in_one_line(capsys):
    from training.cli import train_llc

    assert train_llc(["--set", "hidden=3", "--iterations", "1"]) == 2
    err = capsys.readouterr().err
    assert "--set hidden" in err and "settable:" in err and "Traceback" not in err


def test_flat_config_dicts_of_older_checkpoints_load_nested():
    """Checkpoints written before PPOConfig and ResetConfig were nested hold their fields flat (every committed
    state): they load into the nested config with the same values, and the reset mix keeps its draw order."""
    flat = {k: v for k, v in tiny_config(8).to_dict().items() if k not in ("ppo", "reset")}
    flat.update(horizon=16, minibatch_size=64, epochs=2, lr=3e-4, clip=0.1, gamma=0.98, normalize_value=True,
                recovery_prob=0.25, fall_pool_prob=0.3, reference_prob=0.7)  # fmt: skip
    cfg = LLCConfig.from_dict(flat)
    assert (cfg.ppo.horizon, cfg.ppo.minibatch_size, cfg.ppo.epochs, cfg.ppo.lr) == (16, 64, 2, 3e-4)
    assert (cfg.ppo.clip, cfg.ppo.gamma, cfg.batch_size) == (0.1, 0.98, 128)
    assert list(cfg.reset.mix.items()) == [("recovery", 0.25), ("fall_pool", 0.3), ("reference", 0.7)]
    assert LLCConfig.from_dict(cfg.to_dict()) == cfg  # and the nested dict a checkpoint now holds
    assert "lr" not in cfg.to_dict() and cfg.to_dict()["ppo"]["lr"] == 3e-4
    older = {k: v for k, v in flat.items() if not k.endswith("_prob")}  # before the reset mix was a setting
    assert LLCConfig.from_dict(older).reset.mix == {"recovery": 0.2, "fall_pool": 0.1, "reference": 0.5}
    for state in sorted(ROOT.glob("checkpoints/llc*_state.pt")):  # the committed resumable states
        saved = torch.load(state, map_location="cpu", weights_only=True)["config"]
        cfg = LLCConfig.from_dict(saved)
        if "ppo" in saved:  # written since the nesting: it round-trips
            assert cfg.to_dict() == saved and cfg.setting("fall_pool_prob") == 0.3, state
        else:
            assert cfg.setting("fall_pool_prob") == saved["fall_pool_prob"] and cfg.ppo.lr == saved["lr"], state
