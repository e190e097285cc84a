"""Desktop application and command line of the face tracker."""

__version__ = "0.1.0"
