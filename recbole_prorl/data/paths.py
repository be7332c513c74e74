"""Smooth-Guided path mining (paper Algorithm 1), the request splits built from it, and their cache."""
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from recbole_prorl.compat import ProRLError, load_checkpoint, save_checkpoint
from recbole_prorl.data.dataset import (bridge_attributes, coherent, dataset_digest, fingerprint,
                                        user_sequences)
from recbole_prorl.data.split import SPLITS, split_users

PAPER_ML1M_PATHS = {"train": 56141, "valid": 6771, "test": 6177}
FIELDS = ("history", "target", "path", "path_len", "user")


def mine_sequence(items, attrs, history_len, max_path_len):
    """Mine one user's time-ordered ``items``: a list of (history, path, target) triples.

    After the first ``history_len`` items, runs of coherent consecutive items are paths; a run of at
    least two items becomes (its ``history_len`` preceding items, its intermediate items, its last item).
    Runs longer than ``max_path_len + 1`` are cut to that length. The final run counts too.
    """
    items = np.asarray(items)
    if len(items) < history_len + 2:
        return []
    links = coherent(attrs, torch.as_tensor(items[:-1]), torch.as_tensor(items[1:])).numpy()
    # breaks[k] is True where items[k] does not continue items[k-1]; a new run starts there
    starts = [k for k in range(history_len + 1, len(items)) if not links[k - 1]]
    bounds = [history_len] + starts + [len(items)]
    triples = []
    for begin, end in zip(bounds[:-1], bounds[1:]):
        run = items[begin:end][: max_path_len + 1]
        if len(run) >= 2:
            triples.append((items[begin - history_len:begin], run[:-1], int(run[-1])))
    return triples


def _to_tensors(rows, history_len, max_path_len):
    n = len(rows)
    out = {
        "history": torch.zeros(n, history_len, dtype=torch.long),
        "target": torch.zeros(n, dtype=torch.long),
        "path": torch.zeros(n, max_path_len, dtype=torch.long),
        "path_len": torch.zeros(n, dtype=torch.long),
        "user": torch.zeros(n, dtype=torch.long),
    }
    for i, (user, history, path, target) in enumerate(rows):
        out["history"][i] = torch.as_tensor(history)
        out["path"][i, : len(path)] = torch.as_tensor(path)
        out["path_len"][i] = len(path)
        out["target"][i] = target
        out["user"][i] = user
    return out


def mine_paths(dataset, config, logger=None):
    """Mined requests per split: {split: {history, target, path, path_len, user}} plus counts.

    Train and valid keep their natural targets; a test request is a mined path's history with a random
    item its user never interacted with as the target (paper App. C; the mined path is kept for reference).
    """
    logger = logger or logging.getLogger()
    history_len, max_path_len = config["history_len"], config["max_path_len"]
    attrs = bridge_attributes(dataset, config["bridge_field"], config["bridge_ignore"])
    users, seqs = user_sequences(dataset)
    split = split_users(users, config["split_ratio"], config["split_seed"])
    split_of = {int(u): s for s, members in split.items() for u in members}
    rng = np.random.default_rng(config["split_seed"])
    rows = {s: [] for s in SPLITS}
    short_histories = 0
    for user, seq in zip(users, seqs):
        if len(seq) < history_len + 2:
            short_histories += 1
            continue
        name = split_of[int(user)]
        if name == "test":
            seen = np.zeros(dataset.item_num, dtype=bool)
            seen[seq] = True
            seen[0] = True
            unseen = np.flatnonzero(~seen)
        for history, path, target in mine_sequence(seq, attrs, history_len, max_path_len):
            if name == "test":
                target = int(rng.choice(unseen))
            rows[name].append((int(user), history, path, target))
    if not any(rows.values()):
        raise ProRLError(
            f"no coherent paths in dataset '{dataset.dataset_name}' with bridge_field "
            f"'{config['bridge_field']}' (ignoring {config['bridge_ignore']}): check the field and ignore list"
        )
    data = {s: _to_tensors(rows[s], history_len, max_path_len) for s in SPLITS}
    lengths = Counter(int(x) for s in SPLITS for x in data[s]["path_len"])
    stats = {
        "users": {s: int(len(split[s])) for s in SPLITS},
        "paths": {s: int(len(rows[s])) for s in SPLITS},
        "skipped_short_users": short_histories,
        "path_length_histogram": {k: lengths[k] for k in sorted(lengths)},
    }
    return {"splits": data, "user_split": {s: torch.as_tensor(split[s]) for s in SPLITS}, "stats": stats}


def path_cache_key(dataset, config):
    keys = ("history_len", "max_path_len", "bridge_field", "bridge_ignore", "split_ratio", "split_seed")
    return fingerprint(dataset.dataset_name, dataset_digest(dataset), {k: config[k] for k in keys})


def load_or_mine_paths(dataset, config, logger=None):
    """Mine once per (data, config) and cache under ``checkpoint_dir/paths/``."""
    logger = logger or logging.getLogger()
    path = Path(config["checkpoint_dir"]) / "paths" / f"{dataset.dataset_name}-{path_cache_key(dataset, config)}.pth"
    if path.is_file():
        data = load_checkpoint(path)
        logger.info(f"Loaded mined paths from [{path}]")
    else:
        data = mine_paths(dataset, config, logger)
        save_checkpoint(data, path)
        logger.info(f"Mined paths saved to [{path}]")
    log_path_stats(data["stats"], dataset.dataset_name, logger)
    return data


def log_path_stats(stats, dataset_name, logger):
    logger.info(f"users per split: {stats['users']}; users skipped (fewer than history_len + 2 "
                f"interactions): {stats['skipped_short_users']}")
    logger.info(f"paths per split: {stats['paths']}")
    logger.info(f"path length histogram (intermediate items): {stats['path_length_histogram']}")
    if dataset_name == "ml-1m":
        logger.info(f"paper (ml-1m): {PAPER_ML1M_PATHS}")
