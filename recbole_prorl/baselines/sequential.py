"""Sequential recommenders adapted to the proactive task (paper §7), and IPG."""
import torch

from recbole_prorl.baselines.base import PathGenerator

NEG_INF = float("-inf")


def item_embeddings(model):
    """The model's item-embedding table [n_items, d] (the space 'closest to the target' is measured in)."""
    return model.item_embedding.weight[: model.n_items].detach()


class _Stepwise(PathGenerator):
    """Greedy: at each step score candidates for history ⊕ path so far, append one; stop at the target."""

    def __init__(self, simulator, max_path_len):
        self.simulator, self.max_path_len = simulator, max_path_len

    def choose(self, seq, target, scores):
        raise NotImplementedError

    def _generate(self, history, target, k):
        n, sim = len(target), self.simulator
        hist_len = (history > 0).sum(1)
        paths = torch.zeros(n, self.max_path_len, dtype=torch.long)
        lengths = torch.zeros(n, dtype=torch.long)
        done = torch.zeros(n, dtype=torch.bool)
        for t in range(self.max_path_len):
            seq = sim.concat(history, hist_len, paths[:, :t]) if t else history
            scores = sim.next_item_scores(seq)
            used = paths[:, :t]
            scores = scores.scatter(1, used, NEG_INF) if t else scores
            scores[:, 0] = NEG_INF
            choice = self.choose(seq, target, scores)
            paths[:, t] = torch.where(done, paths[:, t], choice)
            lengths += (~done).long()
            done |= choice == target
            if bool(done.all()):
                break
        # a deterministic method has one path; it stands for all k
        return paths.unsqueeze(1).expand(-1, k, -1).clone(), lengths.unsqueeze(1).expand(-1, k).clone()


class SeqRecPaths(_Stepwise):
    """Top-``topk`` next items of the recommender, then the one closest to the target in its embedding space."""

    def __init__(self, simulator, max_path_len, topk=10):
        super().__init__(simulator, max_path_len)
        self.topk = topk
        self.embeddings = item_embeddings(simulator.model)

    def choose(self, seq, target, scores):
        candidates = scores.topk(self.topk, dim=1).indices  # [N, topk]
        dist = (self.embeddings[candidates] - self.embeddings[target].unsqueeze(1)).norm(dim=-1)
        dist = dist.masked_fill(scores.gather(1, candidates) == NEG_INF, float("inf"))
        return candidates.gather(1, dist.argmin(1, keepdim=True)).squeeze(1)


class IPGPaths(_Stepwise):
    """Iterative preference guidance: among the top-``candidates`` items, maximise
    (1 − γ) · log P(i | s) + γ · [log P(target | s ⊕ i) − log P(target | s)]  (interaction × guidance)."""

    def __init__(self, simulator, max_path_len, gamma=0.8, candidates=20):
        super().__init__(simulator, max_path_len)
        self.gamma, self.candidates = gamma, candidates

    def choose(self, seq, target, scores):
        n, c, sim = len(target), self.candidates, self.simulator
        log_p = torch.log_softmax(scores, dim=1)
        cand = scores.topk(c, dim=1).indices
        seq_len = (seq > 0).sum(1)
        extended = sim.concat(seq.repeat_interleave(c, 0), seq_len.repeat_interleave(c, 0), cand.reshape(-1, 1))
        after = torch.log_softmax(sim.next_item_scores(extended), dim=1)
        gain = after.gather(1, target.repeat_interleave(c).unsqueeze(1)).view(n, c) - log_p.gather(1, target.unsqueeze(1))
        value = (1 - self.gamma) * log_p.gather(1, cand) + self.gamma * gain
        value = value.masked_fill(scores.gather(1, cand) == NEG_INF, NEG_INF)
        return cand.gather(1, value.argmax(1, keepdim=True)).squeeze(1)
