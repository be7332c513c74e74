"""Registries: our classes first, RecBole's for every other name (as RecBole-GNN does)."""
import importlib
import sys

from recbole.utils import ModelType

from recbole_prorl.compat import ProRLError

# name -> module inside recbole_prorl.model; each module defines a class of that name
_OUR_MODELS = {"ProRL": "recbole_prorl.model.prorl"}
_OUR_TRAINERS = {"ProRL": ("recbole_prorl.trainer", "ProRLTrainer")}
_RECBOLE_MODEL_PACKAGES = ("general_recommender", "context_aware_recommender", "sequential_recommender",
                           "knowledge_aware_recommender")


def recbole_model_names(package="sequential_recommender"):
    """Names of RecBole's models in one of its model packages (used in error messages)."""
    module = importlib.import_module(f"recbole.model.{package}")
    return sorted(n for n in dir(module) if not n.startswith("_") and isinstance(getattr(module, n), type))


def get_model(model_name):
    """Our model class for ``model_name``, else RecBole's; a clear error for an unknown name."""
    if model_name in _OUR_MODELS:
        return getattr(importlib.import_module(_OUR_MODELS[model_name]), model_name)
    for package in _RECBOLE_MODEL_PACKAGES:
        module = importlib.import_module(f"recbole.model.{package}")
        if isinstance(getattr(module, model_name, None), type):
            return getattr(module, model_name)
    # RecBole's own get_model would now import exlib_recommender and fail with "No module named 'lightgbm'"
    known = sorted(set(_OUR_MODELS) | set(recbole_model_names()))
    raise ProRLError(f"unknown model '{model_name}': expected ProRL or a RecBole model, e.g. one of {', '.join(known)}")


def get_trainer(model_type, model_name):
    """Our trainer for our models, else RecBole's ``get_trainer``."""
    if model_name in _OUR_TRAINERS:
        module, cls = _OUR_TRAINERS[model_name]
        return getattr(importlib.import_module(module), cls)
    from recbole.utils import get_trainer as recbole_get_trainer

    return recbole_get_trainer(model_type, model_name)


def register_with_recbole():
    """Make RecBole's own ``get_model`` / ``get_trainer`` find our classes.

    ``recbole.utils.get_model`` probes ``importlib.util.find_spec('recbole.model.<pkg>.<name lower>')``,
    which consults ``sys.modules`` first; ``get_trainer`` looks up ``recbole.trainer.<Name>Trainer``.
    """
    import recbole.model.sequential_recommender as rb_seq
    import recbole.trainer as rb_trainer

    for name, module_path in _OUR_MODELS.items():
        module = importlib.import_module(module_path)
        sys.modules[f"recbole.model.sequential_recommender.{name.lower()}"] = module
        setattr(rb_seq, name, getattr(module, name))
    for name, (module_path, cls) in _OUR_TRAINERS.items():
        setattr(rb_trainer, cls, getattr(importlib.import_module(module_path), cls))


__all__ = ["get_model", "get_trainer", "register_with_recbole", "ModelType"]
