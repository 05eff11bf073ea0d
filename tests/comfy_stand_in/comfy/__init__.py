"""Stand-in package: see tests/comfy_stand_in/README.md."""
