"""One module per command of ``python -m hncf``: its one-line ``HELP``, its own flags, and how it runs.

They import TensorFlow only inside ``run_from_args``, so ``--help`` answers at once.
"""
