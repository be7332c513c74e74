"""The one user split (8:1:1, seeded) shared by simulators and path data."""
import numpy as np

SPLITS = ("train", "valid", "test")


def split_users(user_ids, ratios=(0.8, 0.1, 0.1), seed=2024):
    """Disjoint train/valid/test arrays of user ids: a seeded permutation cut by ``ratios``."""
    user_ids = np.asarray(sorted(set(int(u) for u in user_ids)), dtype=np.int64)
    ratios = np.asarray(ratios, dtype=float)
    if ratios.shape != (3,) or (ratios < 0).any() or ratios.sum() <= 0:
        from recbole_prorl.compat import ProRLError

        raise ProRLError(f"split_ratio must be three non-negative numbers, got {list(ratios)}")
    perm = np.random.default_rng(seed).permutation(user_ids)
    cuts = np.round(np.cumsum(ratios / ratios.sum())[:2] * len(perm)).astype(int)
    return dict(zip(SPLITS, np.split(perm, cuts)))
