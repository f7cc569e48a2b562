"""Policy updates (``ppo``, ``pg``, ``trpo``, chosen by ``registry``) and what they share: the
training batch (``batch``), per-member settings (``settings``), a pack's networks and optimizers
(``agents``, ``optim``), the loss terms (``losses``), value fitting (``value_fit``) and the
metrics an update reports (``metrics``)."""
