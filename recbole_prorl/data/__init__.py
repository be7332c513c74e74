from recbole_prorl.data.dataset import bridge_attributes, load_dataset, user_sequences
from recbole_prorl.data.paths import load_or_mine_paths, mine_paths, mine_sequence
from recbole_prorl.data.split import split_users

__all__ = ["bridge_attributes", "load_dataset", "user_sequences", "load_or_mine_paths", "mine_paths",
           "mine_sequence", "split_users"]
