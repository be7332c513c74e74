"""Train once, then load: RecBole sequential models as user simulators, on training-split users only.

Each training user's sequence is split leave-one-out as RecBole's ``LS: valid_and_test`` does (last item
test, second last valid, the rest train). Causal models (SASRec, GRU4Rec) are trained with the loss on
every position of a user window, one pass per window, instead of one padded sample per prefix; other
models get ``prefixes_per_user`` random prefixes per user per epoch through their own ``calculate_loss``
(and RecBole's batch transform, e.g. BERT4Rec's masking).
"""
import logging
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from recbole.config import Config
from recbole.data.interaction import Interaction
from recbole.data.transform import construct_transform
from recbole.utils import early_stopping, init_seed

from recbole_prorl.compat import PROPERTIES, ProRLError, load_checkpoint, save_checkpoint
from recbole_prorl.data.dataset import dataset_digest, fingerprint, user_sequences
from recbole_prorl.simulator import CAUSAL_MODELS, UserSimulator, gather_positions
from recbole_prorl.utils import get_model, recbole_model_names

# models whose loss reads RecBole's augmented training table (one row per prefix), e.g. FEARec's
# same-target sequences: they are built on that table and trained on rows sampled from it
RECBOLE_AUGMENTED = {"FEARec"}
_SHARED_KEYS = ("data_path", "checkpoint_dir", "seed", "reproducibility", "USER_ID_FIELD", "ITEM_ID_FIELD",
                "TIME_FIELD", "load_col", "use_gpu", "gpu_id")


@contextmanager
def _no_cmd_line():
    # RecBole's Config reads sys.argv; the main job's --key=value overrides belong to ProRL, not to the
    # simulators (those take `simulator_overrides: {Model: {key: value}}`).
    saved = sys.argv
    sys.argv = sys.argv[:1]
    try:
        yield
    finally:
        sys.argv = saved


def simulator_config(model_name, main_config, extra=None):
    """RecBole Config for a simulator: RecBole defaults < properties/simulator/<Model>.yaml < overrides < extra."""
    model_class = get_model(model_name)
    if getattr(model_class, "type", None) is None or model_class.type.name != "SEQUENTIAL":
        raise ProRLError(f"simulator '{model_name}' is not a RecBole sequential model; valid names include "
                         f"{', '.join(recbole_model_names())}")
    files = [str(p) for p in [PROPERTIES / "simulator" / f"{model_name}.yaml"] if p.is_file()]
    overrides = dict((main_config["simulator_overrides"] or {}).get(model_name, {}))
    shared = {k: main_config[k] for k in _SHARED_KEYS if main_config[k] is not None}
    with _no_cmd_line():
        return Config(model=model_name, dataset=main_config["dataset"], config_file_list=files,
                      config_dict={**shared, "device": main_config["device"], "train_neg_sample_args": None,
                                   **overrides, **(extra or {})})


def _hparams(config):
    skip = {"data_path", "checkpoint_dir", "device", "gpu_id", "use_gpu", "show_progress", "state"}
    return {k: v for k, v in sorted(config.final_config_dict.items()) if k not in skip and not callable(v)}


def _leave_one_out(seqs):
    """Training part, valid (history, target) and test (history, target) of each sequence."""
    keep = [s for s in seqs if len(s) >= 3]
    train = [s[:-2] for s in keep]
    valid = ([s[:-2] for s in keep], np.array([s[-2] for s in keep]))
    test = ([s[:-1] for s in keep], np.array([s[-1] for s in keep]))
    return train, valid, test


def _pad(seqs, width):
    """Right-pad the last ``width`` items of each sequence."""
    out = torch.zeros(len(seqs), width, dtype=torch.long)
    lens = torch.zeros(len(seqs), dtype=torch.long)
    for i, s in enumerate(seqs):
        s = s[-width:]
        out[i, : len(s)] = torch.as_tensor(s)
        lens[i] = len(s)
    return out, lens


def _windows(train_seqs, max_len):
    """Non-overlapping windows of max_len + 1 items, taken from each sequence's end."""
    windows = []
    for s in train_seqs:
        for end in range(len(s), 1, -max_len):
            windows.append(s[max(0, end - max_len - 1):end])
    return _pad(windows, max_len + 1)


def ranking_metrics(simulator, histories, targets, k=10, batch=1024):
    """Recall@k and NDCG@k of next-item prediction (full ranking over real items)."""
    hits, ndcg = [], []
    for i in range(0, len(targets), batch):
        seq, _ = _pad(histories[i:i + batch], simulator.max_len)
        scores = simulator.next_item_scores(seq)
        tgt = torch.as_tensor(targets[i:i + batch])
        rank = 1 + (scores > scores.gather(1, tgt.unsqueeze(1))).sum(1)
        hits.append((rank <= k).float())
        ndcg.append(torch.where(rank <= k, 1.0 / torch.log2(rank.float() + 1), torch.zeros_like(rank, dtype=torch.float)))
    return {f"recall@{k}": torch.cat(hits).mean().item(), f"ndcg@{k}": torch.cat(ndcg).mean().item()}


def _update(optimizer, loss):
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _augmented_table(dataset, train_users, config):
    """RecBole's own sequential augmentation of the training users' training part (LS split, TO order)."""
    if config["MAX_ITEM_LIST_LENGTH"] != dataset.config["MAX_ITEM_LIST_LENGTH"]:
        raise ProRLError(f"simulator {config['model']} is trained on RecBole's augmented table, so its "
                         f"MAX_ITEM_LIST_LENGTH ({config['MAX_ITEM_LIST_LENGTH']}) must equal the main config's "
                         f"({dataset.config['MAX_ITEM_LIST_LENGTH']})")
    inter = dataset.inter_feat
    members = set(int(u) for u in train_users)
    return dataset.copy(inter[inter[dataset.uid_field].isin(members)]).build()[0]


def _table_epoch(model, optimizer, table, samples, batch_size, generator):
    model.train()
    order = torch.randperm(len(table), generator=generator)[:samples]
    total, batches = 0.0, 0
    for i in range(0, len(order), batch_size):
        total += _update(optimizer, model.calculate_loss(table.inter_feat[order[i:i + batch_size]]))
        batches += 1
    return total / max(1, batches)


def _build_model(model_name, config, dataset, train_users):
    if model_name in RECBOLE_AUGMENTED:
        table = _augmented_table(dataset, train_users, config)
        return get_model(model_name)(config, table), table
    return get_model(model_name)(config, dataset), None


def _causal_epoch(model, optimizer, windows, lens, batch_size, generator):
    model.train()
    total, order = 0.0, torch.randperm(len(windows), generator=generator)
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        w, n = windows[idx], lens[idx]
        inputs, labels = w[:, :-1], w[:, 1:]
        positions = torch.arange(inputs.size(1)).unsqueeze(0).expand(len(idx), -1)
        inter = Interaction({model.ITEM_SEQ: inputs, model.ITEM_SEQ_LEN: (n - 1).clamp(min=1)})
        with gather_positions(model, positions):
            logits = model.full_sort_predict(inter)  # [B, T, n_items], every position of the window
        total += _update(optimizer, torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=0))
    return total / max(1, (len(order) + batch_size - 1) // batch_size)


def _prefix_epoch(model, optimizer, train_seqs, config, dataset, transform, batch_size, rng):
    model.train()
    max_len, per_user = config["MAX_ITEM_LIST_LENGTH"], config["prefixes_per_user"] or 16
    samples = []
    for s in train_seqs:
        if len(s) < 2:
            continue
        for end in rng.integers(1, len(s), size=min(per_user, len(s) - 1)):
            samples.append((s[max(0, end - max_len):end], s[end]))
    rng.shuffle(samples)
    total, batches = 0.0, 0
    for i in range(0, len(samples), batch_size):
        chunk = samples[i:i + batch_size]
        seq, lens = _pad([c[0] for c in chunk], max_len)
        inter = Interaction({model.ITEM_SEQ: seq, model.ITEM_SEQ_LEN: lens,
                             model.POS_ITEM_ID: torch.as_tensor([c[1] for c in chunk])})
        total += _update(optimizer, model.calculate_loss(transform(dataset, inter)))
        batches += 1
    return total / max(1, batches)


def train_simulator(model_name, dataset, train_users, main_config, logger=None, show_progress=True):
    """Train ``model_name`` on the sequences of ``train_users``; returns (UserSimulator, metrics, history)."""
    logger = logger or logging.getLogger()
    config = simulator_config(model_name, main_config)
    init_seed(config["seed"], config["reproducibility"])
    causal = model_name in CAUSAL_MODELS
    transform = None if causal else construct_transform(config)  # before the model: it sets config keys
    model, table = _build_model(model_name, config, dataset, train_users)
    users, seqs = user_sequences(dataset)
    members = set(int(u) for u in train_users)
    train, valid, test = _leave_one_out([s for u, s in zip(users, seqs) if int(u) in members])
    optimizer = torch.optim.Adam(model.parameters(), lr=config["learning_rate"], weight_decay=config["weight_decay"] or 0)
    windows, lens = _windows(train, config["MAX_ITEM_LIST_LENGTH"]) if causal else (None, None)
    generator = torch.Generator().manual_seed(config["seed"])
    rng = np.random.default_rng(config["seed"])
    best, best_state, stale, log = -1.0, None, 0, []
    simulator = UserSimulator(model, model_name, chunk_size=main_config["simulator_chunk_size"])
    for epoch in range(config["epochs"]):
        for p in model.parameters():
            p.requires_grad_(True)
        start = time.time()
        if causal:
            loss = _causal_epoch(model, optimizer, windows, lens, config["train_batch_size"], generator)
        elif table is not None:
            samples = len(train) * (config["prefixes_per_user"] or 16)
            loss = _table_epoch(model, optimizer, table, samples, config["train_batch_size"], generator)
        else:
            loss = _prefix_epoch(model, optimizer, train, config, dataset, transform, config["train_batch_size"], rng)
        seconds = time.time() - start
        simulator = UserSimulator(model, model_name, chunk_size=main_config["simulator_chunk_size"])
        score = ranking_metrics(simulator, *valid)
        log.append({"epoch": epoch, "loss": loss, "seconds": seconds, **score})
        if show_progress:
            logger.info(f"{model_name} epoch {epoch}: loss {loss:.4f}, {seconds:.1f}s, valid {score}")
        best, stale, stop, improved = early_stopping(score["ndcg@10"], best, stale, config["stopping_step"])
        if improved:
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if stop:
            break
    model.load_state_dict(best_state)
    simulator = UserSimulator(model, model_name, chunk_size=main_config["simulator_chunk_size"])
    metrics = {"valid": ranking_metrics(simulator, *valid), "test": ranking_metrics(simulator, *test),
               "epochs": len(log), "seconds_per_epoch": float(np.mean([e["seconds"] for e in log]))}
    logger.info(f"simulator {model_name}: test {metrics['test']} (valid {metrics['valid']}), "
                f"{metrics['epochs']} epochs, {metrics['seconds_per_epoch']:.1f}s/epoch")
    return simulator, metrics, log


def simulator_meta(model_name, dataset, train_users, main_config):
    config = simulator_config(model_name, main_config)
    users = sorted(int(u) for u in train_users)
    return {
        "model": model_name,
        "dataset": main_config["dataset"],
        "n_items": int(dataset.item_num),
        "config_hash": fingerprint(_hparams(config)),
        "split_hash": fingerprint(users),
        "data_hash": dataset_digest(dataset),
    }


def simulator_path(meta, main_config):
    key = fingerprint(meta)
    return Path(main_config["checkpoint_dir"]) / "simulators" / f"{meta['model']}-{meta['dataset']}-{key}.pth"


def load_simulator(path, dataset, train_users, main_config, model_name=None):
    """Load a simulator checkpoint, refusing one made for another dataset, item count, split or config."""
    saved = load_checkpoint(path)
    model_name = model_name or saved["meta"]["model"]
    expected = simulator_meta(model_name, dataset, train_users, main_config)
    for key, label in (("model", "model"), ("dataset", "dataset"), ("n_items", "item count"),
                       ("data_hash", "data"), ("split_hash", "user split"), ("config_hash", "config")):
        if saved["meta"][key] != expected[key]:
            raise ProRLError(
                f"simulator checkpoint {path} was made for another {label} ({saved['meta'][key]} vs "
                f"{expected[key]}); delete it or run with --retrain_simulators=True to train a new one")
    config = simulator_config(model_name, main_config)
    construct_transform(config)  # sets the config keys some models read at construction (BERT4Rec)
    model, _ = _build_model(model_name, config, dataset, train_users)
    model.load_state_dict(saved["state_dict"])
    return UserSimulator(model, model_name, chunk_size=main_config["simulator_chunk_size"]), saved["metrics"]


def get_simulator(model_name, dataset, train_users, main_config, logger=None):
    """Load the cached simulator for this (model, dataset, split, config) or train and cache it."""
    logger = logger or logging.getLogger()
    meta = simulator_meta(model_name, dataset, train_users, main_config)
    path = simulator_path(meta, main_config)
    if path.is_file() and not main_config["retrain_simulators"]:
        simulator, metrics = load_simulator(path, dataset, train_users, main_config, model_name)
        logger.info(f"Loaded simulator {model_name} from [{path}]: test {metrics['test']}")
        return simulator
    simulator, metrics, log = train_simulator(model_name, dataset, train_users, main_config, logger)
    save_checkpoint({"meta": meta, "state_dict": simulator.model.state_dict(), "metrics": metrics, "log": log}, path)
    return simulator
