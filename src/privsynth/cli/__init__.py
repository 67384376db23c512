"""The ``privsynth`` command line: a thin shell over the library."""
