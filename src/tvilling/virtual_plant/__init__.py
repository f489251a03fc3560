"""The virtual bottling plant: real physics, sensors and injected faults with ground truth.

It sits OUTSIDE the platform: nothing in ``tvilling`` imports it, and it imports only the standard library,
numpy/scipy and protocol client libraries. It talks to the platform only over real protocols (MQTT JSON now;
Sparkplug B and OPC UA as further publishers later), so the twin never sees the simulator's hidden state.

Every model is deterministic given the ``numpy.random.Generator`` handed to it, steps with
``step(dt_s, inputs)`` and names its units in its attribute names (``_m3h``, ``_kw``, ``_c`` ...).
"""

from tvilling.virtual_plant.errors import VirtualPlantError
from tvilling.virtual_plant.faults import FaultSpec, GroundTruth
from tvilling.virtual_plant.plant import Plant, PlantConfig

__all__ = ["FaultSpec", "GroundTruth", "Plant", "PlantConfig", "VirtualPlantError"]
