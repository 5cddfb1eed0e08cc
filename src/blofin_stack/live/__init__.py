"""Live services: the ingestor, the replay server, the paper trader."""
