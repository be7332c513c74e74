"""The ProRL policy: log_prob vs step-by-step probabilities, sampling and beam search rules, pretraining."""
import math

import pytest
import torch

from recbole_prorl.model.prorl import ProRL
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def policy(tiny):
    config, dataset, _ = tiny
    torch.manual_seed(0)
    return ProRL(config, dataset).eval()


def _requests(tiny, split="train", n=6):
    s = tiny[2]["splits"][split]
    return {k: v[:n] for k, v in s.items()}


def test_log_prob_of_sampled_paths_equals_step_by_step_probabilities(policy, tiny):
    req = _requests(tiny)
    torch.manual_seed(1)
    paths, lengths = policy.sample(req["history"], req["target"], num_samples=3)
    history, target = req["history"].repeat_interleave(3, 0), req["target"].repeat_interleave(3, 0)
    chosen, mask = policy.log_prob(history, target, paths, lengths)
    for i in range(len(paths)):
        total = 0.0
        for t in range(int(lengths[i]) + 1):
            step = torch.log_softmax(policy._next_logits(history[i:i + 1], target[i:i + 1], paths[i:i + 1, :t]), -1)[0]
            action = paths[i, t] if t < lengths[i] else policy.stop_id
            total += step[action].item()
        assert chosen[i].sum().item() == pytest.approx(total, abs=1e-4)
        assert mask[i].sum().item() == int(lengths[i]) + 1


def test_sampling_obeys_the_rules(policy, tiny):
    req = _requests(tiny, n=20)
    torch.manual_seed(2)
    paths, lengths = policy.sample(req["history"], req["target"], num_samples=8, temperature=2.0)
    assert paths.shape == (160, policy.max_path_len)
    assert (lengths >= 1).all() and (lengths <= policy.max_path_len).all()
    inside = torch.arange(policy.max_path_len).unsqueeze(0) < lengths.unsqueeze(1)
    assert ((paths > 0) & (paths < policy.n_items))[inside].all() and (paths[~inside] == 0).all()
    for p, n in zip(paths, lengths):  # no repeated items
        assert len(set(p[:n].tolist())) == int(n)


def test_beam_search_descending_scores_within_cap(policy, tiny):
    req = _requests(tiny, n=8)
    paths, lengths, scores = policy.beam_search(req["history"], req["target"], beam_size=5)
    assert paths.shape == (8, 5, policy.max_path_len)
    assert (scores[:, :-1] >= scores[:, 1:]).all()
    assert (lengths >= 1).all() and (lengths <= policy.max_path_len).all()
    history, target = req["history"].repeat_interleave(5, 0), req["target"].repeat_interleave(5, 0)
    chosen, _ = policy.log_prob(history, target, paths.view(40, -1), lengths.view(-1))
    assert torch.allclose(chosen.sum(1), scores.view(-1), atol=1e-4)  # score = total log-probability
    # beams of one request are distinct paths
    for i in range(8):
        rows = {tuple(paths[i, j, : lengths[i, j]].tolist()) for j in range(5)}
        assert len(rows) == 5


def test_forced_stop_at_max_path_len(tiny):
    config, dataset, _ = tiny
    model = ProRL(config, dataset).eval()
    with torch.no_grad():  # make STOP nearly impossible: the cap still ends every path
        model.item_embedding.weight[model.stop_id] = -10 * model.item_embedding.weight[1:model.stop_id].mean(0)
    req = _requests(tiny, n=4)
    paths, lengths = model.sample(req["history"], req["target"], num_samples=4)
    assert (lengths <= model.max_path_len).all()
    _, beam_len, _ = model.beam_search(req["history"], req["target"], 3)
    assert (beam_len <= model.max_path_len).all()


def test_calculate_loss_is_teacher_forced_cross_entropy(policy, tiny):
    req = _requests(tiny, n=4)
    logits = policy.decision_logits(req["history"], req["target"], req["path"], constrained=False)
    expected, count = 0.0, 0
    for i in range(4):
        for t in range(int(req["path_len"][i]) + 1):
            action = req["path"][i, t] if t < req["path_len"][i] else policy.stop_id
            expected -= torch.log_softmax(logits[i, t], -1)[action].item()
            count += 1
    assert policy.calculate_loss(req).item() == pytest.approx(expected / count, abs=1e-5)


@pytest.mark.parametrize("select", ["valid_loss", "valid_ioi"])
def test_pretraining_lowers_validation_loss(tiny, simulators, workdir, select):
    from recbole_prorl.quick_start import Context
    from recbole_prorl.trainer import ProRLTrainer

    _, dataset, mined = tiny
    config = tiny_config(workdir, pretrain_select=select)
    torch.manual_seed(0)
    model = ProRL(config, dataset)
    trainer = ProRLTrainer(config, model)
    context = Context(dataset, mined["splits"], mined["user_split"], None, simulators["SASRec"])
    trainer.attach(context, workdir / f"pretrain-{select}")
    before = trainer._valid_loss(mined["splits"]["valid"])
    trainer.pretrain()
    after = trainer._valid_loss(mined["splits"]["valid"])
    assert after < before - 0.1, (before, after)
    saved = torch.load(workdir / f"pretrain-{select}" / "pretrain.pth", weights_only=True)
    assert set(saved) == {"state_dict", "epoch", "valid_loss", "score"}
    assert math.isfinite(after)
