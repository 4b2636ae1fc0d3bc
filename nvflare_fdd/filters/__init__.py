"""Server-side filters: the metric stream (finite scalars only) to storage."""
