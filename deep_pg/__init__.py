"""deep_pg: look inside deep policy gradient methods (PPO, PPO-M, TRPO, PG) on MuJoCo."""

__version__ = "0.1.0"
