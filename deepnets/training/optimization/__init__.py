"""How weights change: optimizers (Muon among them), weight decay and the loss, learning-rate
schedules, weight averaging (EMA, lookahead) and the backbone/head split of fine-tuning."""
