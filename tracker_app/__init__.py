"""Desktop application and command line of the face tracker."""
