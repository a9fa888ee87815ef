"""Command-line tools around datasets: check-dataset, browse-dataset, dataset-convert."""
