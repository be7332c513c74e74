"""Simulator training cost and quality: our trainer vs RecBole's own Trainer (same hyperparameters).

Ours: properties/simulator/<Model>.yaml, training-split users of ml-100k, leave-one-out validation for
early stopping; causal models with the loss on every window position, others on sampled prefixes.
RecBole's: the same model, hyperparameters, users and leave-one-out split through `data_preparation` and
`Trainer.fit` (one padded sample per prefix), for --recbole_epochs epochs (its per-epoch cost makes a run
to early stopping take hours on 2 cores); compared on validation NDCG@10 (same protocol: full ranking,
no history masking, as RecBole does for sequential models).

    python benchmarks/bench_simulators.py [--models SASRec,GRU4Rec,BERT4Rec,LightSANs] [--recbole_epochs 0]
"""
import argparse
import sys
import time

import numpy as np
import torch

from common import setup
from recbole_prorl.simulator_training import simulator_config, train_simulator


def recbole_trainer(name, config, dataset_name, train_users, epochs):
    from recbole.data import create_dataset, data_preparation
    from recbole.trainer import Trainer
    from recbole_prorl.utils import get_model

    # RecBole's default batch of 2048 prefixes = about as many next-item targets per step as our 32 windows;
    # the split is RecBole's sequential default (leave-one-out, time order, full ranking), as ours
    sim_config = simulator_config(name, config, {
        "epochs": epochs, "metrics": ["Recall", "NDCG"], "topk": [10], "valid_metric": "NDCG@10",
        "show_progress": False, "stopping_step": epochs, "train_batch_size": 2048})
    dataset = create_dataset(sim_config)
    uid = dataset.uid_field
    dataset.inter_feat = dataset.inter_feat[dataset.inter_feat[uid].isin(set(int(u) for u in train_users))]
    train, valid, _ = data_preparation(sim_config, dataset)
    model = get_model(name)(sim_config, train._dataset)
    trainer = Trainer(sim_config, model)
    start = time.time()
    _, best = trainer.fit(train, valid, saved=False, show_progress=False, verbose=False)
    per_epoch = (time.time() - start) / epochs
    return per_epoch, best["ndcg@10"], len(train.dataset)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="SASRec,GRU4Rec,BERT4Rec,LightSANs")
    parser.add_argument("--recbole_epochs", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    config, dataset, mined = setup("ml-100k")
    train_users = mined["user_split"]["train"]
    total, rows = 0.0, []
    for name in args.models.split(","):
        start = time.time()
        _, metrics, log = train_simulator(name, dataset, train_users, config, show_progress=False)
        seconds = time.time() - start
        total += seconds
        best_epoch = int(np.argmax([e["ndcg@10"] for e in log]))
        rows.append((name, metrics, seconds, best_epoch))
        print(f"{name}: {metrics['epochs']} epochs (best {best_epoch + 1}), {metrics['seconds_per_epoch']:.1f} s/epoch, "
              f"{seconds:.0f} s total; valid NDCG@10 {metrics['valid']['ndcg@10']:.4f}, test NDCG@10 "
              f"{metrics['test']['ndcg@10']:.4f} Recall@10 {metrics['test']['recall@10']:.4f}", flush=True)
        if args.recbole_epochs:
            per_epoch, ndcg, samples = recbole_trainer(name, config, "ml-100k", train_users, args.recbole_epochs)
            ours_same = max(e["ndcg@10"] for e in log[: args.recbole_epochs])
            print(f"  RecBole Trainer: {samples} prefix samples, {per_epoch:.1f} s/epoch, best valid NDCG@10 "
                  f"{ndcg:.4f} within {args.recbole_epochs} epochs (ours within as many epochs: {ours_same:.4f}; "
                  f"ours at early stopping: {metrics['valid']['ndcg@10']:.4f}); time per epoch RecBole/ours "
                  f"{per_epoch / metrics['seconds_per_epoch']:.1f}x", flush=True)
    print(f"simulators_total_seconds={total:.0f}")


if __name__ == "__main__":
    sys.exit(main())
