"""The runner's Hydra plugins: ``slurm_launcher`` (``hydra/launcher=slurm``)."""
