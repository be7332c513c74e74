"""The one interface every path generator implements."""
import torch
from tqdm import tqdm


class PathGenerator:
    """``generate_paths(requests, k)`` -> paths [N, k, max_path_len], lengths [N, k] (best first)."""

    batch_size = 256

    def _generate(self, history, target, k):
        raise NotImplementedError

    def generate_paths(self, requests, k, show_progress=False):
        n = len(requests["target"])
        starts = range(0, n, self.batch_size)
        if show_progress:
            starts = tqdm(starts, ncols=100, desc=type(self).__name__)
        out = [self._generate(requests["history"][i:i + self.batch_size], requests["target"][i:i + self.batch_size], k)
               for i in starts]
        return torch.cat([p for p, _ in out]), torch.cat([l for _, l in out])


class PolicyPaths(PathGenerator):
    """A ProRL policy (pretrained or after RL): beam search with k beams."""

    def __init__(self, model):
        self.model = model

    def _generate(self, history, target, k):
        self.model.eval()
        paths, lengths, _ = self.model.beam_search(history, target, k)
        return paths, lengths


class RandomPaths(PathGenerator):
    """Sanity baseline: k paths of uniform random length 1..max_path_len, distinct random real items."""

    def __init__(self, n_items, max_path_len, seed=0):
        self.n_items, self.max_path_len = n_items, max_path_len
        self.generator = torch.Generator().manual_seed(seed)

    def _generate(self, history, target, k):
        n = len(target)
        keys = torch.rand(n * k, self.n_items - 1, generator=self.generator)
        paths = keys.topk(self.max_path_len, dim=1).indices + 1  # distinct items 1..n_items-1
        lengths = torch.randint(1, self.max_path_len + 1, (n * k,), generator=self.generator)
        paths = paths * (torch.arange(self.max_path_len).unsqueeze(0) < lengths.unsqueeze(1))
        return paths.view(n, k, -1), lengths.view(n, k)
