"""The edges: HTTP (JSON and FHIR) and the command line. Nothing imports this package."""
