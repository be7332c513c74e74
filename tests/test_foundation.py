"""Registries both ways, YAML defaults, datasets offline, clear errors, weights_only checkpoints."""
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from recbole.config import Config
from recbole.utils import ModelType

import recbole_prorl
from recbole_prorl.compat import ProRLError, load_checkpoint, save_checkpoint
from recbole_prorl.model.prorl import ProRL
from recbole_prorl.trainer import ProRLTrainer

REPO = Path(__file__).resolve().parent.parent


def test_our_registry_resolves_ours_and_falls_back_to_recbole():
    from recbole.model.sequential_recommender.sasrec import SASRec
    from recbole.trainer import Trainer

    assert recbole_prorl.get_model("ProRL") is ProRL
    assert recbole_prorl.get_trainer(ModelType.SEQUENTIAL, "ProRL") is ProRLTrainer
    assert recbole_prorl.get_model("SASRec") is SASRec
    assert recbole_prorl.get_trainer(ModelType.SEQUENTIAL, "SASRec") is Trainer


def test_recbole_own_registry_finds_prorl():
    from recbole.utils import get_model, get_trainer

    assert get_model("ProRL") is ProRL
    assert get_trainer(ModelType.SEQUENTIAL, "ProRL") is ProRLTrainer


def test_unknown_model_is_one_clear_error():
    with pytest.raises(ProRLError, match="unknown model 'NoSuchModel'.*SASRec"):
        recbole_prorl.get_model("NoSuchModel")


def test_config_picks_up_our_model_and_dataset_yaml(workdir):
    config = Config(model="ProRL", dataset="ml-100k", config_dict={"data_path": str(workdir / "dataset")})
    assert config["max_path_len"] == 10 and config["rl_estimator"] == "prorl"  # properties/model/ProRL.yaml
    assert config["bridge_field"] == "class"  # properties/dataset/ml-100k.yaml
    override = Config(model="ProRL", dataset="ml-100k", config_dict={"data_path": str(workdir / "dataset"),
                                                                      "max_path_len": 5})
    assert override["max_path_len"] == 5


def test_ml100k_offline_under_data_path_with_expected_counts(workdir):
    from recbole_prorl.data import load_dataset

    data_root = workdir / "ml100k-root"
    config = Config(model="ProRL", dataset="ml-100k", config_dict={
        "data_path": str(data_root), "user_inter_num_interval": None, "item_inter_num_interval": None,
        "checkpoint_dir": str(workdir / "saved")})
    assert Path(config["data_path"]) == data_root / "ml-100k"
    assert (data_root / "ml-100k" / "ml-100k.inter").is_file()  # copied from RecBole's wheel on first use
    dataset = load_dataset(config)
    assert (dataset.user_num - 1, dataset.item_num - 1, dataset.inter_num) == (943, 1682, 100000)


def test_missing_dataset_offline_is_one_clear_error(workdir, monkeypatch):
    from recbole_prorl.data import load_dataset

    def no_network(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    config = Config(model="ProRL", dataset="ml-1m", config_dict={"data_path": str(workdir / "empty")})
    with pytest.raises(ProRLError, match=r"ml-1m.*could not be downloaded.*empty/ml-1m"):
        load_dataset(config)
    assert not (workdir / "empty" / "ml-1m").exists()  # nothing half-written
    config = Config(model="ProRL", dataset="nosuch", config_dict={"data_path": str(workdir / "empty")})
    with pytest.raises(ProRLError, match="dataset 'nosuch' not found.*empty/nosuch"):
        load_dataset(config)


def test_checkpoints_round_trip_with_weights_only(tmp_path):
    state = {"state_dict": {"w": torch.arange(3.0)}, "meta": {"n_items": 5, "name": "x"}, "history": [1.5, 2.5]}
    save_checkpoint(state, tmp_path / "a" / "c.pth")
    loaded = torch.load(tmp_path / "a" / "c.pth", weights_only=True)
    assert torch.equal(loaded["state_dict"]["w"], state["state_dict"]["w"]) and loaded["meta"] == state["meta"]
    assert load_checkpoint(tmp_path / "a" / "c.pth")["history"] == [1.5, 2.5]
    assert list((tmp_path / "a").iterdir()) == [tmp_path / "a" / "c.pth"]  # no temp file left behind
    torch.save({"obj": Path("x")}, tmp_path / "pickled.pth")  # an arbitrary pickled object
    with pytest.raises(ProRLError, match="not a recbole-prorl checkpoint"):
        load_checkpoint(tmp_path / "pickled.pth")


def _cli(*args, cwd):
    return subprocess.run([sys.executable, str(REPO / "run_prorl.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_cli_errors_are_one_line(workdir):
    bad = workdir / "bad.yaml"
    bad.write_text("a: [1\n")
    for args, pattern in ((["--model=NoSuchModel"], "unknown model 'NoSuchModel'"),
                          ([f"--config_files={bad}"], "bad.yaml is not valid YAML"),
                          ([f"--config_files={workdir}/missing.yaml"], "config file not found"),
                          (["--dataset=nosuch", f"--data_path={workdir}/dataset"], "dataset 'nosuch' not found")):
        result = _cli(*args, cwd=workdir)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and pattern in errors[0], result.stderr


def test_cli_prints_dataset_statistics(workdir):
    result = _cli("--dataset=tiny", f"--config_files={REPO}/tests/tiny.yaml", f"--data_path={workdir}/dataset",
                  f"--checkpoint_dir={workdir}/saved", "--stage=dataset", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "The number of users: 41" in result.stdout + result.stderr


@pytest.mark.parametrize("name,bridge,users,items", [("ml-100k", "class", None, None), ("ml-1m", "genre", "[20,inf)", "[40,inf)"),
                                                     ("steam-merged", "tags", "[20,inf)", "[40,inf)"),
                                                     ("amazon-books", "categories", "[100,inf)", "[40,inf)")])
def test_dataset_property_files(workdir, name, bridge, users, items):
    config = Config(model="ProRL", dataset=name, config_dict={"data_path": str(workdir / "dataset")})
    assert config["bridge_field"] == bridge and bridge in config["load_col"]["item"]
    if users:
        assert (config["user_inter_num_interval"], config["item_inter_num_interval"]) == (users, items)


ML1M = REPO / "dataset" / "ml-1m" / "ml-1m.inter"


@pytest.mark.skipif(not ML1M.is_file(), reason="no copy of ml-1m in dataset/ml-1m on this machine")
def test_real_ml1m_files_load_with_the_paper_filters(workdir):
    from recbole_prorl.data import bridge_attributes, load_dataset

    config = Config(model="ProRL", dataset="ml-1m", config_dict={"data_path": str(REPO / "dataset"),
                                                                  "checkpoint_dir": str(workdir / "saved")})
    dataset = load_dataset(config)
    assert dataset.inter_num > 900_000 and dataset.user_num - 1 <= 6040
    assert bridge_attributes(dataset, "genre", ["Drama"]).any(1).float().mean() > 0.5


def test_cli_suggests_ml100k_when_ml1m_cannot_be_downloaded(workdir):
    import os

    env = {**os.environ, "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}  # no network
    result = subprocess.run([sys.executable, str(REPO / "run_prorl.py"), "--dataset=ml-1m",
                             f"--data_path={workdir}/offline"], cwd=workdir, capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "could not be downloaded" in result.stderr and "--dataset=ml-100k" in result.stderr
    assert f"{workdir}/offline/ml-1m" in result.stderr
