"""ShrinkBench's Ray executor: ``shrinkbench bench --executor ray`` runs a sweep's dense models and runs as Ray
tasks, on this machine or a cluster. Importing this package does not import Ray."""
