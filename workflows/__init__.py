"""vetflow's workflows. The registry of every workflow lives in ``workflows.registry``:
this package's own module stays empty, because Temporal's sandbox re-imports a
workflow's package for every workflow instance it runs, and an ``__init__`` that
imported every process would run all of them each time."""
