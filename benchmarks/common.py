"""Shared setup for the benchmarks: config, dataset, mined paths, simulators (all from the caches)."""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import recbole_prorl  # noqa: E402,F401
from recbole_prorl.data import load_dataset, load_or_mine_paths  # noqa: E402
from recbole_prorl.quick_start import build_config  # noqa: E402


def setup(dataset="ml-100k", config_dict=None, config_files=None):
    """(config, dataset, mined) with RecBole's logger quiet; argv is left to argparse."""
    saved = sys.argv
    sys.argv = sys.argv[:1]
    try:
        config = build_config("ProRL", dataset, config_files, config_dict or {})
    finally:
        sys.argv = saved
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    data = load_dataset(config)
    return config, data, load_or_mine_paths(data, config)
