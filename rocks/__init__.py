"""rocks: declarative cluster provisioning in the tradition of the Rocks cluster distribution."""

__version__ = "0.1.0"
