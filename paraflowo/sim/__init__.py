"""The discrete-event simulator: compare RSS, spraying, RSS++ and ParaFlowO on the same traffic.

Scenarios are TOML data (:func:`load_scenario`); :func:`simulate` runs the
policies on identical arrivals and returns a :class:`SimulationResult`.
"""

from paraflowo.sim.runner import POLICY_NAMES, SimulationResult, simulate
from paraflowo.sim.scenario import (
    CoresSpec,
    FlowGroup,
    Scenario,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
)

__all__ = [
    "POLICY_NAMES",
    "CoresSpec",
    "FlowGroup",
    "Scenario",
    "SimulationResult",
    "builtin_scenarios",
    "load_scenario",
    "parse_scenario",
    "simulate",
]
