import os
import shutil
import sys
from pathlib import Path

import pytest

import recbole_prorl  # noqa: F401  (shims + registration, as a user's import would)

TESTS = Path(__file__).parent
TINY_YAML = str(TESTS / "tiny.yaml")


@pytest.fixture(autouse=True)
def _clean_argv(monkeypatch):
    # RecBole's Config reads sys.argv as --key=value overrides; pytest's own arguments are not ours
    monkeypatch.setattr(sys, "argv", sys.argv[:1])


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    """A session folder holding a copy of the tiny dataset; RecBole writes ./log there, not in the repo."""
    root = tmp_path_factory.mktemp("prorl")
    shutil.copytree(TESTS / "data" / "tiny", root / "dataset" / "tiny")
    old = os.getcwd()
    os.chdir(root)
    yield root
    os.chdir(old)


def tiny_config(workdir, **overrides):
    from recbole_prorl.quick_start import build_config

    saved = sys.argv
    sys.argv = sys.argv[:1]
    try:
        return build_config("ProRL", "tiny", [TINY_YAML], {"data_path": str(workdir / "dataset"),
                                                          "checkpoint_dir": str(workdir / "saved"), **overrides})
    finally:
        sys.argv = saved


@pytest.fixture(scope="session")
def tiny(workdir):
    """(config, dataset, mined paths) for the tiny dataset, built once per session."""
    from recbole_prorl.data import load_dataset, load_or_mine_paths

    config = tiny_config(workdir)
    dataset = load_dataset(config)
    return config, dataset, load_or_mine_paths(dataset, config)


@pytest.fixture(scope="session")
def simulators(tiny):
    """The four simulators trained (briefly) on the tiny dataset's training users."""
    from recbole_prorl.simulator_training import get_simulator

    config, dataset, mined = tiny
    return {name: get_simulator(name, dataset, mined["user_split"]["train"], config)
            for name in ("SASRec", "GRU4Rec", "BERT4Rec", "LightSANs")}
