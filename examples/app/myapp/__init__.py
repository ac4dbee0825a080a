"""An application's task handlers, packaged for a Skiplock worker image."""
