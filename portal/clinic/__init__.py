"""The clinician's home: panel and inbox."""
