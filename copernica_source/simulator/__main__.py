"""Run the simulator standalone: python -m copernica_source.simulator --port 8080 ..."""
import sys

from .cli import main

sys.exit(main())
