"""Environments and the observation/reward transforms applied between them and the agent."""
