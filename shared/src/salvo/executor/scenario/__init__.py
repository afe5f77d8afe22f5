"""The scenario: from the fetched S3 object to a checked scenario and the bzt run plan, before the start."""
