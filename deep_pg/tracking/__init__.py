"""Where results go: the on-disk run store, wandb, and the terminal."""
