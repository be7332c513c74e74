"""Loading RecBole datasets and reading what the proactive task needs from them."""
import hashlib
import json

import numpy as np
import torch

from recbole_prorl.compat import ProRLError


def load_dataset(config):
    """RecBole's ``create_dataset``, with missing files and bad fields turned into one clear message."""
    from recbole.data import create_dataset

    try:
        return create_dataset(config)
    except ProRLError:
        raise
    except (ValueError, KeyError, FileNotFoundError) as e:
        raise ProRLError(f"dataset '{config['dataset']}' in {config['data_path']} could not be loaded: {e}") from None


def _column(feat, field):
    """A column as numpy, whether RecBole holds the features as a DataFrame or an Interaction."""
    values = feat[field]
    return values.numpy() if hasattr(values, "numpy") else np.asarray(values)


def user_sequences(dataset):
    """Per-user time-ordered internal item ids: (user ids [U], list of U int64 arrays)."""
    inter = dataset.inter_feat
    users = _column(inter, dataset.uid_field)
    items = _column(inter, dataset.iid_field)
    if dataset.time_field and dataset.time_field in inter.columns:
        order = np.lexsort((_column(inter, dataset.time_field), users))
    else:  # keep file order within a user
        order = np.argsort(users, kind="stable")
    users, items = users[order], items[order]
    bounds = np.flatnonzero(np.diff(users)) + 1
    return users[np.r_[0, bounds]], np.split(items, bounds)


def bridge_attributes(dataset, field, ignore=()):
    """Multi-hot item attributes [n_items, n_values] of ``field``; values in ``ignore`` are dropped."""
    item_feat = dataset.item_feat
    available = [f for f in (item_feat.columns if item_feat is not None else []) if f != dataset.iid_field]
    if item_feat is None or field not in item_feat.columns:
        raise ProRLError(
            f"bridge_field '{field}' is not an item feature of dataset '{dataset.dataset_name}'; "
            f"available item fields: {', '.join(available) or 'none (load the .item file via load_col)'}"
        )
    tokens = dataset.field2id_token[field]
    attrs = torch.zeros(dataset.item_num, len(tokens), dtype=torch.bool)
    item_ids = _column(item_feat, dataset.iid_field)
    for item, values in zip(item_ids, item_feat[field]):  # one row per item: data preparation, not a hot path
        attrs[int(item), torch.as_tensor(np.atleast_1d(values), dtype=torch.long)] = True
    attrs[:, 0] = False  # padding token
    for value in ignore or ():
        ids = np.flatnonzero(tokens == value)
        attrs[:, ids] = False
    attrs[0] = False
    return attrs


def coherent(attrs, a, b):
    """True where items ``a`` and ``b`` share at least one attribute value (elementwise)."""
    return (attrs[a] & attrs[b]).any(-1)


def fingerprint(*parts):
    """A short stable hash of JSON-able parts (config values, sizes, data digests)."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


def dataset_digest(dataset):
    """Digest of the interactions that reach the models (users, items, order)."""
    users, seqs = user_sequences(dataset)
    h = hashlib.sha1(users.tobytes())
    for s in seqs:
        h.update(s.tobytes())
    return f"{dataset.user_num}-{dataset.item_num}-{h.hexdigest()[:10]}"
