"""An event type only the test project uses, registered in the shared catalogue at import."""

from common.bus.catalogue import Payload, event


@event("tests.bus.probe.v1")
class Probe(Payload):
    marker: str
    behaviour: str = "ok"        # ok | fail | die | project | emit  (see handlers.on_probe)
    key: str = ""
    sequence: int = 0
