"""UserSimulator: causality, right padding, rewards against a per-prefix reference, telescoping, errors."""
import pytest
import torch
from recbole.data.interaction import Interaction

from recbole_prorl.compat import ProRLError
from recbole_prorl.simulator import gather_positions

CAUSAL = {"SASRec": True, "GRU4Rec": True, "BERT4Rec": False, "LightSANs": False}


def _requests(tiny, n=12):
    _, _, mined = tiny
    s = mined["splits"]["train"]
    return s["history"][:n], s["target"][:n], s["path"][:n], s["path_len"][:n]


@pytest.mark.parametrize("name", list(CAUSAL))
def test_causality_of_each_model(simulators, name):
    """The state at position t must not change when later items change (causal models only)."""
    model = simulators[name].model
    seq = torch.tensor([[3, 5, 7, 9, 11, 13]])
    changed = torch.tensor([[3, 5, 7, 2, 4, 6]])
    positions = torch.arange(6).unsqueeze(0)
    with torch.no_grad(), gather_positions(model, positions):
        a = model.full_sort_predict(Interaction({model.ITEM_SEQ: seq, model.ITEM_SEQ_LEN: torch.tensor([6])}))
        b = model.full_sort_predict(Interaction({model.ITEM_SEQ: changed, model.ITEM_SEQ_LEN: torch.tensor([6])}))
    same = torch.allclose(a[:, :3], b[:, :3], atol=1e-6)
    assert same == CAUSAL[name]
    assert simulators[name].causal == CAUSAL[name]


def _unpadded_scores(sim, seq):
    """RecBole's own single-sequence call: no padding for causal models, RecBole's width otherwise."""
    width = len(seq) if sim.causal else sim.max_len
    item_seq = torch.zeros(1, width, dtype=torch.long)
    item_seq[0, : len(seq)] = torch.tensor(seq)
    with torch.no_grad():
        scores = sim.model.full_sort_predict(Interaction({sim.model.ITEM_SEQ: item_seq,
                                                          sim.model.ITEM_SEQ_LEN: torch.tensor([len(seq)])}))
    scores = scores[0, : sim.n_items].clone()
    scores[0] = float("-inf")
    return scores


@pytest.mark.parametrize("name", list(CAUSAL))
def test_prefix_scores_equal_single_sequence_calls(simulators, tiny, name):
    sim = simulators[name]
    history, _, paths, lengths = _requests(tiny, 4)
    history = history.clone()
    history[1, 3:] = 0  # a shorter, right-padded history
    scores = sim.prefix_scores(history, paths, lengths)
    for i in range(4):
        h = history[i][history[i] > 0].tolist()
        for t in range(int(lengths[i]) + 1):
            expected = _unpadded_scores(sim, h + paths[i, :t].tolist())
            assert torch.allclose(scores[i, t], expected, atol=1e-4), (name, i, t)


def _reference_rewards(sim, history, target, paths, lengths):
    """The authors' scheme, right-padded: score before/after each item with separate calls, one at a time."""
    n, l = paths.shape
    out = {m: torch.zeros(n, l) for m in ("IoI", "IoR", "CTR")}
    for i in range(n):
        prefix = history[i][history[i] > 0].tolist()
        for t in range(int(lengths[i])):
            before = _unpadded_scores(sim, prefix[-sim.max_len:])
            after = _unpadded_scores(sim, (prefix + [int(paths[i, t])])[-sim.max_len:])
            tb, ta = before[target[i]], after[target[i]]
            out["IoI"][i, t] = (ta - torch.logsumexp(after, 0)) - (tb - torch.logsumexp(before, 0))
            out["IoR"][i, t] = (before > tb).sum().float() - (after > ta).sum().float()
            out["CTR"][i, t] = torch.sigmoid(before[paths[i, t]])
            prefix.append(int(paths[i, t]))
    return out


@pytest.mark.parametrize("name", list(CAUSAL))
def test_step_rewards_match_reference_and_telescope(simulators, tiny, name):
    sim = simulators[name]
    history, target, paths, lengths = _requests(tiny)
    rewards = sim.step_rewards(history, target, paths, lengths)
    reference = _reference_rewards(sim, history, target, paths, lengths)
    for m in ("IoI", "IoR", "CTR"):
        assert torch.allclose(rewards[m], reference[m], atol=1e-4), m
        beyond = torch.arange(paths.size(1)).unsqueeze(0) >= lengths.unsqueeze(1)
        assert (rewards[m][beyond] == 0).all()
    path = sim.path_metrics(history, target, paths, lengths)
    assert torch.allclose(rewards["IoI"].sum(1), path["IoI"], atol=1e-5)
    assert torch.equal(rewards["IoR"].sum(1), path["IoR"])
    assert torch.allclose(rewards["CTR"].sum(1) / lengths, path["CTR"])


def test_long_histories_keep_the_most_recent_items(simulators):
    sim = simulators["SASRec"]
    long_history = torch.arange(1, 26).remainder(29).add(1).unsqueeze(0)  # 25 items > max_len 20
    recent = long_history[:, -20:]
    assert torch.allclose(sim.next_item_scores(long_history), sim.next_item_scores(recent), atol=1e-5)


def test_bad_inputs_name_the_argument(simulators, tiny):
    sim = simulators["SASRec"]
    history, target, paths, lengths = _requests(tiny, 3)
    cases = [
        (lambda: sim.step_rewards(history, torch.tensor([1, 2, 999]), paths, lengths), "target: item id 999"),
        (lambda: sim.step_rewards(history, torch.tensor([1, 0, 2]), paths, lengths), "target: item id 0 is padding"),
        (lambda: sim.step_rewards(history, target, paths.clamp(max=0) + 999, lengths), "paths: item id 999"),
        (lambda: sim.step_rewards(torch.zeros_like(history), target, paths, lengths), "empty history"),
        (lambda: sim.step_rewards(history, target[:2], paths, lengths), "target must be"),
        (lambda: sim.step_rewards(history, target, paths[:2], lengths), "paths must be"),
        (lambda: sim.step_rewards(history, target, paths, lengths[:2]), "lengths must be"),
    ]
    for call, message in cases:
        with pytest.raises(ProRLError, match=message):
            call()


def test_simulator_checkpoint_is_reused_and_refuses_another_config(tiny, simulators, workdir):
    from recbole_prorl.simulator_training import load_simulator, simulator_meta, simulator_path

    config, dataset, mined = tiny
    train_users = mined["user_split"]["train"]
    path = simulator_path(simulator_meta("SASRec", dataset, train_users, config), config)
    sim, metrics = load_simulator(path, dataset, train_users, config)
    assert "ndcg@10" in metrics["test"]
    history, target, paths, lengths = _requests(tiny, 3)
    assert torch.allclose(sim.step_rewards(history, target, paths, lengths)["IoI"],
                          simulators["SASRec"].step_rewards(history, target, paths, lengths)["IoI"])
    from tests.conftest import tiny_config

    other = tiny_config(workdir, simulator_overrides={"SASRec": {"epochs": 2, "hidden_size": 32, "MAX_ITEM_LIST_LENGTH": 20}})
    with pytest.raises(ProRLError, match="made for another config.*retrain_simulators"):
        load_simulator(path, dataset, train_users, other)
    with pytest.raises(ProRLError, match="made for another user split"):
        load_simulator(path, dataset, train_users[:-1], config)


def test_unknown_simulator_name_lists_valid_ones(tiny):
    from recbole_prorl.simulator_training import simulator_config

    config, _, _ = tiny
    with pytest.raises(ProRLError, match="unknown model 'SASRecc'.*SASRec"):
        simulator_config("SASRecc", config)
    with pytest.raises(ProRLError, match="'BPR' is not a RecBole sequential model.*GRU4Rec"):
        simulator_config("BPR", config)
