"""recbole-prorl: proactive recommendation with ProRL as a RecBole extension.

Importing the package applies the RecBole shims and registers ``ProRL`` / ``ProRLTrainer`` with RecBole.
"""
from recbole_prorl import compat

compat.apply()

from recbole_prorl.utils import get_model, get_trainer, register_with_recbole  # noqa: E402

register_with_recbole()

__version__ = "0.1.0"
__all__ = ["get_model", "get_trainer", "__version__"]
