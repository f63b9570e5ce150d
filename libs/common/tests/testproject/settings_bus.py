"""Settings of the bus suite's relay and consumer child processes: the test project without its HTTP
stack (admin, guardian, ninja), which they never use and which doubles their start-up time."""

from pathlib import Path

from common.conf import service_settings
from common.logging import configure_logging

globals().update(service_settings(
    service="common",
    base_dir=Path(__file__).resolve().parent,
    apps=["testproject.testapp"],
    http=False,
))

configure_logging("common-tests")
