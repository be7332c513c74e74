"""ProRL path policy: pi(next item or STOP | history, target, path so far).

One token per item plus a STOP action (id ``n_items``); a causal Transformer from ``recbole.model.layers``
reads ``history (left-aligned to history_len) ⊕ target ⊕ path`` and every position from the target on
predicts the next path decision, so one pass scores a whole path (teacher forcing) and generation is
``max_path_len`` short passes.
"""
import torch
from torch import nn
import torch.nn.functional as F
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.model.layers import TransformerEncoder
from recbole.utils import InputType

NEG_INF = float("-inf")


class ProRL(SequentialRecommender):
    input_type = InputType.POINTWISE

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.history_len = config["history_len"]
        self.max_path_len = config["max_path_len"]
        self.no_repeat_items = config["no_repeat_items"]
        self.hidden_size = config["hidden_size"]
        self.stop_id = self.n_items  # real items are 1..n_items-1, 0 is padding
        self.vocab_size = self.n_items + 1

        self.item_embedding = nn.Embedding(self.vocab_size, self.hidden_size, padding_idx=0)
        self.position_embedding = nn.Embedding(self.history_len + 1 + self.max_path_len + 1, self.hidden_size)
        self.segment_embedding = nn.Embedding(3, self.hidden_size)  # 0 history, 1 target, 2 path
        self.trm_encoder = TransformerEncoder(
            n_layers=config["n_layers"], n_heads=config["n_heads"], hidden_size=self.hidden_size,
            inner_size=config["inner_size"], hidden_dropout_prob=config["hidden_dropout_prob"],
            attn_dropout_prob=config["attn_dropout_prob"], hidden_act=config["hidden_act"],
            layer_norm_eps=config["layer_norm_eps"],
        )
        self.LayerNorm = nn.LayerNorm(self.hidden_size, eps=config["layer_norm_eps"])
        self.dropout = nn.Dropout(config["hidden_dropout_prob"])
        self.initializer_range = config["initializer_range"]
        self.apply(self._init_weights)

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(mean=0.0, std=self.initializer_range)
        elif isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()

    # ---------------------------------------------------------------- encoding
    def _align_history(self, history):
        """Right-padded [N, H] -> the last ``history_len`` items, left-padded, so the target sits at a fixed slot."""
        lengths = (history > 0).sum(1, keepdim=True)
        offsets = torch.arange(self.history_len, device=history.device) - self.history_len
        index = lengths + offsets  # positions len-history_len .. len-1
        valid = index >= 0
        aligned = history.gather(1, index.clamp(min=0)) * valid
        return aligned

    def forward(self, history, target, paths):
        """Decision states [N, T+1, H]: state t decides path item t (or STOP) given ``paths[:, :t]``."""
        seq = torch.cat([self._align_history(history), target.unsqueeze(1), paths], dim=1)
        n, length = seq.shape
        segments = torch.full_like(seq, 2)
        segments[:, : self.history_len] = 0
        segments[:, self.history_len] = 1
        positions = torch.arange(length, device=seq.device).unsqueeze(0).expand(n, -1)
        x = self.item_embedding(seq) + self.position_embedding(positions) + self.segment_embedding(segments)
        x = self.dropout(self.LayerNorm(x))
        causal = torch.tril(torch.ones(length, length, dtype=torch.bool, device=seq.device))
        allowed = causal.unsqueeze(0) & (seq > 0).unsqueeze(1)  # [N, S(query), S(key)]
        mask = torch.where(allowed, 0.0, -10000.0).unsqueeze(1).to(x.dtype)
        states = self.trm_encoder(x, mask, output_all_encoded_layers=True)[-1]
        return states[:, self.history_len:]

    def decision_logits(self, history, target, paths, constrained=True):
        """Logits [N, T+1, V] over items and STOP; constrained = the rules generation obeys."""
        logits = self.forward(history, target, paths) @ self.item_embedding.weight.t()
        return self._apply_rules(logits, paths, constrained)

    def _apply_rules(self, logits, paths, constrained):
        """Padding is never an action; constrained adds: >= 1 item, STOP forced after max_path_len, no repeats."""
        logits = logits.clone()
        logits[..., 0] = NEG_INF
        if not constrained:
            return logits
        steps = logits.size(1)
        logits[:, 0, self.stop_id] = NEG_INF
        if steps > self.max_path_len:
            logits[:, self.max_path_len :, : self.stop_id] = NEG_INF
        if self.no_repeat_items and paths.size(1) > 0:
            used = torch.zeros(paths.size(0), steps, self.vocab_size, dtype=torch.bool, device=paths.device)
            chosen = F.one_hot(paths, self.vocab_size).bool()  # [N, T, V]
            used[:, 1:] = chosen.cumsum(1).bool()[:, : steps - 1]
            used[..., 0] = False
            used[..., self.stop_id] = False
            logits = logits.masked_fill(used, NEG_INF)
        return logits

    # ---------------------------------------------------------------- the policy API
    @staticmethod
    def actions(paths, lengths, stop_id):
        """Actions [N, T+1] (items, then STOP at ``lengths``) and the mask of real decisions (t <= length)."""
        n, t_max = paths.shape
        steps = torch.arange(t_max + 1, device=paths.device).unsqueeze(0)
        actions = torch.cat([paths, torch.zeros(n, 1, dtype=paths.dtype, device=paths.device)], 1)
        actions = torch.where(steps == lengths.unsqueeze(1), torch.full_like(actions, stop_id), actions)
        return actions, steps <= lengths.unsqueeze(1)

    def log_prob(self, history, target, paths, lengths, return_log_probs=False):
        """Per-step log-probabilities [N, T+1] of the chosen items and of STOP (0 where no decision)."""
        log_probs = torch.log_softmax(self.decision_logits(history, target, paths), dim=-1)
        actions, mask = self.actions(paths, lengths, self.stop_id)
        chosen = log_probs.gather(2, actions.unsqueeze(2)).squeeze(2)
        chosen = torch.where(mask, chosen, torch.zeros_like(chosen))
        return (chosen, mask, log_probs) if return_log_probs else (chosen, mask)

    def _next_logits(self, history, target, paths):
        return self.decision_logits(history, target, paths)[:, -1]

    @torch.no_grad()
    def sample(self, history, target, num_samples=1, temperature=1.0, generator=None):
        """``num_samples`` rollouts per request (request-major): paths [N*G, max_path_len], lengths [N*G]."""
        history = history.repeat_interleave(num_samples, 0)
        target = target.repeat_interleave(num_samples, 0)
        n = history.size(0)
        paths = torch.zeros(n, self.max_path_len, dtype=torch.long, device=history.device)
        lengths = torch.zeros(n, dtype=torch.long, device=history.device)
        done = torch.zeros(n, dtype=torch.bool, device=history.device)
        for t in range(self.max_path_len + 1):
            probs = torch.softmax(self._next_logits(history, target, paths[:, :t]) / temperature, dim=-1)
            choice = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            if self._append(paths, lengths, done, choice, t):
                break
        return paths, lengths

    def _append(self, paths, lengths, done, token, t):
        """In place: unfinished rows take ``token`` as item t or finish on STOP; True when all are done."""
        grow = ~done & (token != self.stop_id)
        if t < self.max_path_len:
            paths[:, t] = torch.where(grow, token, paths[:, t])
        lengths += grow.long()
        done |= ~grow
        return bool(done.all())

    @torch.no_grad()
    def beam_search(self, history, target, beam_size):
        """Top-``beam_size`` paths per request by total log-probability (STOP included), best first.

        Returns paths [N, K, max_path_len], lengths [N, K], scores [N, K].
        """
        n, k, v = history.size(0), beam_size, self.vocab_size
        device = history.device
        history = history.repeat_interleave(k, 0)
        target = target.repeat_interleave(k, 0)
        paths = torch.zeros(n * k, self.max_path_len, dtype=torch.long, device=device)
        lengths = torch.zeros(n * k, dtype=torch.long, device=device)
        done = torch.zeros(n * k, dtype=torch.bool, device=device)
        scores = torch.full((n, k), NEG_INF, device=device)
        scores[:, 0] = 0.0  # one live beam at the start, so the K beams are not copies
        for t in range(self.max_path_len + 1):
            step = torch.log_softmax(self._next_logits(history, target, paths[:, :t]), dim=-1)
            # a finished beam has exactly one continuation: itself, at no cost
            step = torch.where(done.unsqueeze(1), torch.full_like(step, NEG_INF), step)
            step[done, self.stop_id] = 0.0
            candidates = (scores.view(-1, 1) + step).view(n, k * v)
            scores, flat = candidates.topk(k, dim=1)
            source = (torch.arange(n, device=device).unsqueeze(1) * k + flat // v).view(-1)
            token = (flat % v).view(-1)
            paths, lengths, done = paths[source], lengths[source], done[source]
            if self._append(paths, lengths, done, token, t):
                break
        return paths.view(n, k, -1), lengths.view(n, k), scores

    # ---------------------------------------------------------------- RecBole's names
    def calculate_loss(self, interaction):
        """Teacher-forced cross-entropy on a mined path's intermediate items followed by STOP."""
        paths, lengths = interaction["path"], interaction["path_len"]
        logits = self.decision_logits(interaction["history"], interaction["target"], paths, constrained=False)
        actions, mask = self.actions(paths, lengths, self.stop_id)
        actions = actions.masked_fill(~mask, -100)  # no decision there (and padding's logit is -inf)
        return F.cross_entropy(logits.flatten(0, 1), actions.flatten(), ignore_index=-100)

    def _target(self, interaction):
        # our requests carry "target"; a plain RecBole batch has only its next item, used as the target
        return interaction["target"] if "target" in interaction.interaction else interaction[self.POS_ITEM_ID]

    def full_sort_predict(self, interaction):
        """Scores [N, n_items] of the first path item given ``ITEM_SEQ`` as history and the target."""
        history, target = interaction[self.ITEM_SEQ], self._target(interaction)
        empty = history.new_zeros(history.size(0), 0)
        return self.decision_logits(history, target, empty)[:, 0, : self.n_items]

    def predict(self, interaction):
        scores = self.full_sort_predict(interaction)
        return scores.gather(1, interaction[self.ITEM_ID].unsqueeze(1)).squeeze(1)
