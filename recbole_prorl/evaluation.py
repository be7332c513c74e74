"""Test metrics@K for generated paths and the methods × judges table.

metric@K is the best value among a request's top-K paths, for each metric separately (the authors' code);
IoI, IoR and CTR come from each judge's ``UserSimulator.path_metrics``; Coherence, Length, Repeat and
Distinct depend on the paths only.

Coherence of a path = share of adjacent pairs that share a bridge attribute value, where the pairs are
(i_1, i_2), …, (i_L−1, i_L) **and (i_L, target)**, as in the authors' code; an empty path scores 0 and an
item with no known attribute is coherent with nothing.
"""
import json
from pathlib import Path

import torch

from recbole_prorl.simulator import METRICS


def coherence(paths, lengths, target, attrs):
    """Coherence [N] of paths [N, L] with the target appended (see module docstring)."""
    n, l = paths.shape
    steps = torch.arange(l + 1).unsqueeze(0)
    full = torch.cat([paths, torch.zeros(n, 1, dtype=paths.dtype)], 1)
    full = torch.where(steps == lengths.unsqueeze(1), target.unsqueeze(1), full)  # target right after the path
    full = full * (steps <= lengths.unsqueeze(1))
    pairs = (attrs[full[:, :-1]] & attrs[full[:, 1:]]).any(-1).float()  # [N, L]
    real = (steps[:, 1:] <= lengths.unsqueeze(1)).float()
    return (pairs * real).sum(1) / real.sum(1).clamp(min=1) * (lengths > 0)


def repeat_rate(paths, lengths):
    """Share of path items that already appeared earlier in the same path. [N]"""
    l = paths.size(1)
    inside = torch.arange(l).unsqueeze(0) < lengths.unsqueeze(1)
    same = (paths.unsqueeze(2) == paths.unsqueeze(1)) & inside.unsqueeze(1) & inside.unsqueeze(2)
    earlier = torch.tril(torch.ones(l, l, dtype=torch.bool), diagonal=-1)
    repeated = (same & earlier).any(2) & inside
    return repeated.sum(1) / lengths.clamp(min=1)


def best_of_k(values, topk):
    """{K: mean over requests of the max over the first K paths}. values [N, Kmax]."""
    return {k: values[:, :k].max(1).values.mean().item() for k in topk}


def evaluate_paths(paths, lengths, requests, judges, attrs, topk):
    """{judge: {"<Metric>@<K>": value}} for paths [N, Kmax, L], lengths [N, Kmax]."""
    n, kmax, l = paths.shape
    flat_paths, flat_len = paths.reshape(-1, l), lengths.reshape(-1)
    flat_target = requests["target"].repeat_interleave(kmax, 0)
    shared = {}
    for k, v in best_of_k(coherence(flat_paths, flat_len, flat_target, attrs).view(n, kmax), topk).items():
        shared[f"Coherence@{k}"] = v
    top1, top1_len = paths[:, 0], lengths[:, 0]
    inside = torch.arange(l).unsqueeze(0) < top1_len.unsqueeze(1)
    shared["Length@1"] = top1_len.float().mean().item()
    shared["Repeat@1"] = repeat_rate(top1, top1_len).mean().item()
    shared["Distinct@1"] = float(torch.unique(top1[inside]).numel())
    # a deterministic method repeats its one path k times: score it once
    copies = kmax if bool((paths == paths[:, :1]).all()) else 1
    scored_paths, scored_len = paths[:, :: copies].reshape(-1, l), lengths[:, :: copies].reshape(-1)
    history = requests["history"].repeat_interleave(kmax // copies, 0)
    target = requests["target"].repeat_interleave(kmax // copies, 0)
    table = {}
    for name, judge in judges.items():
        row = {}
        nonempty = scored_len > 0
        metrics = {m: torch.zeros(len(scored_len)) for m in METRICS}
        if nonempty.any():
            scored = judge.path_metrics(history[nonempty], target[nonempty], scored_paths[nonempty], scored_len[nonempty])
            for m in METRICS:
                metrics[m][nonempty] = scored[m]  # an empty path scores 0 on everything
        for m in METRICS:
            per_path = metrics[m].view(n, kmax // copies).repeat_interleave(copies, 1)
            for k, v in best_of_k(per_path, topk).items():
                row[f"{m}@{k}"] = v
        row.update(shared)
        table[name] = row
    return table


def write_results(results, run_dir, topk):
    """results.json (method → judge → metric@K) and results.md (one table per judge)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    json_path = run_dir / "results.json"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2))
    tmp.replace(json_path)
    md = format_table(results, topk)
    md_tmp = run_dir / "results.md.tmp"
    md_tmp.write_text(md)
    md_tmp.replace(run_dir / "results.md")
    return json_path, md


def format_table(results, topk):
    judges = sorted({j for per_method in results.values() for j in per_method})
    columns = [f"{m}@{k}" for m in ("IoI", "IoR", "CTR", "Coherence") for k in topk] + ["Length@1", "Repeat@1", "Distinct@1"]
    lines = []
    for judge in judges:
        lines += [f"### judge: {judge}", "", "| method | " + " | ".join(columns) + " |",
                  "|---|" + "---|" * len(columns)]
        for method, per_judge in results.items():
            if judge in per_judge:
                row = per_judge[judge]
                lines.append(f"| {method} | " + " | ".join(f"{row[c]:.4f}" if c in row else "" for c in columns) + " |")
        lines.append("")
    return "\n".join(lines)
