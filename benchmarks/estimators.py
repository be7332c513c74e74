"""Gradient estimators from the same pretrained policy on ml-100k (the paper's §8.7 study, CPU-sized).

Scale (defaults): 10 RL epochs of 256 training requests each (8 updates of 32 requests x 16 rollouts),
evaluation on the first 300 test requests, greedy (@1) paths under the SASRec training simulator.
The pretrained policy is the one `run_prorl.py --dataset=ml-100k --stage=pretrain` caches.

    python benchmarks/estimators.py [--epochs 10] [--requests 256] [--test 300]

Ends with:
lengths: prorl=<x> rf=<x> rtg=<x> grpo=<x> a2c=<x> no_centering=<x>; variance_vs_rf: prorl=<x> rtg=<x> grpo=<x> a2c=<x>
"""
import argparse
import copy
import shutil

import torch

from common import setup
from recbole_prorl.compat import load_checkpoint
from recbole_prorl.evaluation import evaluate_paths
from recbole_prorl.baselines import PolicyPaths
from recbole_prorl.model.prorl import ProRL
from recbole_prorl.quick_start import prepare_context, run_dir_for
from recbole_prorl.trainer import ProRLTrainer

VARIANTS = {
    "prorl": {"rl_estimator": "prorl"},
    "rf": {"rl_estimator": "rf"},
    "rtg": {"rl_estimator": "rtg"},
    "grpo": {"rl_estimator": "grpo"},
    "a2c": {"rl_estimator": "a2c"},
    "no_centering": {"rl_estimator": "prorl", "reward_centering": False},
    "no_psae": {"rl_estimator": "prorl", "position_baseline": False},
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--fresh", action="store_true", help="discard this benchmark's RL checkpoints first")
    args = parser.parse_args()
    base, dataset, mined = setup("ml-100k")
    pretrained = run_dir_for(base) / "pretrain.pth"
    if not pretrained.is_file():
        raise SystemExit(f"no pretrained policy at {pretrained}: run `python run_prorl.py --dataset=ml-100k --stage=pretrain`")
    context = prepare_context(base, dataset, None, mined)
    test = {k: v[: args.test] for k, v in mined["splits"]["test"].items()}
    rows = {}
    for name in args.variants.split(","):
        config = copy.deepcopy(base)
        for key, value in {**VARIANTS[name], "rl_epochs": args.epochs, "rl_requests_per_epoch": args.requests}.items():
            config[key] = value
        run_dir = run_dir_for(base) / "estimators" / name
        if args.fresh and run_dir.exists():
            shutil.rmtree(run_dir)
        torch.manual_seed(base["seed"])
        model = ProRL(config, dataset)
        trainer = ProRLTrainer(config, model)
        trainer.attach(context, run_dir)
        model.load_state_dict(load_checkpoint(pretrained)["state_dict"])
        trainer.rl_train()
        history = trainer.rl_history or load_checkpoint(run_dir / "rl.pth")["history"]
        paths, lengths = PolicyPaths(model).generate_paths(test, 1)
        metrics = evaluate_paths(paths, lengths, test, {"SASRec": context.simulator}, context.attrs, [1])["SASRec"]
        rows[name] = {"lengths": [h["length"] for h in history], "adv_var": [h["adv_var"] for h in history],
                      "metrics": metrics}
        print(f"{name}: lengths by epoch {[round(x, 2) for x in rows[name]['lengths']]}; "
              f"adv var by epoch {[round(x, 4) for x in rows[name]['adv_var']]}; test@1 IoI {metrics['IoI@1']:.4f} "
              f"IoR {metrics['IoR@1']:.2f} CTR {metrics['CTR@1']:.4f} Coherence {metrics['Coherence@1']:.4f} "
              f"greedy length {metrics['Length@1']:.2f}", flush=True)
    marks = sorted({0, min(4, args.epochs - 1), args.epochs - 1})
    print(f"\nrollout length at epochs {[m + 1 for m in marks]}, advantage variance vs RF at epochs 1-3:")
    rf_var = rows["rf"]["adv_var"][0] if "rf" in rows else float("nan")
    for name, row in rows.items():
        lens = " / ".join(f"{row['lengths'][m]:.2f}" for m in marks)
        var = " / ".join(f"{v / rf_var:.2f}x" for v in row["adv_var"][:3])
        m = row["metrics"]
        print(f"{name:>13}: length {lens}; variance {var}; IoI {m['IoI@1']:.4f} IoR {m['IoR@1']:.2f} CTR {m['CTR@1']:.4f}")
    final = " ".join(f"{n}={rows[n]['lengths'][-1]:.2f}" for n in ("prorl", "rf", "rtg", "grpo", "a2c", "no_centering") if n in rows)
    ratio = " ".join(f"{n}={rows[n]['adv_var'][0] / rf_var:.3f}" for n in ("prorl", "rtg", "grpo", "a2c") if n in rows)
    print(f"lengths: {final}; variance_vs_rf: {ratio}")


if __name__ == "__main__":
    main()
