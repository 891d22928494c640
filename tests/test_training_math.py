"""The formulas of LLC training against hand-computed values (fast, no simulation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from controllers.networks import Actor, NetworkConfig, encoder_reward, sample_latents, style_reward
from controllers.normalizer import RunningNorm
from training import losses as L
from training.latents import LatentSchedule
from training.replay import ReplayBuffer, WindowBuffer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_gae_by_hand():
    # one env, 3 steps; step 1 ends in a timeout (bootstrap, cut), step 2 is a fall (no bootstrap)
    g, lam = 0.9, 0.5
    r = torch.tensor([[1.0], [2.0], [3.0]])
    v = torch.tensor([[0.5], [1.0], [1.5]])
    nv = torch.tensor([[1.0], [4.0], [7.0]])
    term = torch.tensor([[False], [False], [True]])
    done = torch.tensor([[False], [True], [True]])
    adv = L.gae(r, v, nv, term, done, g, lam)
    d2 = 3.0 - 1.5  # fall: next value zeroed
    d1 = 2.0 + 0.9 * 4.0 - 1.0  # timeout: bootstrapped, recursion cut
    d0 = 1.0 + 0.9 * 1.0 - 0.5
    expected = [d0 + g * lam * d1, d1, d2]
    assert adv[:, 0].tolist() == pytest.approx(expected)


def test_gae_without_episode_ends_is_discounted_sum():
    T, g, lam = 5, 0.99, 0.95
    r, v, nv = torch.rand(T, 2), torch.rand(T, 2), torch.rand(T, 2)
    nv[:-1] = v[1:]  # consistent values when no episode ends
    z = torch.zeros(T, 2, dtype=torch.bool)
    adv = L.gae(r, v, nv, z, z, g, lam)
    deltas = r + g * nv - v
    expected = sum((g * lam) ** k * deltas[k] for k in range(T))
    assert torch.allclose(adv[0], expected, atol=1e-6)


def test_ppo_loss_by_hand():
    old = torch.zeros(4)
    new = torch.log(torch.tensor([1.5, 0.5, 1.1, 0.7]))
    adv = torch.tensor([1.0, 1.0, -2.0, -1.0])
    loss, clip_frac = L.ppo_actor_loss(new, old, adv, clip=0.2)
    # min(r A, clip(r) A): 1.2*1, 0.5*1, 1.1*-2 (-2.2 < -2.2), 0.8*-1
    expected = -(1.2 + 0.5 - 2.2 - 0.8) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert clip_frac.item() == pytest.approx(0.75)  # 1.5, 0.5 and 0.7 lie outside [0.8, 1.2]
    mask = torch.tensor([True, False, False, False])
    assert L.ppo_actor_loss(new, old, adv, 0.2, mask)[0].item() == pytest.approx(-1.2)


def test_value_bound_and_advantage_normalization():
    assert L.value_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0])).item() == pytest.approx(2.5)
    mu = torch.tensor([[1.5, -1.0, 0.3, -3.0]])
    assert L.bound_loss(mu).item() == pytest.approx(0.25 + 4.0)
    adv = torch.tensor([1.0, 3.0, 100.0])
    n = L.normalize_advantages(adv, torch.tensor([True, True, False]))
    assert n[:2].tolist() == pytest.approx([-1.0, 1.0], abs=1e-6)


def test_gaussian_log_prob():
    actor = Actor(3, 2, NetworkConfig(actor_hidden=(4,), style_hidden=(4,), style_dim=2, latent_dim=4))
    mean, a = torch.tensor([[0.0, 1.0]]), torch.tensor([[0.1, 0.9]])
    dist = torch.distributions.Normal(mean, math.exp(-2.9))
    assert actor.log_prob(mean, a).item() == pytest.approx(dist.log_prob(a).sum().item(), rel=1e-6)


def test_gradient_penalty_matches_autograd_on_a_tiny_network():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    x = torch.randn(7, 3, requires_grad=True)
    gp = L.gradient_penalty(net(x).squeeze(-1), x)
    # per-sample input gradients by the chain rule: W2 diag(1 - tanh^2) W1
    w1, b1, w2 = net[0].weight, net[0].bias, net[2].weight
    with torch.no_grad():
        h = torch.tanh(x @ w1.T + b1)
        grads = ((1 - h.square()) * w2) @ w1
    assert gp.item() == pytest.approx(grads.square().sum(-1).mean().item(), rel=1e-5)
    # and it is differentiable w.r.t. the weights (the double backward the discriminator needs)
    gp.backward()
    assert net[0].weight.grad is not None and net[0].weight.grad.abs().sum() > 0
    # a linear discriminator: the penalty is ||w||^2
    lin = torch.nn.Linear(4, 1)
    x = torch.randn(6, 4, requires_grad=True)
    assert L.gradient_penalty(lin(x).squeeze(-1), x).item() == pytest.approx(lin.weight.square().sum().item())


def test_discriminator_bce_and_rewards():
    agent, demo = torch.tensor([0.0, 2.0]), torch.tensor([0.0])
    bce = L.disc_bce(agent, demo)
    expected = 0.5 * ((math.log(2) + math.log(1 + math.exp(2))) / 2 + math.log(2))
    assert bce.item() == pytest.approx(expected, rel=1e-6)
    r = style_reward(torch.tensor([0.0, -100.0, 100.0]))
    assert r.tolist() == pytest.approx([2 * math.log(2), 0.0, -2 * math.log(1e-4)], rel=1e-5, abs=1e-6)
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    mu = torch.tensor([[0.6, 0.8], [-1.0, 0.0]])
    assert encoder_reward(mu, z).tolist() == pytest.approx([0.6, 0.0])
    assert L.encoder_loss(mu, z).item() == pytest.approx(-(0.6 - 1.0) / 2)


def test_latents_are_unit_norm_and_resampled_in_range():
    gen = torch.Generator().manual_seed(0)
    z = sample_latents(1000, 64, gen)
    assert torch.allclose(z.norm(dim=-1), torch.ones(1000), atol=1e-5)
    assert z.mean(0).abs().max() < 0.1  # no preferred direction
    sched = LatentSchedule(50, 8, 1, 150, gen)
    prev, last_change = sched.current(), torch.zeros(50, dtype=torch.long)
    intervals = []
    for t in range(1, 1200):
        z = sched.current()
        changed = (z != prev).any(-1)
        for i in torch.nonzero(changed).flatten().tolist():
            intervals.append(t - last_change[i].item())
            last_change[i] = t
        prev = z
    assert intervals and min(intervals) >= 1 and max(intervals) <= 149
    assert np.mean(intervals) == pytest.approx(75, rel=0.15)
    assert min(intervals) <= 5 and max(intervals) >= 140  # the whole range is used
    # episode starts resample at once
    before = sched.z.clone()
    sched.resample(torch.tensor([True] + [False] * 49))
    assert not torch.equal(before[0], sched.z[0]) and torch.equal(before[1:], sched.z[1:])


def test_diversity_loss_is_zero_where_it_should_be():
    z = torch.tensor([[1.0, 0.0]])
    z2 = torch.tensor([[0.0, 1.0]])  # 0.5 (1 - z.z') = 0.5
    mu = torch.zeros(1, 4)
    # mean squared action change equal to the latent distance (+1e-5): D = 1, loss 0
    step = math.sqrt(0.5 + 1e-5)
    assert L.diversity_loss(mu, mu + step, z, z2).item() == pytest.approx(0.0, abs=1e-10)
    # the clip to [-1, 1] applies before the difference: means beyond the bound change nothing
    assert L.diversity_loss(mu + step, mu + step + 5.0, z, z2).item() == pytest.approx(
        L.diversity_loss(mu + step, torch.ones(1, 4), z, z2).item()
    )
    # no change of action for a different latent: D = 0, loss 1; too much change costs too
    assert L.diversity_loss(mu, mu, z, z2).item() == pytest.approx(1.0)
    assert L.diversity_loss(mu - 1.0, mu + 1.0, z, z2).item() > 1.0


def test_eps_greedy_probabilities():
    p = L.eps_greedy_probs(4096)
    assert p[0].item() == pytest.approx(1 - math.exp(-10), rel=1e-6) and p[-1].item() == 0.0
    assert 0.08 < 1 - p.mean().item() < 0.12  # about 10% deterministic


def test_running_norm_matches_numpy():
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(3.0, 2.0, (100, 3)), rng.normal(-1.0, 0.5, (50, 3))
    norm = RunningNorm(3)
    norm.update(torch.tensor(x1))
    norm.update(torch.tensor(x2))
    allx = np.concatenate([x1, x2])
    assert norm.mean.numpy() == pytest.approx(allx.mean(0), rel=1e-5)
    assert norm.var.numpy() == pytest.approx(allx.var(0), rel=1e-4)
    y = norm(torch.tensor(allx, dtype=torch.float32))
    assert y.mean(0).abs().max() < 1e-3 and y.abs().max() <= 5.0
    assert torch.allclose(norm.denormalize(norm(torch.tensor(x1[:3]))), torch.tensor(x1[:3]), atol=1e-6)


def test_replay_buffer_keeps_everything_until_full_then_one_percent():
    gen = torch.Generator().manual_seed(0)
    rb = ReplayBuffer(1000, 2, keep_prob=0.01)
    rb.add(torch.ones(600, 2), gen)
    assert len(rb) == 600 and rb.total == 600
    rb.add(torch.full((600, 2), 2.0), gen)  # still under 1000 ever stored when it arrived: all enter, wrap
    assert len(rb) == 1000 and rb.total == 1200 and (rb.data == 2.0).all(-1).sum() == 600
    rb.add(torch.full((10000, 2), 3.0), gen)
    kept = rb.total - 1200
    assert 60 <= kept <= 140  # ~1% of 10000
    assert (rb.sample(50, gen).shape) == (50, 2)
    wb = WindowBuffer(4, 1)
    wb.store(torch.arange(6.0)[:, None])
    assert sorted(wb.data[:, 0].tolist()) == [2.0, 3.0, 4.0, 5.0]
    state = wb.state_dict()
    wb2 = WindowBuffer(4, 1)
    wb2.load_state_dict(state)
    assert torch.equal(wb2.data, wb.data) and wb2.head == wb.head and wb2.total == wb.total
