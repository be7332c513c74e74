"""One user simulator for rewards and metrics alike: IoI, IoR and CTR from any RecBole sequential model.

For a request (history, target) and a path, prefix t is ``history ⊕ path[:t]`` (the last
``MAX_ITEM_LIST_LENGTH`` items, right-padded as RecBole expects). From the model's ``full_sort_predict``
scores over real items (the padding id never counts):

- ``IoI_t = log P(target | prefix t) − log P(target | prefix t−1)``, P = softmax over real items
- ``IoR_t = Rank(target | prefix t−1) − Rank(target | prefix t)``, Rank = 1 + #items scored strictly higher
- ``CTR_t = σ(score of path[t−1] given prefix t−1)``

Causal models (SASRec, GRU4Rec) score every prefix in one pass over ``history ⊕ path``; any other model
scores all prefixes as one batched, chunked call.
"""
from contextlib import contextmanager

import torch

from recbole_prorl.compat import ProRLError

CAUSAL_MODELS = {"SASRec", "GRU4Rec"}
METRICS = ("IoI", "IoR", "CTR")


@contextmanager
def gather_positions(model, positions):
    """Make ``model.forward`` return the states at ``positions`` [N, P] instead of at ``item_seq_len − 1``.

    RecBole's sequential models end ``forward`` with ``self.gather_indexes(output, item_seq_len − 1)``;
    swapping that one call reads several positions of the same pass, with the model's own scoring head.
    """
    def gather(output, _index):
        return output.gather(1, positions.unsqueeze(-1).expand(-1, -1, output.size(-1)))

    model.gather_indexes = gather
    try:
        yield
    finally:
        del model.gather_indexes  # back to the class method


class UserSimulator:
    """Wraps a trained RecBole sequential model (eval mode, no gradients)."""

    def __init__(self, model, name=None, chunk_size=4096, causal=None):
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.name = name or type(model).__name__
        self.n_items = model.n_items
        self.max_len = model.max_seq_length
        self.chunk_size = chunk_size
        self.causal = (self.name in CAUSAL_MODELS) if causal is None else causal
        self.device = next(model.parameters()).device

    # ------------------------------------------------------------------ input checks
    def _check(self, history, target=None, paths=None, lengths=None):
        if history.dim() != 2:
            raise ProRLError(f"history must be [N, H] item ids, got shape {tuple(history.shape)}")
        n = history.size(0)
        hist_len = (history > 0).sum(1)
        if (hist_len == 0).any():
            raise ProRLError(f"history: {(hist_len == 0).sum().item()} request(s) have an empty history")
        self._check_ids("history", history[history > 0])
        if target is not None:
            if target.shape != (n,):
                raise ProRLError(f"target must be [N={n}], got shape {tuple(target.shape)}")
            self._check_ids("target", target)
        if paths is not None:
            if paths.dim() != 2 or paths.size(0) != n:
                raise ProRLError(f"paths must be [N={n}, L], got shape {tuple(paths.shape)}")
            if lengths is None or lengths.shape != (n,):
                raise ProRLError(f"lengths must be [N={n}], got {None if lengths is None else tuple(lengths.shape)}")
            if (lengths < 0).any() or (lengths > paths.size(1)).any():
                raise ProRLError(f"lengths must lie in 0..{paths.size(1)}")
            inside = torch.arange(paths.size(1), device=paths.device).unsqueeze(0) < lengths.unsqueeze(1)
            self._check_ids("paths", paths[inside])
        return hist_len

    def _check_ids(self, name, ids):
        bad = (ids <= 0) | (ids >= self.n_items)
        if bad.any():
            raise ProRLError(f"{name}: item id {ids[bad][0].item()} is padding or outside the item "
                             f"vocabulary 1..{self.n_items - 1} of simulator {self.name}")

    # ------------------------------------------------------------------ scoring
    def _full_sort(self, item_seq, seq_len, positions=None):
        from recbole.data.interaction import Interaction

        inter = Interaction({self.model.ITEM_SEQ: item_seq.to(self.device),
                             self.model.ITEM_SEQ_LEN: seq_len.to(self.device)})
        if positions is None:
            scores = self.model.full_sort_predict(inter)
        else:
            with gather_positions(self.model, positions.to(self.device)):
                scores = self.model.full_sort_predict(inter)
        scores = scores[..., : self.n_items].float()
        scores[..., 0] = float("-inf")  # padding is never an item
        return scores

    @staticmethod
    def concat(history, hist_len, paths):
        """Right-padded ``history ⊕ path`` [N, H+L] (history's real items, then the whole path row)."""
        h, l = history.size(1), paths.size(1)
        idx = torch.arange(h + l, device=history.device).unsqueeze(0)
        from_history = idx < hist_len.unsqueeze(1)
        hist_part = history.gather(1, idx.clamp(max=h - 1).expand(history.size(0), -1))
        path_part = paths.gather(1, (idx - hist_len.unsqueeze(1)).clamp(0, l - 1)) if l else torch.zeros_like(hist_part)
        seq = torch.where(from_history, hist_part, path_part)
        return seq * (idx < (hist_len.unsqueeze(1) + l))

    def prefix_scores(self, history, paths, lengths, hist_len=None):
        """Scores [N, L+1, n_items] of the next item after each prefix ``history ⊕ path[:t]``, t = 0..L."""
        hist_len = (history > 0).sum(1) if hist_len is None else hist_len
        n, l = paths.size(0), paths.size(1)
        seq = self.concat(history, hist_len, paths * (torch.arange(l).unsqueeze(0) < lengths.unsqueeze(1)))
        ends = hist_len.unsqueeze(1) + torch.arange(l + 1).unsqueeze(0)  # prefix lengths [N, L+1]
        ends = torch.minimum(ends, (hist_len + lengths).unsqueeze(1))   # beyond a path's end: repeat its last
        if self.causal and int(ends.max()) <= self.max_len:
            seq = seq[:, : int(ends.max())]
            return self._chunked(n, lambda s: self._full_sort(seq[s], ends[s, -1], positions=ends[s] - 1))
        # every prefix as its own sequence: the last max_len items, right-padded to RecBole's width
        flat_ends = ends.reshape(-1)
        flat_seq = seq.repeat_interleave(l + 1, 0)
        width = self.max_len
        starts = (flat_ends - width).clamp(min=0)
        idx = starts.unsqueeze(1) + torch.arange(width).unsqueeze(0)
        valid = idx < flat_ends.unsqueeze(1)
        prefixes = flat_seq.gather(1, idx.clamp(max=flat_seq.size(1) - 1)) * valid
        lens = flat_ends - starts
        scores = self._chunked(prefixes.size(0), lambda s: self._full_sort(prefixes[s], lens[s]))
        return scores.view(n, l + 1, -1)

    def _chunked(self, n, fn):
        with torch.no_grad():
            return torch.cat([fn(slice(i, i + self.chunk_size)).cpu() for i in range(0, n, self.chunk_size)])

    def next_item_scores(self, history):
        """Scores [N, n_items] of the next item after each right-padded history (padding at −inf)."""
        self._check(history)
        empty = history.new_zeros(history.size(0), 0)
        return self.prefix_scores(history, empty, history.new_zeros(history.size(0)))[:, 0]

    def _target_stats(self, history, target, paths, lengths):
        """log P(target) and Rank(target) after each prefix [N, L+1], and step CTR [N, L]."""
        hist_len = self._check(history, target, paths, lengths)
        logp, rank, ctr = [], [], []
        rows = max(1, self.chunk_size // (paths.size(1) + 1))
        for i in range(0, history.size(0), rows):
            s = slice(i, i + rows)
            scores = self.prefix_scores(history[s], paths[s], lengths[s], hist_len[s])
            t_score = scores.gather(2, target[s].view(-1, 1, 1).expand(-1, scores.size(1), 1)).squeeze(2)
            logp.append(t_score - torch.logsumexp(scores, dim=2))
            rank.append(1 + (scores > t_score.unsqueeze(2)).sum(2))
            item_scores = scores[:, :-1].gather(2, paths[s].unsqueeze(2)).squeeze(2)
            ctr.append(torch.sigmoid(item_scores))
        return torch.cat(logp), torch.cat(rank).float(), torch.cat(ctr)

    def step_rewards(self, history, target, paths, lengths):
        """Per-step {IoI, IoR, CTR} tensors [N, L], zero beyond each path's length."""
        logp, rank, ctr = self._target_stats(history, target, paths, lengths)
        inside = torch.arange(paths.size(1)).unsqueeze(0) < lengths.unsqueeze(1)
        zero = torch.zeros_like(ctr)
        return {
            "IoI": torch.where(inside, logp[:, 1:] - logp[:, :-1], zero),
            "IoR": torch.where(inside, rank[:, :-1] - rank[:, 1:], zero),
            "CTR": torch.where(inside, ctr, zero),
        }

    def path_metrics(self, history, target, paths, lengths):
        """Path-level {IoI, IoR, CTR} [N]: before vs after the whole path; CTR = mean step CTR (0 if empty)."""
        logp, rank, ctr = self._target_stats(history, target, paths, lengths)
        last = lengths.unsqueeze(1)
        inside = torch.arange(paths.size(1)).unsqueeze(0) < last
        return {
            "IoI": logp.gather(1, last).squeeze(1) - logp[:, 0],
            "IoR": rank[:, 0] - rank.gather(1, last).squeeze(1),
            "CTR": (ctr * inside).sum(1) / lengths.clamp(min=1),
        }
