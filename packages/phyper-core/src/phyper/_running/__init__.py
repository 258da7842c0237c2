"""Running one job: the runner, and the devices (GPUs) a job holds while it runs."""
