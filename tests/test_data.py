"""Path mining on hand-made sequences, the user split, and bad-input errors."""
import numpy as np
import pytest
import torch

from recbole_prorl.compat import ProRLError
from recbole_prorl.data import bridge_attributes, mine_paths, mine_sequence, split_users

# attribute values: 0 pad, 1 A, 2 B, 3 C, 4 D
ITEM_ATTRS = {1: [1], 2: [2], 3: [1], 4: [1, 3], 5: [3], 6: [2], 7: [4], 8: [4], 9: [4], 10: [4], 11: [4]}


def _attrs():
    attrs = torch.zeros(12, 5, dtype=torch.bool)
    for item, values in ITEM_ATTRS.items():
        attrs[item, values] = True
    return attrs


def test_mining_hand_made_sequence_gives_exact_triples():
    triples = mine_sequence([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], _attrs(), history_len=2, max_path_len=3)
    got = [(list(h), list(p), t) for h, p, t in triples]
    # 3-4-5 coherent (A, C), 6 alone is dropped, 7..11 coherent but cut to max_path_len + 1 items
    assert got == [([1, 2], [3, 4], 5), ([5, 6], [7, 8, 9], 10)]


def test_mining_skips_short_sequences_and_respects_ignored_values():
    assert mine_sequence([1, 2, 3], _attrs(), history_len=2, max_path_len=3) == []
    attrs = _attrs()
    attrs[:, 3] = False  # ignore C: 4 -> 5 no longer coherent
    got = [(list(h), list(p), t) for h, p, t in mine_sequence([1, 2, 3, 4, 5, 6], attrs, 2, 3)]
    assert got == [([1, 2], [3], 4)]


def test_split_is_disjoint_reproducible_and_seeded():
    users = np.arange(1, 101)
    a, b, c = split_users(users, (0.8, 0.1, 0.1), 1), split_users(users, (0.8, 0.1, 0.1), 1), split_users(users, (0.8, 0.1, 0.1), 2)
    assert [len(a[s]) for s in ("train", "valid", "test")] == [80, 10, 10]
    assert set(np.concatenate(list(a.values()))) == set(users)
    assert not set(a["train"]) & set(a["valid"]) and not set(a["train"]) & set(a["test"]) and not set(a["valid"]) & set(a["test"])
    assert all(np.array_equal(a[s], b[s]) for s in a) and not np.array_equal(a["train"], c["train"])


def test_mined_tiny_dataset_splits(tiny):
    config, dataset, mined = tiny
    split, data = mined["user_split"], mined["splits"]
    for name in ("train", "valid", "test"):
        assert set(data[name]["user"].tolist()) <= set(split[name].tolist())
        assert (data[name]["path_len"] >= 1).all() and (data[name]["path_len"] <= config["max_path_len"]).all()
        assert data[name]["history"].shape[1] == config["history_len"]
    # test targets are items the user never interacted with
    from recbole_prorl.data import user_sequences

    users, seqs = user_sequences(dataset)
    seen = {int(u): set(s.tolist()) for u, s in zip(users, seqs)}
    assert all(int(t) not in seen[int(u)] for u, t in zip(data["test"]["user"], data["test"]["target"]))
    # train/valid targets are natural: the item right after the path in the user's sequence
    assert mined["stats"]["paths"]["train"] == len(data["train"]["target"]) > 0


def test_bridge_field_missing_lists_available_fields(tiny):
    _, dataset, _ = tiny
    with pytest.raises(ProRLError, match="bridge_field 'category'.*available item fields: genre"):
        bridge_attributes(dataset, "category")


def test_no_coherent_paths_is_a_clear_error(tiny):
    config, dataset, _ = tiny
    every_value = list(dataset.field2id_token["genre"][1:])
    bad = {k: config[k] for k in ("history_len", "max_path_len", "bridge_field", "split_ratio", "split_seed")}
    bad["bridge_ignore"] = every_value
    with pytest.raises(ProRLError, match="no coherent paths"):
        mine_paths(dataset, bad)


def test_rerun_uses_the_cache(tiny, caplog):
    from recbole_prorl.data import load_or_mine_paths

    config, dataset, mined = tiny
    import logging
    with caplog.at_level(logging.INFO):
        again = load_or_mine_paths(dataset, config)
    assert "Loaded mined paths" in caplog.text
    assert torch.equal(again["splits"]["train"]["path"], mined["splits"]["train"]["path"])
