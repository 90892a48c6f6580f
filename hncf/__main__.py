"""`python -m hncf ...` entry point."""

import os
import sys

# Before TensorFlow is imported: hide its C++ start-up chatter (CUDA probing on CPU machines).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from hncf.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
