"""The main job: dataset → split → path mining → simulators → pretraining → RL → test with every judge →
baselines → table. Each stage is cached under ``checkpoint_dir``; a rerun resumes at the first unfinished one.
"""
import copy
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from recbole.config import Config
from recbole.utils import init_logger, init_seed

from recbole_prorl.baselines import IPGPaths, PolicyPaths, RandomPaths, SeqRecPaths
from recbole_prorl.compat import ProRLError, load_checkpoint
from recbole_prorl.data import bridge_attributes, load_dataset, load_or_mine_paths
from recbole_prorl.data.dataset import fingerprint
from recbole_prorl.evaluation import evaluate_paths, write_results
from recbole_prorl.simulator_training import get_simulator
from recbole_prorl.utils import get_model, get_trainer

STAGES = ("dataset", "data", "simulators", "pretrain", "rl", "test")
# keys that change what is trained; the rest (judges, baselines, topk, ...) only change the test
_TEST_ONLY_KEYS = {"judges", "baselines", "topk", "ipg_gamma", "ipg_candidates", "baseline_topk", "stage",
                   "checkpoint", "requests", "show_progress", "state", "test_requests", "config_files"}


@dataclass
class Context:
    """What both training stages and the test need: path requests, attributes, the training simulator."""
    dataset: object
    requests: dict
    user_split: dict
    attrs: torch.Tensor
    simulator: object


def build_config(model="ProRL", dataset=None, config_file_list=None, config_dict=None):
    """RecBole's Config with our properties, after checking the YAML files and the model name."""
    for path in config_file_list or []:
        if not Path(path).is_file():
            raise ProRLError(f"config file not found: {path}")
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except yaml.YAMLError as e:
            raise ProRLError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ProRLError(f"config file {path} must hold a mapping of key: value, got {type(loaded).__name__}")
    get_model(model)  # a clear error for an unknown model name
    try:
        return Config(model=model, dataset=dataset or "ml-100k", config_file_list=config_file_list, config_dict=config_dict)
    except ProRLError:
        raise
    except (ValueError, KeyError, TypeError, SyntaxError) as e:
        raise ProRLError(f"invalid configuration: {e}") from None


def run_dir_for(config):
    relevant = {k: v for k, v in config.final_config_dict.items()
                if k not in _TEST_ONLY_KEYS and isinstance(v, (str, int, float, bool, list, dict, type(None)))}
    return Path(config["checkpoint_dir"]) / "runs" / f"{config['dataset']}-{fingerprint(relevant)}"


def prepare_context(config, dataset, logger, mined=None):
    """Mined requests (cached) and the training simulator (trained once, then loaded)."""
    mined = mined or load_or_mine_paths(dataset, config, logger)
    attrs = bridge_attributes(dataset, config["bridge_field"])  # coherence uses every value, Drama included
    simulator = get_simulator(config["train_simulator"], dataset, mined["user_split"]["train"], config, logger)
    return Context(dataset, mined["splits"], mined["user_split"], attrs, simulator)


def _baselines(config, context, judges, pretrained):
    out = {}
    for name in config["baselines"] or []:
        if name == "Pretrain":
            out[name] = PolicyPaths(pretrained)
        elif name == "Random":
            out[name] = RandomPaths(context.dataset.item_num, config["max_path_len"], seed=config["seed"])
        elif name == "IPG":
            sim = judges.get("BERT4Rec") or get_simulator("BERT4Rec", context.dataset, context.user_split["train"], config)
            out[name] = IPGPaths(sim, config["max_path_len"], config["ipg_gamma"], config["ipg_candidates"])
        else:
            sim = judges.get(name) or get_simulator(name, context.dataset, context.user_split["train"], config)
            out[name] = SeqRecPaths(sim, config["max_path_len"], config["baseline_topk"])
    return out


def test_table(config, context, judges, methods, logger, show_progress=True):
    """results[method][judge] = {metric@K}; a baseline is not judged by its own model (as in the paper)."""
    topk, test = config["topk"], context.requests["test"]
    if config["test_requests"]:
        test = {k: v[: config["test_requests"]] for k, v in test.items()}
    results = {}
    for method, generator in methods.items():
        paths, lengths = generator.generate_paths(test, max(topk), show_progress=show_progress)
        own = {j: s for j, s in judges.items() if j != method}
        results[method] = evaluate_paths(paths, lengths, test, own, context.attrs, topk)
        logger.info(f"tested {method} on {len(test['target'])} requests")
    return results


def serve_requests(path, model, dataset, config, logger):
    """Ranked paths for each JSON line {"history": [tokens], "target": token}; bad lines are reported, not fatal."""
    iid = dataset.iid_field
    out_path = Path(str(path) + ".paths.jsonl")
    lines, served = Path(path).read_text().splitlines(), 0
    tmp = out_path.with_suffix(".tmp")
    with open(tmp, "w") as out:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                req = json.loads(line)
                tokens = [str(t) for t in req["history"]] + [str(req["target"])]
                unknown = [t for t in tokens if t not in dataset.field2token_id[iid]]
                if unknown:
                    raise ProRLError(f"unknown item tokens {unknown}")
                ids = torch.tensor([dataset.field2token_id[iid][t] for t in tokens])
                paths, lengths, scores = model.beam_search(ids[:-1].unsqueeze(0), ids[-1:], max(config["topk"]))
                ranked = [{"path": [dataset.id2token(iid, int(i)) for i in p[: int(n)]], "score": float(s)}
                          for p, n, s in zip(paths[0], lengths[0], scores[0]) if s > float("-inf")]
                out.write(json.dumps({"line": number, "paths": ranked}) + "\n")
                served += 1
            except (ProRLError, KeyError, TypeError, json.JSONDecodeError) as e:
                logger.warning(f"{path} line {number}: {e}")
                out.write(json.dumps({"line": number, "error": str(e)}) + "\n")
    tmp.replace(out_path)
    logger.info(f"served {served} of {len(lines)} requests -> {out_path}")
    return out_path


def run_prorl(dataset=None, config_file_list=None, config_dict=None, stage="test", checkpoint=None, requests=None,
              show_progress=True):
    """Run the pipeline up to ``stage`` (each earlier stage is loaded from its cache or computed)."""
    if stage not in STAGES:
        raise ProRLError(f"--stage must be one of {', '.join(STAGES)}, got '{stage}'")
    config = build_config("ProRL", dataset, config_file_list, config_dict)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logger = logging.getLogger()
    run_dir = run_dir_for(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(run_dir / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    try:
        return _run(config, stage, checkpoint, requests, run_dir, logger, show_progress)
    finally:
        logger.removeHandler(handler)
        handler.close()


def _run(config, stage, checkpoint, requests, run_dir, logger, show_progress):
    dataset = load_dataset(config)
    logger.info(dataset)
    if stage == "dataset":
        return {"dataset": dataset}
    mined = load_or_mine_paths(dataset, config, logger)
    counts = {s: len(mined["splits"][s]["target"]) for s in ("train", "valid", "test")}
    if stage == "data":
        print(f"paths: train={counts['train']} valid={counts['valid']} test={counts['test']}")
        return {"paths": counts}
    context = prepare_context(config, dataset, logger, mined)
    judges = {config["train_simulator"]: context.simulator}
    for name in config["judges"] or []:
        if name not in judges:
            judges[name] = get_simulator(name, dataset, context.user_split["train"], config, logger)
    if stage == "simulators":
        return {"judges": list(judges)}
    init_seed(config["seed"], config["reproducibility"])  # the policy's init must not depend on cached stages
    model = get_model("ProRL")(config, dataset)
    trainer = get_trainer(config["MODEL_TYPE"], "ProRL")(config, model)
    trainer.attach(context, run_dir)
    from torch.utils.tensorboard import SummaryWriter
    trainer.tensorboard = SummaryWriter(str(run_dir / "tensorboard"))
    if checkpoint:
        model.load_state_dict(load_checkpoint(checkpoint)["state_dict"])
        pretrained = model
        logger.info(f"evaluating the policy in [{checkpoint}]")
    else:
        trainer.pretrain(show_progress)
        pretrained = copy.deepcopy(model)
        if stage == "pretrain":
            return {"run_dir": str(run_dir)}
        trainer.rl_train(show_progress)
        if stage == "rl":
            return {"run_dir": str(run_dir)}
    if requests:
        return {"requests": str(serve_requests(requests, model, dataset, config, logger))}
    methods = {"ProRL": PolicyPaths(model)}
    if not checkpoint:
        methods.update(_baselines(config, context, judges, pretrained))
    results = test_table(config, context, judges, methods, logger, show_progress)
    json_path, table = write_results(results, run_dir, config["topk"])
    print(table)
    print(f"results: {json_path}")
    return {"results": results, "results_path": str(json_path), "run_dir": str(run_dir)}
