"""Metric functions on hand-made paths, and every baseline's paths on the tiny dataset."""
import pytest
import torch

from recbole_prorl.baselines import IPGPaths, PolicyPaths, RandomPaths, SeqRecPaths
from recbole_prorl.evaluation import best_of_k, coherence, evaluate_paths, repeat_rate


def _attrs():
    attrs = torch.zeros(6, 4, dtype=torch.bool)
    attrs[1, 1] = attrs[2, 1] = attrs[2, 2] = attrs[3, 2] = attrs[5, 3] = True  # item 4 has no attribute
    return attrs


def test_coherence_counts_the_target_pair_and_edge_cases():
    attrs = _attrs()
    paths = torch.tensor([[1, 2, 0], [1, 3, 0], [4, 0, 0], [0, 0, 0], [1, 2, 3]])
    lengths = torch.tensor([2, 2, 1, 0, 3])
    target = torch.tensor([3, 3, 1, 1, 5])
    got = coherence(paths, lengths, target, attrs)
    # (1,2) yes (2,3) yes | (1,3) no (3,3) yes | (4,1) unknown attrs: no | empty: 0 | (1,2)(2,3) yes (3,5) no
    assert got.tolist() == pytest.approx([1.0, 0.5, 0.0, 0.0, 2 / 3])


def test_repeat_rate_and_best_of_k():
    paths = torch.tensor([[1, 2, 1, 0], [3, 4, 5, 0]])
    assert repeat_rate(paths, torch.tensor([3, 3])).tolist() == pytest.approx([1 / 3, 0.0])
    values = torch.tensor([[1.0, 3.0, 2.0], [0.0, -1.0, 5.0]])
    assert best_of_k(values, [1, 2, 3]) == pytest.approx({1: 0.5, 2: 1.5, 3: 4.0})


def test_evaluate_paths_keys_and_empty_paths_score_zero(tiny, simulators):
    config, dataset, mined = tiny
    test = {k: v[:3] for k, v in mined["splits"]["test"].items()}
    paths = test["path"].unsqueeze(1).repeat(1, 2, 1)
    lengths = test["path_len"].unsqueeze(1).repeat(1, 2)
    lengths[0, 1] = 0
    paths[0, 1] = 0
    attrs = torch.ones(dataset.item_num, 3, dtype=torch.bool)
    table = evaluate_paths(paths, lengths, test, {"SASRec": simulators["SASRec"]}, attrs, [1, 2])
    row = table["SASRec"]
    for m in ("IoI", "IoR", "CTR", "Coherence"):
        assert f"{m}@1" in row and f"{m}@2" in row
    assert row["Coherence@1"] == 1.0
    assert row["CTR@2"] >= row["CTR@1"] - 1e-6  # best of more paths is never worse
    metrics = simulators["SASRec"].path_metrics(test["history"], test["target"], test["path"], test["path_len"])
    assert row["IoI@1"] == pytest.approx(metrics["IoI"].mean().item(), abs=1e-5)


def test_every_baseline_makes_valid_paths(tiny, simulators):
    from recbole_prorl.model.prorl import ProRL
    from recbole_prorl.simulator_training import get_simulator

    config, dataset, mined = tiny
    test = {k: v[:5] for k, v in mined["splits"]["test"].items()}
    generators = {
        "Pretrain": PolicyPaths(ProRL(config, dataset)),
        "Random": RandomPaths(dataset.item_num, config["max_path_len"]),
        "SASRec": SeqRecPaths(simulators["SASRec"], config["max_path_len"], 5),
        "GRU4Rec": SeqRecPaths(simulators["GRU4Rec"], config["max_path_len"], 5),
        "BERT4Rec": SeqRecPaths(simulators["BERT4Rec"], config["max_path_len"], 5),
        "LightSANs": SeqRecPaths(simulators["LightSANs"], config["max_path_len"], 5),
        "IPG": IPGPaths(simulators["BERT4Rec"], config["max_path_len"], 0.8, 5),
        "FEARec": SeqRecPaths(get_simulator("FEARec", dataset, mined["user_split"]["train"], config),
                              config["max_path_len"], 5),
    }
    reloaded = get_simulator("FEARec", dataset, mined["user_split"]["train"], config)  # from its checkpoint
    assert torch.allclose(reloaded.next_item_scores(test["history"]),
                          generators["FEARec"].simulator.next_item_scores(test["history"]))
    for name, generator in generators.items():
        paths, lengths = generator.generate_paths(test, 2)
        assert paths.shape == (5, 2, config["max_path_len"]), name
        assert ((lengths >= 1) & (lengths <= config["max_path_len"])).all(), name
        inside = torch.arange(config["max_path_len"]).view(1, 1, -1) < lengths.unsqueeze(-1)
        assert ((paths > 0) & (paths < dataset.item_num))[inside].all(), name
        assert (paths[~inside] == 0).all(), name
        for row, n in zip(paths[:, 0], lengths[:, 0]):
            assert len(set(row[:n].tolist())) == int(n), name  # no repeats
