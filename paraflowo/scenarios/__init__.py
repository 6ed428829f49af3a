"""Built-in simulation scenarios (TOML data files; see :func:`paraflowo.sim.load_scenario`)."""
