"""The whole pipeline on the tiny dataset, RecBole's own runner, RL resume determinism, request serving."""
import json
import shutil

import torch

from tests.conftest import TINY_YAML, tiny_config


def test_end_to_end_writes_results_and_reruns_from_cache(workdir, capsys):
    from recbole_prorl.quick_start import run_prorl

    overrides = {"data_path": str(workdir / "dataset"), "checkpoint_dir": str(workdir / "saved")}
    out = run_prorl("tiny", [TINY_YAML], overrides)
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1] == f"results: {out['results_path']}"
    results = json.loads(open(out["results_path"]).read())
    assert {"ProRL", "Pretrain", "Random", "GRU4Rec", "IPG"} <= set(results)
    assert set(results["ProRL"]) == {"SASRec", "GRU4Rec", "BERT4Rec", "LightSANs"}
    assert "GRU4Rec" not in results["GRU4Rec"]  # a baseline is not judged by its own model
    for metric in ("IoI@1", "IoR@1", "CTR@1", "Coherence@1", "IoI@2"):
        assert isinstance(results["ProRL"]["SASRec"][metric], float)
    run_dir = workdir / "saved" / "runs"
    assert any(p.name == "results.md" for p in run_dir.rglob("*"))
    assert any(p.name == "rl.pth" for p in run_dir.rglob("*")) and any(p.name == "run.log" for p in run_dir.rglob("*"))
    assert any("tfevents" in p.name for p in run_dir.rglob("*"))
    again = run_prorl("tiny", [TINY_YAML], overrides)  # every stage loads from its cache
    assert again["results"]["ProRL"] == results["ProRL"]
    policy = next(p for p in run_dir.rglob("rl.pth"))
    evaluated = run_prorl("tiny", [TINY_YAML], overrides, checkpoint=str(policy))  # --checkpoint: that policy only
    assert list(evaluated["results"]) == ["ProRL"] and evaluated["results"]["ProRL"] == results["ProRL"]


def test_recbole_run_recbole_reaches_our_model_and_trainer(workdir):
    from recbole.quick_start import run_recbole

    out = run_recbole(model="ProRL", dataset="tiny", config_file_list=[TINY_YAML],
                      config_dict={"data_path": str(workdir / "dataset"), "checkpoint_dir": str(workdir / "saved-rb")})
    test_result = out["test_result"]
    for metric in ("IoI@1", "IoR@1", "CTR@1", "Coherence@1", "IoI@2"):
        assert metric in test_result


def _trainer(config, context, run_dir):
    from recbole_prorl.model.prorl import ProRL
    from recbole_prorl.trainer import ProRLTrainer

    torch.manual_seed(0)
    trainer = ProRLTrainer(config, ProRL(config, context.dataset))
    trainer.attach(context, run_dir)
    return trainer


def test_killed_rl_run_resumes_to_the_same_result(workdir, tiny):
    from recbole_prorl.quick_start import prepare_context

    config = tiny_config(workdir, rl_epochs=3, rl_requests_per_epoch=8)
    _, dataset, mined = tiny
    context = prepare_context(config, dataset, None, mined)
    straight = _trainer(config, context, workdir / "resume-a")
    straight.pretrain()
    shutil.copy(workdir / "resume-a" / "pretrain.pth", workdir / "resume-b-pre.pth")
    torch.manual_seed(5)
    straight.rl_train()
    expected = straight.evaluate()

    killed = _trainer(config, context, workdir / "resume-b")
    shutil.copy(workdir / "resume-b-pre.pth", workdir / "resume-b" / "pretrain.pth")
    killed.pretrain()
    torch.manual_seed(5)
    assert killed.rl_train(stop_after_epoch=0) is None  # "killed" after the first epoch
    resumed = _trainer(config, context, workdir / "resume-b")
    resumed.pretrain()
    torch.manual_seed(123)  # whatever the process does before, the checkpoint's RNG state wins
    resumed.rl_train()
    assert resumed.evaluate() == expected
    assert len(resumed.rl_history) == 3
    for key in ("length", "stop_rate", "diversity", "adv_var", "kl", "raw_IoI", "centred_CTR"):
        assert key in resumed.rl_history[-1]


def test_requests_file_serves_known_lines_and_reports_unknown(workdir):
    from recbole_prorl.quick_start import run_prorl

    requests = workdir / "requests.jsonl"
    requests.write_text("\n".join([
        json.dumps({"history": ["i1", "i2", "i3"], "target": "i7"}),
        json.dumps({"history": ["i1", "nope"], "target": "i7"}),
        "not json",
        json.dumps({"history": ["i4", "i5"], "target": "i9"}),
    ]) + "\n")
    overrides = {"data_path": str(workdir / "dataset"), "checkpoint_dir": str(workdir / "saved")}
    out = run_prorl("tiny", [TINY_YAML], overrides, requests=str(requests))
    lines = [json.loads(line) for line in open(out["requests"])]
    assert [line["line"] for line in lines] == [1, 2, 3, 4]
    assert "unknown item tokens ['nope']" in lines[1]["error"] and "error" in lines[2]
    for served in (lines[0], lines[3]):
        assert len(served["paths"]) == 2  # topk max = 2 beams
        assert all(item.startswith("i") for p in served["paths"] for item in p["path"])
        assert served["paths"][0]["score"] >= served["paths"][1]["score"]
