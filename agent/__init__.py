"""Site agent command line and service wiring."""
