"""The platform around the federated run: users, model registry, jobs with states and a queue, results."""
