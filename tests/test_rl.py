"""Hand-computed examples for the pure RL functions, and the length-shortcut bandit."""
import math

import pytest
import torch

from recbole_prorl import rl


def close(tensor, expected):
    return torch.allclose(tensor.float(), torch.tensor(expected, dtype=torch.float), atol=1e-6)


def test_reward_centering_hand_example():
    rewards = torch.tensor([[[1.0, 2.0, 0.5], [3.0, 0.0, 0.7]]])  # [1 rollout, 2 steps, 3 components]
    mask = torch.tensor([[1.0, 0.0]])
    mean, std, w = torch.tensor([1.0, 1.0, 0.5]), torch.tensor([2.0, 1.0, 0.1]), torch.ones(3)
    centred = rl.reward_centering(rewards, mask, mean, std, w)
    assert close(centred, [[0.0 / 2 + 1.0 / 1 + 0.0 / 0.1, 0.0]])
    uncentred = rl.reward_centering(rewards, mask, mean, std, w, center=False)
    assert close(uncentred, [[0.5 + 2.0 + 5.0, 0.0]])
    weighted = rl.reward_centering(rewards, mask, mean, std, torch.tensor([1.0, 2.0, 0.0]))
    assert close(weighted, [[2.0, 0.0]])


def test_reward_to_go_with_and_without_discount():
    r = torch.tensor([[1.0, 2.0, 3.0]])
    assert rl.reward_to_go(r).tolist() == [[6.0, 5.0, 3.0, 0.0]]
    assert rl.reward_to_go(r, gamma=0.5).tolist() == [[2.75, 3.5, 3.0, 0.0]]


# one request, three rollouts: A has 2 items, B has 1 item (stops at t=1), C has 2 items
RETURNS = torch.tensor([[[5.0, 3.0, 0.0], [2.0, 0.0, 0.0], [1.0, -1.0, 0.0]]])
ACTIVE = torch.tensor([[[1, 1, 1], [1, 1, 0], [1, 1, 1]]], dtype=torch.bool)


def test_position_baseline_counts_stopping_rollouts_as_active():
    b = rl.position_baseline(RETURNS, ACTIVE)
    assert close(b, [[8 / 3, 2 / 3, 0.0]])


@pytest.mark.parametrize("estimator,expected", [
    ("prorl", [[7 / 3, 7 / 3, 0.0], [-2 / 3, -2 / 3, 0.0], [-5 / 3, -5 / 3, 0.0]]),
    ("rtg", [[5.0, 3.0, 0.0], [2.0, 0.0, 0.0], [1.0, -1.0, 0.0]]),
    ("rf", [[5.0, 5.0, 5.0], [2.0, 2.0, 0.0], [1.0, 1.0, 1.0]]),
    ("grpo", [[7 / 3, 7 / 3, 7 / 3], [-2 / 3, -2 / 3, 0.0], [-5 / 3, -5 / 3, -5 / 3]]),
])
def test_advantages_hand_examples(estimator, expected):
    adv = rl.advantages(RETURNS, ACTIVE, estimator)
    assert close(adv[0], expected)


def test_advantages_without_position_baseline_and_a2c():
    no_psae = rl.advantages(RETURNS, ACTIVE, "prorl", position_specific=False)
    assert close(no_psae[0, 0], [5 - 8 / 3, 3 - 8 / 3, 0 - 8 / 3])
    values = torch.full_like(RETURNS, 1.0)
    assert rl.advantages(RETURNS, ACTIVE, "a2c", values=values)[0, 1].tolist() == [1.0, -1.0, 0.0]
    with pytest.raises(ValueError, match="rl_estimator"):
        rl.advantages(RETURNS, ACTIVE, "ppo")


def test_exact_kl_hand_example_with_impossible_actions():
    logp = torch.log(torch.tensor([[[0.5, 0.5, 0.0]]]))
    ref = torch.log(torch.tensor([[[0.25, 0.75, 0.0]]]))
    kl = rl.kl_penalty(logp, ref, torch.ones(1, 1))
    assert kl.item() == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3))
    assert rl.kl_penalty(logp, ref, torch.zeros(1, 1)).item() == 0.0


def test_kl_gradient_pulls_towards_reference():
    logits = torch.zeros(1, 1, 2, requires_grad=True)
    ref = torch.log(torch.tensor([[[0.9, 0.1]]]))
    rl.kl_penalty(torch.log_softmax(logits, -1), ref, torch.ones(1, 1)).sum().backward()
    assert logits.grad[0, 0, 0] < 0 < logits.grad[0, 0, 1]  # descent raises action 0, as the reference does


def test_policy_loss_hand_example_skips_rollouts_without_decisions():
    logp = torch.tensor([[-1.0, -2.0, 0.0], [-1.0, -1.0, -1.0]])
    adv = torch.tensor([[1.0, 0.5, 0.0], [9.0, 9.0, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    kl = torch.tensor([[0.1, 0.2, 0.0], [1.0, 1.0, 1.0]])
    loss = rl.policy_loss(logp, adv, mask, kl, beta=0.5)
    assert loss.item() == pytest.approx(-((1 * -1 - 0.05) + (0.5 * -2 - 0.1)))


def test_reward_statistics_merge_batches_exactly_and_freeze():
    data = torch.randn(100, 3) * torch.tensor([1.0, 5.0, 0.01]) + 2
    stats = rl.RewardStatistics(3, std_floor=0.1)
    for chunk in data.split(17):
        stats.update(chunk)
    assert torch.allclose(stats.mean, data.mean(0), atol=1e-5)
    assert torch.allclose(stats.std[:2], data.std(0)[:2], atol=1e-4)
    assert stats.std[2].item() == pytest.approx(0.1)  # floored
    stats.frozen = True
    stats.update(torch.full((5, 3), 100.0))
    assert torch.allclose(stats.mean, data.mean(0), atol=1e-5)


def test_pairwise_jaccard():
    paths = torch.tensor([[[1, 2, 0], [2, 3, 0], [1, 2, 0]]])
    lengths = torch.tensor([[2, 2, 2]])
    # pairs: (a,b) 1/3, (a,c) 1, (b,c) 1/3 -> mean 5/9
    assert rl.pairwise_jaccard(paths, lengths, 5).item() == pytest.approx(5 / 9)


def _bandit_length(estimator, center, updates=150, seed=0):
    """Toy policy: one 'continue' logit theta, at most 10 steps, every step pays 1 + noise (positive mean).

    Rewards are standardised with statistics from the first 20 updates (warm-up), as in training.
    """
    torch.manual_seed(seed)
    theta = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([theta], lr=0.05)
    stats, n, g, lmax = rl.RewardStatistics(1), 8, 16, 10
    for step in range(updates):
        p_continue = torch.sigmoid(theta)
        cont = torch.rand(n * g, lmax) < p_continue.detach()
        cont[:, 0] = True  # at least one item, as the policy enforces
        lengths = cont.long().cumprod(1).sum(1)
        steps = torch.arange(lmax + 1).unsqueeze(0)
        mask = steps <= lengths.unsqueeze(1)
        is_item = steps < lengths.unsqueeze(1)
        forced = (steps == lmax)
        step_mask = is_item[:, :lmax].float()
        raw = (1.0 + 0.1 * torch.randn(n * g, lmax, 1)) * step_mask.unsqueeze(-1)
        if step < 20:
            stats.update(raw[step_mask.bool()])
        r = rl.reward_centering(raw, step_mask, stats.mean, stats.std, torch.ones(1), center=center)
        returns = rl.reward_to_go(r)
        logp_item = torch.log(p_continue).expand(n * g, lmax + 1)
        logp_stop = torch.log(1 - p_continue).expand(n * g, lmax + 1)
        logp = torch.where(is_item, logp_item, logp_stop)
        logp = torch.where(forced | (steps == 0), torch.zeros_like(logp), logp)  # not decisions
        adv = rl.advantages(returns.view(n, g, -1), mask.view(n, g, -1), estimator).view(n * g, -1)
        loss = rl.policy_loss(logp, adv, mask.float(), torch.zeros_like(logp), 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    p = torch.sigmoid(theta).item()
    return 1 + sum(p ** t for t in range(1, lmax))  # expected length under the final policy


def test_length_shortcut_rf_grows_prorl_does_not():
    start = 1 + sum(0.5 ** t for t in range(1, 10))
    rf = _bandit_length("rf", center=False)
    prorl = _bandit_length("prorl", center=True)
    assert rf > start + 3, (rf, start)
    assert abs(prorl - start) < 1.0, (prorl, start)
