"""Settings for the whole test suite."""
import os
import tempfile

# Hypothesis keeps caches in a .hypothesis folder of the working directory; the suite
# leaves the checkout clean, so they go to the temporary folder instead.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY",
                      os.path.join(tempfile.gettempdir(), "jacobians-hypothesis"))
