"""The deployment tests read files only: no Django, no database, no broker, no Docker engine."""

import sys
from pathlib import Path

# deploy_support is imported by name whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))
