"""The rectified policy gradient as small pure functions over tensors (paper §3.2–3.3, Eqs. 6–9).

Shapes: N requests, G rollouts each, L = max_path_len item steps, T = L + 1 decisions (the last one
possible decision is STOP), K reward components (IoI, IoR, CTR). A rollout with ``len`` items makes
decisions t = 0..len: items at t < len, STOP at t = len.
"""
import torch

ESTIMATORS = ("prorl", "rf", "rtg", "grpo", "a2c")


def reward_centering(rewards, mask, mean, std, weights, center=True):
    """r̃_t = Σ_k w_k (r_t^k − μ_k) / σ_k on real steps (mask), 0 elsewhere; center=False drops μ_k ("w/o SRC").

    rewards [..., L, K], mask [..., L] -> [..., L]
    """
    z = (rewards - mean) / std if center else rewards / std
    return (z * weights).sum(-1) * mask


def reward_to_go(step_rewards, gamma=1.0):
    """G_t = Σ_{ℓ≥t} γ^{ℓ−t} r̃_ℓ for t = 0..L, with G_L = 0 (nothing follows the last decision).

    step_rewards [..., L] (0 beyond a path's end) -> [..., L+1]; G at a rollout's STOP step is 0.
    """
    returns = torch.zeros(*step_rewards.shape[:-1], step_rewards.size(-1) + 1, dtype=step_rewards.dtype,
                          device=step_rewards.device)
    for t in range(step_rewards.size(-1) - 1, -1, -1):  # L <= 10 steps
        returns[..., t] = step_rewards[..., t] + gamma * returns[..., t + 1]
    return returns


def position_baseline(returns, active):
    """b_t = Σ_j 1[active_jt] G_jt / Σ_j 1[active_jt] over the G rollouts of one request (0 if none).

    returns, active [N, G, T] -> [N, T]; a rollout that stops at t is active at t with G_t = 0.
    """
    active = active.to(returns.dtype)
    return (returns * active).sum(1) / active.sum(1).clamp(min=1)


def advantages(returns, active, estimator="prorl", position_specific=True, values=None):
    """Â_t per estimator, 0 on inactive decisions. returns, active [N, G, T] -> [N, G, T].

    prorl: G_t − b_t (b_t = position_baseline; position_specific=False: b = group mean of G_0, "w/o PSAE")
    rtg: G_t     rf: G_0 on every step     grpo: G_0 − mean_j G_0     a2c: G_t − V(s_t) (values [N, G, T])
    """
    path_return = returns[..., :1].expand_as(returns)
    if estimator == "prorl":
        if position_specific:
            adv = returns - position_baseline(returns, active).unsqueeze(1)
        else:
            adv = returns - returns[..., 0].mean(1, keepdim=True).unsqueeze(2)
    elif estimator == "rtg":
        adv = returns
    elif estimator == "rf":
        adv = path_return
    elif estimator == "grpo":
        adv = path_return - returns[..., :1].mean(1, keepdim=True)
    elif estimator == "a2c":
        if values is None:
            raise ValueError("a2c needs critic values")
        adv = returns - values
    else:
        raise ValueError(f"rl_estimator must be one of {ESTIMATORS}, got '{estimator}'")
    return adv * active


def kl_penalty(log_probs, ref_log_probs, mask):
    """KL_t = Σ_v π(v|s_t) (log π(v|s_t) − log π_ref(v|s_t)), exact over the action vocabulary.

    log_probs, ref_log_probs [B, T, V] (−inf = impossible action) ; mask [B, T] -> [B, T]
    """
    p = log_probs.exp()
    diff = torch.where(p > 0, log_probs - ref_log_probs, torch.zeros_like(log_probs))
    return (p * diff).sum(-1) * mask


def policy_loss(action_log_probs, advantages, mask, kl, beta):
    """L = −(1/N_valid) Σ_rollouts Σ_t [Â_t log π(a_t|s_t) − β KL_t], N_valid = rollouts with ≥ 1 decision.

    action_log_probs, advantages, mask, kl [B, T] -> scalar
    """
    per_rollout = ((advantages.detach() * action_log_probs - beta * kl) * mask).sum(-1)
    valid = mask.any(-1)
    return -(per_rollout * valid).sum() / valid.sum().clamp(min=1)


def pairwise_jaccard(paths, lengths, vocab_size):
    """Mean item-set Jaccard over the pairs of one request's rollouts. paths [N, G, L] -> [N]."""
    n, g, l = paths.shape
    inside = torch.arange(l).view(1, 1, -1) < lengths.unsqueeze(-1)
    sets = torch.zeros(n, g, vocab_size)
    sets.scatter_(2, paths * inside, 1.0)
    sets[..., 0] = 0
    inter = sets @ sets.transpose(1, 2)
    size = sets.sum(-1)
    union = (size.unsqueeze(2) + size.unsqueeze(1) - inter).clamp(min=1)
    off_diagonal = ~torch.eye(g, dtype=torch.bool).unsqueeze(0)
    return ((inter / union) * off_diagonal).sum((1, 2)) / max(1, g * (g - 1))


class RewardStatistics:
    """Global mean/std per reward component over real steps, accumulated during warm-up, then frozen.

    Batches are merged exactly (Chan et al.), so the result equals the statistics of all steps seen.
    """

    def __init__(self, num_components, std_floor=0.1):
        self.count = torch.zeros(())
        self.mean = torch.zeros(num_components)
        self.m2 = torch.zeros(num_components)
        self.std_floor = std_floor
        self.frozen = False

    def update(self, values):
        """values [M, K] of real steps; ignored once frozen."""
        if self.frozen or values.numel() == 0:
            return
        n_b = torch.tensor(float(values.size(0)))
        mean_b = values.mean(0)
        m2_b = ((values - mean_b) ** 2).sum(0)
        total = self.count + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * n_b / total
        self.m2 = self.m2 + m2_b + delta ** 2 * self.count * n_b / total
        self.count = total

    @property
    def std(self):
        var = self.m2 / (self.count - 1).clamp(min=1)
        return var.sqrt().clamp(min=self.std_floor)

    def state_dict(self):
        return {"count": self.count, "mean": self.mean, "m2": self.m2, "frozen": self.frozen,
                "std_floor": self.std_floor}

    def load_state_dict(self, state):
        self.count, self.mean, self.m2 = state["count"], state["mean"], state["m2"]
        self.frozen, self.std_floor = bool(state["frozen"]), float(state["std_floor"])
