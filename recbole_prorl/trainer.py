"""ProRLTrainer: stage 1 (supervised pretraining on mined paths) and stage 2 (rectified policy gradient).

Both stages checkpoint under the run folder with plain state dicts (``weights_only=True`` loads): the
pretraining stage keeps its best model by validation score, the RL stage writes one resumable checkpoint
per epoch (policy, optimizer, scheduler, frozen reward statistics, critic, RNG states).
"""
import copy
import math
from pathlib import Path

import numpy as np
import torch
from recbole.trainer import Trainer
from recbole.utils import early_stopping, set_color
from torch import nn
from tqdm import tqdm

from recbole_prorl import rl
from recbole_prorl.compat import ProRLError, load_checkpoint, save_checkpoint
from recbole_prorl.simulator import METRICS


def _batches(data, size, order):
    for i in range(0, len(order), size):
        idx = order[i:i + size]
        yield {k: v[idx] for k, v in data.items()}


class ProRLTrainer(Trainer):
    def __init__(self, config, model):
        super().__init__(config, model)
        self.context = None
        self.run_dir = None

    def attach(self, context, run_dir):
        """Give the trainer its path data, bridge attributes and training simulator (see quick_start)."""
        self.context, self.run_dir = context, Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def _ensure_context(self, train_data):
        if self.context is None:  # reached through recbole.quick_start.run_recbole
            from recbole_prorl.data import load_dataset
            from recbole_prorl.quick_start import prepare_context, run_dir_for

            dataset = load_dataset(self.config)  # the whole dataset: RecBole's train split lacks each user's tail
            self.attach(prepare_context(self.config, dataset, self.logger), run_dir_for(self.config))

    # ================================================================== stage 1: pretraining
    def _valid_loss(self, data, batch_size=1024):
        self.model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for batch in _batches(data, batch_size, torch.arange(len(data["target"]))):
                n = len(batch["target"])
                total, count = total + self.model.calculate_loss(batch).item() * n, count + n
        return total / max(1, count)

    def _valid_ioi(self, data, limit=512):
        from recbole_prorl.baselines import PolicyPaths

        sub = {k: v[:limit] for k, v in data.items()}
        paths, lengths = PolicyPaths(self.model).generate_paths(sub, 1)
        return self.context.simulator.path_metrics(sub["history"], sub["target"], paths[:, 0], lengths[:, 0])["IoI"].mean().item()

    def pretrain(self, show_progress=False):
        """Teacher-forced training on mined train paths; keeps the best epoch by the validation score."""
        done = self.run_dir / "pretrain.pth"
        if done.is_file():
            self.model.load_state_dict(load_checkpoint(done)["state_dict"])
            self.logger.info(f"Loaded pretrained policy from [{done}]")
            return done
        cfg, train, valid = self.config, self.context.requests["train"], self.context.requests["valid"]
        torch.manual_seed(cfg["seed"])  # the same result whether or not earlier stages came from a cache
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg["learning_rate"], weight_decay=cfg["weight_decay"] or 0)
        steps_per_epoch = math.ceil(len(train["target"]) / cfg["train_batch_size"])
        total, warmup = cfg["epochs"] * steps_per_epoch, cfg["pretrain_warmup_steps"]
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / max(1, warmup)) * 0.5 * (
            1 + math.cos(math.pi * min(1.0, max(0, s - warmup) / max(1, total - warmup)))))
        generator = torch.Generator().manual_seed(cfg["seed"])
        select = cfg["pretrain_select"]
        best, stale, best_state = -np.inf, 0, None
        for epoch in range(cfg["epochs"]):
            self.model.train()
            order = torch.randperm(len(train["target"]), generator=generator)
            batches = _batches(train, cfg["train_batch_size"], order)
            if show_progress:
                batches = tqdm(batches, total=steps_per_epoch, ncols=100, desc=set_color(f"Pretrain {epoch:>3}", "pink"))
            losses = []
            for batch in batches:
                loss = self.model.calculate_loss(batch)
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), **(cfg["clip_grad_norm"] or {"max_norm": 1.0}))
                optimizer.step()
                scheduler.step()
                losses.append(loss.item())
            valid_loss = self._valid_loss(valid)
            score = self._valid_ioi(valid) if select == "valid_ioi" else -valid_loss
            self.tensorboard.add_scalar("pretrain/train_loss", float(np.mean(losses)), epoch)
            self.tensorboard.add_scalar("pretrain/valid_loss", valid_loss, epoch)
            self.tensorboard.add_scalar(f"pretrain/select_{select}", score, epoch)
            self.logger.info(f"pretrain epoch {epoch}: train loss {np.mean(losses):.4f}, valid loss {valid_loss:.4f}, "
                             f"select {select} {score:.4f}")
            best, stale, stop, improved = early_stopping(score, best, stale, cfg["stopping_step"], bigger=True)
            if improved:
                best_state = {"state_dict": copy.deepcopy(self.model.state_dict()), "epoch": epoch,
                              "valid_loss": valid_loss, "score": score}
            if stop:
                break
        self.model.load_state_dict(best_state["state_dict"])
        save_checkpoint(best_state, done)
        self.logger.info(f"pretraining done: best epoch {best_state['epoch']} (valid loss {best_state['valid_loss']:.4f})")
        return done

    # ================================================================== stage 2: RL
    def _rl_setup(self):
        cfg = self.config
        self.reference = copy.deepcopy(self.model).eval()
        for p in self.reference.parameters():
            p.requires_grad_(False)
        self.critic = None
        params = list(self.model.parameters())
        if cfg["rl_estimator"] == "a2c":
            self.critic = nn.Sequential(nn.Linear(self.model.hidden_size, cfg["a2c_hidden"]), nn.ReLU(),
                                        nn.Linear(cfg["a2c_hidden"], 1))
            params += list(self.critic.parameters())
        elif cfg["rl_estimator"] not in rl.ESTIMATORS:
            raise ProRLError(f"rl_estimator must be one of {', '.join(rl.ESTIMATORS)}, got '{cfg['rl_estimator']}'")
        self.rl_optimizer = torch.optim.AdamW(params, lr=cfg["rl_lr"], weight_decay=cfg["rl_weight_decay"])
        n = len(self.context.requests["train"]["target"])
        per_epoch = min(n, cfg["rl_requests_per_epoch"] or n)
        total = cfg["rl_epochs"] * math.ceil(per_epoch / cfg["rl_batch_size"])
        warmup = max(1, int(cfg["rl_warmup_ratio"] * total))
        self.rl_scheduler = torch.optim.lr_scheduler.LambdaLR(self.rl_optimizer, lambda s: min(1.0, (s + 1) / warmup))
        self.reward_stats = rl.RewardStatistics(len(METRICS), cfg["reward_std_floor"])
        weights = cfg["reward_weights"] or {}
        self.reward_weights = torch.tensor([float(weights.get(m, 1.0)) for m in METRICS])
        self.reward_weights[METRICS.index("CTR")] *= cfg["ctr_scale"]
        self.rl_history = []
        return per_epoch

    def _rl_state(self, epoch):
        return {
            "epoch": epoch, "model": self.model.state_dict(), "optimizer": self.rl_optimizer.state_dict(),
            "scheduler": self.rl_scheduler.state_dict(), "reward_stats": self.reward_stats.state_dict(),
            "critic": self.critic.state_dict() if self.critic is not None else {},
            "reference": self.reference.state_dict(), "history": self.rl_history,
            "rng_torch": torch.get_rng_state(),  # rollouts draw from torch's global generator only
        }

    def _load_rl_state(self, state):
        self.model.load_state_dict(state["model"])
        self.reference.load_state_dict(state["reference"])
        self.rl_optimizer.load_state_dict(state["optimizer"])
        self.rl_scheduler.load_state_dict(state["scheduler"])
        self.reward_stats.load_state_dict(state["reward_stats"])
        if self.critic is not None:
            self.critic.load_state_dict(state["critic"])
        self.rl_history = list(state["history"])
        torch.set_rng_state(state["rng_torch"])
        return state["epoch"] + 1

    def rl_step(self, batch, epoch):
        """One rectified policy-gradient update on a batch of requests; returns its diagnostics."""
        cfg, model, g = self.config, self.model, self.config["rl_group_size"]
        model.eval()  # dropout off for rollouts and for the gradient pass alike, so both see one policy
        paths, lengths = model.sample(batch["history"], batch["target"], g, cfg["rl_temperature"])
        history, target = batch["history"].repeat_interleave(g, 0), batch["target"].repeat_interleave(g, 0)
        raw = self.context.simulator.step_rewards(history, target, paths, lengths)
        raw = torch.stack([raw[m] for m in METRICS], -1)  # [BG, L, K]
        step_mask = torch.arange(paths.size(1)).unsqueeze(0) < lengths.unsqueeze(1)
        self.reward_stats.update(raw[step_mask])  # no-op once frozen after the warm-up epoch
        centred = rl.reward_centering(raw, step_mask, self.reward_stats.mean, self.reward_stats.std,
                                      self.reward_weights, center=cfg["reward_centering"])
        returns = rl.reward_to_go(centred, cfg["rl_gamma"])
        chosen, mask, log_probs = model.log_prob(history, target, paths, lengths, return_log_probs=True)
        with torch.no_grad():
            ref_log_probs = self.reference.log_prob(history, target, paths, lengths, return_log_probs=True)[2]
        kl = rl.kl_penalty(log_probs, ref_log_probs, mask.float())
        b, t = len(batch["target"]), mask.size(1)
        values = critic_loss = None
        if self.critic is not None:
            values = self.critic(model.forward(history, target, paths).detach()).squeeze(-1)
            critic_loss = (((values - returns) ** 2) * mask).sum() / mask.sum()
        adv = rl.advantages(returns.view(b, g, t), mask.view(b, g, t), cfg["rl_estimator"], cfg["position_baseline"],
                            None if values is None else values.detach().view(b, g, t)).view(b * g, t)
        loss = rl.policy_loss(chosen, adv, mask.float(), kl, cfg["kl_beta"])
        if critic_loss is not None:
            critic_only = epoch < cfg["a2c_warmup_epochs"]  # a fresh critic would derail the policy
            loss = cfg["a2c_loss_weight"] * critic_loss + (0 if critic_only else loss)
        self.rl_optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_([p for group in self.rl_optimizer.param_groups for p in group["params"]], cfg["rl_clip_grad"])
        self.rl_optimizer.step()
        self.rl_scheduler.step()
        real = raw[step_mask]
        diag = {"length": lengths.float().mean().item(),
                "stop_rate": (lengths < model.max_path_len).float().mean().item(),
                "diversity": rl.pairwise_jaccard(paths.view(b, g, -1), lengths.view(b, g), model.vocab_size).mean().item(),
                "adv_var": adv[mask].var().item() if mask.sum() > 1 else 0.0,
                "kl": (kl.sum() / mask.sum()).item(), "loss": loss.item(),
                "centred_step_reward": (centred.sum() / step_mask.sum().clamp(min=1)).item()}
        for k, m in enumerate(METRICS):
            diag[f"raw_{m}"] = real[:, k].mean().item() if len(real) else 0.0
            diag[f"centred_{m}"] = ((real[:, k] - self.reward_stats.mean[k]) / self.reward_stats.std[k]).mean().item() if len(real) else 0.0
        return diag

    def rl_train(self, show_progress=False, stop_after_epoch=None):
        """Stage 2 from the current (pretrained) policy; resumes from the newest epoch checkpoint."""
        done = self.run_dir / "rl.pth"
        if done.is_file():
            self.model.load_state_dict(load_checkpoint(done)["state_dict"])
            self.logger.info(f"Loaded RL policy from [{done}]")
            return done
        cfg = self.config
        per_epoch = self._rl_setup()
        start = 0
        latest = self.run_dir / "rl-last.pth"
        if latest.is_file():
            start = self._load_rl_state(load_checkpoint(latest))
            self.logger.info(f"Resuming RL at epoch {start} from [{latest}]")
        else:
            torch.manual_seed(cfg["seed"])  # rollouts do not depend on what ran before in this process
        train = self.context.requests["train"]
        step = start * math.ceil(per_epoch / cfg["rl_batch_size"])
        for epoch in range(start, cfg["rl_epochs"]):
            order = torch.randperm(len(train["target"]), generator=torch.Generator().manual_seed(cfg["seed"] + epoch))[:per_epoch]
            batches = _batches(train, cfg["rl_batch_size"], order)
            if show_progress:
                batches = tqdm(batches, total=math.ceil(per_epoch / cfg["rl_batch_size"]), ncols=100,
                               desc=set_color(f"RL {epoch:>3}", "pink"))
            epoch_diags = []
            for batch in batches:
                diag = self.rl_step(batch, epoch)
                for key, value in diag.items():
                    self.tensorboard.add_scalar(f"rl/{key}", value, step)
                epoch_diags.append(diag)
                step += 1
            self.reward_stats.frozen = True  # the warm-up epoch is over: statistics stay fixed from now on
            summary = {k: float(np.mean([d[k] for d in epoch_diags])) for k in epoch_diags[0]}
            self.rl_history.append(summary)
            self.logger.info(f"RL epoch {epoch}: " + ", ".join(f"{k} {v:.4f}" for k, v in summary.items()))
            save_checkpoint(self._rl_state(epoch), latest)
            if stop_after_epoch is not None and epoch >= stop_after_epoch:
                return None  # used by tests to simulate a killed run
        save_checkpoint({"state_dict": self.model.state_dict(), "history": self.rl_history,
                         "reward_stats": self.reward_stats.state_dict()}, done)
        return done

    # ================================================================== RecBole's entry points
    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        """Both stages; RecBole's ``run_recbole`` calls this with its own dataloaders (their dataset is used)."""
        self._ensure_context(train_data)
        self.pretrain(show_progress)
        if self.config["rl_epochs"]:
            self.rl_train(show_progress)
        return None, {}

    def evaluate(self, eval_data=None, load_best_model=True, model_file=None, show_progress=False):
        """Proactive metrics@K of beam-searched test paths under the training simulator."""
        from recbole_prorl.baselines import PolicyPaths
        from recbole_prorl.evaluation import evaluate_paths

        self._ensure_context(eval_data)
        if model_file is not None:
            self.model.load_state_dict(load_checkpoint(model_file)["state_dict"])
        topk = self.config["topk"]
        test = self.context.requests["test"]
        paths, lengths = PolicyPaths(self.model).generate_paths(test, max(topk), show_progress=show_progress)
        name = self.context.simulator.name
        return evaluate_paths(paths, lengths, test, {name: self.context.simulator}, self.context.attrs, topk)[name]
