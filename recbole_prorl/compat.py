"""Shims that make RecBole 1.2.1 work on today's packages and in our layout.

Each shim names the RecBole function it works around. ``apply()`` is idempotent and runs on
``import recbole_prorl``.
"""
import os
import shutil
import socket
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
PROPERTIES = REPO_ROOT / "properties"


class ProRLError(Exception):
    """A user-facing error: the message names the file, field or option and what was expected."""


def _numpy_aliases():
    # recbole.config.configurator.Config.compatibility_settings / _init_parameters read np.float_,
    # np.complex_, np.unicode_ and ray 2.6.3 reads np.bool8, all removed in numpy 2.
    # The pinned numpy 1.26 has them; these make a numpy 2 environment work too.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for old, new in (("float_", "float64"), ("complex_", "complex128"), ("unicode_", "str_"), ("bool8", "bool_")):
            if not hasattr(np, old):
                setattr(np, old, getattr(np, new))


def _silence_recbole_warnings():
    # recbole.trainer.trainer.Trainer.__init__ builds torch.cuda.amp.GradScaler, deprecated in torch>=2.4.
    warnings.filterwarnings("ignore", message=".*torch.cuda.amp.GradScaler.*")
    warnings.filterwarnings("ignore", message=".*torch.cuda.amp.autocast.*")
    # recbole.data.dataset.dataset.Dataset._fill_nan uses Series.fillna(inplace=True); pandas 2.2 warns
    # (it works on the pinned 2.2; pandas 3 would silently skip it, hence the pin in setup.py).
    warnings.filterwarnings("ignore", message=".*inplace method.*", category=FutureWarning)


def _config_with_our_properties():
    # recbole.config.configurator.Config._load_internal_config_dict only reads
    # <recbole>/properties/{model,dataset}/<name>.yaml; ours live in <repo>/properties/. They are merged
    # right after RecBole's own internal files, so config files, config dicts and the command line
    # still override them exactly as they override RecBole's defaults.
    from recbole.config import configurator

    Config = configurator.Config
    if getattr(Config, "_prorl_patched", False):
        return
    original_internal = Config._load_internal_config_dict
    original_defaults = Config._set_default_parameters

    def _load_internal_config_dict(self, model, model_class, dataset):
        original_internal(self, model, model_class, dataset)
        for kind, name in (("model", model), ("dataset", dataset)):
            path = PROPERTIES / kind / f"{name}.yaml"
            if path.is_file():
                loaded = self._update_internal_config_dict(str(path)) or {}
                if kind == "dataset":
                    self.parameters["Dataset"] += [k for k in loaded if k not in self.parameters["Dataset"]]

    def _set_default_parameters(self):
        original_defaults(self)
        # RecBole points ml-100k at its wheel's dataset_example/ folder whatever data_path says;
        # we keep RecBole's data_path convention and copy the bundled files there on first use.
        if self.dataset == "ml-100k":
            root = self.external_config_dict.get("data_path") or self.internal_config_dict.get("data_path", "dataset/")
            self.final_config_dict["data_path"] = ensure_bundled_ml100k(root)

    Config._load_internal_config_dict = _load_internal_config_dict
    Config._set_default_parameters = _set_default_parameters
    Config._prorl_patched = True


def ensure_bundled_ml100k(data_root):
    """Copy RecBole's bundled ml-100k into ``<data_root>/ml-100k`` (atomically) if it is not there yet."""
    import recbole

    target = Path(data_root).expanduser() / "ml-100k"
    if (target / "ml-100k.inter").is_file():
        return str(target)
    source = Path(recbole.__file__).parent / "dataset_example" / "ml-100k"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".ml-100k-", dir=target.parent))
    for f in source.iterdir():
        shutil.copy2(f, staging / f.name)
    try:
        os.replace(staging, target)
    except OSError:  # another process won the race, or an empty folder was there
        if not (target / "ml-100k.inter").is_file():
            shutil.copytree(staging, target, dirs_exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    return str(target)


def _download_or_clear_error():
    # recbole.data.dataset.dataset.Dataset._download asks `input()` for files over 1 GB, hangs without a
    # timeout offline and ends in a urllib traceback or exit(-1). Ours: no prompt, a timeout, one message.
    from recbole.data.dataset import dataset as rb_dataset
    from recbole.utils.url import download_url, extract_zip, rename_atomic_files

    if getattr(rb_dataset.Dataset, "_prorl_patched", False):
        return

    def _download(self):
        folder = os.path.abspath(self.dataset_path)
        url = self._get_download_url("url", allow_none=True)
        if url is None:
            raise ProRLError(
                f"dataset '{self.dataset_name}' not found: no atomic files in {folder} and RecBole knows no "
                f"download for that name; put {self.dataset_name}.inter (and .item/.user) in {folder}"
            )
        self.logger.info(f"Downloading dataset [{self.dataset_name}] from [{url}].")
        old_timeout = socket.getdefaulttimeout()
        socket.setdefaulttimeout(30)
        os.makedirs(os.path.dirname(folder), exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{self.dataset_name}-", dir=os.path.dirname(folder))
        try:
            path = download_url(url, staging)
            extract_zip(path, staging)
            os.unlink(path)
            rename_atomic_files(staging, os.path.splitext(os.path.basename(path))[0], self.dataset_name)
            os.replace(staging, folder)
        except Exception as e:  # no network, DNS failure, a bad zip: all the same to the user
            shutil.rmtree(staging, ignore_errors=True)
            raise ProRLError(
                f"dataset '{self.dataset_name}' is not in {folder} and could not be downloaded from {url} "
                f"({type(e).__name__}: {e}); put its atomic files ({self.dataset_name}.inter, .item) in {folder}"
            ) from None
        finally:
            socket.setdefaulttimeout(old_timeout)

    rb_dataset.Dataset._download = _download
    rb_dataset.Dataset._prorl_patched = True


def _vectorised_bert4rec_mask():
    # recbole.model.sequential_recommender.bert4rec.BERT4Rec.reconstruct_test_data places the mask token
    # with a Python loop over the batch; the simulator scores thousands of prefixes at once. Same result.
    from recbole.model.sequential_recommender.bert4rec import BERT4Rec

    def reconstruct_test_data(self, item_seq, item_seq_len):
        padding = torch.zeros(item_seq.size(0), 1, dtype=torch.long, device=item_seq.device)
        item_seq = torch.cat((item_seq, padding), dim=-1)
        item_seq = item_seq.scatter(1, item_seq_len.view(-1, 1).long(), self.mask_token)
        return item_seq[:, 1:]

    BERT4Rec.reconstruct_test_data = reconstruct_test_data


def save_checkpoint(obj, path):
    """Write tensors and plain data atomically (temp file, then rename); never pickled objects."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path, map_location="cpu"):
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    RecBole's own ``Trainer.evaluate(load_best_model=True)`` and ``resume_checkpoint`` call ``torch.load``
    on files that pickle its Config, which torch>=2.6 refuses; our trainer never goes through them.
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise ProRLError(f"checkpoint not found: {path}") from None
    except Exception as e:
        raise ProRLError(f"checkpoint {path} is not a recbole-prorl checkpoint ({type(e).__name__}: {e})") from None


def apply():
    _numpy_aliases()
    _silence_recbole_warnings()
    _config_with_our_properties()
    _download_or_clear_error()
    _vectorised_bert4rec_mask()
