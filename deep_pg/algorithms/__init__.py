"""Policy updates (PPO, PG, TRPO) and the pieces they share (batch, value fitting, metrics)."""
