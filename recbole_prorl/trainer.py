from recbole.trainer import Trainer


class ProRLTrainer(Trainer):
    pass
